/**
 * The intelligence layer end to end, with a scripted in-process model: tasks analysed, planned,
 * validated and run by the coordinator; reflection carried out (retries with changed parameters,
 * tool switches, skips, aborts, replans that keep finished steps); budgets and bounds.
 */
import type { LlmClient } from "@aria/core-types";
import {
  AriaRuntimeEngine,
  createIntelligence,
  type IntelligenceConfig,
  MemoryStateStore,
  readRunView,
} from "@aria/engines";
import { createScriptedLlm, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import {
  callKind,
  deferred,
  FixtureAgents,
  FixtureTools,
  priced,
  routed,
} from "./intelligence-fixtures.ts";

const num = { type: "number" };
const valueOut = { type: "object", properties: { value: num }, required: ["value"] };

function mathTools(): FixtureTools {
  return new FixtureTools()
    .add("math/square", {
      handler: ({ x }) => ({ value: Number(x) ** 2 }),
      inputSchema: { type: "object", properties: { x: num }, required: ["x"] },
      outputSchema: valueOut,
    })
    .add("math/add", {
      handler: ({ a, b }) => ({ value: Number(a) + Number(b) }),
      inputSchema: { type: "object", properties: { a: num, b: num }, required: ["a", "b"] },
      outputSchema: valueOut,
    })
    .add("math/half", {
      handler: ({ x }) => ({ value: Number(x) / 2 }),
      inputSchema: { type: "object", properties: { x: num }, required: ["x"] },
      outputSchema: valueOut,
    })
    .add("text/format", {
      handler: ({ value, label }) => ({ text: `${label}=${value}` }),
      inputSchema: {
        type: "object",
        properties: { value: num, label: { type: "string" } },
        required: ["value", "label"],
      },
      outputSchema: { type: "object", properties: { text: { type: "string" } } },
    })
    .add("files/save", {
      handler: ({ content }) => ({ saved: true, bytes: String(content).length }),
      inputSchema: {
        type: "object",
        properties: { content: { type: "string" } },
        required: ["content"],
      },
      outputSchema: { type: "object", properties: { saved: { type: "boolean" }, bytes: num } },
    })
    .add("data/fetch", {
      handler: ({ url }) => {
        if (String(url).includes("bad")) throw new Error(`404 at ${url}`);
        return { value: 42 };
      },
      inputSchema: { type: "object", properties: { url: { type: "string" } }, required: ["url"] },
      outputSchema: valueOut,
    })
    .add("data/mirror", {
      handler: () => ({ value: 7 }),
      inputSchema: { type: "object", properties: { url: { type: "string" } } },
      outputSchema: valueOut,
    });
}

const TOOLS = [
  "math/square",
  "math/add",
  "math/half",
  "text/format",
  "files/save",
  "data/fetch",
  "data/mirror",
];

const analysis = (needsPlanning: boolean, steps = 5) =>
  JSON.stringify({
    complexity: needsPlanning ? "complex" : "simple",
    needsPlanning,
    needsContainers: false,
    estimatedSteps: steps,
    reasoning: needsPlanning ? "several dependent tool calls" : "one answer",
  });
const plan = (steps: unknown[]) =>
  JSON.stringify({ steps, reasoning: "in order", confidence: 0.8 });
const reflectWith = (action: Record<string, unknown>) =>
  JSON.stringify({
    performance: "poor",
    quality: "wrong",
    suggestedImprovements: ["fix it"],
    reasoning: `because: ${String(action.type)}`,
    confidence: 0.8,
    action,
  });

function setup(
  llm: LlmClient,
  options: { config?: IntelligenceConfig; tools?: FixtureTools } = {},
) {
  const tools = options.tools ?? mathTools();
  const agents = new FixtureAgents().agent("calc", TOOLS);
  const store = new MemoryStateStore();
  const intelligence = createIntelligence({
    agents,
    tools,
    llm,
    store,
    ...(options.config ? { config: options.config } : {}),
  });
  const engine = new AriaRuntimeEngine({
    tools,
    agents,
    store,
    llm,
    agentExecutor: intelligence.agentExecutor,
    teamExecutor: intelligence.teamExecutor,
    recovery: intelligence.recovery,
    config: { ...intelligence.engineConfig },
  });
  intelligence.attach(engine);
  return { tools, agents, store, intelligence, engine };
}

async function eventTypes(store: MemoryStateStore, runId: string): Promise<string[]> {
  return (await store.readEvents(runId)).map((e) => (e.stepId ? `${e.type}:${e.stepId}` : e.type));
}

describe("planned tasks", () => {
  it("runs a 5-step plan, passing outputs through placeholders with their types", async () => {
    const { script } = routed({
      analyze: [analysis(true)],
      plan: [
        plan([
          { id: "sq", type: "tool", tool: "math/square", params: { x: 3 } },
          {
            id: "plus",
            type: "tool",
            tool: "math/add",
            params: { a: "{{step_1_output.value}}", b: 1 },
          },
          {
            id: "half",
            type: "tool",
            tool: "math/half",
            params: { x: "{{steps.plus.output.value}}" },
          },
          {
            id: "fmt",
            type: "tool",
            tool: "text/format",
            params: { value: "{{step_3_output.value}}", label: "half" },
          },
          {
            id: "save",
            type: "tool",
            tool: "files/save",
            params: { content: "Result: {{steps.fmt.output.text}}" },
          },
        ]),
      ],
    });
    const llm = createScriptedLlm(script);
    const { tools, store, intelligence, engine } = setup(llm);
    const result = await intelligence.runTask({
      agent: "calc",
      task: "Square 3, add 1, halve it, format it and save it.",
      runId: "five",
    });
    expect(result.mode).toBe("plan");
    expect(result.run.status).toBe("succeeded");
    // Listed by its agent, though a plan runs underneath.
    expect(result.run.target).toMatchObject({ kind: "agent" });
    expect((result.run.target as { name: string }).name).toMatch(/calc$/);
    expect(tools.calls.map((c) => [c.name, c.input])).toEqual([
      ["math/square", { x: 3 }],
      ["math/add", { a: 9, b: 1 }],
      ["math/half", { x: 10 }],
      ["text/format", { value: 5, label: "half" }],
      ["files/save", { content: "Result: half=5" }],
    ]);
    expect(result.run.result).toEqual({ saved: true, bytes: 14 });
    expect(result.run.plan?.steps.map((s) => s.id)).toEqual(["sq", "plus", "half", "fmt", "save"]);
    const types = await eventTypes(store, "five");
    // Analysis and planning calls are recorded, then the plan, then the run.
    expect(types.slice(0, 4)).toEqual(["llm.usage", "llm.usage", "plan.created", "run.started"]);
    expect(types).toContain("run.completed");
    // Analysis and planning usage count in the run's cost.
    expect(result.run.cost.inputTokens).toBeGreaterThan(0);
    await engine.close();
  });

  it("loops (one agent step) when the model judges the task simple; tool results feed the next turn", async () => {
    const { script } = routed({
      analyze: [analysis(false, 1)],
      agent: [reply.toolCall("math__square", { x: 4 }), reply.text("16")],
    });
    const llm = createScriptedLlm(script);
    const { store, intelligence, engine } = setup(llm);
    const result = await intelligence.runTask({
      agent: "calc",
      task: "What is 4 squared?",
      runId: "loop",
    });
    expect(result.mode).toBe("loop");
    expect(result.run.status).toBe("succeeded");
    expect(result.run.result).toMatchObject({ text: "16", turns: 2 });
    const events = await store.readEvents("loop");
    // Agent usage and tool calls reach the run's event log through the attached engine.
    expect(events.filter((e) => e.type === "llm.usage").map((e) => e.data.source)).toEqual([
      "planning",
      "agent",
      "agent",
    ]);
    expect(events.some((e) => e.type === "step.completed" && e.stepId === "agent/1.1")).toBe(true);
    await engine.close();
  });

  it("rejects a plan naming an unknown tool after one repair round; no run starts", async () => {
    const bad = plan([{ id: "s", type: "tool", tool: "web/search", params: { q: "x" } }]);
    const { script, served } = routed({ analyze: [analysis(true)], plan: [bad, bad] });
    const llm = createScriptedLlm(script);
    const { store, intelligence, engine } = setup(llm);
    await expect(
      intelligence.runTask({ agent: "calc", task: "search", runId: "bad-plan" }),
    ).rejects.toMatchObject({
      code: "PLAN_INVALID",
      details: { attempts: 2 },
    });
    expect(served.plan).toBe(2);
    expect(await store.getRun("bad-plan")).toBeUndefined();
    await engine.close();
  });
});

describe("reflection that acts", () => {
  it("turns a failing step into a retry with changed parameters that succeeds (through ponder)", async () => {
    const tools = mathTools();
    const ponderInputs: unknown[] = [];
    tools.add("ponder", (input) => {
      ponderInputs.push(input);
      return {
        performance: "poor",
        quality: "wrong",
        suggestedImprovements: ["use the mirror URL"],
        reasoning: "The URL returns 404; the good URL works.",
        confidence: 0.9,
        action: "modify_parameters",
        modifiedParameters: { url: "https://good.example/data" },
      };
    });
    const { script } = routed({
      analyze: [analysis(true, 2)],
      plan: [
        plan([
          {
            id: "get",
            type: "tool",
            tool: "data/fetch",
            params: { url: "https://bad.example/data" },
          },
          {
            id: "dbl",
            type: "tool",
            tool: "math/add",
            params: { a: "{{steps.get.output.value}}", b: "{{steps.get.output.value}}" },
          },
        ]),
      ],
    });
    const { store, intelligence, engine } = setup(createScriptedLlm(script), { tools });
    const result = await intelligence.runTask({
      agent: "calc",
      task: "fetch and double",
      runId: "retry",
    });
    expect(result.run.status).toBe("succeeded");
    expect(result.run.result).toEqual({ value: 84 });
    expect(tools.callsOf("data/fetch").map((c) => c.input.url)).toEqual([
      "https://bad.example/data",
      "https://good.example/data",
    ]);
    // Ponder got the failure as data.
    expect(JSON.stringify(ponderInputs[0])).toContain("404 at https://bad.example/data");
    const events = await store.readEvents("retry");
    const reflection = events.find((e) => e.type === "reflection")!;
    expect(reflection).toMatchObject({
      stepId: "get",
      data: {
        round: 1,
        decision: "retry",
        carriedOut: "rerun",
        source: "ponder",
        assessment: {
          performance: "poor",
          quality: "wrong",
          suggestedImprovements: ["use the mirror URL"],
        },
        action: { type: "retry_with_changes", params: { url: "https://good.example/data" } },
      },
    });
    expect(events.some((e) => e.type === "step.retrying" && e.stepId === "get")).toBe(true);
    const view = await readRunView(store, "retry");
    expect(view?.steps[0]).toMatchObject({
      stepId: "get",
      status: "succeeded",
      metrics: { attempts: 2, retries: 1 },
    });
    await engine.close();
  });

  it("asks the LLM directly when ponder is not registered, and switches tools when told to", async () => {
    const { script } = routed({
      analyze: [analysis(true, 1)],
      plan: [
        plan([
          { id: "get", type: "tool", tool: "data/fetch", params: { url: "https://bad.example" } },
        ]),
      ],
      reflect: [
        reflectWith({
          type: "use_different_tool",
          tool: "mirror",
          params: { url: "https://mirror.example" },
        }),
      ],
    });
    const { tools, intelligence, engine } = setup(createScriptedLlm(script));
    const result = await intelligence.runTask({ agent: "calc", task: "fetch", runId: "switch" });
    expect(result.run.status).toBe("succeeded");
    expect(result.run.result).toEqual({ value: 7 });
    expect(tools.callsOf("data/mirror")[0]!.input).toEqual({ url: "https://mirror.example" });
    // Reflection's model call counts in the run's cost.
    expect(result.run.metrics.inputTokens).toBeGreaterThan(0);
    await engine.close();
  });

  it("replans mid-way, keeping the finished steps", async () => {
    const { script } = routed({
      analyze: [analysis(true, 4)],
      plan: [
        plan([
          { id: "sq", type: "tool", tool: "math/square", params: { x: 4 } },
          {
            id: "plus",
            type: "tool",
            tool: "math/add",
            params: { a: "{{steps.sq.output.value}}", b: 4 },
          },
          { id: "get", type: "tool", tool: "data/fetch", params: { url: "https://bad.example" } },
          {
            id: "fmt",
            type: "tool",
            tool: "text/format",
            params: { value: "{{steps.get.output.value}}", label: "v" },
          },
        ]),
        // The revision: steps 1-3 are kept; new steps use the kept outputs.
        plan([
          {
            id: "half",
            type: "tool",
            tool: "math/half",
            params: { x: "{{steps.plus.output.value}}" },
          },
          {
            id: "fmt2",
            type: "tool",
            tool: "text/format",
            params: { value: "{{step_4_output.value}}", label: "half" },
          },
        ]),
      ],
      reflect: [
        reflectWith({
          type: "replan",
          guidance: "the data source is gone; compute from what we have",
        }),
      ],
    });
    const llm = createScriptedLlm(script);
    const { tools, store, intelligence, engine } = setup(llm);
    const result = await intelligence.runTask({
      agent: "calc",
      task: "compute and fetch",
      runId: "replan",
    });
    expect(result.run.status).toBe("succeeded");
    expect(result.run.result).toEqual({ text: "half=10" });
    // Finished steps ran once; the dropped step never ran.
    expect(tools.callsOf("math/square")).toHaveLength(1);
    expect(tools.callsOf("math/add")).toHaveLength(1);
    expect(tools.callsOf("text/format").map((c) => c.input)).toEqual([
      { value: 10, label: "half" },
    ]);
    const stored = await store.getRun("replan");
    expect(stored?.plan?.revision).toBe(1);
    expect(stored?.plan?.steps.map((s) => s.id)).toEqual(["sq", "plus", "get", "half", "fmt2"]);
    const events = await store.readEvents("replan");
    const adapted = events.find((e) => e.type === "plan.adapted")!;
    expect(adapted.data).toMatchObject({
      revision: 1,
      kept: ["sq", "plus", "get"],
      dropped: ["fmt"],
      added: ["half", "fmt2"],
      cause: { stepId: "get" },
    });
    const types = events.map((e) => e.type);
    expect(types.indexOf("reflection")).toBeLessThan(types.indexOf("plan.adapted"));
    // The revision prompt showed the kept outputs as data.
    const revisionRequest = llm.requests.filter((r) => callKind(r) === "plan")[1]!;
    expect(JSON.stringify(revisionRequest.messages)).toContain('\\"output\\":{\\"value\\":20}');
    const view = await readRunView(store, "replan");
    expect(view?.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["sq", "succeeded"],
      ["plus", "succeeded"],
      ["get", "failed"],
      ["half", "succeeded"],
      ["fmt2", "succeeded"],
    ]);
    await engine.close();
  });

  /** A failing fetch, and a square that does not depend on it. */
  const FETCH_THEN_SQUARE = [
    { id: "get", type: "tool", tool: "data/fetch", params: { url: "https://bad.example" } },
    { id: "sq", type: "tool", tool: "math/square", params: { x: 2 } },
  ];

  it("skips a step when reflection says so; the run goes on", async () => {
    const { script } = routed({
      analyze: [analysis(true, 2)],
      plan: [plan(FETCH_THEN_SQUARE)],
      reflect: [reflectWith({ type: "skip" })],
    });
    const { intelligence, engine } = setup(createScriptedLlm(script));
    const result = await intelligence.runTask({ agent: "calc", task: "t", runId: "skip" });
    expect(result.run.status).toBe("succeeded");
    expect(result.run.result).toEqual({ value: 4 });
    await engine.close();
  });

  it("aborts the run when reflection says so", async () => {
    const { script } = routed({
      analyze: [analysis(true, 2)],
      plan: [plan(FETCH_THEN_SQUARE)],
      reflect: [reflectWith({ type: "abort", reason: "the source is gone for good" })],
    });
    const { tools, intelligence, engine } = setup(createScriptedLlm(script));
    const result = await intelligence.runTask({ agent: "calc", task: "t", runId: "abort" });
    expect(result.run.status).toBe("failed");
    expect(result.run.error).toMatchObject({ code: "STEP_FAILED" });
    expect(result.run.error?.message).toContain("the source is gone for good");
    expect(tools.callsOf("math/square")).toHaveLength(0);
    await engine.close();
  });

  it("stops after maxReflectionRounds with BUDGET_EXCEEDED naming what was spent", async () => {
    const { script } = routed({
      analyze: [analysis(true, 1)],
      plan: [
        plan([
          { id: "get", type: "tool", tool: "data/fetch", params: { url: "https://bad.example" } },
        ]),
      ],
      reflect: [reflectWith({ type: "retry" }), reflectWith({ type: "retry" })],
    });
    const { tools, intelligence, engine } = setup(createScriptedLlm(script), {
      config: { limits: { maxReflectionRounds: 2 } },
    });
    const result = await intelligence.runTask({ agent: "calc", task: "t", runId: "rounds" });
    expect(result.run.status).toBe("failed");
    expect(result.run.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      details: {
        budget: "reflection rounds",
        spent: { reflectionRounds: 2 },
        limit: { reflectionRounds: 2 },
      },
    });
    expect(tools.callsOf("data/fetch")).toHaveLength(3);
    await engine.close();
  });

  it("stops after maxPlanRevisions with BUDGET_EXCEEDED", async () => {
    const failing = (id: string) => ({
      id,
      type: "tool",
      tool: "data/fetch",
      params: { url: `https://bad.example/${id}` },
    });
    const { script } = routed({
      analyze: [analysis(true, 1)],
      plan: [plan([failing("a")]), plan([failing("b")])],
      reflect: [reflectWith({ type: "replan" }), reflectWith({ type: "replan" })],
    });
    const { intelligence, engine } = setup(createScriptedLlm(script), {
      config: { limits: { maxPlanRevisions: 1 } },
    });
    const result = await intelligence.runTask({ agent: "calc", task: "t", runId: "revisions" });
    expect(result.run.status).toBe("failed");
    expect(result.run.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      details: {
        budget: "plan revisions",
        spent: { planRevisions: 1 },
        limit: { planRevisions: 1 },
      },
    });
    expect(result.run.plan?.revision).toBe(1);
    await engine.close();
  });
});

describe("run budgets", () => {
  it("a token budget refuses the agent's next model call", async () => {
    const { script } = routed({
      agent: [
        reply.toolCall("math__square", { x: 2 }, { usage: { inputTokens: 80, outputTokens: 20 } }),
        reply.toolCall("math__square", { x: 3 }, { usage: { inputTokens: 80, outputTokens: 20 } }),
        reply.text("never"),
      ],
    });
    const llm = createScriptedLlm(script);
    const { intelligence, engine } = setup(llm);
    const result = await intelligence.runTask({
      agent: "calc",
      task: "square things",
      mode: "loop",
      runId: "tokens",
      options: { maxTokens: 150 },
    });
    expect(result.run.status).toBe("failed");
    expect(result.run.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      details: { spent: { tokens: 200, calls: 2 }, limit: { tokens: 150 } },
    });
    expect(llm.requests).toHaveLength(2);
    await engine.close();
  });

  it("a cost budget refuses the next step after planning spent it", async () => {
    const { script } = routed({
      analyze: [analysis(true, 1)],
      plan: [plan([{ id: "sq", type: "tool", tool: "math/square", params: { x: 2 } }])],
    });
    const { tools, intelligence, engine } = setup(priced(createScriptedLlm(script), 0.01));
    const result = await intelligence.runTask({
      agent: "calc",
      task: "t",
      runId: "cost",
      options: { maxCostUsd: 0.02 },
    });
    expect(result.run.status).toBe("failed");
    expect(result.run.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      details: { spent: { usd: 0.02 } },
    });
    expect(tools.calls).toHaveLength(0);
    expect(result.run.cost.usd).toBeCloseTo(0.02);
    await engine.close();
  });
});

describe("adaptation and resume", () => {
  it("re-indexes kept steps, persists the revision and resumes it in a fresh engine", async () => {
    const store = new MemoryStateStore();
    const agents = new FixtureAgents().agent("calc", [...TOOLS, "gate"]);
    const firstGate = deferred();
    let gateOpen = false;
    const makeTools = () =>
      mathTools().add("gate", {
        handler: async ({ n }, context) => {
          if (Number(n) === 1) await firstGate.promise;
          else if (!gateOpen) {
            // Waits until the engine shuts down (the second engine finds the gate open).
            await new Promise((_, reject) =>
              context.signal.addEventListener("abort", () => reject(context.signal.reason), {
                once: true,
              }),
            );
          }
          return { value: 6 };
        },
        inputSchema: { type: "object", properties: { n: num }, required: ["n"] },
        outputSchema: valueOut,
      });
    const { script } = routed({
      analyze: [analysis(true, 3)],
      plan: [
        plan([
          { id: "slow", type: "tool", tool: "gate", params: { n: 1 }, dependsOn: [] },
          {
            id: "after",
            type: "tool",
            tool: "math/square",
            params: { x: "{{steps.slow.output.value}}" },
          },
          {
            id: "get",
            type: "tool",
            tool: "data/fetch",
            params: { url: "https://bad.example" },
            dependsOn: [],
          },
        ]),
        plan([
          {
            id: "hf",
            type: "tool",
            tool: "math/half",
            params: { x: "{{steps.slow.output.value}}" },
          },
          { id: "hold", type: "tool", tool: "gate", params: { n: 2 } },
        ]),
      ],
      reflect: [reflectWith({ type: "replan" })],
    });
    const scripted = createScriptedLlm((request) => {
      // The slow branch finishes while the plan is being revised.
      if (callKind(request) === "reflect") firstGate.resolve();
      return script(request);
    });
    const toolsA = makeTools();
    const intelligenceA = createIntelligence({ agents, tools: toolsA, llm: scripted, store });
    const engineA = new AriaRuntimeEngine({
      tools: toolsA,
      agents,
      store,
      llm: scripted,
      agentExecutor: intelligenceA.agentExecutor,
      recovery: intelligenceA.recovery,
      config: { instanceId: "a", ...intelligenceA.engineConfig },
    });
    intelligenceA.attach(engineA);
    const running = intelligenceA.runTask({ agent: "calc", task: "t", runId: "resume-adapted" });
    // Wait until the revised plan's last step is running, then stop this engine.
    while (!toolsA.calls.some((c) => c.name === "gate" && c.input.n === 2))
      await new Promise((r) => setImmediate(r));
    await engineA.close();
    await expect(running).rejects.toBeDefined();

    const stored = await store.getRun("resume-adapted");
    expect(stored).toMatchObject({ status: "running", plan: { revision: 1 } });
    expect(stored?.plan?.steps.map((s) => s.id)).toEqual(["slow", "get", "hf", "hold"]);
    // 'get' moved from position 3 to 2: its checkpoint says so.
    const view = await readRunView(store, "resume-adapted");
    expect(view?.steps.map((s) => [s.stepId, s.index, s.status])).toEqual([
      ["slow", 0, "succeeded"],
      ["get", 1, "failed"],
      ["hf", 2, "succeeded"],
    ]);

    gateOpen = true;
    const toolsB = makeTools();
    const intelligenceB = createIntelligence({
      agents,
      tools: toolsB,
      llm: createScriptedLlm([]),
      store,
    });
    const engineB = new AriaRuntimeEngine({
      tools: toolsB,
      agents,
      store,
      recovery: intelligenceB.recovery,
      config: { instanceId: "b", ...intelligenceB.engineConfig },
    });
    const { run } = await engineB.resume("resume-adapted");
    expect(run.status).toBe("succeeded");
    expect(run.result).toEqual({ value: 6 });
    // Only the unfinished step ran again; the tolerated failure did not fail the resumed run.
    expect(toolsB.calls.map((c) => [c.name, c.input])).toEqual([["gate", { n: 2 }]]);
    expect(toolsA.callsOf("math/square")).toHaveLength(0);
    await engineB.close();
  });

  it("records reflections on successful steps when asked to, without acting on them", async () => {
    const { script, served } = routed({
      analyze: [analysis(true, 2)],
      plan: [
        plan([
          { id: "sq", type: "tool", tool: "math/square", params: { x: 2 } },
          { id: "hf", type: "tool", tool: "math/half", params: { x: "{{steps.sq.output.value}}" } },
        ]),
      ],
      reflect: [reflectWith({ type: "continue" }), reflectWith({ type: "retry" })],
    });
    const { store, intelligence, engine } = setup(createScriptedLlm(script), {
      config: { reflection: { reflectOnSuccess: true } },
    });
    const result = await intelligence.runTask({ agent: "calc", task: "t", runId: "on-success" });
    expect(result.run.status).toBe("succeeded");
    expect(served.reflect).toBe(2);
    const reflections = (await store.readEvents("on-success")).filter(
      (e) => e.type === "reflection",
    );
    expect(reflections.map((e) => [e.stepId, e.data.decision, e.data.succeeded])).toEqual([
      ["sq", "continue", true],
      ["hf", "continue", true],
    ]);
    await engine.close();
  });
});

describe("configuration from limits and per-agent tool modes", () => {
  it("caps an agent's tool turns at limits.maxSteps", async () => {
    const { script } = routed({
      agent: [
        reply.toolCall("math__square", { x: 1 }),
        reply.toolCall("math__square", { x: 2 }),
        reply.toolCall("math__square", { x: 3 }),
      ],
    });
    const { tools, intelligence, engine } = setup(createScriptedLlm(script), {
      config: { limits: { maxSteps: 2 } },
    });
    const answer = await intelligence.agentExecutor.invokeAgent("calc", "square forever");
    expect(answer).toMatchObject({
      success: false,
      error: { code: "MAX_STEPS_EXCEEDED", details: { maxSteps: 2 } },
    });
    expect(tools.callsOf("math/square")).toHaveLength(2);
    await engine.close();
  });

  it("uses the JSON contract for agents configured for it", async () => {
    const { script } = routed({
      agent: [
        '{"tool_name": "math/square", "parameters": {"x": 6}}',
        '{"tool_name": "none", "response": "36"}',
      ],
    });
    const llm = createScriptedLlm(script);
    const { intelligence, engine } = setup(llm, {
      config: { agentLoop: { toolModes: { calc: "json" } } },
    });
    const answer = await intelligence.agentExecutor.invokeAgent("calc", "square 6");
    expect(answer).toMatchObject({ success: true, response: "36" });
    expect(llm.requests[0]!.tools).toBeUndefined();
    await engine.close();
  });
});
