import { MemoryStateStore } from "@aria/engines";
import { describeStateStoreContract } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./helpers.ts";

// The shared StateStore contract (the runtime's RedisStateStore runs the same suite); time passes
// on a fake clock, shared by every store (each test makes its own).
const contractClock = new FakeClock();
describeStateStoreContract("MemoryStateStore", {
  make: async () => new MemoryStateStore({ clock: contractClock }),
  advance: async (ms) => contractClock.advance(ms),
});

describe("MemoryStateStore", () => {
  it("expires leases and values exactly at now + ttl on its clock", async () => {
    const clock = new FakeClock(1000);
    const store = new MemoryStateStore({ clock });
    const a = await store.acquireLease("k", "A", 100);
    expect(a).toEqual({ key: "k", owner: "A", fencingToken: 1, expiresAt: 1100 });
    clock.advance(50);
    expect(await store.acquireLease("k", "A", 100)).toMatchObject({
      fencingToken: 1,
      expiresAt: 1150,
    });
    const renewed = await store.renewLease(a!, 100);
    expect(renewed).toMatchObject({ fencingToken: 1, expiresAt: 1150 });
    clock.advance(99);
    expect(await store.acquireLease("k", "B", 100)).toBeUndefined();
    clock.advance(1);
    expect(await store.renewLease(a!, 100)).toBeUndefined();
    expect(await store.acquireLease("k", "B", 100)).toEqual({
      key: "k",
      owner: "B",
      fencingToken: 2,
      expiresAt: 1250,
    });

    await store.setValue("ns", "b", "2", 100);
    clock.advance(99);
    expect(await store.getValue("ns", "b")).toBe("2");
    clock.advance(1);
    expect(await store.getValue("ns", "b")).toBeUndefined();
  });

  it("refuses everything once closed", async () => {
    const store = new MemoryStateStore();
    await store.close();
    await expect(store.getRun("r")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
  });
});
