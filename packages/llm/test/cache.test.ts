import { cacheKey, createLlmHandler, type LlmUsageEvent, MemoryCacheStore } from "@aria/llm";
import { reply, startFakeAnthropic, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { ANTHROPIC_KEY, collect, OPENAI_KEY, serverPool } from "./helpers.ts";

const pool = serverPool();
afterEach(() => pool.closeAll());

const TOOL = {
  name: "lookup",
  description: "Looks a thing up",
  parameters: { type: "object", properties: { id: { type: "string" } } },
};

async function openaiHandler(script: Parameters<typeof startFakeOpenAI>[0], extra = {}) {
  const server = await pool.add(startFakeOpenAI(script));
  const events: LlmUsageEvent[] = [];
  const llm = createLlmHandler({
    config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: server.baseURL } },
    onUsage: (e) => events.push(e),
    ...extra,
  });
  return { server, llm, events };
}

describe("response cache (memory)", () => {
  it("answers a repeated deterministic request from memory without calling the provider", async () => {
    const { server, llm, events } = await openaiHandler(
      reply.text("the answer", { usage: { inputTokens: 100, outputTokens: 10 } }),
    );
    const request = {
      messages: [{ role: "user" as const, content: "What is 6 x 7?" }],
      temperature: 0,
      runId: "run-1",
    };
    const first = await llm.complete(request);
    const second = await llm.complete(request);
    expect(server.calls).toHaveLength(1);
    expect(first.cached).toBe(false);
    expect(second).toMatchObject({
      content: "the answer",
      cached: true,
      costUsd: 0,
      provider: "openai",
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
    });
    expect(llm.accounting.run("run-1")).toMatchObject({ calls: 2, cacheHits: 1, inputTokens: 100 });
    expect(events.map((e) => e.cached)).toEqual([false, true]);
    expect(llm.health().cache).toMatchObject({ kind: "memory", state: "closed", entries: 1 });
    // The caller gets its own copy.
    second.toolCalls.push({ id: "x", name: "y", arguments: {} });
    expect((await llm.complete(request)).toolCalls).toEqual([]);
  });

  it("does not cache non-deterministic requests unless they opt in, and honours cache: false", async () => {
    const { server, llm } = await openaiHandler("fresh");
    const ask = { messages: [{ role: "user" as const, content: "Tell me a story" }] };
    await llm.complete({ ...ask, temperature: 0.7 });
    await llm.complete({ ...ask, temperature: 0.7 });
    await llm.complete(ask);
    await llm.complete(ask);
    expect(server.calls).toHaveLength(4);
    await llm.complete({ ...ask, temperature: 0.7, cache: true });
    await llm.complete({ ...ask, temperature: 0.7, cache: true });
    expect(server.calls).toHaveLength(5);
    await llm.complete({ ...ask, temperature: 0, cache: false });
    await llm.complete({ ...ask, temperature: 0, cache: false });
    expect(server.calls).toHaveLength(7);
  });

  it("keys on the normalised request: model, tools and parameters matter, key order does not", async () => {
    const { server, llm } = await openaiHandler("x");
    const base = {
      messages: [{ role: "user" as const, content: "same" }],
      temperature: 0,
      tools: [TOOL],
    };
    await llm.complete(base);
    await llm.complete({
      temperature: 0,
      tools: [
        {
          parameters: { properties: { id: { type: "string" } }, type: "object" },
          description: "Looks a thing up",
          name: "lookup",
        },
      ],
      messages: [{ content: "same", role: "user" as const }],
    });
    expect(server.calls).toHaveLength(1);
    await llm.complete({ ...base, model: "gpt-4.1" });
    await llm.complete({ ...base, maxTokens: 10 });
    await llm.complete({ ...base, tools: [] });
    await llm.complete({ ...base, stop: ["\n"] });
    expect(server.calls).toHaveLength(5);
    expect(cacheKey({ a: 1, b: { c: 2, d: 3 } })).toBe(cacheKey({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it("replays a cached answer as a stream, and a streamed answer fills the cache", async () => {
    const { server, llm } = await openaiHandler([
      reply.toolCall("lookup", { id: "42" }, { text: "Looking up." }),
      reply.text("streamed once"),
    ]);
    const ask = {
      messages: [{ role: "user" as const, content: "find 42" }],
      temperature: 0,
      tools: [TOOL],
    };
    const completed = await llm.complete(ask);
    const replayed = await collect(llm.stream(ask));
    expect(server.calls).toHaveLength(1);
    expect(replayed.map((c) => c.type)).toEqual(["text", "tool_call", "done"]);
    expect(replayed[0]).toEqual({ type: "text", text: "Looking up." });
    expect(replayed[1]).toEqual({ type: "tool_call", toolCall: completed.toolCalls[0] });
    const done = replayed[2];
    expect(done?.type === "done" && done.response.cached).toBe(true);

    const other = { messages: [{ role: "user" as const, content: "stream me" }], temperature: 0 };
    await collect(llm.stream(other));
    const fromCache = await llm.complete(other);
    expect(fromCache).toMatchObject({ content: "streamed once", cached: true });
    expect(server.calls).toHaveLength(2);
  });

  it("stores a fallback provider's answer under that provider's key", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.error(500)));
    const anthropic = await pool.add(startFakeAnthropic("from anthropic"));
    const llm = createLlmHandler({
      config: {
        providers: ["openai", "anthropic"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
        maxRetries: 0,
      },
    });
    const ask = { messages: [{ role: "user" as const, content: "hi" }], temperature: 0 };
    expect((await llm.complete(ask)).provider).toBe("anthropic");
    // Asked of openai again: not served anthropic's cached answer as if it were openai's.
    await llm.complete(ask);
    expect(openai.calls).toHaveLength(2);
    // Asked of anthropic directly: served from the cache.
    const direct = await llm.complete({ ...ask, provider: "anthropic" });
    expect(direct).toMatchObject({ cached: true, provider: "anthropic" });
    expect(anthropic.calls).toHaveLength(2);
  });

  it("can be turned off, bounded, and given another store", async () => {
    const off = await openaiHandler("x", { cache: false });
    const ask = { messages: [{ role: "user" as const, content: "q" }], temperature: 0 };
    await off.llm.complete(ask);
    await off.llm.complete(ask);
    expect(off.server.calls).toHaveLength(2);
    expect(off.llm.health().cache.kind).toBe("off");

    const store = new MemoryCacheStore({ maxEntries: 1 });
    const bounded = await openaiHandler("y", { cache: { store } });
    await bounded.llm.complete(ask);
    await bounded.llm.complete({ ...ask, messages: [{ role: "user" as const, content: "other" }] });
    await bounded.llm.complete(ask);
    expect(bounded.server.calls).toHaveLength(3);
    expect(store.size()).toBe(1);
  });

  it("expires entries after their time to live", async () => {
    const { server, llm } = await openaiHandler("z", { cache: { ttlMs: 50 } });
    const ask = { messages: [{ role: "user" as const, content: "ttl" }], temperature: 0 };
    await llm.complete(ask);
    await llm.complete(ask);
    expect(server.calls).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await llm.complete(ask);
    expect(server.calls).toHaveLength(2);
  });
});
