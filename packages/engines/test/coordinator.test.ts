import type { PipelineManifest, RunEvent } from "@aria/core-types";
import { AriaRuntimeEngine, MemoryStateStore, migrateCheckpoint, readRunView } from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import {
  abortion,
  deferred,
  FakeContainers,
  RecordingSink,
  ScriptedLlm,
  TestAgents,
  TestTools,
  tick,
  until,
} from "./helpers.ts";

function pipeline(steps: unknown[], extra: Partial<PipelineManifest> = {}): PipelineManifest {
  return { name: "p", description: "test pipeline", steps, ...extra } as PipelineManifest;
}

function setup(
  tools: TestTools,
  extra: Partial<ConstructorParameters<typeof AriaRuntimeEngine>[0]> = {},
) {
  const store = new MemoryStateStore();
  const sink = new RecordingSink();
  const engine = new AriaRuntimeEngine({ tools, store, events: sink, ...extra });
  return { store, sink, engine };
}

describe("pipelines as parallel graphs", () => {
  it("runs the two middle steps of a diamond concurrently (their start/end times overlap)", async () => {
    const spans: Record<string, { start: number; end: number }> = {};
    const tools = new TestTools()
      .add("work", async (input) => {
        const name = String(input.name);
        const span = { start: performance.now(), end: 0 };
        spans[name] = span;
        // Yield a few times so a concurrently started sibling gets to run in between.
        for (let i = 0; i < 5; i++) await tick();
        span.end = performance.now();
        return { name, n: Number(input.n ?? 0) + 1 };
      })
      .add("join", (input) => ({ total: Number(input.left) + Number(input.right) }));
    const { engine } = setup(tools);
    const { run } = await engine.runPipeline(
      pipeline(
        [
          { id: "top", type: "tool", tool: "work", params: { name: "top", n: 1 } },
          {
            id: "left",
            type: "tool",
            tool: "work",
            params: { name: "left", n: "{{steps.top.output.n}}" },
            dependsOn: ["top"],
          },
          {
            id: "right",
            type: "tool",
            tool: "work",
            params: { name: "right", n: "{{step_1_output.n}}" },
            dependsOn: ["top"],
          },
          {
            id: "bottom",
            type: "tool",
            tool: "join",
            params: { left: "{{steps.left.output.n}}", right: "{{steps.right.output.n}}" },
          },
        ],
        { output: { total: "{{steps.bottom.output.total}}", from: "{{input.who}}" } },
      ),
      { who: "test" },
    );
    expect(run.status).toBe("succeeded");
    expect(run.result).toEqual({ total: 6, from: "test" });
    const left = spans.left!;
    const right = spans.right!;
    // Overlap: each started before the other ended.
    expect(left.start).toBeLessThan(right.end);
    expect(right.start).toBeLessThan(left.end);
    // ... and both ran strictly after the top and before the bottom.
    expect(spans.top!.end).toBeLessThanOrEqual(Math.min(left.start, right.start));
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["top", "succeeded"],
      ["left", "succeeded"],
      ["right", "succeeded"],
      ["bottom", "succeeded"],
    ]);
  });

  it("respects the parallel limit (maxParallel 1 runs the middle steps one after the other)", async () => {
    let running = 0;
    let peak = 0;
    const tools = new TestTools().add("work", async () => {
      running++;
      peak = Math.max(peak, running);
      for (let i = 0; i < 3; i++) await tick();
      running--;
      return 1;
    });
    const steps = [
      { id: "a", type: "tool", tool: "work" },
      ...["b", "c", "d", "e"].map((id) => ({ id, type: "tool", tool: "work", dependsOn: ["a"] })),
    ];
    await setup(tools, { config: { maxParallel: 1 } }).engine.runPipeline(pipeline(steps));
    expect(peak).toBe(1);
    peak = 0;
    await setup(tools, { config: { maxParallel: 3 } }).engine.runPipeline(pipeline(steps));
    expect(peak).toBe(3);
    peak = 0;
    await setup(tools).engine.runPipeline(pipeline(steps), undefined, {
      options: { maxParallel: 2 },
    });
    expect(peak).toBe(2);
  });

  it("a failed step skips its dependants; independent branches still run; the run fails", async () => {
    const tools = new TestTools()
      .add("ok", (input) => input.v ?? "ok")
      .add("fail", () => {
        throw new AriaError("TOOL_EXECUTION_FAILED", { message: "bad thing", retryable: false });
      });
    const { engine, store } = setup(tools);
    const { run } = await engine.runPipeline(
      pipeline([
        { id: "a", type: "tool", tool: "ok" },
        { id: "b", type: "tool", tool: "fail", dependsOn: ["a"] },
        { id: "c", type: "tool", tool: "ok", dependsOn: ["b"] },
        { id: "d", type: "tool", tool: "ok", dependsOn: ["c"] },
        { id: "e", type: "tool", tool: "ok", dependsOn: ["a"] },
      ]),
    );
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "STEP_FAILED",
      details: { failedSteps: ["b"], skippedSteps: ["c", "d"] },
    });
    expect(run.error?.message).toContain("bad thing");
    expect(Object.fromEntries(run.steps.map((s) => [s.stepId, s.status]))).toEqual({
      a: "succeeded",
      b: "failed",
      c: "skipped",
      d: "skipped",
      e: "succeeded",
    });
    expect(run.steps[2]!.error?.message).toContain("skipped because step 'b' failed");
    expect(tools.callsOf("ok")).toHaveLength(2);
    expect(run.metrics).toMatchObject({
      stepsTotal: 5,
      stepsSucceeded: 2,
      stepsFailed: 1,
      stepsSkipped: 2,
    });
    expect((await store.getRun(run.id))?.status).toBe("failed");
    // The stored record keeps only what has no checkpoint; readRunView puts the steps back together.
    expect((await store.getRun(run.id))?.steps.map((s) => s.stepId)).toEqual(["c", "d"]);
    const view = await readRunView(store, run.id);
    expect(view?.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["a", "succeeded"],
      ["b", "failed"],
      ["c", "skipped"],
      ["d", "skipped"],
      ["e", "succeeded"],
    ]);
    expect(view?.steps[0]).toMatchObject({ output: "ok", idempotencyKey: `${run.id}:a` });
    expect(view?.steps[1]?.error).toMatchObject({
      code: "TOOL_EXECUTION_FAILED",
      message: "bad thing",
    });
    expect(await engine.inspectRun(run.id)).toEqual(view);
  });

  it("fail-fast cancels the running siblings and starts nothing else", async () => {
    let siblingAborted = false;
    const tools = new TestTools()
      .add("slow", async (_input, context) => {
        try {
          await abortion(context.signal);
        } finally {
          siblingAborted = context.signal.aborted;
        }
      })
      .add("fail", async () => {
        await tick();
        throw new AriaError("TOOL_EXECUTION_FAILED", { message: "x", retryable: false });
      })
      .add("ok", () => 1);
    const { engine } = setup(tools, { config: { failurePolicy: "fail-fast" } });
    const { run } = await engine.runPipeline(
      pipeline([
        { id: "slow", type: "tool", tool: "slow", dependsOn: [] },
        { id: "fail", type: "tool", tool: "fail", dependsOn: [] },
        { id: "after", type: "tool", tool: "ok", dependsOn: ["slow"] },
      ]),
    );
    expect(run.status).toBe("failed");
    expect(siblingAborted).toBe(true);
    expect(Object.fromEntries(run.steps.map((s) => [s.stepId, s.status]))).toEqual({
      slow: "cancelled",
      fail: "failed",
      after: "skipped",
    });
    expect(tools.callsOf("ok")).toHaveLength(0);
  });

  it("continueOnError lets dependants run; a placeholder to the failed step still fails its reader", async () => {
    const tools = new TestTools()
      .add("fail", () => {
        throw new Error("flaky service down");
      })
      .add("ok", () => "fine")
      .add("read", (input) => input.x);
    const { engine } = setup(tools);
    const { run } = await engine.runPipeline(
      pipeline([
        { id: "a", type: "tool", tool: "fail", continueOnError: true },
        { id: "b", type: "tool", tool: "ok" },
        {
          id: "c",
          type: "tool",
          tool: "read",
          params: { x: "{{steps.a.output}}" },
          dependsOn: ["b"],
        },
      ]),
    );
    expect(Object.fromEntries(run.steps.map((s) => [s.stepId, s.status]))).toEqual({
      a: "failed",
      b: "succeeded",
      c: "failed",
    });
    expect(run.steps[2]!.error).toMatchObject({
      code: "PLACEHOLDER_UNRESOLVED",
      details: { step: "a", reason: "step_failed" },
    });
    expect(run.status).toBe("failed");
    expect(run.error?.details.failedSteps).toEqual(["c"]);

    const { run: tolerant } = await setup(tools).engine.runPipeline(
      pipeline([
        { id: "a", type: "tool", tool: "fail", continueOnError: true },
        { id: "b", type: "tool", tool: "ok" },
      ]),
    );
    expect(tolerant.status).toBe("succeeded");
    expect(tolerant.result).toBe("fine");
  });

  it("validates the whole graph before anything runs (PLAN_INVALID lists every problem)", async () => {
    const tools = new TestTools().add("ok", () => 1);
    const { engine, store } = setup(tools);
    const bad = pipeline([
      { id: "a", type: "tool", tool: "ok", dependsOn: ["b"] },
      { id: "b", type: "tool", tool: "ok", dependsOn: ["a"] },
      { id: "c", type: "tool", tool: "missing" },
      { id: "d", type: "tool", tool: "ok", params: { x: "{{steps.zzz.output}}" } },
    ]);
    expect(
      engine
        .validate(bad)
        .map((p) => p.code)
        .sort(),
    ).toEqual(["cycle", "unknown_reference", "unknown_tool"]);
    const error = await engine.runPipeline(bad).catch((e: unknown) => e);
    expect(AriaError.hasCode(error, "PLAN_INVALID")).toBe(true);
    expect(((error as AriaError).details.problems as unknown[]).length).toBe(3);
    expect(tools.calls).toHaveLength(0);
    expect(await store.listRuns()).toEqual([]);
  });

  it("refuses to start a pipeline that reads {{input}} without an input", async () => {
    const tools = new TestTools().add("n", (input) => input.v);
    const { engine, store } = setup(tools);
    const error = await engine
      .runPipeline(pipeline([{ id: "a", type: "tool", tool: "n", params: { v: "{{input.v}}" } }]))
      .catch((e: unknown) => e);
    expect(AriaError.hasCode(error, "VALIDATION_FAILED")).toBe(true);
    expect(await store.listRuns()).toEqual([]);
  });

  it("maps the pipeline output; without a mapping the last step's output is the result", async () => {
    const tools = new TestTools().add("n", (input) => input.v);
    const { engine } = setup(tools);
    const mapped = await engine.runPipeline(
      pipeline(
        [
          { id: "a", type: "tool", tool: "n", params: { v: { items: [1, 2] } } },
          { id: "b", type: "tool", tool: "n", params: { v: "B" } },
        ],
        {
          output: {
            first: "{{steps.a.output.items[1]}}",
            text: "a={{step_1_output.items}} b={{steps.b.output}}",
          },
        },
      ),
    );
    expect(mapped.run.result).toEqual({ first: 2, text: "a=[1,2] b=B" });
    const plain = await engine.runPlan({
      steps: [{ id: "x", type: "tool", tool: "n", params: { v: 7 } }],
    });
    expect(plain.run.result).toBe(7);
    expect(plain.run.target).toEqual({ kind: "plan" });
  });

  it("runs a named pipeline from the AgentRegistry, and pipelines nested in steps", async () => {
    const inner = pipeline(
      [{ id: "double", type: "tool", tool: "mul", params: { n: "{{input.n}}", by: 2 } }],
      {
        name: "double",
        output: "{{steps.double.output}}",
      },
    );
    const outer = pipeline(
      [
        { id: "first", type: "tool", tool: "mul", params: { n: "{{input.n}}", by: 1 } },
        {
          id: "nested",
          type: "pipeline",
          pipeline: "double",
          params: { n: "{{steps.first.output}}" },
        },
      ],
      { name: "outer" },
    );
    const tools = new TestTools().add("mul", (input) => Number(input.n) * Number(input.by));
    const { engine, store } = setup(tools, { agents: new TestAgents([inner, outer]) });
    const { run } = await engine.runPipeline("outer", { n: 21 });
    expect(run.status).toBe("succeeded");
    expect(run.result).toBe(42);
    expect(run.target).toEqual({ kind: "pipeline", name: "outer" });
    expect(tools.calls.map((c) => c.context.idempotencyKey)).toEqual([
      `${run.id}:first`,
      `${run.id}:nested/double`,
    ]);
    const events = await store.readEvents(run.id);
    expect(events.some((e) => e.type === "step.completed" && e.stepId === "nested/double")).toBe(
      true,
    );
  });

  it("refuses a pipeline that runs itself beyond the nesting limit", async () => {
    const loop = pipeline([{ id: "again", type: "pipeline", pipeline: "loop" }], { name: "loop" });
    const { engine } = setup(new TestTools(), {
      agents: new TestAgents([loop]),
      config: { maxPipelineDepth: 3 },
    });
    const { run } = await engine.runPipeline("loop");
    expect(run.status).toBe("failed");
    expect(JSON.stringify(run.error)).toContain("nest deeper than 3");
  });

  it("runs container steps through the container manager and cleans the run's containers up", async () => {
    const containers = new FakeContainers();
    const { engine } = setup(new TestTools(), { containers });
    const { run } = await engine.runPlan(
      {
        steps: [
          { id: "c", type: "container", image: "alpine", command: ["echo", "{{input.msg}}"] },
        ],
      },
      { msg: "hi" },
    );
    expect(run.status).toBe("succeeded");
    expect(containers.specs[0]!.command).toEqual(["echo", "hi"]);
    expect(run.steps[0]!.containerId).toBe("c-1");
    expect(containers.cleaned).toEqual([run.id]);
  });
});

describe("events, metrics, checkpoints", () => {
  it("emits run and step events to the sink and the store's event log, in order", async () => {
    let calls = 0;
    const tools = new TestTools()
      .add("flaky", () => {
        calls++;
        if (calls === 1) throw new Error("once");
        return "ok";
      })
      .add("ok", () => 1);
    const { engine, store, sink } = setup(tools);
    const { run } = await engine.runPipeline(
      pipeline([
        { id: "a", type: "tool", tool: "flaky", retry: { attempts: 2, backoffMs: 1 } },
        { id: "b", type: "tool", tool: "ok" },
      ]),
    );
    const expected = [
      "run.started",
      "step.started:a",
      "step.retrying:a",
      "step.completed:a",
      "step.started:b",
      "step.completed:b",
      "run.completed",
    ];
    expect(sink.types()).toEqual(expected);
    const log = await store.readEvents(run.id);
    expect(log.map((e: RunEvent) => (e.stepId ? `${e.type}:${e.stepId}` : e.type))).toEqual(
      expected,
    );
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(log[2]!.data).toMatchObject({
      attempt: 1,
      nextAttempt: 2,
      delayMs: 1,
      error: { code: "TOOL_EXECUTION_FAILED", message: "once" },
    });
    expect((await store.readEvents(run.id, 5)).map((e) => e.seq)).toEqual([6, 7]);
    expect(run.metrics).toMatchObject({ attempts: 3, retries: 1, stepsSucceeded: 2 });
    expect(run.steps[0]!.metrics).toMatchObject({ attempts: 2, retries: 1 });
    expect(engine.metrics()).toMatchObject({
      runsStarted: 1,
      runsSucceeded: 1,
      stepsStarted: 2,
      stepsSucceeded: 2,
      stepRetries: 1,
      runsActive: 0,
    });
    expect(engine.metrics().stepDurationMsByType.tool?.count).toBe(2);
  });

  it("publishes events for other layers into the same log", async () => {
    const { engine, store, sink } = setup(new TestTools());
    await engine.publish("run-x", "plan.created", { steps: 3 });
    await engine.publish("run-x", "reflection", { action: "retry" }, "s2");
    expect(sink.types()).toEqual(["plan.created", "reflection:s2"]);
    expect((await store.readEvents("run-x")).map((e) => [e.seq, e.type, e.stepId, e.data])).toEqual(
      [
        [1, "plan.created", undefined, { steps: 3 }],
        [2, "reflection", "s2", { action: "retry" }],
      ],
    );
  });

  it("emits step.failed and run.failed with the error", async () => {
    const tools = new TestTools().add("fail", () => {
      throw new AriaError("TOOL_EXECUTION_FAILED", { message: "nope", retryable: false });
    });
    const { engine, sink } = setup(tools);
    await engine.runPlan({ steps: [{ id: "a", type: "tool", tool: "fail" }] });
    expect(sink.types()).toEqual(["run.started", "step.started:a", "step.failed:a", "run.failed"]);
    expect(sink.events[2]!.data).toMatchObject({
      error: { code: "TOOL_EXECUTION_FAILED", message: "nope" },
    });
    expect(sink.events[3]!.data).toMatchObject({ error: { code: "STEP_FAILED" } });
  });

  it("checkpoints incrementally: one record per finished step, each holding only that step", async () => {
    const tools = new TestTools().add("n", (input) => ({ i: input.i }));
    const store = new MemoryStateStore();
    const appended: Array<{ runId: string; size: number }> = [];
    const original = store.appendCheckpoint.bind(store);
    store.appendCheckpoint = async (runId, record, token) => {
      appended.push({ runId, size: JSON.stringify(record).length });
      return original(runId, record, token);
    };
    const casWrites: number[] = [];
    const cas = store.compareAndSetRun.bind(store);
    store.compareAndSetRun = async (run, expected, token) => {
      casWrites.push(expected);
      return cas(run, expected, token);
    };
    const engine = new AriaRuntimeEngine({ tools, store });
    const steps = Array.from({ length: 50 }, (_, i) => ({
      id: `s${i}`,
      type: "tool",
      tool: "n",
      params: { i },
    }));
    const { run } = await engine.runPlan({ steps });
    const records = (await store.readCheckpoints(run.id)).map(migrateCheckpoint);
    expect(records.map((r) => r.kind)).toEqual([...Array(50).fill("step"), "run.finished"]);
    expect(records[7]).toMatchObject({
      schemaVersion: 2,
      kind: "step",
      stepId: "s7",
      index: 7,
      status: "succeeded",
      output: { i: 7 },
      attempts: 1,
      idempotencyKey: `${run.id}:s7`,
    });
    // The per-step record does not grow with the run: the 50th is no bigger than the 2nd (± the
    // digits of its id, index, key, output and resolved parameters: one each).
    expect(appended[49]!.size - appended[1]!.size).toBeLessThanOrEqual(5);
    // The run record is written twice (created, finished), never per step.
    expect(casWrites).toEqual([-1, 0]);
    expect((await store.getRun(run.id))?.version).toBe(1);
  });

  it("evicts old outputs under memory pressure, records memory.evicted, and keeps referenced outputs", async () => {
    const big = "x".repeat(300);
    const tools = new TestTools()
      .add("emit", () => big)
      .add("read", (input) => String(input.v).length);
    const { engine, store, sink } = setup(tools, { config: { memoryLimitBytes: 1000 } });
    const { run, context } = await engine.runPlan({
      steps: [
        { id: "keep", type: "tool", tool: "emit" },
        { id: "b", type: "tool", tool: "emit" },
        { id: "c", type: "tool", tool: "emit" },
        { id: "d", type: "tool", tool: "emit" },
        { id: "uses", type: "tool", tool: "read", params: { v: "{{steps.keep.output}}" } },
      ],
    });
    expect(run.status).toBe("succeeded");
    expect(run.result).toBe(300);
    const evictions = sink.events.filter((e) => e.type === "memory.evicted");
    expect(evictions.length).toBeGreaterThan(0);
    const evicted = evictions.flatMap((e) => e.data?.stepIds as string[]);
    expect(evicted).not.toContain("keep");
    expect(evicted).toContain("b");
    expect(evictions[0]!.data).toMatchObject({ retained: 1 });
    const records = (await store.readCheckpoints(run.id)).map(migrateCheckpoint);
    expect(records.some((r) => r.kind === "memory.evicted")).toBe(true);
    expect(engine.metrics().memoryEvictions).toBe(evicted.length);
    expect(context.memoryUsage().usedBytes).toBeLessThanOrEqual(1000);
  });

  it("a run's context records history and errors", async () => {
    const tools = new TestTools()
      .add("ok", () => 1)
      .add("fail", () => {
        throw new AriaError("TOOL_EXECUTION_FAILED", { message: "x", retryable: false });
      });
    const { context } = await setup(tools).engine.runPlan({
      steps: [
        { id: "a", type: "tool", tool: "ok" },
        { id: "b", type: "tool", tool: "fail", continueOnError: true },
      ],
    });
    expect(context.history().map((h) => h.kind)).toEqual(["step.succeeded", "step.failed"]);
    expect(context.errors()[0]).toMatchObject({ code: "TOOL_EXECUTION_FAILED", stepId: "b" });
    expect(context.getStepOutput("a")).toBe(1);
  });
});

describe("budgets", () => {
  it("refuses the next step once the run's token budget is spent (the call is not made)", async () => {
    const llm = new ScriptedLlm(["one", "two", "three"]);
    const { engine } = setup(new TestTools(), { llm });
    const steps = ["a", "b", "c"].map((id) => ({ id, type: "reasoning", prompt: `step ${id}` }));
    const { run } = await engine.runPlan({ steps }, undefined, { options: { maxTokens: 20 } });
    // Each call reports 15 tokens: a (15 < 20) and b run, c is refused.
    expect(llm.requests).toHaveLength(2);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      details: { spent: { total: 30 }, budget: { total: 20 } },
    });
    expect(run.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded", "cancelled"]);
    expect(run.cost).toEqual({ usd: 0.002, inputTokens: 20, outputTokens: 10 });
  });

  it("refuses the next step once the cost budget is spent", async () => {
    const llm = new ScriptedLlm(["one", "two"]);
    const { engine } = setup(new TestTools(), { llm });
    const steps = ["a", "b"].map((id) => ({ id, type: "reasoning", prompt: id }));
    const { run } = await engine.runPlan({ steps }, undefined, { options: { maxCostUsd: 0.001 } });
    expect(llm.requests).toHaveLength(1);
    expect(run.error?.code).toBe("BUDGET_EXCEEDED");
  });
});

describe("cancellation and timeouts", () => {
  it("cancel(runId) stops the running step (the tool sees the abort) and ends the run cancelled", async () => {
    let sawAbort = false;
    const tools = new TestTools()
      .add("long", async (_input, context) => {
        try {
          await abortion(context.signal);
        } finally {
          sawAbort = context.signal.aborted;
        }
      })
      .add("never", () => "should not run");
    const { engine, store, sink } = setup(tools);
    const pending = engine.runPlan(
      {
        steps: [
          { id: "long", type: "tool", tool: "long" },
          { id: "after", type: "tool", tool: "never" },
        ],
      },
      undefined,
      { runId: "run-cancel" },
    );
    await until(() => tools.calls.length === 1);
    expect(engine.activeRuns()).toEqual(["run-cancel"]);
    expect(engine.cancel("run-cancel", "user asked")).toBe(true);
    const { run } = await pending;
    expect(sawAbort).toBe(true);
    expect(run.status).toBe("cancelled");
    expect(run.error).toMatchObject({ code: "RUN_CANCELLED" });
    expect(run.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect(tools.callsOf("never")).toHaveLength(0);
    expect(sink.types().at(-1)).toBe("run.cancelled");
    expect((await store.getRun("run-cancel"))?.status).toBe("cancelled");
    expect(engine.cancel("run-cancel")).toBe(false);
  });

  it("an AbortSignal passed with the request cancels the run", async () => {
    const gate = deferred();
    const tools = new TestTools().add("wait", async (_input, context) => {
      gate.resolve();
      await abortion(context.signal);
    });
    const controller = new AbortController();
    const { engine } = setup(tools);
    const pending = engine.runPlan(
      { steps: [{ id: "w", type: "tool", tool: "wait" }] },
      undefined,
      { signal: controller.signal },
    );
    await gate.promise;
    controller.abort();
    expect((await pending).run.status).toBe("cancelled");
  });

  it("a run timeout fails the run with RUN_TIMEOUT", async () => {
    const tools = new TestTools().add("stuck", (_input, context) => abortion(context.signal));
    const { engine } = setup(tools);
    const { run } = await engine.runPlan(
      { steps: [{ id: "s", type: "tool", tool: "stuck" }] },
      undefined,
      { options: { timeoutMs: 20 } },
    );
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("RUN_TIMEOUT");
  });

  it("a step timeout fails the step with TOOL_TIMEOUT and the run with STEP_FAILED", async () => {
    const tools = new TestTools().add("stuck", () => new Promise(() => {}));
    const { engine } = setup(tools);
    const { run } = await engine.runPlan({
      steps: [{ id: "s", type: "tool", tool: "stuck", timeoutMs: 15 }],
    });
    expect(run.steps[0]!.error?.code).toBe("TOOL_TIMEOUT");
    expect(run.error?.code).toBe("STEP_FAILED");
  });
});
