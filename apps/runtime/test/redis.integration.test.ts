import { type RedisHandle, startRedis } from "@aria/testkit";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisAuditLog } from "../src/redis/audit.ts";
import { connectRedis, waitReady } from "../src/redis/connection.ts";
import { RedisCounterStore } from "../src/redis/counters.ts";

let server: RedisHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url);
  await waitReady(redis);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe("Redis counters", () => {
  it("count hits per key within a window shared by clients", async () => {
    const a = new RedisCounterStore({ redis, prefix: "t1:" });
    const other = connectRedis(server.url);
    await waitReady(other);
    const b = new RedisCounterStore({ redis: other, prefix: "t1:" });
    expect((await a.hit("k", 60_000)).count).toBe(1);
    expect((await b.hit("k", 60_000)).count).toBe(2);
    const third = await a.hit("k", 60_000);
    expect(third.count).toBe(3);
    expect(third.resetAt).toBeGreaterThan(Date.now());
    expect((await a.hit("other", 60_000)).count).toBe(1);
    other.disconnect();
  });
});

describe("Redis audit log", () => {
  it("records entries and lists them newest first with filters", async () => {
    const log = new RedisAuditLog({ redis, prefix: "t2:" });
    for (let i = 0; i < 5; i++)
      await log.record({
        actor: i % 2 ? "key_a" : "key_b",
        action: `bundle.install`,
        target: `b${i}`,
        outcome: "success",
      });
    await log.record({
      actor: "key_a",
      action: "run.submit",
      outcome: "failure",
      details: { apiKey: "sk-should-not-appear-123456" },
    });
    const all = await log.list({ limit: 10 });
    expect(all.map((e) => e.target ?? e.action)).toEqual([
      "run.submit",
      "b4",
      "b3",
      "b2",
      "b1",
      "b0",
    ]);
    expect(JSON.stringify(all)).not.toContain("sk-should-not-appear");
    expect((await log.list({ action: "bundle.", actor: "key_a" })).map((e) => e.target)).toEqual([
      "b3",
      "b1",
    ]);
    expect(await log.list({ limit: 2 })).toHaveLength(2);
  });
});

describe("Redis down", () => {
  it("fails fast with STORE_UNAVAILABLE and recovers when Redis returns", async () => {
    const own = await startRedis();
    const client = connectRedis(own.url);
    await waitReady(client);
    const counters = new RedisCounterStore({ redis: client });
    expect((await counters.hit("x", 60_000)).count).toBe(1);
    await own.stop({ hard: true });
    await expect(counters.hit("x", 60_000)).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    await own.restart();
    await waitReady(client, 10_000);
    expect((await counters.hit("y", 60_000)).count).toBe(1);
    client.disconnect();
    await own.stop();
  });
});
