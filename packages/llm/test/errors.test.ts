import { inspect } from "node:util";
import { AriaError } from "@aria/errors";
import { createLlmHandler, retryAfterMs } from "@aria/llm";
import { type FakeReplyInput, reply, startFakeAnthropic, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import {
  ANTHROPIC_KEY,
  captureLogger,
  collect,
  OPENAI_KEY,
  rejectionOf,
  serverPool,
} from "./helpers.ts";

const pool = serverPool();
afterEach(() => pool.closeAll());

const ASK = { messages: [{ role: "user" as const, content: "hi" }] };

async function openaiOnly(script: FakeReplyInput | FakeReplyInput[]) {
  const server = await pool.add(startFakeOpenAI(script));
  const llm = createLlmHandler({
    config: {
      providers: ["openai"],
      openai: { apiKey: OPENAI_KEY, baseURL: server.baseURL },
      maxRetries: 0,
    },
  });
  return { server, llm };
}

async function anthropicOnly(script: FakeReplyInput | FakeReplyInput[]) {
  const server = await pool.add(startFakeAnthropic(script));
  const llm = createLlmHandler({
    config: {
      providers: ["anthropic"],
      anthropic: { apiKey: ANTHROPIC_KEY, baseURL: server.baseURL },
      maxRetries: 0,
    },
  });
  return { server, llm };
}

describe("garbage answers become LLM_INVALID_RESPONSE", () => {
  const garbage: Array<[string, FakeReplyInput]> = [
    ["broken JSON with a JSON content type", reply.malformed()],
    [
      "text that is not JSON",
      reply.malformed("<html>Bad gateway</html>", { contentType: "text/html" }),
    ],
    ["JSON of the wrong shape", reply.raw(200, { hello: "world" })],
    ["tool-call arguments that are not JSON", reply.toolCall("lookup", "{not json")],
    ["tool-call arguments that are not an object", reply.toolCall("lookup", "[1, 2]")],
  ];
  for (const [name, script] of garbage) {
    it(`openai: ${name}`, async () => {
      const { llm } = await openaiOnly(script);
      const error = await rejectionOf(llm.complete(ASK));
      expect(AriaError.hasCode(error, "LLM_INVALID_RESPONSE")).toBe(true);
      expect((error as AriaError).details).toMatchObject({ provider: "openai" });
    });
    it(`anthropic: ${name}`, async () => {
      const { llm } = await anthropicOnly(script);
      const error = await rejectionOf(llm.complete(ASK));
      expect(AriaError.hasCode(error, "LLM_INVALID_RESPONSE")).toBe(true);
    });
  }

  it("a malformed stream, on both providers", async () => {
    const openai = await openaiOnly(reply.malformed("{garbage"));
    expect(
      AriaError.hasCode(await rejectionOf(collect(openai.llm.stream(ASK))), "LLM_INVALID_RESPONSE"),
    ).toBe(true);
    const anthropic = await anthropicOnly(reply.malformed("{garbage"));
    expect(
      AriaError.hasCode(
        await rejectionOf(collect(anthropic.llm.stream(ASK))),
        "LLM_INVALID_RESPONSE",
      ),
    ).toBe(true);
  });

  it("a stream cut off before its end is LLM_UNAVAILABLE (truncated), not a short answer", async () => {
    const { llm } = await anthropicOnly(reply.drop({ afterChunks: 4 }));
    const error = await rejectionOf(collect(llm.stream(ASK)));
    expect(AriaError.hasCode(error, "LLM_UNAVAILABLE")).toBe(true);
  });

  it("garbage from one provider is retried, then the next provider answers", async () => {
    const openai = await pool.add(startFakeOpenAI(reply.malformed()));
    const anthropic = await pool.add(startFakeAnthropic("clean answer"));
    const llm = createLlmHandler({
      config: {
        providers: ["openai", "anthropic"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
        maxRetries: 1,
      },
      resilience: { initialDelayMs: 1, maxDelayMs: 2 },
    });
    expect(await llm.complete(ASK)).toMatchObject({
      provider: "anthropic",
      content: "clean answer",
    });
    expect(openai.calls).toHaveLength(2);
  });
});

describe("errors carry no API key", () => {
  it("redacts keys a provider echoes back, from the error, its cause, its JSON, logs and health", async () => {
    const localKey = "local-gateway-token-7f3a9c1e";
    const openai = await pool.add(
      startFakeOpenAI(reply.error(401, { message: `Incorrect API key provided: ${OPENAI_KEY}` })),
    );
    const anthropic = await pool.add(
      startFakeAnthropic(reply.error(529, { message: `overloaded for key ${ANTHROPIC_KEY}` })),
    );
    const local = await pool.add(
      startFakeOpenAI(reply.error(500, { message: `upstream refused token ${localKey}` })),
    );
    const logger = captureLogger();
    const llm = createLlmHandler({
      config: {
        providers: ["local", "anthropic", "openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL },
        local: { apiKey: localKey, baseURL: local.baseURL, model: "m" },
        maxRetries: 0,
      },
      logger,
    });
    const error = (await rejectionOf(llm.complete(ASK))) as AriaError;
    expect(error.code).toBe("LLM_REQUEST_REJECTED");
    expect(local.calls[0]!.headers.authorization).toBe(`Bearer ${localKey}`);
    const surfaces = [
      error.message,
      String(error.cause),
      JSON.stringify(error.toJSON()),
      JSON.stringify(error.details),
      inspect(error, { depth: 10 }),
      JSON.stringify(logger.entries),
      JSON.stringify(llm.health()),
      inspect(llm, { depth: 10 }),
    ].join("\n");
    expect(surfaces).toContain("[REDACTED]");
    for (const key of [OPENAI_KEY, ANTHROPIC_KEY, localKey]) expect(surfaces).not.toContain(key);
  });
});

describe("requests and configuration", () => {
  it("rejects an invalid request with VALIDATION_FAILED before any call", async () => {
    const { server, llm } = await openaiOnly("x");
    const error = await rejectionOf(llm.complete({ messages: [] }));
    expect(AriaError.hasCode(error, "VALIDATION_FAILED")).toBe(true);
    const badTool = await rejectionOf(
      llm.complete({ ...ASK, tools: [{ name: "bad name!", description: "", parameters: {} }] }),
    );
    expect(AriaError.hasCode(badTool, "VALIDATION_FAILED")).toBe(true);
    expect(server.calls).toHaveLength(0);
  });

  it("reads retry-after as milliseconds, seconds or an HTTP date", () => {
    const headers = (h: Record<string, string>) => new Headers(h);
    expect(retryAfterMs(headers({ "retry-after-ms": "250" }))).toBe(250);
    expect(retryAfterMs(headers({ "retry-after": "2" }))).toBe(2000);
    expect(retryAfterMs(headers({ "retry-after": "0.5" }))).toBe(500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs(headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(
      3000,
    );
    expect(retryAfterMs(headers({ "retry-after": "soon" }))).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
  });

  it("reports every provider in health, configured or not", async () => {
    const { llm } = await openaiOnly("x");
    const health = llm.health();
    expect(health.ready).toBe(true);
    expect(health.providers.openai).toMatchObject({
      configured: true,
      state: "closed",
      defaultModel: "gpt-4o-mini",
    });
    expect(health.providers.anthropic).toEqual({ configured: false, state: "not-configured" });
    expect(llm.providers()).toEqual(["openai"]);
  });
});
