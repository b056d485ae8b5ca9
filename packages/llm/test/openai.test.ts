import type { LlmStreamChunk } from "@aria/core-types";
import { createLlmHandler } from "@aria/llm";
import { type FakeProviderServer, reply, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";

const KEY = "sk-test-openai-0123456789abcdef";
const servers: FakeProviderServer[] = [];

async function fake(script: Parameters<typeof startFakeOpenAI>[0]) {
  const server = await startFakeOpenAI(script);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
  },
};

async function collect(stream: AsyncIterable<LlmStreamChunk>): Promise<LlmStreamChunk[]> {
  const out: LlmStreamChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

describe("OpenAI provider through the real openai client", () => {
  it("completes a plain request and sends what the request says (temperature 0 stays 0)", async () => {
    const server = await fake(
      reply.text("Hello there", { usage: { inputTokens: 12, outputTokens: 3 } }),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: KEY, baseURL: server.baseURL } },
      cache: false,
    });
    const response = await llm.complete({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi", name: "ada" },
      ],
      model: "gpt-4o-mini",
      temperature: 0,
      maxTokens: 50,
      stop: ["END"],
    });
    expect(response).toMatchObject({
      content: "Hello there",
      toolCalls: [],
      finishReason: "stop",
      provider: "openai",
      model: "gpt-4o-mini",
      cached: false,
      usage: { inputTokens: 12, outputTokens: 3, totalTokens: 15, cachedInputTokens: 0 },
    });
    expect(response.costUsd).toBeCloseTo((12 * 0.15 + 3 * 0.6) / 1e6, 12);
    expect(server.calls).toHaveLength(1);
    const sent = server.calls[0]!;
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi", name: "ada" },
      ],
      temperature: 0,
      max_completion_tokens: 50,
      stop: ["END"],
    });
  });

  it("runs a tool-calling round trip with normalised tool calls", async () => {
    const server = await fake([
      reply.toolCall("get_weather", { city: "Paris" }, { id: "call_abc" }),
      reply.text("It is sunny in Paris."),
    ]);
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: KEY, baseURL: server.baseURL } },
    });
    const first = await llm.complete({
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [WEATHER_TOOL],
      toolChoice: "auto",
    });
    expect(first.finishReason).toBe("tool_calls");
    expect(first.content).toBeNull();
    expect(first.toolCalls).toEqual([
      { id: "call_abc", name: "get_weather", arguments: { city: "Paris" } },
    ]);
    const second = await llm.complete({
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: null, toolCalls: first.toolCalls },
        { role: "tool", toolCallId: "call_abc", name: "get_weather", content: '{"sky":"sunny"}' },
      ],
      tools: [WEATHER_TOOL],
    });
    expect(second.content).toBe("It is sunny in Paris.");
    expect(server.calls[0]!.body.tools).toEqual([
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather for a city",
          parameters: WEATHER_TOOL.parameters,
        },
      },
    ]);
    expect(server.calls[0]!.body.tool_choice).toBe("auto");
    expect(server.calls[1]!.body.messages).toEqual([
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_abc",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_abc", content: '{"sky":"sunny"}' },
    ]);
  });

  it("streams text and tool calls whose arguments arrive in several deltas", async () => {
    const server = await fake([
      reply.text("Streaming works fine.", { usage: { inputTokens: 20, outputTokens: 5 } }),
      reply.toolCalls(
        [
          { name: "get_weather", args: { city: "Oslo", unit: "celsius" } },
          { name: "get_weather", args: { city: "Rome" } },
        ],
        { chunkSize: 5 },
      ),
    ]);
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: KEY, baseURL: server.baseURL } },
    });
    const chunks = await collect(
      llm.stream({ messages: [{ role: "user", content: "Say something" }] }),
    );
    const texts = chunks.filter((c) => c.type === "text").map((c) => c.text);
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join("")).toBe("Streaming works fine.");
    const done = chunks.at(-1);
    expect(done?.type).toBe("done");
    if (done?.type !== "done") throw new Error("no done chunk");
    expect(done.response).toMatchObject({
      content: "Streaming works fine.",
      finishReason: "stop",
      usage: { inputTokens: 20, outputTokens: 5 },
    });
    expect(server.calls[0]!.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });

    const toolChunks = await collect(
      llm.stream({ messages: [{ role: "user", content: "Weather?" }], tools: [WEATHER_TOOL] }),
    );
    expect(toolChunks.filter((c) => c.type === "tool_call").map((c) => c.toolCall)).toEqual([
      { id: expect.any(String), name: "get_weather", arguments: { city: "Oslo", unit: "celsius" } },
      { id: expect.any(String), name: "get_weather", arguments: { city: "Rome" } },
    ]);
    const last = toolChunks.at(-1);
    expect(last?.type === "done" && last.response.finishReason).toBe("tool_calls");
  });

  it("normalises usage: prompt_tokens already includes cached tokens", async () => {
    const server = await fake(
      reply.text("ok", {
        wireUsage: {
          prompt_tokens: 1000,
          completion_tokens: 20,
          total_tokens: 1020,
          prompt_tokens_details: { cached_tokens: 800 },
        },
      }),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: KEY, baseURL: server.baseURL } },
    });
    const response = await llm.complete({
      messages: [{ role: "user", content: "x" }],
      model: "gpt-4o",
    });
    expect(response.usage).toEqual({
      inputTokens: 1000,
      outputTokens: 20,
      cachedInputTokens: 800,
      cacheWriteTokens: 0,
      totalTokens: 1020,
    });
    // 200 uncached at 2.50, 800 cached at 1.25, 20 out at 10 (USD per million).
    expect(response.costUsd).toBeCloseTo((200 * 2.5 + 800 * 1.25 + 20 * 10) / 1e6, 12);
  });

  it("serves 'local' (any OpenAI-compatible server) by base URL without the OpenAI key", async () => {
    const openai = await fake("from openai");
    const local = await fake("from local");
    const llm = createLlmHandler({
      config: {
        providers: ["local", "openai"],
        openai: { apiKey: KEY, baseURL: openai.baseURL },
        local: { baseURL: local.baseURL, model: "llama3.2" },
      },
    });
    const response = await llm.complete({
      messages: [{ role: "user", content: "hi" }],
      maxTokens: 64,
      responseFormat: "json",
    });
    expect(response).toMatchObject({ provider: "local", model: "llama3.2", content: "from local" });
    expect(response.costUsd).toBe(0);
    expect(openai.calls).toHaveLength(0);
    const sent = local.calls[0]!;
    expect(sent.headers.authorization).not.toContain(KEY);
    expect(sent.body).toMatchObject({
      model: "llama3.2",
      max_tokens: 64,
      response_format: { type: "json_object" },
    });
    expect(sent.body.max_completion_tokens).toBeUndefined();
  });
});
