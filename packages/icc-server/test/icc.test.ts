import { IccError } from "@aria/sdk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Fixture, startFixture, unexpected } from "./helpers/fixture.ts";

let f: Fixture;
beforeEach(async () => {
  f = await startFixture();
});
afterEach(async () => {
  await f.close();
});

describe("ICC round trips over the Unix socket with the sdk client", () => {
  it("answers /health without a token", async () => {
    const { token } = f.mint();
    expect(await f.client(token).health()).toEqual({ status: "ok" });
    const bare = await f.raw("GET", "/health");
    expect(bare.status).toBe(200);
    expect(bare.json).toEqual({ status: "ok" });
  });

  it("runs a tool with a context bound to the token's run, step and session", async () => {
    const { token, claims } = f.mint();
    const aria = f.client(token);
    const result = await aria.tools.call("echo", { a: 1, nested: { b: [1, 2] } });
    expect(result).toEqual({ echoed: { a: 1, nested: { b: [1, 2] } } });
    const call = f.tools.calls.at(-1)!;
    expect(call.name).toBe("echo");
    expect(call.context).toMatchObject({
      runId: "run-A",
      stepId: "step-1",
      sessionId: "session-A",
      attempt: 1,
    });
    expect(call.context.idempotencyKey).toMatch(/^run-A:step-1:icc:/);
    const full = await aria.tools.invoke("noop");
    expect(full).toMatchObject({ success: true, result: null });
    expect(full.executionTimeMs).toBeGreaterThanOrEqual(0);
    expect(f.audit.entries.at(-1)).toMatchObject({
      actor: "container:ctr-A",
      action: "icc.tools.call",
      target: "noop",
      outcome: "success",
      details: { status: 200, runId: "run-A", stepId: "step-1", tokenId: claims.jti },
    });
    aria.close();
  });

  it("passes a caller's idempotency key through, scoped to the run and step", async () => {
    const { token } = f.mint();
    await f.client(token).tools.call("echo", {}, { idempotencyKey: "retry-7" });
    expect(f.tools.calls.at(-1)!.context.idempotencyKey).toBe("run-A:step-1:icc:retry-7");
  });

  it("addresses bundle tools as BUNDLE/TOOL (the slash percent-encoded) and by bare name", async () => {
    const aria = f.client(f.mint().token);
    expect(await aria.tools.call("text-tools/wordCount", { text: "one two three" })).toEqual({
      words: 3,
    });
    expect(await aria.tools.call("wordCount", { text: "a b" })).toEqual({ words: 2 });
    expect(f.tools.calls.at(-1)!.name).toBe("text-tools/wordCount");
  });

  it("reports a failing tool as success:false with its error code; the sdk throws it", async () => {
    const aria = f.client(f.mint().token);
    const answer = await aria.tools.invoke("fail");
    expect(answer.success).toBe(false);
    expect(answer.error).toMatchObject({ code: "TOOL_EXECUTION_FAILED" });
    const error = await aria.tools.call("fail").then(unexpected, (e: IccError) => e);
    expect(error).toBeInstanceOf(IccError);
    expect(error.code).toBe("TOOL_EXECUTION_FAILED");
    const invalid = await aria.tools.call("needs-x", {}).then(unexpected, (e: IccError) => e);
    expect(invalid.code).toBe("VALIDATION_FAILED");
    expect(f.audit.entries.at(-1)).toMatchObject({
      outcome: "failure",
      details: { code: "VALIDATION_FAILED" },
    });
  });

  it("answers 404 TOOL_NOT_FOUND for an unknown tool", async () => {
    const error = await f
      .client(f.mint().token)
      .tools.call("nope")
      .then(unexpected, (e: IccError) => e);
    expect(error).toMatchObject({ code: "TOOL_NOT_FOUND", status: 404 });
  });

  it("times a tool out at the body's timeoutMs with TOOL_TIMEOUT and aborts its signal", async () => {
    const aria = f.client(f.mint().token);
    const error = await aria.tools
      .call("slow", {}, { timeoutMs: 50 })
      .then(unexpected, (e: IccError) => e);
    expect(error.code).toBe("TOOL_TIMEOUT");
    expect(f.tools.calls.at(-1)!.context.signal.aborted).toBe(true);
  });

  it("lists the tools the token may call, with schemas", async () => {
    const all = await f.client(f.mint().token).tools.list();
    expect(all.map((t) => t.id)).toContain("text-tools/wordCount");
    const wordCount = all.find((t) => t.id === "text-tools/wordCount")!;
    expect(wordCount).toMatchObject({
      name: "wordCount",
      bundle: "text-tools",
      inputSchema: { required: ["text"] },
    });
    const limited = await f.client(f.mint({ tools: ["text-tools/*", "echo"] }).token).tools.list();
    expect(limited.map((t) => t.id).sort()).toEqual(["echo", "text-tools/wordCount"]);
  });

  it("invokes an agent as a child of the calling run", async () => {
    const aria = f.client(f.mint().token);
    const answer = await aria.agents.invoke("analyst", "Summarise this", {
      context: { doc: "text" },
      maxTurns: 3,
    });
    expect(answer).toEqual({
      success: true,
      response: "answer 1",
      turns: 1,
      usage: expect.objectContaining({ inputTokens: 11, outputTokens: 7, totalTokens: 18 }),
    });
    const call = f.agents.calls.at(-1)!;
    expect(call.agent).toBe("analyst");
    expect(call.request).toMatchObject({
      message: "Summarise this",
      context: { doc: "text" },
      maxTurns: 3,
      parentRunId: "run-A",
      stepId: "step-1",
      sessionId: "session-A",
    });
    // the agent's LLM usage is attributed to the calling run
    expect(f.llm.requests.at(-1)).toMatchObject({ runId: "run-A", agent: "analyst" });
    const unknown = await aria.agents.invoke("ghost", "hi").then(unexpected, (e: IccError) => e);
    expect(unknown).toMatchObject({ code: "AGENT_NOT_FOUND", status: 404 });
  });

  it("lists agents with the schema of their ICC body", async () => {
    const agents = await f.client(f.mint({ agents: ["text-tools/*"] }).token).agents.list();
    expect(agents).toEqual([
      expect.objectContaining({
        id: "text-tools/analyst",
        name: "analyst",
        tools: ["echo"],
        inputSchema: expect.objectContaining({ required: ["message"] }),
      }),
    ]);
  });

  it("completes through the runtime's LLM with usage attributed to the token's run", async () => {
    const aria = f.client(f.mint().token);
    const answer = await aria.llm.complete({
      messages: [{ role: "user", content: "hello" }],
      model: "gpt-test",
      temperature: 0.3,
      maxTokens: 50,
    });
    expect(answer).toEqual({
      content: "answer 1",
      usage: {
        inputTokens: 11,
        outputTokens: 7,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        totalTokens: 18,
      },
      model: "gpt-test",
      provider: "openai",
    });
    expect(f.llm.requests.at(-1)).toMatchObject({
      runId: "run-A",
      sessionId: "session-A",
      model: "gpt-test",
      temperature: 0.3,
      maxTokens: 50,
    });
    expect(f.audit.entries.at(-1)).toMatchObject({
      action: "icc.llm.complete",
      details: { usage: { totalTokens: 18 }, runId: "run-A" },
    });
  });

  it("passes LLM tool calls back and LLM errors with their codes", async () => {
    const aria = f.client(f.mint().token);
    f.llm.setScript([
      { type: "tool_calls", calls: [{ name: "lookup", args: { q: "x" }, id: "c1" }] },
      { type: "error", status: 429 },
    ]);
    const answer = await aria.llm.complete({
      messages: [{ role: "user", content: "use a tool" }],
      tools: [{ name: "lookup", description: "looks up", parameters: { type: "object" } }],
    });
    expect(answer.toolCalls).toEqual([{ id: "c1", name: "lookup", arguments: { q: "x" } }]);
    const error = await aria.llm
      .complete({ messages: [{ role: "user", content: "again" }] })
      .then(unexpected, (e: IccError) => e);
    expect(error).toMatchObject({ code: "LLM_RATE_LIMITED", status: 429 });
  });

  it("reads the token's run context, with ?include= selecting fields", async () => {
    const aria = f.client(f.mint().token);
    expect(await aria.context.get()).toEqual({
      sessionId: "session-A",
      runId: "run-A",
      stepId: "step-1",
      task: "task of A",
      workingMemory: { note: "A's note" },
      history: [{ step: "s0", summary: "A started" }],
    });
    expect(await aria.context.get(["task", "workingMemory"])).toEqual({
      runId: "run-A",
      task: "task of A",
      workingMemory: { note: "A's note" },
    });
    expect(f.contexts.reads.at(-1)).toEqual({ runId: "run-A", include: ["task", "workingMemory"] });
    const bad = await f.raw("GET", "/context?include=secrets", {
      headers: { authorization: `Bearer ${f.mint().token}` },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("VALIDATION_FAILED");
  });

  it("writes into the token's run working memory only", async () => {
    const aria = f.client(f.mint().token);
    await aria.context.set("result", { score: 0.9 });
    expect(f.contexts.runs["run-A"]!.workingMemory.result).toEqual({ score: 0.9 });
    expect(f.contexts.runs["run-B"]!.workingMemory).toEqual({ secret: "B's private data" });
    expect((await aria.context.get("workingMemory")).workingMemory).toMatchObject({
      result: { score: 0.9 },
    });
    expect(f.audit.entries.at(-2)).toMatchObject({
      action: "icc.context.set",
      target: "result",
      outcome: "success",
    });
  });

  it("answers RUN_NOT_FOUND when the token's run is not running here", async () => {
    const error = await f
      .client(f.mint({ runId: "run-gone" }).token)
      .context.get()
      .then(unexpected, (e: IccError) => e);
    expect(error).toMatchObject({ code: "RUN_NOT_FOUND", status: 404 });
  });

  it("serves the same app on loopback TCP", async () => {
    const tcp = await f.server.listen({ port: 0 });
    expect(tcp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { createIccClient } = await import("@aria/sdk");
    const aria = createIccClient({ ARIA_ICC_URL: tcp.url, ARIA_ICC_TOKEN: f.mint().token });
    expect(await aria.tools.call("echo", { over: "tcp" })).toEqual({ echoed: { over: "tcp" } });
    aria.close();
    await tcp.close();
  });

  it("refuses a TCP listener on a non-loopback address", async () => {
    await expect(f.server.listen({ port: 0, host: "0.0.0.0" })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });

  it("keeps connections alive across calls", async () => {
    const aria = f.client(f.mint().token);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => aria.tools.call("echo", { i })),
    );
    expect(results.map((r) => (r as { echoed: { i: number } }).echoed.i)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    aria.close();
  });
});
