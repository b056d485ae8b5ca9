import type { StateStore } from "@aria/core-types";
import {
  createMemoryRevocationList,
  createStateStoreRevocationList,
  TokenBucketLimiter,
} from "@aria/icc-server";
import { describe, expect, it } from "vitest";

describe("TokenBucketLimiter", () => {
  it("allows a burst, then refills at the sustained rate, per key", () => {
    let t = 0;
    const limiter = new TokenBucketLimiter({ requestsPerSecond: 10, burst: 3, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(limiter.take("a")).toEqual({ ok: true });
      limiter.done("a");
    }
    const refused = limiter.take("a");
    expect(refused).toEqual({ ok: false, reason: "rate", retryAfterMs: 100 });
    expect(limiter.take("b")).toEqual({ ok: true });
    t = 100;
    expect(limiter.take("a")).toEqual({ ok: true });
    limiter.done("a");
    expect(limiter.take("a").ok).toBe(false);
    t = 10_000;
    for (let i = 0; i < 3; i++) expect(limiter.take("a").ok).toBe(true);
  });

  it("caps calls in flight per key", () => {
    const limiter = new TokenBucketLimiter({ maxConcurrent: 2, now: () => 0 });
    expect(limiter.take("k").ok).toBe(true);
    expect(limiter.take("k").ok).toBe(true);
    expect(limiter.take("k")).toMatchObject({ ok: false, reason: "concurrency" });
    limiter.done("k");
    expect(limiter.take("k").ok).toBe(true);
    limiter.forget("k");
    expect(limiter.take("k").ok).toBe(true);
  });
});

/** A state store's key-value part in memory, with TTLs on a controllable clock. */
function fakeStore(now: () => number) {
  const values = new Map<string, { value: string; expiresAt: number }>();
  const calls = { get: 0, set: 0 };
  const store: Pick<StateStore, "getValue" | "setValue"> = {
    async getValue(namespace, key) {
      calls.get += 1;
      const entry = values.get(`${namespace}:${key}`);
      return entry && entry.expiresAt > now() ? entry.value : undefined;
    },
    async setValue(namespace, key, value, ttlMs) {
      calls.set += 1;
      values.set(`${namespace}:${key}`, { value, expiresAt: now() + (ttlMs ?? Infinity) });
    },
  };
  return { store, values, calls };
}

describe("revocation lists", () => {
  it("remembers revoked ids in memory until their token expires", async () => {
    let t = 0;
    const list = createMemoryRevocationList({ now: () => t });
    await list.revoke("j1", 100);
    await list.revoke("j-expired", 0);
    expect(list.isRevoked("j1")).toBe(true);
    expect(list.isRevoked("j-expired")).toBe(false);
    expect(list.isRevoked("j2")).toBe(false);
    t = 20_000;
    await list.revoke("j3", 30_000); // sweeps expired entries
    expect(list.size()).toBe(1);
  });

  it("shares revocations across replicas through the state store, with TTL = remaining lifetime", async () => {
    let t = 1_000;
    const { store, values, calls } = fakeStore(() => t);
    const replicaA = createStateStoreRevocationList(store, { cacheMs: 0, now: () => t });
    const replicaB = createStateStoreRevocationList(store, { cacheMs: 0, now: () => t });
    expect(await replicaB.isRevoked("jti-1")).toBe(false);
    await replicaA.revoke("jti-1", 61_000);
    expect(values.get("icc-revoked:jti-1")).toEqual({ value: "1", expiresAt: 61_000 });
    expect(replicaA.isRevoked("jti-1")).toBe(true); // local, no store read
    expect(await replicaB.isRevoked("jti-1")).toBe(true);
    t = 61_000;
    expect(await replicaB.isRevoked("jti-1")).toBe(false); // expired with its token
    expect(calls.set).toBe(1);
  });

  it("reuses a 'not revoked' answer for cacheMs, and sees its own revocations at once", async () => {
    let t = 0;
    const { store, calls } = fakeStore(() => t);
    const replicaA = createStateStoreRevocationList(store, { cacheMs: 1000, now: () => t });
    const replicaB = createStateStoreRevocationList(store, { cacheMs: 1000, now: () => t });
    expect(await replicaA.isRevoked("j")).toBe(false);
    expect(replicaA.isRevoked("j")).toBe(false); // cached: answered synchronously
    expect(calls.get).toBe(1);
    await replicaB.revoke("j", 100_000);
    expect(replicaA.isRevoked("j")).toBe(false); // within the window
    t = 1001;
    expect(await replicaA.isRevoked("j")).toBe(true);
    expect(replicaB.isRevoked("j")).toBe(true);
  });
});
