import type { LlmStreamChunk } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { createScriptedLlm, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";

const ASK = { messages: [{ role: "user" as const, content: "hello" }] };

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("createScriptedLlm", () => {
  it("answers text and tool calls from a queue and records requests", async () => {
    const llm = createScriptedLlm(["first", reply.toolCall("add", { a: 1, b: 2 }, { id: "c1" })]);
    const text = await llm.complete({ ...ASK, model: "gpt-test" });
    expect(text).toMatchObject({
      content: "first",
      toolCalls: [],
      finishReason: "stop",
      model: "gpt-test",
      provider: "openai",
      cached: false,
    });
    expect(text.usage.totalTokens).toBe(text.usage.inputTokens + text.usage.outputTokens);
    const tool = await llm.complete(ASK);
    expect(tool).toMatchObject({
      content: null,
      finishReason: "tool_calls",
      toolCalls: [{ id: "c1", name: "add", arguments: { a: 1, b: 2 } }],
    });
    expect(llm.requests).toHaveLength(2);
    const exhausted = await rejection(llm.complete(ASK));
    expect(AriaError.hasCode(exhausted, "LLM_REQUEST_REJECTED")).toBe(true);
    llm.push("more");
    expect((await llm.complete(ASK)).content).toBe("more");
  });

  it("maps scripted failures to the handler's error codes", async () => {
    const llm = createScriptedLlm([
      reply.error(429, { retryAfter: 3 }),
      reply.error(503),
      reply.error(400),
      reply.malformed(),
      reply.drop(),
    ]);
    const codes = [];
    for (let i = 0; i < 5; i++)
      codes.push(((await rejection(llm.complete(ASK))) as AriaError).code);
    expect(codes).toEqual([
      "LLM_RATE_LIMITED",
      "LLM_UNAVAILABLE",
      "LLM_REQUEST_REJECTED",
      "LLM_INVALID_RESPONSE",
      "LLM_UNAVAILABLE",
    ]);
  });

  it("answers from a function and streams text, tool calls and done", async () => {
    const llm = createScriptedLlm((request, index) =>
      index === 0 ? `echo: ${request.messages[0]?.content}` : reply.toolCall("t", { x: 1 }),
    );
    const chunks: LlmStreamChunk[] = [];
    for await (const chunk of llm.stream(ASK)) chunks.push(chunk);
    expect(chunks.at(-1)).toMatchObject({ type: "done", response: { content: "echo: hello" } });
    expect(
      chunks
        .filter((c) => c.type === "text")
        .map((c) => (c.type === "text" ? c.text : ""))
        .join(""),
    ).toBe("echo: hello");
    const toolChunks: LlmStreamChunk[] = [];
    for await (const chunk of llm.stream(ASK)) toolChunks.push(chunk);
    expect(toolChunks.map((c) => c.type)).toEqual(["tool_call", "done"]);
  });

  it("hangs until cancelled by the AbortSignal", async () => {
    const llm = createScriptedLlm(reply.hang());
    const controller = new AbortController();
    const pending = llm.complete(ASK, { signal: controller.signal });
    controller.abort();
    expect(AriaError.hasCode(await rejection(pending), "RUN_CANCELLED")).toBe(true);
  });
});
