import { createLlmHandler, type LlmHandler, type LlmHandlerDeps } from "@aria/llm";
import {
  type FakeProviderServer,
  type RedisHandle,
  reply,
  startFakeOpenAI,
  startRedis,
} from "@aria/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, OPENAI_KEY } from "./helpers.ts";

// Runs only with ARIA_INTEGRATION=1 (see tooling/vitest/shared.ts). When redis-server is missing,
// startRedis throws and every test below fails with that error (they are never skipped).
let redis: RedisHandle;
let server: FakeProviderServer;
let services: Promise<void>;
const handlers: LlmHandler[] = [];

beforeAll(() => {
  services = (async () => {
    server = await startFakeOpenAI(
      reply.text("from the provider", { usage: { inputTokens: 10, outputTokens: 4 } }),
    );
    redis = await startRedis();
  })();
  // Each test awaits it and fails with its error; this only avoids an unhandled rejection.
  services.catch(() => {});
});

afterAll(async () => {
  await Promise.all(handlers.map((h) => h.close()));
  await server?.close();
  await redis?.stop();
});

function handler(cache: LlmHandlerDeps["cache"]) {
  const llm = createLlmHandler({
    config: {
      providers: ["openai"],
      openai: { apiKey: OPENAI_KEY, baseURL: server.baseURL },
      maxRetries: 0,
    },
    cache,
  });
  handlers.push(llm);
  return llm;
}

describe("response cache in a real redis-server", () => {
  it("shares cached answers between handler instances (replicas)", async () => {
    await services;
    const replicaA = handler({ redis: redis.url, keyPrefix: "test:shared:" });
    const replicaB = handler({ redis: redis.url, keyPrefix: "test:shared:" });
    const ask = {
      messages: [{ role: "user" as const, content: "shared question" }],
      temperature: 0,
    };
    const before = server.calls.length;
    const first = await replicaA.complete(ask);
    expect(first.cached).toBe(false);
    const second = await replicaB.complete(ask);
    expect(second).toMatchObject({ cached: true, content: "from the provider", costUsd: 0 });
    expect(server.calls.length - before).toBe(1);
    expect(replicaB.health().cache).toMatchObject({ kind: "redis", state: "closed" });

    const replayed = await collect(replicaA.stream(ask));
    expect(replayed.map((c) => c.type)).toEqual(["text", "done"]);
    expect(server.calls.length - before).toBe(1);
  });

  it("writes entries with an expiry and uses a client it is given without closing it", async () => {
    await services;
    const client = new Redis(redis.url);
    const llm = handler({ redis: client, keyPrefix: "test:ttl:", ttlMs: 60_000 });
    await llm.complete({ messages: [{ role: "user", content: "expiring" }], temperature: 0 });
    const keys = await client.keys("test:ttl:*");
    expect(keys).toHaveLength(1);
    const ttl = await client.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const stored = JSON.parse((await client.get(keys[0]!)) ?? "{}");
    expect(stored).toMatchObject({ content: "from the provider", provider: "openai" });
    expect(JSON.stringify(stored)).not.toContain(OPENAI_KEY);
    await llm.close();
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("keeps answering while Redis is down, and opens the cache breaker", async () => {
    await services;
    const llm = handler({ redis: redis.url, keyPrefix: "test:down:", lookupTimeoutMs: 100 });
    const ask = {
      messages: [{ role: "user" as const, content: "during the outage" }],
      temperature: 0,
    };
    await llm.complete(ask);
    await redis.stop();
    try {
      const before = server.calls.length;
      for (let i = 0; i < 4; i++) {
        const response = await llm.complete(ask);
        expect(response.content).toBe("from the provider");
      }
      expect(server.calls.length - before).toBe(4);
      expect(llm.health().cache).toMatchObject({ kind: "redis", state: "open" });
    } finally {
      await redis.restart();
    }
  });
});
