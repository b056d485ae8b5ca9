import { AriaError } from "@aria/errors";
import { type BreakerState, createLlmHandler, type LlmUsageEvent } from "@aria/llm";
import { freePort, reply, startFakeAnthropic, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import {
  ANTHROPIC_KEY,
  captureLogger,
  collect,
  OPENAI_KEY,
  rejectionOf,
  serverPool,
  sleep,
  until,
} from "./helpers.ts";

const pool = serverPool();
afterEach(() => pool.closeAll());

const ASK = { messages: [{ role: "user" as const, content: "Hello?" }] };
const FAST = { initialDelayMs: 1, maxDelayMs: 5 };

async function twoProviders(openaiScript: Parameters<typeof startFakeOpenAI>[0]) {
  const openai = await pool.add(startFakeOpenAI(openaiScript));
  const anthropic = await pool.add(startFakeAnthropic(reply.text("from anthropic")));
  const config = {
    providers: ["openai" as const, "anthropic" as const],
    openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
    anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
  };
  return { openai, anthropic, config };
}

describe("fallback", () => {
  it("falls back to the next provider when one keeps failing with 5xx", async () => {
    const { openai, anthropic, config } = await twoProviders(reply.error(503));
    const events: LlmUsageEvent[] = [];
    const llm = createLlmHandler({
      config: { ...config, maxRetries: 1 },
      resilience: FAST,
      onUsage: (e) => events.push(e),
    });
    const response = await llm.complete(ASK);
    expect(response).toMatchObject({ provider: "anthropic", content: "from anthropic" });
    // One attempt and one retry on openai (the SDK itself never retries), then anthropic.
    expect(openai.calls).toHaveLength(2);
    expect(anthropic.calls).toHaveLength(1);
    expect(events[0]).toMatchObject({
      provider: "anthropic",
      attempts: 3,
      fellBackFrom: ["openai"],
    });
  });

  it("falls back when the connection is refused", async () => {
    const anthropic = await pool.add(startFakeAnthropic("still here"));
    const deadPort = await freePort();
    const llm = createLlmHandler({
      config: {
        providers: ["local", "anthropic"],
        local: { baseURL: `http://127.0.0.1:${deadPort}/v1`, model: "llama3.2" },
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
        maxRetries: 0,
      },
    });
    const response = await llm.complete(ASK);
    expect(response.provider).toBe("anthropic");
    expect(llm.health().providers.local.lastFailure?.code).toBe("LLM_UNAVAILABLE");
    expect(llm.health().providers.local.lastFailure?.message).toMatch(/connection/i);
  });

  it("never falls back (nor retries) on a 400", async () => {
    const { openai, anthropic, config } = await twoProviders(
      reply.error(400, { message: "max_tokens is too large" }),
    );
    const llm = createLlmHandler({ config, resilience: FAST });
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_REQUEST_REJECTED")).toBe(true);
    expect((error as AriaError).message).toContain("max_tokens is too large");
    expect(openai.calls).toHaveLength(1);
    expect(anthropic.calls).toHaveLength(0);
  });

  it("uses the provider a request names, then an agent's, then a model's obvious owner", async () => {
    const { openai, anthropic, config } = await twoProviders("from openai");
    const llm = createLlmHandler({
      config: { ...config, anthropic: { ...config.anthropic, model: "claude-haiku-4-5" } },
      agents: { critic: { provider: "anthropic", model: "claude-opus-4-1" } },
    });
    expect((await llm.complete(ASK)).provider).toBe("openai");
    expect((await llm.complete({ ...ASK, provider: "anthropic" })).provider).toBe("anthropic");
    const byAgent = await llm.complete({ ...ASK, agent: "critic" });
    expect(byAgent.provider).toBe("anthropic");
    expect(anthropic.calls[1]!.body.model).toBe("claude-opus-4-1");
    llm.setAgentPreference("writer", { model: "gpt-4.1-mini" });
    await llm.complete({ ...ASK, agent: "writer" });
    expect(openai.calls.at(-1)!.body.model).toBe("gpt-4.1-mini");
    await llm.complete({ ...ASK, model: "claude-3-5-haiku-latest" });
    expect(anthropic.calls.at(-1)!.body.model).toBe("claude-3-5-haiku-latest");
  });

  it("fails with LLM_NOT_CONFIGURED when no provider is configured", async () => {
    const llm = createLlmHandler({ config: {} });
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_NOT_CONFIGURED")).toBe(true);
    expect(llm.health().ready).toBe(false);
  });
});

describe("retry", () => {
  it("SDK retries are off: one failing call is one request when maxRetries is 0", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.error(500)));
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        maxRetries: 0,
      },
    });
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
    expect(openai.calls).toHaveLength(1);
  });

  it("honours retry-after-ms on a 429 before retrying the same provider", async () => {
    const openai = await pool.add(
      startFakeOpenAI([reply.error(429, { retryAfterMs: 300 }), reply.text("after the wait")]),
    );
    const logger = captureLogger();
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      resilience: FAST,
      logger,
    });
    const response = await llm.complete(ASK);
    expect(response.content).toBe("after the wait");
    const retry = logger.entries.find((e) => e.msg === "retrying LLM call");
    expect(retry?.obj).toMatchObject({
      provider: "openai",
      delayMs: 300,
      code: "LLM_RATE_LIMITED",
    });
    const [first, second] = openai.calls;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(290);
  });

  it("honours retry-after in seconds on a 503", async () => {
    const anthropic = await pool.add(
      startFakeAnthropic([reply.error(503, { retryAfter: 1 }), reply.text("recovered")]),
    );
    const logger = captureLogger();
    const llm = createLlmHandler({
      config: {
        providers: ["anthropic"],
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
      },
      resilience: FAST,
      logger,
    });
    expect((await llm.complete(ASK)).content).toBe("recovered");
    expect(logger.entries.find((e) => e.msg === "retrying LLM call")?.obj).toMatchObject({
      delayMs: 1000,
    });
    const [first, second] = anthropic.calls;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it("does not wait out a long retry-after: it falls back at once", async () => {
    const { openai, config } = await twoProviders(reply.error(429, { retryAfter: 120 }));
    const llm = createLlmHandler({ config, resilience: FAST });
    const response = await llm.complete(ASK);
    expect(response.provider).toBe("anthropic");
    expect(openai.calls).toHaveLength(1);
  });

  it("reports LLM_RATE_LIMITED with retryAfterMs when every provider is rate limited", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.error(429, { retryAfter: 60 })));
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
    });
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_RATE_LIMITED")).toBe(true);
    expect((error as AriaError).details).toMatchObject({
      provider: "openai",
      status: 429,
      retryAfterMs: 60_000,
    });
  });
});

describe("circuit breaker", () => {
  it("opens after repeated failures, skips the provider, then closes after a good trial call", async () => {
    let failing = true;
    const { openai, anthropic, config } = await twoProviders(() =>
      failing ? reply.error(500) : reply.text("openai is back"),
    );
    const transitions: Array<[string, BreakerState]> = [];
    const llm = createLlmHandler({
      config: { ...config, maxRetries: 0 },
      resilience: { breakerThreshold: 2, breakerHalfOpenAfterMs: 200 },
      onBreakerStateChange: (provider, state) => transitions.push([provider, state]),
    });
    expect(llm.health().providers.openai.state).toBe("closed");

    await llm.complete(ASK);
    expect(llm.health().providers.openai.state).toBe("closed");
    await llm.complete(ASK);
    expect(llm.health().providers.openai).toMatchObject({
      state: "open",
      lastFailure: { code: "LLM_UNAVAILABLE" },
    });
    expect(llm.health().ready).toBe(true);

    // Open: the provider is not even asked.
    const skipped = await llm.complete(ASK);
    expect(skipped.provider).toBe("anthropic");
    expect(openai.calls).toHaveLength(2);
    expect(anthropic.calls).toHaveLength(3);

    failing = false;
    await sleep(250);
    const trial = await llm.complete(ASK);
    expect(trial).toMatchObject({ provider: "openai", content: "openai is back" });
    expect(llm.health().providers.openai.state).toBe("closed");
    expect(transitions).toEqual([
      ["openai", "open"],
      ["openai", "half-open"],
      ["openai", "closed"],
    ]);
  });

  it("fails with LLM_UNAVAILABLE naming the open breaker when it was the only provider", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.error(502)));
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        maxRetries: 0,
      },
      resilience: { breakerThreshold: 1, breakerHalfOpenAfterMs: 60_000 },
    });
    await rejectionOf(llm.complete(ASK));
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
    expect((error as AriaError).details).toMatchObject({ circuit: "open" });
    expect(openai.calls).toHaveLength(1);
    expect(llm.health().ready).toBe(false);
  });
});

describe("timeouts and cancellation", () => {
  it("times out an attempt and maps it to LLM_UNAVAILABLE", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.hang()));
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        maxRetries: 0,
        timeoutMs: 150,
      },
    });
    const error = await rejectionOf(llm.complete(ASK));
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
    expect((error as AriaError).details).toMatchObject({ timeout: true, timeoutMs: 150 });
    const perRequest = await rejectionOf(llm.complete({ ...ASK, timeoutMs: 100 }));
    expect((perRequest as AriaError).details).toMatchObject({ timeout: true, timeoutMs: 100 });
  });

  it("cancels an in-flight call through its AbortSignal, without retrying", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.hang()));
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      resilience: FAST,
    });
    const controller = new AbortController();
    const pending = llm.complete(ASK, { signal: controller.signal });
    await until(() => openai.calls.length === 1);
    controller.abort();
    const error = await rejectionOf(pending);
    expect(AriaError.hasCode(error, "RUN_CANCELLED")).toBe(true);
    expect(openai.calls).toHaveLength(1);
    expect(llm.accounting.total().failures).toBe(0);
  });

  it("cancels during a retry backoff without waiting it out", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.error(503, { retryAfterMs: 10_000 })));
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
    });
    const controller = new AbortController();
    const pending = llm.complete(ASK, { signal: controller.signal });
    await until(() => openai.calls.length === 1);
    controller.abort();
    expect(AriaError.hasCode(await rejectionOf(pending), "RUN_CANCELLED")).toBe(true);
  });
});

describe("streaming resilience", () => {
  it("falls back before the first chunk", async () => {
    const { config } = await twoProviders(reply.error(500));
    const llm = createLlmHandler({ config: { ...config, maxRetries: 0 } });
    const chunks = await collect(llm.stream(ASK));
    const done = chunks.at(-1);
    expect(done?.type === "done" && done.response.provider).toBe("anthropic");
    expect(
      chunks
        .filter((c) => c.type === "text")
        .map((c) => (c.type === "text" ? c.text : ""))
        .join(""),
    ).toBe("from anthropic");
  });

  it("fails a stream that drops after it started, without falling back", async () => {
    const { anthropic, config } = await twoProviders(reply.drop({ afterChunks: 3 }));
    const llm = createLlmHandler({ config: { ...config, maxRetries: 0 } });
    const seen: string[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const chunk of llm.stream(ASK)) if (chunk.type === "text") seen.push(chunk.text);
      })(),
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
    expect(anthropic.calls).toHaveLength(0);
  });

  it("fails a stream that stalls longer than the timeout between events", async () => {
    const openai = await pool.add(
      startFakeOpenAI(
        reply.text("abcdefghijkl", { chunkSize: 2, pauseAfter: { chunks: 3, ms: 1000 } }),
      ),
    );
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        timeoutMs: 150,
        maxRetries: 0,
      },
    });
    const seen: string[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const chunk of llm.stream(ASK)) if (chunk.type === "text") seen.push(chunk.text);
      })(),
    );
    expect(seen).toEqual(["ab", "cd"]);
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
    expect((error as AriaError).details).toMatchObject({ timeout: true, timeoutMs: 150 });
  });

  it("cancels a stream through its AbortSignal and stops reading", async () => {
    const openai = await pool.add(
      startFakeOpenAI(reply.text("one two three four five six seven eight", { chunkDelayMs: 50 })),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
    });
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const chunk of llm.stream(ASK, { signal: controller.signal })) {
          if (chunk.type === "text") {
            seen.push(chunk.text);
            controller.abort();
          }
        }
      })(),
    );
    expect(AriaError.hasCode(error, "RUN_CANCELLED")).toBe(true);
    expect(seen).toHaveLength(1);
  });
});
