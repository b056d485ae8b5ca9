import { AriaError } from "@aria/errors";
import {
  CreationRateLimiter,
  DEFAULT_RESOURCES,
  deriveContainerResources,
  ResourceGovernor,
} from "@aria/quilt-client";
import { describe, expect, it } from "vitest";

describe("deriveContainerResources", () => {
  it("takes the tool's request, then the bundle's default, then the runtime's default", () => {
    const r = deriveContainerResources({
      request: { memoryMb: 128 },
      bundleDefaults: { memoryMb: 512, cpus: 0.5 },
      runtimeDefaults: { timeoutMs: 10_000 },
    });
    expect(r).toMatchObject({
      memoryMb: 128,
      cpus: 0.5,
      timeoutMs: 10_000,
      pids: DEFAULT_RESOURCES.pids,
      capped: [],
    });
  });
  it("caps at the runtime's ceilings and says what was capped", () => {
    const r = deriveContainerResources({
      request: { cpus: 16, memoryMb: 100_000 },
      caps: { maxCpus: 2, maxMemoryMb: 1024 },
    });
    expect(r.cpus).toBe(2);
    expect(r.memoryMb).toBe(1024);
    expect(r.capped.sort()).toEqual(["cpus", "memoryMb"]);
  });
  it("fits the timeout and memory into what the run's budget has left", () => {
    const r = deriveContainerResources({
      request: { timeoutMs: 60_000, memoryMb: 512 },
      budget: { remainingMs: 5_000, memoryMb: 300 },
    });
    expect(r.timeoutMs).toBe(5_000);
    expect(r.memoryMb).toBe(300);
  });
  it("refuses when the budget has nothing left", () => {
    expect(() => deriveContainerResources({ budget: { remainingMs: 0 } })).toThrowError(
      /no time left/,
    );
  });
});

describe("ResourceGovernor", () => {
  it("refuses over the global limit when configured to reject", async () => {
    const g = new ResourceGovernor({ maxConcurrent: 1, onLimit: "reject" });
    const lease = await g.acquire({ runId: "a", memoryMb: 64 });
    await expect(g.acquire({ runId: "b", memoryMb: 64 })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
    lease.release();
    (await g.acquire({ runId: "b", memoryMb: 64 })).release();
  });
  it("queues over a limit and grants in order when a slot frees", async () => {
    const g = new ResourceGovernor({ maxConcurrent: 1 });
    const first = await g.acquire({ runId: "a", memoryMb: 64 });
    const order: string[] = [];
    const second = g.acquire({ runId: "b", memoryMb: 64 }).then((l) => {
      order.push("b");
      return l;
    });
    const third = g.acquire({ runId: "c", memoryMb: 64 }).then((l) => {
      order.push("c");
      return l;
    });
    await Promise.resolve();
    expect(g.usage()).toMatchObject({ running: 1, queued: 2 });
    first.release();
    (await second).release();
    (await third).release();
    expect(order).toEqual(["b", "c"]);
    expect(g.usage()).toEqual({ running: 0, memoryMb: 0, queued: 0, runs: 0 });
  });
  it("applies per-run concurrency and memory limits", async () => {
    const g = new ResourceGovernor({
      perRunMaxConcurrent: 1,
      perRunMaxMemoryMb: 512,
      onLimit: "reject",
    });
    const a = await g.acquire({ runId: "r1", memoryMb: 256 });
    await expect(g.acquire({ runId: "r1", memoryMb: 64 })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
    const b = await g.acquire({ runId: "r2", memoryMb: 256 });
    a.release();
    b.release();
  });
  it("applies the global memory limit", async () => {
    const g = new ResourceGovernor({ maxMemoryMb: 300, onLimit: "reject" });
    const a = await g.acquire({ runId: "r1", memoryMb: 200 });
    await expect(g.acquire({ runId: "r2", memoryMb: 200 })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
    a.release();
  });
  it("refuses at once what could never fit, even when queueing", async () => {
    const g = new ResourceGovernor({ maxMemoryMb: 100 });
    await expect(g.acquire({ memoryMb: 200 })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
  });
  it("gives up a queued request on abort and on the queue timeout", async () => {
    const g = new ResourceGovernor({ maxConcurrent: 1, queueTimeoutMs: 20 });
    const held = await g.acquire({ memoryMb: 1 });
    const controller = new AbortController();
    const waiting = g.acquire({ memoryMb: 1 }, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    await expect(g.acquire({ memoryMb: 1 })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
    expect(g.usage().queued).toBe(0);
    held.release();
  });
  it("releasing twice does not free two slots", async () => {
    const g = new ResourceGovernor({ maxConcurrent: 2 });
    const a = await g.acquire({ memoryMb: 1 });
    await g.acquire({ memoryMb: 1 });
    a.release();
    a.release();
    expect(g.usage().running).toBe(1);
  });
});

describe("CreationRateLimiter", () => {
  it("lets a burst through, then holds further creations until tokens refill", async () => {
    let now = 0;
    const limiter = new CreationRateLimiter({ perSecond: 1000, burst: 2, now: () => now });
    await limiter.take();
    await limiter.take();
    let third = false;
    const pending = limiter.take().then(() => {
      third = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(false);
    now += 1;
    await pending;
    expect(third).toBe(true);
  });
  it("rejects a waiting creation on abort", async () => {
    const limiter = new CreationRateLimiter({ perSecond: 0.001, burst: 1, now: () => 0 });
    await limiter.take();
    const controller = new AbortController();
    const pending = limiter.take(controller.signal);
    controller.abort();
    await expect(pending).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
  });
});
