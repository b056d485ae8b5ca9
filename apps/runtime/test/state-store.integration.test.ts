import type { RunState } from "@aria/core-types";
import { emptyExecutionMetrics } from "@aria/engines";
import { describeStateStoreContract, type RedisHandle, startRedis } from "@aria/testkit";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, waitReady } from "../src/redis/connection.ts";
import { RedisStateStore } from "../src/redis/state-store.ts";

let server: RedisHandle;
let redis: Redis;
let prefixCounter = 0;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url);
  await waitReady(redis);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

function run(id: string): RunState {
  const createdAt = new Date().toISOString();
  return {
    id,
    status: "queued",
    target: { kind: "pipeline", name: "p" },
    options: {},
    steps: [],
    metrics: emptyExecutionMetrics(),
    cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
    createdAt,
    updatedAt: createdAt,
    version: 0,
  };
}

// The shared StateStore contract (the engines' MemoryStateStore runs the same suite), each test on
// its own key prefix; time passes for real, over the suite's short TTLs.
describeStateStoreContract("RedisStateStore", {
  make: async () => new RedisStateStore({ redis, prefix: `conf${++prefixCounter}:` }),
  advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});

describe("RedisStateStore durability", () => {
  it("keeps runs across a new client (another replica) and reports STORE_UNAVAILABLE when Redis is down", async () => {
    const own = await startRedis();
    const one = connectRedis(own.url);
    await waitReady(one);
    const a = new RedisStateStore({ redis: one });
    await a.compareAndSetRun(run("persisted"), -1);
    const two = connectRedis(own.url);
    await waitReady(two);
    const b = new RedisStateStore({ redis: two });
    expect((await b.getRun("persisted"))?.id).toBe("persisted");
    await own.stop({ hard: true });
    await expect(b.getRun("persisted")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    one.disconnect();
    two.disconnect();
  });
});
