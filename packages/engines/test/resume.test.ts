import { readFileSync } from "node:fs";
import type { RunState } from "@aria/core-types";
import { AriaRuntimeEngine, MemoryStateStore, migrateCheckpoint, runLeaseKey } from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import { deferred, FakeClock, TestTools, until } from "./helpers.ts";

/** A four-step chain whose later steps read earlier outputs through placeholders. */
const plan = {
  id: "plan-1",
  objective: "four steps",
  steps: [
    { id: "s1", type: "tool", tool: "add", params: { n: "{{input.start}}", by: 1 } },
    { id: "s2", type: "tool", tool: "add", params: { n: "{{steps.s1.output.n}}", by: 10 } },
    { id: "s3", type: "tool", tool: "add", params: { n: "{{step_2_output.n}}", by: 100 } },
    {
      id: "s4",
      type: "tool",
      tool: "add",
      params: { n: "{{steps.s3.output.n}}", by: "{{step_1_output.n}}" },
    },
  ],
  output: { total: "{{steps.s4.output.n}}" },
};

function adder(): TestTools {
  return new TestTools().add("add", (input) => ({ n: Number(input.n) + Number(input.by) }));
}

describe("resume", () => {
  it("a run interrupted after step 2 of 4 resumes in a fresh engine and runs steps 3 and 4 only", async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore({ clock });

    // Engine A: step 3 hangs, as if the process died while running it.
    const toolsA = new TestTools().add("add", (input, context) =>
      context.stepId === "s3" ? new Promise(() => {}) : { n: Number(input.n) + Number(input.by) },
    );
    const engineA = new AriaRuntimeEngine({
      tools: toolsA,
      store,
      clock,
      config: { instanceId: "A", leaseTtlMs: 30_000 },
    });
    const runA = engineA.runPlan(plan, { start: 1 }, { runId: "run-1" });
    runA.catch(() => {});
    await until(() => toolsA.calls.length === 3);
    expect(toolsA.calls.map((c) => c.context.stepId)).toEqual(["s1", "s2", "s3"]);
    const stored = await store.getRun("run-1");
    expect(stored?.status).toBe("running");
    expect(
      (await store.readCheckpoints("run-1")).map((r) => (r as { stepId: string }).stepId),
    ).toEqual(["s1", "s2"]);

    // While A's lease is live nobody else may take the run.
    const other = new AriaRuntimeEngine({
      tools: adder(),
      store,
      clock,
      config: { instanceId: "C" },
    });
    const refused = await other.resume("run-1").catch((e: unknown) => e);
    expect(AriaError.hasCode(refused, "RUN_CONFLICT")).toBe(true);

    // A is gone; its lease runs out. A fresh engine B, same store, resumes.
    clock.advance(31_000);
    const toolsB = adder();
    const engineB = new AriaRuntimeEngine({
      tools: toolsB,
      store,
      clock,
      config: { instanceId: "B" },
    });
    const { run } = await engineB.resume("run-1");

    expect(toolsB.calls.map((c) => c.context.stepId)).toEqual(["s3", "s4"]);
    // The interrupted step runs again with the same idempotency key (attempt numbering restarts).
    expect(toolsB.calls[0]!.context.idempotencyKey).toBe(toolsA.calls[2]!.context.idempotencyKey);
    expect(toolsB.calls[0]!.context.idempotencyKey).toBe("run-1:s3");
    // Outputs of steps 1 and 2 came back from the checkpoints: 1+1=2, +10=12, +100=112, +2=114.
    expect(toolsB.calls[0]!.input).toEqual({ n: 12, by: 100 });
    expect(toolsB.calls[1]!.input).toEqual({ n: 112, by: 2 });
    expect(run.status).toBe("succeeded");
    expect(run.result).toEqual({ total: 114 });
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["s1", "succeeded"],
      ["s2", "succeeded"],
      ["s3", "succeeded"],
      ["s4", "succeeded"],
    ]);
    expect(run.steps[0]!.output).toEqual({ n: 2 });
    const records = (await store.readCheckpoints("run-1")).map(migrateCheckpoint);
    expect(records.map((r) => (r.kind === "step" ? `step:${r.stepId}` : r.kind))).toEqual([
      "step:s1",
      "step:s2",
      "run.resumed",
      "step:s3",
      "step:s4",
      "run.finished",
    ]);
    const events = await store.readEvents("run-1");
    expect(events.filter((e) => e.type === "run.started").map((e) => e.data)).toEqual([
      expect.objectContaining({ steps: 4 }),
      expect.objectContaining({ resumed: true, finishedSteps: 2 }),
    ]);
    expect(engineB.metrics().runsResumed).toBe(1);
    // A finished run resumes to itself without running anything.
    const again = await new AriaRuntimeEngine({ tools: adder(), store, clock }).resume("run-1");
    expect(again.run.status).toBe("succeeded");
    expect(again.context.getStepOutput("s4")).toEqual({ n: 114 });
  });

  it("a stalled lease holder's writes are refused once another engine took the run over", async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore({ clock });
    const release = deferred<{ n: number }>();
    const toolsA = new TestTools().add("add", (input, context) =>
      context.stepId === "s2" ? release.promise : { n: Number(input.n) + Number(input.by) },
    );
    const engineA = new AriaRuntimeEngine({
      tools: toolsA,
      store,
      clock,
      config: { instanceId: "A" },
    });
    const runA = engineA.runPlan(plan, { start: 1 }, { runId: "run-2" });
    await until(() => toolsA.calls.length === 2);

    // A stalls (GC pause, network partition...) past its lease; B takes over and finishes.
    clock.advance(60_000);
    const engineB = new AriaRuntimeEngine({
      tools: adder(),
      store,
      clock,
      config: { instanceId: "B" },
    });
    const resumed = await engineB.resume("run-2");
    expect(resumed.run.status).toBe("succeeded");
    const after = (await store.readCheckpoints("run-2")).length;

    // A wakes up with a stale result: its checkpoint is refused, it stops, and the run is untouched.
    release.resolve({ n: -999 });
    const outcome = await runA.catch((e: unknown) => e);
    expect(AriaError.hasCode(outcome, "RUN_CONFLICT")).toBe(true);
    expect((await store.readCheckpoints("run-2")).length).toBe(after);
    expect((await store.getRun("run-2"))?.result).toEqual({ total: 114 });
    expect(toolsA.calls.map((c) => c.context.stepId)).toEqual(["s1", "s2"]);

    // The same at the store level: an old fencing token cannot write.
    const lease = await store.acquireLease(runLeaseKey("run-x"), "old", 1000);
    clock.advance(2000);
    const newer = await store.acquireLease(runLeaseKey("run-x"), "new", 1000);
    expect(newer!.fencingToken).toBeGreaterThan(lease!.fencingToken);
    await expect(
      store.appendCheckpoint("run-x", { schemaVersion: 2 }, lease!.fencingToken),
    ).rejects.toMatchObject({ code: "RUN_CONFLICT" });
    await expect(
      store.appendCheckpoint("run-x", { schemaVersion: 2 }, newer!.fencingToken),
    ).resolves.toBeUndefined();
  });

  it("refuses unknown runs", async () => {
    const engine = new AriaRuntimeEngine({ tools: adder(), store: new MemoryStateStore() });
    const error = await engine.resume("nope").catch((e: unknown) => e);
    expect(AriaError.hasCode(error, "RUN_NOT_FOUND")).toBe(true);
  });

  it("close() stops advancing, leaves the run resumable and releases the lease at once", async () => {
    const store = new MemoryStateStore();
    const toolsA = new TestTools().add("add", (input, context) =>
      context.stepId === "s3"
        ? new Promise((_, reject) =>
            context.signal.addEventListener("abort", () => reject(context.signal.reason)),
          )
        : { n: Number(input.n) + Number(input.by) },
    );
    const engineA = new AriaRuntimeEngine({ tools: toolsA, store });
    const runA = engineA.runPlan(plan, { start: 1 }, { runId: "run-3" });
    await until(() => toolsA.calls.length === 3);
    await engineA.close();
    await expect(runA).rejects.toMatchObject({ code: "RUN_CANCELLED" });
    expect((await store.getRun("run-3"))?.status).toBe("running");
    const toolsB = adder();
    const { run } = await new AriaRuntimeEngine({ tools: toolsB, store }).resume("run-3");
    expect(toolsB.calls.map((c) => c.context.stepId)).toEqual(["s3", "s4"]);
    expect(run.result).toEqual({ total: 114 });
  });

  it("inspectRun shows the steps finished so far while a run is still running", async () => {
    const store = new MemoryStateStore();
    const gate = deferred<{ n: number }>();
    const tools = new TestTools().add("add", (input, context) =>
      context.stepId === "s3" ? gate.promise : { n: Number(input.n) + Number(input.by) },
    );
    const engine = new AriaRuntimeEngine({ tools, store });
    const pending = engine.runPlan(plan, { start: 1 }, { runId: "run-4" });
    await until(() => tools.calls.length === 3);
    const view = await engine.inspectRun("run-4");
    expect(view?.status).toBe("running");
    expect(view?.steps.map((s) => [s.stepId, s.status, s.output])).toEqual([
      ["s1", "succeeded", { n: 2 }],
      ["s2", "succeeded", { n: 12 }],
    ]);
    gate.resolve({ n: 112 });
    expect((await pending).run.result).toEqual({ total: 114 });
  });
});

describe("older checkpoint formats still load", () => {
  const fixtures = ["v1-interrupted.json", "v2-interrupted.json", "v2-evicted.json"];
  for (const name of fixtures) {
    it(`resumes a run from ${name}`, async () => {
      const fixture = JSON.parse(
        readFileSync(new URL(`./fixtures/checkpoints/${name}`, import.meta.url), "utf8"),
      ) as {
        run: RunState;
        checkpoints: unknown[];
        expect: { ran: string[]; result: unknown; stepStatuses: Record<string, string> };
      };
      const store = new MemoryStateStore();
      expect(await store.compareAndSetRun(fixture.run, -1)).toBe(true);
      for (const record of fixture.checkpoints)
        await store.appendCheckpoint(fixture.run.id, record);
      for (const record of fixture.checkpoints)
        expect(migrateCheckpoint(record).schemaVersion).toBe(2);
      const tools = adder();
      const { run } = await new AriaRuntimeEngine({ tools, store }).resume(fixture.run.id);
      expect(tools.calls.map((c) => c.context.stepId)).toEqual(fixture.expect.ran);
      expect(run.status).toBe("succeeded");
      expect(run.result).toEqual(fixture.expect.result);
      expect(Object.fromEntries(run.steps.map((s) => [s.stepId, s.status]))).toEqual(
        fixture.expect.stepStatuses,
      );
    });
  }

  it("refuses a checkpoint from a newer engine with a clear message", () => {
    expect(() => migrateCheckpoint({ schemaVersion: 99, kind: "step" })).toThrowError(
      /newer than this engine reads/,
    );
    expect(() => migrateCheckpoint({ kind: "step" })).toThrowError(/cannot be read/);
  });
});
