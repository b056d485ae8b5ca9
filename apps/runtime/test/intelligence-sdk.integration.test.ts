/**
 * The intelligence scenarios of issue 6 over the real SDK paths: `@aria/llm`'s handler drives the
 * official OpenAI and Anthropic SDKs against `@aria/testkit`'s fake provider servers (loopback
 * HTTP, scripted replies), with `@aria/registry`'s registries (the built-in `ponder` included) and
 * the engines' intelligence layer. Each scenario runs once per provider.
 */
import type { LlmProviderName } from "@aria/core-types";
import {
  AriaRuntimeEngine,
  ConversationEngine,
  createIntelligence,
  type IntelligenceConfig,
  MemoryStateStore,
  SessionManager,
} from "@aria/engines";
import { createLlmHandler } from "@aria/llm";
import { createRegistries } from "@aria/registry";
import {
  type FakeProviderServer,
  type FakeReplyInput,
  type RecordedRequest,
  reply,
  startFakeAnthropic,
  startFakeOpenAI,
} from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";

const MODEL: Record<LlmProviderName, string> = {
  openai: "fake-gpt",
  anthropic: "fake-claude",
  local: "fake-local",
};

type Kind = "analyze" | "plan" | "ponder" | "summarize" | "agent";

/** The system prompt of a wire request, whatever the protocol. */
function systemText(request: RecordedRequest): string {
  const body = request.body ?? {};
  if (typeof body.system === "string") return body.system;
  if (Array.isArray(body.system))
    return body.system.map((b: { text?: string }) => b.text ?? "").join("");
  const first = body.messages?.[0];
  return first?.role === "system" ? String(first.content) : "";
}

function kindOf(request: RecordedRequest): Kind {
  const system = systemText(request);
  if (system.startsWith("You judge how an AI agent")) return "analyze";
  if (system.startsWith("You are a planner")) return "plan";
  if (system.startsWith("You assess work done")) return "ponder";
  if (system.startsWith("You summarize conversations")) return "summarize";
  return "agent";
}

/** Everything but the system prompt, as text. */
function nonSystem(request: RecordedRequest): string {
  const messages = (request.body?.messages ?? []).filter(
    (m: { role: string }) => m.role !== "system",
  );
  return JSON.stringify(messages);
}

function routed(queues: Partial<Record<Kind, FakeReplyInput[]>>) {
  const served: Record<Kind, number> = { analyze: 0, plan: 0, ponder: 0, summarize: 0, agent: 0 };
  const script = (request: RecordedRequest): FakeReplyInput => {
    const kind = kindOf(request);
    const next = queues[kind]?.[served[kind]++];
    return next ?? reply.error(400, { message: `no scripted '${kind}' reply left` });
  };
  return { script, served };
}

const servers: FakeProviderServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const num = { type: "number" };
const valueOut = { type: "object", properties: { value: num }, required: ["value"] };

async function setup(
  provider: "openai" | "anthropic",
  script: (request: RecordedRequest) => FakeReplyInput,
  config: IntelligenceConfig = {},
) {
  const server = await (provider === "openai"
    ? startFakeOpenAI(script)
    : startFakeAnthropic(script));
  servers.push(server);
  const llm = createLlmHandler({
    config: {
      providers: [provider],
      [provider]: {
        apiKey: `sk-test-${provider}-0123456789abcdef`,
        baseURL: server.baseURL,
        model: MODEL[provider],
      },
      // One token costs a cent, so cost budgets are easy to reason about.
      prices: { [MODEL[provider]]: { inputPerMTok: 10_000, outputPerMTok: 10_000 } },
    },
    cache: false,
    resilience: { maxRetries: 0 },
  });
  const registries = createRegistries({ builtins: { llm } });
  const calls: Array<{ tool: string; input: Record<string, unknown> }> = [];
  const tool = (
    name: string,
    properties: Record<string, unknown>,
    required: string[],
    handler: (input: Record<string, unknown>) => unknown,
    outputSchema: Record<string, unknown> = valueOut,
  ) =>
    registries.tools.register({
      name,
      description: `the ${name} tool`,
      inputSchema: { type: "object", properties, required },
      outputSchema,
      handler: (raw) => {
        const input = raw as Record<string, unknown>;
        calls.push({ tool: name, input });
        return handler(input);
      },
    });
  tool("square", { x: num }, ["x"], ({ x }) => ({ value: Number(x) ** 2 }));
  tool("add", { a: num, b: num }, ["a", "b"], ({ a, b }) => ({ value: Number(a) + Number(b) }));
  tool("half", { x: num }, ["x"], ({ x }) => ({ value: Number(x) / 2 }));
  tool(
    "format",
    { value: num, label: { type: "string" } },
    ["value", "label"],
    ({ value, label }) => ({ text: `${label}=${value}` }),
    { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  );
  tool(
    "save",
    { content: { type: "string" } },
    ["content"],
    ({ content }) => ({ saved: true, bytes: String(content).length }),
    { type: "object", properties: { saved: { type: "boolean" }, bytes: num } },
  );
  tool("fetch", { url: { type: "string" } }, ["url"], ({ url }) => {
    if (String(url).includes("bad")) throw new Error(`404 at ${url}`);
    return { value: 42 };
  });
  tool("text.count", { text: { type: "string" } }, ["text"], ({ text }) => ({
    value: String(text).split(" ").length,
  }));
  const TOOLS = ["square", "add", "half", "format", "save", "fetch", "text.count"];
  registries.agents.registerAgent({
    name: "calc",
    description: "calculates",
    systemPrompt: "You are calc. Use your tools.",
    tools: TOOLS,
    maxSteps: 3,
  });
  for (const member of ["ok-a", "ok-b", "ok-c", "bad-b"]) {
    registries.agents.registerAgent({
      name: member,
      description: `member ${member}`,
      systemPrompt: `You are ${member}.`,
      tools: [],
    });
  }
  const store = new MemoryStateStore();
  const intelligence = createIntelligence({
    agents: registries.agents,
    tools: registries.tools,
    llm,
    store,
    config,
  });
  const engine = new AriaRuntimeEngine({
    tools: registries.tools,
    agents: registries.agents,
    store,
    llm,
    agentExecutor: intelligence.agentExecutor,
    teamExecutor: intelligence.teamExecutor,
    recovery: intelligence.recovery,
    config: { ...intelligence.engineConfig },
  });
  intelligence.attach(engine);
  return { server, llm, registries, store, intelligence, engine, calls };
}

const analysis = (needsPlanning: boolean) =>
  JSON.stringify({
    complexity: needsPlanning ? "complex" : "simple",
    needsPlanning,
    needsContainers: false,
    estimatedSteps: needsPlanning ? 4 : 1,
    reasoning: "judged",
  });
const plan = (steps: unknown[]) => JSON.stringify({ steps, reasoning: "in order" });
const ponder = (action: string, modifiedParameters?: Record<string, unknown>) =>
  JSON.stringify({
    performance: "poor",
    quality: "wrong",
    suggestedImprovements: ["change the input"],
    reasoning: `reflection says ${action}`,
    confidence: 0.8,
    action,
    ...(modifiedParameters !== undefined ? { modifiedParameters } : {}),
  });

for (const provider of ["openai", "anthropic"] as const) {
  describe(`intelligence over the ${provider} SDK`, () => {
    it("runs a 5-step planned task passing outputs through placeholders", async () => {
      const { script } = routed({
        analyze: [analysis(true)],
        plan: [
          plan([
            { id: "sq", type: "tool", tool: "square", params: { x: 3 } },
            {
              id: "plus",
              type: "tool",
              tool: "add",
              params: { a: "{{step_1_output.value}}", b: 1 },
            },
            { id: "hf", type: "tool", tool: "half", params: { x: "{{steps.plus.output.value}}" } },
            {
              id: "fmt",
              type: "tool",
              tool: "format",
              params: { value: "{{step_3_output.value}}", label: "half" },
            },
            {
              id: "sv",
              type: "tool",
              tool: "save",
              params: { content: "Result: {{steps.fmt.output.text}}" },
            },
          ]),
        ],
      });
      const { calls, intelligence, store, engine } = await setup(provider, script);
      const result = await intelligence.runTask({
        agent: "calc",
        task: "square, add, halve, format, save",
        runId: "five",
      });
      expect(result.mode).toBe("plan");
      expect(result.run.status).toBe("succeeded");
      expect(calls.map((c) => c.input)).toEqual([
        { x: 3 },
        { a: 9, b: 1 },
        { x: 10 },
        { value: 5, label: "half" },
        { content: "Result: half=5" },
      ]);
      expect(result.run.result).toEqual({ saved: true, bytes: 14 });
      const types = (await store.readEvents("five")).map((e) => e.type);
      expect(types.slice(0, 4)).toEqual(["llm.usage", "llm.usage", "plan.created", "run.started"]);
      // Planning was paid for, at the configured price.
      expect(result.run.cost.usd).toBeGreaterThan(0);
      await engine.close();
    });

    it("turns a failing step into a changed-parameter retry that succeeds (reflection through ponder)", async () => {
      const { script, served } = routed({
        analyze: [analysis(true)],
        plan: [
          plan([
            { id: "get", type: "tool", tool: "fetch", params: { url: "https://bad.example" } },
            {
              id: "dbl",
              type: "tool",
              tool: "add",
              params: { a: "{{steps.get.output.value}}", b: 1 },
            },
          ]),
        ],
        ponder: [ponder("modify_parameters", { url: "https://good.example" })],
      });
      const { calls, intelligence, store, engine, server } = await setup(provider, script);
      const result = await intelligence.runTask({
        agent: "calc",
        task: "fetch and add",
        runId: "retry",
      });
      expect(result.run.status).toBe("succeeded");
      expect(result.run.result).toEqual({ value: 43 });
      expect(calls.filter((c) => c.tool === "fetch").map((c) => c.input.url)).toEqual([
        "https://bad.example",
        "https://good.example",
      ]);
      expect(served.ponder).toBe(1);
      // The failure reached ponder's model call as data.
      const ponderCall = server.calls.find((c) => kindOf(c) === "ponder")!;
      expect(nonSystem(ponderCall)).toContain("404 at https://bad.example");
      const reflection = (await store.readEvents("retry")).find((e) => e.type === "reflection");
      expect(reflection?.data).toMatchObject({
        decision: "retry",
        carriedOut: "rerun",
        source: "ponder",
      });
      await engine.close();
    });

    it("replans mid-way while keeping finished steps", async () => {
      const { script } = routed({
        analyze: [analysis(true)],
        plan: [
          plan([
            { id: "sq", type: "tool", tool: "square", params: { x: 4 } },
            { id: "get", type: "tool", tool: "fetch", params: { url: "https://bad.example" } },
            {
              id: "fmt",
              type: "tool",
              tool: "format",
              params: { value: "{{steps.get.output.value}}", label: "v" },
            },
          ]),
          plan([
            { id: "hf", type: "tool", tool: "half", params: { x: "{{steps.sq.output.value}}" } },
            {
              id: "fmt2",
              type: "tool",
              tool: "format",
              params: { value: "{{steps.hf.output.value}}", label: "half" },
            },
          ]),
        ],
        ponder: [ponder("replan")],
      });
      const { calls, intelligence, store, engine } = await setup(provider, script);
      const result = await intelligence.runTask({
        agent: "calc",
        task: "compute",
        runId: "replan",
      });
      expect(result.run.status).toBe("succeeded");
      expect(result.run.result).toEqual({ text: "half=8" });
      expect(calls.filter((c) => c.tool === "square")).toHaveLength(1);
      const stored = await store.getRun("replan");
      expect(stored?.plan).toMatchObject({ revision: 1 });
      expect(stored?.plan?.steps.map((s) => s.id)).toEqual(["sq", "get", "hf", "fmt2"]);
      const adapted = (await store.readEvents("replan")).find((e) => e.type === "plan.adapted");
      expect(adapted?.data).toMatchObject({
        kept: ["sq", "get"],
        dropped: ["fmt"],
        added: ["hf", "fmt2"],
      });
      await engine.close();
    });

    it("stops a model that keeps calling tools past the limit with MAX_STEPS_EXCEEDED", async () => {
      const { script } = routed({
        agent: [
          reply.toolCall("text_count", { text: "a b" }),
          reply.toolCall("text_count", { text: "a b c" }),
          reply.toolCall("text_count", { text: "a b c d" }),
          reply.toolCall("text_count", { text: "a b c d e" }),
        ],
      });
      const { calls, intelligence, server, engine } = await setup(provider, script);
      const answer = await intelligence.agentExecutor.invoke("calc", { message: "count forever" });
      expect(answer).toMatchObject({
        success: false,
        turns: 4,
        error: { code: "MAX_STEPS_EXCEEDED" },
      });
      // The LLM-safe name went over the wire and mapped back to the tool id; the fourth call never ran.
      expect(calls.map((c) => c.tool)).toEqual(["text.count", "text.count", "text.count"]);
      const tools = server.calls[0]!.body.tools as Array<{
        name?: string;
        function?: { name: string };
      }>;
      expect(tools.map((t) => t.name ?? t.function?.name)).toContain("text_count");
      // Tool results travelled back as tool results (OpenAI role "tool", Anthropic tool_result blocks).
      expect(JSON.stringify(server.calls[1]!.body.messages)).toMatch(/"role":"tool"|"tool_result"/);
      await engine.close();
    });

    it("repairs a plan naming an unknown tool once, then rejects it", async () => {
      const bad = plan([{ id: "s", type: "tool", tool: "web.search", params: { q: "x" } }]);
      const { script, served } = routed({ analyze: [analysis(true)], plan: [bad, bad] });
      const { intelligence, server, engine } = await setup(provider, script);
      await expect(
        intelligence.runTask({ agent: "calc", task: "search", runId: "bad" }),
      ).rejects.toMatchObject({
        code: "PLAN_INVALID",
        details: { attempts: 2 },
      });
      expect(served.plan).toBe(2);
      const repair = server.calls.filter((c) => kindOf(c) === "plan")[1]!;
      expect(nonSystem(repair)).toContain("tool 'web.search' does not exist");
      await engine.close();
    });

    it("applies each team strategy's success rule", async () => {
      const memberReply = (request: RecordedRequest): FakeReplyInput => {
        const system = systemText(request);
        if (system.includes("bad-b")) return reply.error(400, { message: "bad-b cannot" });
        return reply.text(`${system.slice(8, 12)} done`);
      };
      const { registries, intelligence, engine } = await setup(provider, memberReply);
      const team = (
        name: string,
        members: string[],
        strategy: "parallel" | "sequential" | "pipeline" | "collaborative" | "role_based",
      ) => registries.agents.registerTeam({ name, description: name, members, strategy });
      team("par", ["bad-b", "ok-a"], "parallel");
      team("seq", ["ok-a", "bad-b", "ok-c"], "sequential");
      team("pipe", ["ok-a", "ok-b"], "pipeline");
      team("collab", ["ok-a", "ok-b"], "collaborative");
      team("roles", ["ok-a", "ok-c"], "role_based");
      const run = (teamName: string) =>
        intelligence.teamExecutor.executeTeam({
          team: teamName,
          task: "Build it",
          input: { task: "Build it" },
          runId: `team-${teamName}`,
          stepId: "team",
          idempotencyKey: `team-${teamName}:team`,
          attempt: 1,
          signal: new AbortController().signal,
          depth: 0,
        });
      expect((await run("par")).output).toMatchObject({ success: true });
      await expect(run("seq")).rejects.toMatchObject({ code: "STEP_FAILED" });
      expect((await run("pipe")).output).toMatchObject({ success: true, response: "ok-b done" });
      expect((await run("collab")).output).toMatchObject({
        success: true,
        consensus: true,
        rounds: 1,
      });
      expect((await run("roles")).output).toMatchObject({ success: true });
      await engine.close();
    });

    it("serializes, restores and continues a conversation; summarizes past the budget; recalled content stays out of the system prompt", async () => {
      const { script, served } = routed({
        agent: [reply.toolCall("square", { x: 5 }), "25", "still 25"],
        summarize: ["SUMMARY-MARKER: the user asked for 5 squared"],
      });
      const { llm, intelligence, store, server, engine } = await setup(provider, script, {
        sessions: { summarizeAboveTokens: 20, keepRecentTurns: 1 },
      });
      const sessions = intelligence.sessions!;
      await sessions.create({ id: "s1", agent: "calc" });
      const first = await sessions.sendMessage("s1", {
        content: `What is 5 squared? ${"please ".repeat(20)}`,
      });
      expect(first.turn.content).toBe("25");

      // The stored JSON restores into an equal conversation.
      const json = JSON.stringify(await sessions.get("s1"));
      expect(ConversationEngine.fromJSON(json).toJSON()).toEqual(JSON.parse(json));

      // Another manager continues it; the session is past its budget, so it is summarized first.
      const again = new SessionManager({
        store,
        agents: intelligence.agentExecutor,
        llm,
        config: { summarizeAboveTokens: 20, keepRecentTurns: 1 },
      });
      const second = await again.sendMessage("s1", {
        content: "And now?",
        context: { recalled: "RECALLED-MARKER the user is a student" },
      });
      expect(second.turn.content).toBe("still 25");
      expect(served.summarize).toBe(1);
      expect(second.session.summary).toBe("SUMMARY-MARKER: the user asked for 5 squared");
      const last = server.calls.at(-1)!;
      expect(systemText(last)).toBe("You are calc. Use your tools.");
      expect(nonSystem(last)).toContain("SUMMARY-MARKER");
      expect(nonSystem(last)).toContain("RECALLED-MARKER");
      await engine.close();
    });

    it("refuses the next call once the token budget is spent, and the next step once the cost budget is", async () => {
      const { script } = routed({
        agent: [
          reply.toolCall("square", { x: 2 }, { usage: { inputTokens: 60, outputTokens: 40 } }),
          reply.toolCall("square", { x: 3 }, { usage: { inputTokens: 60, outputTokens: 40 } }),
          "never",
        ],
        analyze: [reply.text(analysis(true), { usage: { inputTokens: 1, outputTokens: 1 } })],
        plan: [
          reply.text(plan([{ id: "sq", type: "tool", tool: "square", params: { x: 2 } }]), {
            usage: { inputTokens: 1, outputTokens: 1 },
          }),
        ],
      });
      const { intelligence, server, calls, engine } = await setup(provider, script);
      const tokens = await intelligence.runTask({
        agent: "calc",
        task: "square",
        mode: "loop",
        runId: "tokens",
        options: { maxTokens: 150 },
      });
      expect(tokens.run.error).toMatchObject({
        code: "BUDGET_EXCEEDED",
        details: { spent: { tokens: 200 } },
      });
      expect(server.calls).toHaveLength(2);

      // Analysis and planning cost 4 tokens at a cent each: the run's $0.04 budget is spent before step 1.
      const cost = await intelligence.runTask({
        agent: "calc",
        task: "square",
        runId: "cost",
        options: { maxCostUsd: 0.04 },
      });
      expect(cost.run.error).toMatchObject({ code: "BUDGET_EXCEEDED" });
      expect(cost.run.cost.usd).toBeCloseTo(0.04);
      expect(calls.filter((c) => c.tool === "square")).toHaveLength(2);
      await engine.close();
    });
  });
}
