import type { ExecutionStep, PipelineManifest, RegisteredTool } from "@aria/core-types";
import {
  ApprovalPolicyCheck,
  AriaRuntimeEngine,
  MemoryStateStore,
  readRunView,
} from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import { RecordingSink, TestAgents, TestTools } from "./helpers.ts";

/** Test tools where some tools declare `needsApproval` in their registration. */
class ApprovalTools extends TestTools {
  readonly gated = new Set<string>();
  override resolve(name: string): RegisteredTool {
    const tool = super.resolve(name);
    return this.gated.has(name) ? { ...tool, needsApproval: true } : tool;
  }
}

function pipeline(steps: unknown[]): PipelineManifest {
  return { name: "p", description: "approval pipeline", steps } as PipelineManifest;
}

function setup(
  tools: TestTools,
  extra: Partial<ConstructorParameters<typeof AriaRuntimeEngine>[0]> = {},
) {
  const store = new MemoryStateStore();
  const sink = new RecordingSink();
  let now = Date.parse("2026-01-01T00:00:00Z");
  const clock = { now: () => now };
  const engine = new AriaRuntimeEngine({ tools, store, events: sink, clock, ...extra });
  return { store, sink, engine, advance: (ms: number) => (now += ms) };
}

const PAY = [
  { id: "quote", type: "tool", tool: "quote", params: { item: "{{input.item}}" } },
  {
    id: "pay",
    type: "tool",
    tool: "pay",
    params: { amount: "{{steps.quote.output.amount}}", to: "acme" },
    dependsOn: ["quote"],
  },
  {
    id: "receipt",
    type: "tool",
    tool: "receipt",
    params: { paid: "{{steps.pay.output.paid}}" },
    dependsOn: ["pay"],
  },
];

function payTools() {
  const tools = new ApprovalTools()
    .add("quote", (input) => ({ amount: String(input.item) === "car" ? 30_000 : 10 }))
    .add("pay", (input) => ({ paid: input.amount, to: input.to }))
    .add("receipt", (input) => ({ text: `paid ${input.paid}` })) as ApprovalTools;
  tools.gated.add("pay");
  return tools;
}

describe("approvals", () => {
  it("pauses before a tool that needs approval and resumes with the approver's edited parameters", async () => {
    const tools = payTools();
    const { engine, store, sink } = setup(tools);
    const first = await engine.runPipeline(pipeline(PAY), { item: "car" }, { runId: "r1" });
    expect(first.run.status).toBe("paused");
    expect(tools.callsOf("pay")).toHaveLength(0);
    expect(tools.callsOf("quote")).toHaveLength(1);

    // Stored durably: the run view shows the waiting step, the approval is recorded.
    const view = await readRunView(store, "r1");
    expect(view?.status).toBe("paused");
    expect(view?.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["quote", "succeeded"],
      ["pay", "waiting"],
    ]);
    const [pending] = await engine.approvals.listForRun("r1");
    expect(pending).toMatchObject({
      stepId: "pay",
      kind: "tool",
      target: "pay",
      params: { amount: 30_000, to: "acme" },
      status: "pending",
      reason: "tool",
      onTimeout: "reject",
    });
    const requested = sink.events.find((e) => e.type === "approval.requested");
    expect(requested).toMatchObject({ stepId: "pay", data: { params: { amount: 30_000 } } });

    // Resuming before a decision parks it again without asking twice.
    const again = await engine.resume("r1");
    expect(again.run.status).toBe("paused");
    expect(sink.events.filter((e) => e.type === "approval.requested")).toHaveLength(1);

    await engine.decideApproval("r1", "pay", {
      decision: "approve",
      params: { amount: 25_000, to: "acme" },
      by: "alice",
      comment: "negotiated",
    });
    const done = await engine.resume("r1");
    expect(done.run.status).toBe("succeeded");
    expect(tools.callsOf("pay")).toHaveLength(1);
    expect(tools.callsOf("pay")[0]!.input).toEqual({ amount: 25_000, to: "acme" });
    expect(tools.callsOf("quote")).toHaveLength(1);
    expect(done.run.result).toEqual({ text: "paid 25000" });
    // Each step records the parameters it ran with: resolved placeholders, the approver's edits.
    const view2 = await readRunView(store, "r1");
    expect(view2?.steps.map((st) => [st.stepId, st.resolvedParams])).toEqual([
      ["quote", { item: "car" }],
      ["pay", { amount: 25_000, to: "acme" }],
      ["receipt", { paid: 25_000 }],
    ]);
    const resolved = sink.events.find((e) => e.type === "approval.resolved");
    expect(resolved).toMatchObject({
      stepId: "pay",
      data: { decision: "approve", by: "alice", params: { amount: 25_000 } },
    });
  });

  it("a rejection fails the step (no reflection rerun) and skips its dependants; the run fails", async () => {
    const tools = payTools();
    let asked = 0;
    const { engine } = setup(tools, {
      recovery: {
        onStepFailed: async () => {
          asked++;
          return { decision: "skip" } as never;
        },
        replan: async () => ({}) as never,
      },
    });
    await engine.runPipeline(
      pipeline(PAY),
      { item: "car" },
      {
        runId: "r2",
        options: { reflection: true },
      },
    );
    await engine.decideApproval("r2", "pay", {
      decision: "reject",
      by: "bob",
      comment: "too much",
    });
    const { run } = await engine.resume("r2");
    expect(run.status).toBe("failed");
    const pay = run.steps.find((s) => s.stepId === "pay");
    expect(pay?.status).toBe("failed");
    expect(pay?.error?.code).toBe("APPROVAL_REJECTED");
    expect(pay?.error?.message).toContain("too much");
    expect(run.steps.find((s) => s.stepId === "receipt")?.status).toBe("skipped");
    expect(tools.callsOf("pay")).toHaveLength(0);
    expect(asked).toBe(0);
  });

  it("with continueOnError a rejected step lets the run go on", async () => {
    const tools = payTools();
    const { engine } = setup(tools);
    const steps = [
      { id: "pay", type: "tool", tool: "pay", params: { amount: 1 }, continueOnError: true },
      { id: "after", type: "tool", tool: "receipt", params: { paid: 0 }, dependsOn: ["pay"] },
    ];
    await engine.runPipeline(pipeline(steps), undefined, { runId: "r3" });
    await engine.decideApproval("r3", "pay", { decision: "reject", by: "bob" });
    const { run } = await engine.resume("r3");
    expect(run.status).toBe("succeeded");
    expect(run.steps.map((s) => s.status)).toEqual(["failed", "succeeded"]);
  });

  it("independent branches run to the end before the run pauses", async () => {
    const tools = payTools().add("side", () => ({ ok: true }));
    const { engine } = setup(tools);
    const steps = [
      { id: "pay", type: "tool", tool: "pay", params: { amount: 1 } },
      { id: "side", type: "tool", tool: "side", params: {}, dependsOn: [] },
    ];
    const { run } = await engine.runPipeline(pipeline(steps), undefined, { runId: "r4" });
    expect(run.status).toBe("paused");
    expect(tools.callsOf("side")).toHaveLength(1);
  });

  it("a step's needsApproval and approval policy: the timeout decides when nobody does", async () => {
    const tools = new TestTools().add("deploy", () => ({ deployed: true }));
    const { engine, advance, sink } = setup(tools);
    const steps = [
      {
        id: "deploy",
        type: "tool",
        tool: "deploy",
        params: {},
        needsApproval: true,
        approval: { timeoutMs: 60_000, onTimeout: "approve" },
      },
    ];
    await engine.runPipeline(pipeline(steps), undefined, { runId: "r5" });
    const [pending] = await engine.approvals.listForRun("r5");
    expect(pending?.expiresAt).toBe("2026-01-01T00:01:00.000Z");
    expect(pending?.reason).toBe("step");
    // Not yet expired: still waiting.
    advance(30_000);
    expect((await engine.resume("r5")).run.status).toBe("paused");
    advance(31_000);
    expect(await engine.approvals.expired("r5")).toHaveLength(1);
    const { run } = await engine.resume("r5");
    expect(run.status).toBe("succeeded");
    expect(sink.events.find((e) => e.type === "approval.resolved")?.data).toMatchObject({
      decision: "approve",
      timedOut: true,
      by: "timeout",
    });
  });

  it("deciding twice, or an approval that does not exist, are clear errors", async () => {
    const tools = payTools();
    const { engine } = setup(tools);
    await engine.runPipeline(pipeline(PAY), { item: "x" }, { runId: "r6" });
    await engine.decideApproval("r6", "pay", { decision: "approve", by: "a" });
    const twice = await engine
      .decideApproval("r6", "pay", { decision: "reject", by: "b" })
      .catch((e: unknown) => e);
    expect(AriaError.is(twice) && twice.code).toBe("APPROVAL_ALREADY_DECIDED");
    const missing = await engine
      .decideApproval("r6", "quote", { decision: "approve", by: "a" })
      .catch((e: unknown) => e);
    expect(AriaError.is(missing) && missing.code).toBe("APPROVAL_NOT_FOUND");
  });

  it("policy rules gate steps whose manifests do not ask, and agents whose tools need approval", async () => {
    const tools = new ApprovalTools().add("search", () => ({ hits: 1 })) as ApprovalTools;
    tools.gated.add("search");
    const agents = new TestAgents([], ["researcher"]);
    const original = agents.getAgent.bind(agents);
    agents.getAgent = (name: string) => ({ ...original(name), tools: ["search"] });
    const check = new ApprovalPolicyCheck({ tools, agents, settings: { rules: ["tool:sea*"] } });
    const step = (s: Record<string, unknown>) => ({ params: {}, ...s }) as ExecutionStep;
    expect(check.reason(step({ id: "a", type: "agent", agent: "researcher" }))).toBe("tool:search");
    expect(
      check.reason(step({ id: "s", type: "tool", tool: "search", needsApproval: false })),
    ).toBe("rule:tool:sea*");
    expect(check.reason(step({ id: "t", type: "tool", tool: "search" }))).toBe("tool");
    expect(check.reason(step({ id: "r", type: "reasoning", prompt: "x" }))).toBeUndefined();
    // The engine gates such an agent step like any other: it pauses before the agent runs.
    const { engine } = setup(tools, { agents, config: { approvals: { rules: ["tool:sea*"] } } });
    const { run } = await engine.runPlan(
      { steps: [{ id: "a", type: "agent", agent: "researcher", params: { task: "find" } }] },
      undefined,
      { runId: "r8" },
    );
    expect(run.status).toBe("paused");
  });

  it("cancelling a paused run's resumption leaves nothing waiting to run", async () => {
    const tools = payTools();
    const { engine } = setup(tools);
    await engine.runPipeline(pipeline(PAY), { item: "x" }, { runId: "r7" });
    const controller = new AbortController();
    controller.abort(new AriaError("RUN_CANCELLED", { message: "cancelled by test" }));
    const { run } = await engine.resume("r7", { signal: controller.signal });
    expect(run.status).toBe("cancelled");
    expect(tools.callsOf("pay")).toHaveLength(0);
  });

  it("a rerun proposed by reflection that needs approval is not run", async () => {
    const tools = payTools().add("flaky", () => {
      throw new Error("boom");
    }) as ApprovalTools;
    const { engine } = setup(tools, {
      recovery: {
        onStepFailed: async (failure) =>
          ({
            decision: {
              action: "retry",
              step: { ...failure.step, tool: "pay", params: { amount: 1e6, to: "mallory" } },
            },
          }) as never,
        replan: async () => ({ steps: [] }) as never,
      },
    });
    const { run } = await engine.runPipeline(
      pipeline([{ id: "x", type: "tool", tool: "flaky", params: {} }]),
      undefined,
      { runId: "r9", options: { reflection: true } },
    );
    expect(run.status).toBe("failed");
    expect(tools.callsOf("pay")).toHaveLength(0);
    expect(run.steps[0]?.error?.code).toBe("APPROVAL_REQUIRED");
  });

  it("a replanned step reusing a parked step's id is asked about again, not run on the old approval", async () => {
    const tools = payTools().add("flaky", async () => {
      await new Promise((r) => setTimeout(r, 20));
      throw new Error("boom");
    }) as ApprovalTools;
    const { engine, sink } = setup(tools, {
      recovery: {
        onStepFailed: async () => ({ decision: { action: "replan" } }) as never,
        replan: async () =>
          ({
            steps: [
              {
                id: "pay",
                type: "tool",
                tool: "pay",
                params: { amount: 1e6, to: "mallory" },
                dependsOn: [],
              },
            ],
          }) as never,
      },
    });
    const steps = [
      { id: "pay", type: "tool", tool: "pay", params: { amount: 10, to: "acme" }, dependsOn: [] },
      { id: "x", type: "tool", tool: "flaky", params: {}, dependsOn: [] },
    ];
    await engine.runPipeline(pipeline(steps), undefined, {
      runId: "r10",
      options: { reflection: true },
    });
    const asked = sink.events.filter((e) => e.type === "approval.requested");
    expect(asked.at(-1)?.data).toMatchObject({ params: { amount: 1e6, to: "mallory" } });
    const [record] = await engine.approvals.listForRun("r10");
    expect(record).toMatchObject({ status: "pending", params: { amount: 1e6, to: "mallory" } });
    expect(tools.callsOf("pay")).toHaveLength(0);
  });

  it("an approval given for other parameters does not cover the step", async () => {
    const tools = payTools();
    const { engine, store, sink } = setup(tools);
    await engine.runPipeline(pipeline(PAY), { item: "car" }, { runId: "r11" });
    await engine.decideApproval("r11", "pay", { decision: "approve", by: "alice" });
    // As if the approval had been given for something else (another revision of the step).
    const stored = await engine.approvals.get("r11", "pay");
    await store.setValue(
      "approvals",
      "r11/pay",
      JSON.stringify({ ...stored, fingerprint: "other" }),
    );
    const { run } = await engine.resume("r11");
    expect(run.status).toBe("paused");
    expect(tools.callsOf("pay")).toHaveLength(0);
    expect(sink.events.filter((e) => e.type === "approval.requested")).toHaveLength(2);
  });

  it("time spent paused does not count against the run's timeout", async () => {
    const tools = payTools();
    const { engine, advance } = setup(tools);
    await engine.runPipeline(
      pipeline(PAY),
      { item: "car" },
      {
        runId: "r12",
        options: { timeoutMs: 60_000 },
      },
    );
    advance(5 * 60_000);
    await engine.decideApproval("r12", "pay", { decision: "approve", by: "alice" });
    const { run } = await engine.resume("r12");
    expect(run.status).toBe("succeeded");
    expect(tools.callsOf("pay")).toHaveLength(1);
  });

  it("the same person deciding twice at once wins once", async () => {
    const tools = payTools();
    const { engine } = setup(tools);
    await engine.runPipeline(pipeline(PAY), { item: "car" }, { runId: "r13" });
    const results = await Promise.allSettled([
      engine.decideApproval("r13", "pay", { decision: "approve", by: "alice" }),
      engine.decideApproval("r13", "pay", { decision: "reject", by: "alice" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(AriaError.is(failed.reason) && failed.reason.code).toBe("APPROVAL_ALREADY_DECIDED");
  });

  it("a policy rule on a tool gates the agents that may call it", () => {
    const tools = new TestTools().add("mcp:notes/delete", () => ({}));
    const agents = new TestAgents([], ["janitor"]);
    const original = agents.getAgent.bind(agents);
    agents.getAgent = (name: string) => ({ ...original(name), tools: ["mcp:notes/delete"] });
    const check = new ApprovalPolicyCheck({
      tools,
      agents,
      settings: { rules: ["tool:mcp:notes/*"] },
    });
    expect(
      check.reason({ id: "a", type: "agent", agent: "janitor", params: {} } as ExecutionStep),
    ).toBe("tool:mcp:notes/delete:rule:tool:mcp:notes/*");
  });
});
