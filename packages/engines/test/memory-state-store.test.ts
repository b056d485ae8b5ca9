import type { RunState } from "@aria/core-types";
import { emptyExecutionMetrics, MemoryStateStore, runLeaseKey } from "@aria/engines";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./helpers.ts";

function runState(id: string, extra: Partial<RunState> = {}): RunState {
  return {
    id,
    status: "running",
    target: { kind: "plan" },
    options: {},
    steps: [],
    metrics: emptyExecutionMetrics(),
    cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    version: 0,
    ...extra,
  };
}

describe("MemoryStateStore", () => {
  it("keeps serialised bytes: neither the written nor the read object is shared", async () => {
    const store = new MemoryStateStore();
    const run = runState("r1", { input: { list: [1] } });
    await store.compareAndSetRun(run, -1);
    (run.input as { list: number[] }).list.push(2);
    const read = await store.getRun("r1");
    expect(read?.input).toEqual({ list: [1] });
    (read!.input as { list: number[] }).list.push(3);
    expect((await store.getRun("r1"))?.input).toEqual({ list: [1] });

    const record = { schemaVersion: 2, kind: "memory.set", at: "t", key: "k", value: { a: 1 } };
    await store.appendCheckpoint("r1", record);
    record.value.a = 2;
    const [stored] = (await store.readCheckpoints("r1")) as Array<typeof record>;
    expect(stored!.value).toEqual({ a: 1 });
    expect(stored).not.toBe(record);
  });

  it("writes runs by compare-and-set on their version", async () => {
    const store = new MemoryStateStore();
    expect(await store.compareAndSetRun(runState("r"), -1)).toBe(true);
    expect(await store.compareAndSetRun(runState("r"), -1)).toBe(false);
    expect((await store.getRun("r"))?.version).toBe(0);
    expect(await store.compareAndSetRun(runState("r", { status: "succeeded" }), 1)).toBe(false);
    expect(
      await store.compareAndSetRun(runState("r", { status: "succeeded", version: 77 }), 0),
    ).toBe(true);
    expect(await store.getRun("r")).toMatchObject({ status: "succeeded", version: 1 });
    expect(await store.getRun("missing")).toBeUndefined();
  });

  it("lists runs newest first, by status and with a limit", async () => {
    const store = new MemoryStateStore();
    await store.compareAndSetRun(runState("a", { createdAt: "2026-01-01T00:00:01.000Z" }), -1);
    await store.compareAndSetRun(
      runState("b", { createdAt: "2026-01-01T00:00:03.000Z", status: "failed" }),
      -1,
    );
    await store.compareAndSetRun(runState("c", { createdAt: "2026-01-01T00:00:02.000Z" }), -1);
    expect((await store.listRuns()).map((r) => r.id)).toEqual(["b", "c", "a"]);
    expect((await store.listRuns({ status: "running" })).map((r) => r.id)).toEqual(["c", "a"]);
    expect((await store.listRuns({ limit: 1 })).map((r) => r.id)).toEqual(["b"]);
  });

  it("keeps append-only event logs with sequence numbers from 1", async () => {
    const store = new MemoryStateStore();
    const at = "2026-01-01T00:00:00.000Z";
    expect(await store.appendEvent("r", { runId: "r", type: "run.started", at, data: {} })).toBe(1);
    expect(
      await store.appendEvent("r", {
        runId: "other",
        type: "step.started",
        at,
        stepId: "s",
        data: { i: 1 },
      }),
    ).toBe(2);
    expect(await store.appendEvent("q", { runId: "q", type: "run.started", at, data: {} })).toBe(1);
    const events = await store.readEvents("r");
    expect(events).toEqual([
      { runId: "r", seq: 1, type: "run.started", at, data: {} },
      { runId: "r", seq: 2, type: "step.started", at, stepId: "s", data: { i: 1 } },
    ]);
    expect(await store.readEvents("r", 1)).toEqual([events[1]]);
    expect(await store.readEvents("none")).toEqual([]);
  });

  it("grants leases with growing fencing tokens; they expire, renew and release", async () => {
    const clock = new FakeClock(1000);
    const store = new MemoryStateStore({ clock });
    const a = await store.acquireLease("k", "A", 100);
    expect(a).toEqual({ key: "k", owner: "A", fencingToken: 1, expiresAt: 1100 });
    expect(await store.acquireLease("k", "B", 100)).toBeUndefined();
    // Re-acquiring one's own live lease extends it and keeps the token.
    clock.advance(50);
    expect(await store.acquireLease("k", "A", 100)).toMatchObject({
      fencingToken: 1,
      expiresAt: 1150,
    });
    const renewed = await store.renewLease(a!, 100);
    expect(renewed).toMatchObject({ fencingToken: 1, expiresAt: 1150 });
    clock.advance(200);
    expect(await store.renewLease(a!, 100)).toBeUndefined();
    const b = await store.acquireLease("k", "B", 100);
    expect(b?.fencingToken).toBe(2);
    // A stale holder can neither renew nor release the new lease.
    expect(await store.renewLease(a!, 100)).toBeUndefined();
    await store.releaseLease(a!);
    expect(await store.acquireLease("k", "C", 100)).toBeUndefined();
    await store.releaseLease(b!);
    expect((await store.acquireLease("k", "C", 100))?.fencingToken).toBe(3);
  });

  it("fences run writes against the run's lease", async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore({ clock });
    const first = await store.acquireLease(runLeaseKey("r"), "A", 10);
    await store.compareAndSetRun(runState("r"), -1, first!.fencingToken);
    clock.advance(20);
    const second = await store.acquireLease(runLeaseKey("r"), "B", 10);
    await expect(
      store.compareAndSetRun(runState("r"), 0, first!.fencingToken),
    ).rejects.toMatchObject({ code: "RUN_CONFLICT" });
    await expect(store.appendCheckpoint("r", {}, first!.fencingToken)).rejects.toMatchObject({
      code: "RUN_CONFLICT",
    });
    expect(await store.compareAndSetRun(runState("r"), 0, second!.fencingToken)).toBe(true);
  });

  it("stores string values with an optional expiry", async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore({ clock });
    await store.setValue("ns", "a", "1");
    await store.setValue("ns", "b", "2", 100);
    await store.setValue("other", "a", "x");
    expect(await store.getValue("ns", "a")).toBe("1");
    expect(await store.getValue("other", "a")).toBe("x");
    clock.advance(100);
    expect(await store.getValue("ns", "b")).toBeUndefined();
    await store.deleteValue("ns", "a");
    expect(await store.getValue("ns", "a")).toBeUndefined();
  });

  it("refuses everything once closed", async () => {
    const store = new MemoryStateStore();
    await store.close();
    await expect(store.getRun("r")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
  });
});
