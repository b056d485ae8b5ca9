import type { LlmStreamChunk } from "@aria/core-types";
import { createLlmHandler } from "@aria/llm";
import { type FakeProviderServer, reply, startFakeAnthropic } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";

const KEY = "sk-ant-test-0123456789abcdef";
const servers: FakeProviderServer[] = [];

async function fake(script: Parameters<typeof startFakeAnthropic>[0]) {
  const server = await startFakeAnthropic(script);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function handlerFor(server: FakeProviderServer, model = "claude-haiku-4-5") {
  return createLlmHandler({
    config: {
      providers: ["anthropic"],
      anthropic: { apiKey: KEY, baseURL: server.baseURL, model },
    },
  });
}

const SEARCH_TOOL = {
  name: "search",
  description: "Searches the web",
  parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
};

async function collect(stream: AsyncIterable<LlmStreamChunk>): Promise<LlmStreamChunk[]> {
  const out: LlmStreamChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

describe("Anthropic provider through the real @anthropic-ai/sdk client", () => {
  it("pulls the system prompt out of the messages and keeps temperature 0", async () => {
    const server = await fake(
      reply.text("Bonjour", { usage: { inputTokens: 30, outputTokens: 2 } }),
    );
    const llm = handlerFor(server);
    const response = await llm.complete({
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Say hello in French" },
        { role: "system", content: "Never use English." },
      ],
      temperature: 0,
      stop: ["###"],
    });
    expect(response).toMatchObject({
      content: "Bonjour",
      finishReason: "stop",
      provider: "anthropic",
      model: "claude-haiku-4-5",
      usage: { inputTokens: 30, outputTokens: 2, totalTokens: 32 },
    });
    const sent = server.calls[0]!;
    expect(sent.headers.authorization ?? sent.headers["x-api-key"]).toContain(KEY);
    expect(sent.body).toEqual({
      model: "claude-haiku-4-5",
      system: "You are terse.\n\nNever use English.",
      messages: [{ role: "user", content: "Say hello in French" }],
      max_tokens: 4096,
      temperature: 0,
      stop_sequences: ["###"],
    });
  });

  it("leaves temperature out for models that no longer accept it", async () => {
    const server = await fake("ok");
    const llm = handlerFor(server, "claude-opus-4-7");
    await llm.complete({ messages: [{ role: "user", content: "hi" }], temperature: 0 });
    expect(server.calls[0]!.body.temperature).toBeUndefined();
    expect(server.calls[0]!.body.model).toBe("claude-opus-4-7");
  });

  it("maps tool_use and tool_result, merging consecutive tool results into one user turn", async () => {
    const server = await fake([
      reply.toolCalls(
        [
          { name: "search", args: { q: "aria runtime" }, id: "toolu_1" },
          { name: "search", args: { q: "quilt" }, id: "toolu_2" },
        ],
        { text: "Let me look that up." },
      ),
      reply.text("Both found."),
    ]);
    const llm = handlerFor(server);
    const first = await llm.complete({
      messages: [
        { role: "system", content: "Use tools." },
        { role: "user", content: "Find both" },
      ],
      tools: [SEARCH_TOOL],
      toolChoice: "required",
      maxTokens: 500,
    });
    expect(first).toMatchObject({
      content: "Let me look that up.",
      finishReason: "tool_calls",
      toolCalls: [
        { id: "toolu_1", name: "search", arguments: { q: "aria runtime" } },
        { id: "toolu_2", name: "search", arguments: { q: "quilt" } },
      ],
    });
    expect(server.calls[0]!.body).toMatchObject({
      max_tokens: 500,
      tools: [
        {
          name: "search",
          description: "Searches the web",
          input_schema: SEARCH_TOOL.parameters,
        },
      ],
      tool_choice: { type: "any" },
    });

    const second = await llm.complete({
      messages: [
        { role: "system", content: "Use tools." },
        { role: "user", content: "Find both" },
        { role: "assistant", content: first.content, toolCalls: first.toolCalls },
        { role: "tool", toolCallId: "toolu_1", content: "result one" },
        { role: "tool", toolCallId: "toolu_2", content: "boom", isError: true },
        { role: "user", content: "Summarise" },
      ],
      tools: [SEARCH_TOOL],
      toolChoice: { name: "search" },
    });
    expect(second.content).toBe("Both found.");
    expect(server.calls[1]!.body.tool_choice).toEqual({ type: "tool", name: "search" });
    expect(server.calls[1]!.body.messages).toEqual([
      { role: "user", content: "Find both" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Let me look that up." },
          { type: "tool_use", id: "toolu_1", name: "search", input: { q: "aria runtime" } },
          { type: "tool_use", id: "toolu_2", name: "search", input: { q: "quilt" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: "result one" },
          { type: "tool_result", tool_use_id: "toolu_2", content: "boom", is_error: true },
          { type: "text", text: "Summarise" },
        ],
      },
    ]);
  });

  it("streams text deltas and input_json_delta tool arguments", async () => {
    const server = await fake([
      reply.text("A streamed Claude answer.", { usage: { inputTokens: 40, outputTokens: 6 } }),
      reply.toolCall("search", { q: "streamed arguments", limit: 3 }, { chunkSize: 4 }),
    ]);
    const llm = handlerFor(server);
    const chunks = await collect(llm.stream({ messages: [{ role: "user", content: "Go" }] }));
    const texts = chunks.filter((c) => c.type === "text").map((c) => c.text);
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join("")).toBe("A streamed Claude answer.");
    const done = chunks.at(-1);
    if (done?.type !== "done") throw new Error("no done chunk");
    expect(done.response).toMatchObject({
      content: "A streamed Claude answer.",
      finishReason: "stop",
      usage: { inputTokens: 40, outputTokens: 6, totalTokens: 46 },
    });
    expect(server.calls[0]!.body.stream).toBe(true);

    const toolChunks = await collect(
      llm.stream({ messages: [{ role: "user", content: "Search" }], tools: [SEARCH_TOOL] }),
    );
    expect(toolChunks.filter((c) => c.type === "tool_call").map((c) => c.toolCall)).toEqual([
      {
        id: expect.stringMatching(/^toolu_/),
        name: "search",
        arguments: { q: "streamed arguments", limit: 3 },
      },
    ]);
    const last = toolChunks.at(-1);
    expect(last?.type === "done" && last.response.finishReason).toBe("tool_calls");
    expect(last?.type === "done" && last.response.content).toBeNull();
  });

  it("normalises usage: input_tokens excludes cache reads and writes", async () => {
    const wireUsage = {
      input_tokens: 100,
      cache_read_input_tokens: 900,
      cache_creation_input_tokens: 50,
      output_tokens: 20,
    };
    const server = await fake([
      reply.text("cached", { wireUsage }),
      reply.text("cached", { wireUsage }),
    ]);
    const llm = handlerFor(server, "claude-sonnet-4-6");
    const expected = {
      inputTokens: 1050,
      outputTokens: 20,
      cachedInputTokens: 900,
      cacheWriteTokens: 50,
      totalTokens: 1070,
    };
    const response = await llm.complete({ messages: [{ role: "user", content: "x" }] });
    expect(response.usage).toEqual(expected);
    // 100 uncached at $3, 900 read at $0.30, 50 written at $3.75, 20 out at $15 (per million).
    expect(response.costUsd).toBeCloseTo((100 * 3 + 900 * 0.3 + 50 * 3.75 + 20 * 15) / 1e6, 12);

    const chunks = await collect(llm.stream({ messages: [{ role: "user", content: "y" }] }));
    const done = chunks.at(-1);
    expect(done?.type === "done" && done.response.usage).toEqual(expected);
  });

  it("sends a JSON instruction for responseFormat json (the Messages API has no JSON mode flag)", async () => {
    const server = await fake('{"ok":true}');
    const llm = handlerFor(server);
    const response = await llm.complete({
      messages: [{ role: "user", content: "Give JSON" }],
      responseFormat: "json",
    });
    expect(JSON.parse(response.content ?? "")).toEqual({ ok: true });
    expect(server.calls[0]!.body.system).toMatch(/JSON object only/);
  });
});
