import type { RunState, StateStore } from "@aria/core-types";
import { emptyExecutionMetrics, MemoryStateStore } from "@aria/engines";
import { type RedisHandle, startRedis } from "@aria/testkit";
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

function run(
  id: string,
  createdAt = new Date().toISOString(),
  status: RunState["status"] = "queued",
): RunState {
  return {
    id,
    status,
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

const stores: Array<[string, () => StateStore]> = [
  ["MemoryStateStore", () => new MemoryStateStore()],
  ["RedisStateStore", () => new RedisStateStore({ redis, prefix: `conf${++prefixCounter}:` })],
];

describe.each(stores)("%s (shared StateStore semantics)", (_name, make) => {
  it("creates a run only once and advances it by compare-and-set on its version", async () => {
    const store = make();
    expect(await store.compareAndSetRun(run("r1"), -1)).toBe(true);
    expect(await store.compareAndSetRun(run("r1"), -1)).toBe(false);
    const stored = await store.getRun("r1");
    expect(stored?.version).toBe(0);
    expect(await store.compareAndSetRun({ ...stored!, status: "running" }, 0)).toBe(true);
    expect(await store.compareAndSetRun({ ...stored!, status: "failed" }, 0)).toBe(false);
    expect((await store.getRun("r1"))?.status).toBe("running");
    expect((await store.getRun("r1"))?.version).toBe(1);
    expect(await store.getRun("missing")).toBeUndefined();
  });

  it("lists runs newest first, filtered by status", async () => {
    const store = make();
    await store.compareAndSetRun(run("a", "2026-01-01T00:00:00.000Z", "succeeded"), -1);
    await store.compareAndSetRun(run("b", "2026-01-02T00:00:00.000Z", "failed"), -1);
    await store.compareAndSetRun(run("c", "2026-01-03T00:00:00.000Z", "succeeded"), -1);
    expect((await store.listRuns()).map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect((await store.listRuns({ status: "succeeded" })).map((r) => r.id)).toEqual(["c", "a"]);
    expect((await store.listRuns({ limit: 1 })).map((r) => r.id)).toEqual(["c"]);
  });

  it("appends events with sequence numbers from 1 and reads after a sequence", async () => {
    const store = make();
    const at = new Date().toISOString();
    expect(await store.appendEvent("r", { runId: "r", type: "run.started", at, data: {} })).toBe(1);
    expect(
      await store.appendEvent("r", {
        runId: "r",
        type: "step.started",
        at,
        stepId: "s1",
        data: { n: 1 },
      }),
    ).toBe(2);
    expect(await store.appendEvent("r", { runId: "r", type: "run.completed", at, data: {} })).toBe(
      3,
    );
    expect((await store.readEvents("r")).map((e) => [e.seq, e.type])).toEqual([
      [1, "run.started"],
      [2, "step.started"],
      [3, "run.completed"],
    ]);
    const after = await store.readEvents("r", 1);
    expect(after.map((e) => e.seq)).toEqual([2, 3]);
    expect(after[0]).toMatchObject({ runId: "r", stepId: "s1", data: { n: 1 } });
    expect(await store.readEvents("none")).toEqual([]);
  });

  it("grants leases with growing fencing tokens and fences stale writers", async () => {
    const store = make();
    await store.compareAndSetRun(run("f1"), -1);
    const first = await store.acquireLease("run:f1", "worker-a", 10_000);
    expect(first?.fencingToken).toBe(1);
    expect(await store.acquireLease("run:f1", "worker-b", 10_000)).toBeUndefined();
    // the same owner re-acquiring keeps its token
    expect((await store.acquireLease("run:f1", "worker-a", 10_000))?.fencingToken).toBe(1);
    await store.appendCheckpoint("f1", { n: 1 }, first!.fencingToken);
    expect(await store.renewLease(first!, 10_000)).toBeDefined();
    await store.releaseLease(first!);
    const second = await store.acquireLease("run:f1", "worker-b", 10_000);
    expect(second?.fencingToken).toBe(2);
    expect(await store.renewLease(first!, 10_000)).toBeUndefined();
    // the stalled first holder wakes up: its writes are refused
    await expect(store.appendCheckpoint("f1", { n: 2 }, first!.fencingToken)).rejects.toMatchObject(
      { code: "RUN_CONFLICT" },
    );
    const current = await store.getRun("f1");
    await expect(
      store.compareAndSetRun(
        { ...current!, status: "failed" },
        current!.version,
        first!.fencingToken,
      ),
    ).rejects.toMatchObject({
      code: "RUN_CONFLICT",
    });
    await store.appendCheckpoint("f1", { n: 3 }, second!.fencingToken);
    expect(await store.readCheckpoints("f1")).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it("lets a lease expire so another owner takes it with a higher token", async () => {
    const store = make();
    const a = await store.acquireLease("job", "a", 30);
    await new Promise((r) => setTimeout(r, 80));
    const b = await store.acquireLease("job", "b", 10_000);
    expect(b?.fencingToken).toBeGreaterThan(a!.fencingToken);
    expect(await store.renewLease(a!, 1000)).toBeUndefined();
  });

  it("keeps values with optional expiry, as strings", async () => {
    const store = make();
    await store.setValue("sessions", "s1", JSON.stringify({ a: 1 }));
    expect(JSON.parse((await store.getValue("sessions", "s1"))!)).toEqual({ a: 1 });
    await store.setValue("cache", "k", "v", 30);
    await new Promise((r) => setTimeout(r, 80));
    expect(await store.getValue("cache", "k")).toBeUndefined();
    await store.deleteValue("sessions", "s1");
    expect(await store.getValue("sessions", "s1")).toBeUndefined();
  });

  it("returns copies, never shared objects", async () => {
    const store = make();
    const r = run("copy");
    await store.compareAndSetRun(r, -1);
    r.status = "failed";
    const a = await store.getRun("copy");
    expect(a?.status).toBe("queued");
    a!.status = "cancelled";
    expect((await store.getRun("copy"))?.status).toBe("queued");
  });
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
