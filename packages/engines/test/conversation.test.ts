import { ConversationSchema } from "@aria/core-types";
import {
  CONVERSATION_TRANSITIONS,
  ConversationEngine,
  createAgentExecutor,
  MemoryStateStore,
  SESSIONS_NAMESPACE,
  SessionManager,
} from "@aria/engines";
import { createScriptedLlm, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import {
  callKind,
  FixtureAgents,
  FixtureTools,
  nonSystemText,
  routed,
  systemOf,
} from "./intelligence-fixtures.ts";

describe("ConversationEngine state machine", () => {
  it("follows initiated → working → reflecting → adapting → working → concluding → completed", () => {
    const conversation = ConversationEngine.start({ task: "do it" });
    expect(conversation.state).toBe("initiated");
    for (const next of [
      "working",
      "reflecting",
      "adapting",
      "working",
      "concluding",
      "completed",
    ] as const) {
      conversation.transition(next);
      expect(conversation.state).toBe(next);
    }
    // A session continues with the next message.
    conversation.transition("working");
    expect(conversation.state).toBe("working");
  });

  it("refuses transitions that are not allowed, naming both states", () => {
    const conversation = ConversationEngine.start();
    expect(() => conversation.transition("completed")).toThrowError(
      expect.objectContaining({
        code: "VALIDATION_FAILED",
        details: { from: "initiated", to: "completed" },
      }),
    );
    conversation.transition("working");
    conversation.transition("concluding");
    expect(() => conversation.transition("reflecting")).toThrow(
      /'concluding' cannot change to 'reflecting'/,
    );
    expect(CONVERSATION_TRANSITIONS.completed).toEqual(["working"]);
  });

  it("records failures as an error state with a system turn", () => {
    const conversation = ConversationEngine.start({ task: "x" });
    conversation.transition("working");
    conversation.fail(new Error("boom"));
    expect(conversation.state).toBe("error");
    expect(conversation.turns().at(-1)).toMatchObject({
      role: "system",
      metadata: { error: { message: "boom" } },
    });
  });
});

describe("ConversationEngine serialization", () => {
  it("serializes, restores and continues a conversation", () => {
    const original = ConversationEngine.start({ id: "c1", agent: "helper", task: "hello" });
    original.transition("working");
    original.addTurn({
      role: "assistant",
      content: "hi there",
      agent: "helper",
      metadata: { turns: 1 },
    });
    original.addTurn({ role: "tool", content: "lookup: succeeded", metadata: { tool: "lookup" } });
    const json = JSON.stringify(original.toJSON());
    expect(ConversationSchema.safeParse(JSON.parse(json)).success).toBe(true);

    const restored = ConversationEngine.fromJSON(json);
    expect(restored.toJSON()).toEqual(original.toJSON());
    restored.transition("concluding");
    restored.transition("completed");
    restored.transition("working");
    restored.addTurn({ role: "user", content: "and again" });
    expect(restored.turns().map((t) => t.role)).toEqual(["user", "assistant", "tool", "user"]);
    // Model messages: user and assistant turns only; tool turns stay in metadata.
    expect(restored.toMessages()).toEqual([
      { role: "user", content: "hello" },
      { role: "assistant", content: "hi there" },
      { role: "user", content: "and again" },
    ]);
  });

  it("refuses JSON that is not a conversation", () => {
    expect(() => ConversationEngine.fromJSON('{"id": 1}')).toThrowError(
      expect.objectContaining({ code: "VALIDATION_FAILED" }),
    );
    expect(() => ConversationEngine.fromJSON("{nope")).toThrowError(
      expect.objectContaining({ code: "VALIDATION_FAILED" }),
    );
  });
});

describe("summarization", () => {
  it("summarizes older turns once the conversation passes its token budget, keeping the latest verbatim", async () => {
    const llm = createScriptedLlm([
      reply.text("SUMMARY: the user asked about tea twice.", {
        usage: { inputTokens: 300, outputTokens: 20 },
      }),
    ]);
    const conversation = ConversationEngine.start(
      { task: "first question about tea" },
      { llm, config: { summarizeAboveTokens: 100, keepRecentTurns: 2 } },
    );
    expect(await conversation.summarize()).toMatchObject({ calls: 0 });
    for (let i = 0; i < 6; i++) {
      conversation.addTurn({
        role: i % 2 === 0 ? "assistant" : "user",
        content: `turn ${i} ${"x".repeat(80)}`,
      });
    }
    expect(conversation.needsSummary()).toBe(true);
    const before = conversation.tokenEstimate;
    const usage = await conversation.summarize();
    expect(usage).toMatchObject({ calls: 1, inputTokens: 300 });
    expect(llm.requests).toHaveLength(1);
    // The old turns went to the model as data.
    expect(nonSystemText(llm.requests[0]!)).toContain("first question about tea");
    const turns = conversation.turns();
    expect(turns.map((t) => t.role)).toEqual(["summary", "assistant", "user"]);
    expect(turns[0]).toMatchObject({
      content: "SUMMARY: the user asked about tea twice.",
      metadata: { summarizedTurns: 5 },
    });
    expect(conversation.summary).toBe("SUMMARY: the user asked about tea twice.");
    expect(conversation.tokenEstimate).toBeLessThan(before);
    // The summary reaches a model as data in a user message, never as a system prompt.
    const messages = conversation.toMessages();
    expect(messages[0]).toMatchObject({ role: "user" });
    expect(messages[0]!.content).toContain("<summary>");
    expect(messages.some((m) => m.role === "system")).toBe(false);
  });
});

describe("sessions", () => {
  function setup(script: ReturnType<typeof routed>["script"], config = {}) {
    const tools = new FixtureTools().add("lookup", () => ({ fact: "tea is the user's favourite" }));
    const agents = new FixtureAgents().agent("helper", ["lookup"], {
      systemPrompt: "HELPER-SYSTEM",
    });
    const llm = createScriptedLlm(script);
    const executor = createAgentExecutor({ agents, tools, llm });
    const store = new MemoryStateStore();
    const sessions = new SessionManager({ store, agents: executor, llm, config });
    return { llm, store, sessions, executor, agents, tools };
  }

  it("continues across messages and across instances sharing a store", async () => {
    const { script } = routed({
      agent: [reply.toolCall("lookup", {}), "You like tea.", "Yes, still tea."],
    });
    const { llm, store, sessions, executor } = setup(script);
    const created = await sessions.create({ agent: "helper", id: "s1" });
    expect(created.state).toBe("initiated");

    const first = await sessions.sendMessage("s1", { content: "What do I like?" });
    expect(first.turn).toMatchObject({
      role: "assistant",
      content: "You like tea.",
      agent: "helper",
    });
    expect(first.session.state).toBe("completed");
    expect(first.session.turns.map((t) => t.role)).toEqual(["user", "tool", "assistant"]);
    const stored = await store.getValue(SESSIONS_NAMESPACE, "s1");
    expect(ConversationSchema.parse(JSON.parse(stored!)).turns).toHaveLength(3);

    // A second manager (another instance) restores the session and continues it.
    const other = new SessionManager({ store, agents: executor, llm });
    const second = await other.sendMessage("s1", { content: "Still?" });
    expect(second.turn.content).toBe("Yes, still tea.");
    const last = llm.requests.at(-1)!;
    expect(last.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(nonSystemText(last)).toContain("What do I like?");
    expect(nonSystemText(last)).toContain("You like tea.");
    expect((await other.get("s1")).turns).toHaveLength(5);
  });

  it("summarizes a session above its budget before the agent answers; recalled content never enters the system prompt", async () => {
    const { script, served } = routed({
      agent: ["one", "two", "three"],
      summarize: ["SUMMARY-MARKER: two exchanges about tea"],
    });
    const { llm, sessions } = setup(script, { summarizeAboveTokens: 30, keepRecentTurns: 1 });
    await sessions.create({ id: "s2", agent: "helper" });
    await sessions.sendMessage("s2", { content: `first ${"tea ".repeat(40)}` });
    await sessions.sendMessage("s2", { content: "second" });
    expect(served.summarize).toBe(1);
    await sessions.sendMessage("s2", {
      content: "third",
      context: { recalled: "RECALLED-MARKER the user likes tea" },
    });
    const session = await sessions.get("s2");
    expect(session.summary).toBe("SUMMARY-MARKER: two exchanges about tea");
    for (const request of llm.requests) {
      if (callKind(request) !== "agent") continue;
      expect(systemOf(request)).toBe("HELPER-SYSTEM");
    }
    const last = llm.requests.at(-1)!;
    expect(nonSystemText(last)).toContain("SUMMARY-MARKER");
    expect(nonSystemText(last)).toContain("RECALLED-MARKER");
  });

  it("records a failed message as an error state and answers the error", async () => {
    const { script } = routed({
      agent: [reply.error(400, { message: "bad request" }), "recovered"],
    });
    const { sessions } = setup(script);
    await sessions.create({ id: "s3", agent: "helper" });
    await expect(sessions.sendMessage("s3", { content: "hi" })).rejects.toMatchObject({
      code: "LLM_REQUEST_REJECTED",
    });
    expect((await sessions.get("s3")).state).toBe("error");
    // The next message goes on from the error state.
    const next = await sessions.sendMessage("s3", { content: "again" });
    expect(next.session.state).toBe("completed");
  });

  it("answers SESSION_NOT_FOUND and refuses a duplicate id", async () => {
    const { script } = routed({});
    const { sessions } = setup(script);
    await expect(sessions.get("missing")).rejects.toMatchObject({ code: "SESSION_NOT_FOUND" });
    await expect(sessions.sendMessage("missing", { content: "x" })).rejects.toMatchObject({
      code: "SESSION_NOT_FOUND",
    });
    await sessions.create({ id: "dup" });
    await expect(sessions.create({ id: "dup" })).rejects.toMatchObject({ code: "RUN_CONFLICT" });
  });

  it("answers one message of a session at a time", async () => {
    const order: string[] = [];
    const { sessions } = setup((request) => {
      const text = nonSystemText(request);
      order.push(text.includes("B?") ? "B" : "A");
      return text.includes("B?") ? "answer B" : "answer A";
    });
    await sessions.create({ id: "s4", agent: "helper" });
    const [a, b] = await Promise.all([
      sessions.sendMessage("s4", { content: "A?" }),
      sessions.sendMessage("s4", { content: "B?" }),
    ]);
    expect(order).toEqual(["A", "B"]);
    expect(a.turn.content).toBe("answer A");
    // B saw A's exchange as history.
    expect(b.session.turns.map((t) => t.content)).toEqual(["A?", "answer A", "B?", "answer B"]);
  });
});
