import { ExecutionMetricsSchema, type RunState, type StateStore } from "@aria/core-types";
import { describe, expect, it } from "vitest";

/** How the {@link describeStateStoreContract} suite gets a store and lets time pass. */
export interface StateStoreContractOptions {
  /** A new, empty store (every test makes its own). */
  make: () => Promise<StateStore>;
  /**
   * Lets `ms` milliseconds pass for the store made last: a fake clock moves, or a real store
   * sleeps. The suite lets time pass only to get past short TTLs (30 ms, advancing 80 ms);
   * everything it expects to stay alive gets a long one (10 s).
   */
  advance: (ms: number) => Promise<void>;
}

/** The TTL the suite gives leases and values it lets expire (short, so real stores sleep little). */
const SHORT_TTL_MS = 30;
/** How far the suite advances time to be past the short TTL. */
const PAST_SHORT_TTL_MS = 80;
/** The TTL of leases the suite expects to stay held for the whole test. */
const LONG_TTL_MS = 10_000;

/** The lease that guards writes to a run: the StateStore contract fences them against `run:<id>`. */
const runLease = (runId: string) => `run:${runId}`;

function run(id: string, extra: Partial<RunState> = {}): RunState {
  return {
    id,
    status: "queued",
    target: { kind: "pipeline", name: "p" },
    options: {},
    steps: [],
    metrics: ExecutionMetricsSchema.parse({}),
    cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    version: 0,
    ...extra,
  };
}

/**
 * The shared `StateStore` contract (core-types interfaces.ts) as a vitest suite, so every
 * implementation (the engines' MemoryStateStore, the runtime's RedisStateStore) is held to the same
 * semantics: runs written by compare-and-set on their version, listing newest first by status,
 * append-only event logs with sequence numbers from 1, leases with growing fencing tokens that
 * expire, renew and release, writes to a run fenced against its lease, values with optional expiry,
 * and copies instead of shared objects. Implementation-specific behaviour (closing, exact clock
 * arithmetic, durability, an unreachable backend) stays in each implementation's own tests.
 */
export function describeStateStoreContract(name: string, options: StateStoreContractOptions): void {
  const { make, advance } = options;

  describe(`${name} (StateStore contract)`, () => {
    it("creates a run only once and advances it by compare-and-set on its version", async () => {
      const store = await make();
      expect(await store.compareAndSetRun(run("r1"), -1)).toBe(true);
      expect(await store.compareAndSetRun(run("r1"), -1)).toBe(false);
      const stored = await store.getRun("r1");
      expect(stored?.version).toBe(0);
      // A wrong expected version is refused.
      expect(await store.compareAndSetRun({ ...stored!, status: "running" }, 1)).toBe(false);
      // The stored version is expectedVersion + 1, whatever the record's own `version` says.
      expect(await store.compareAndSetRun({ ...stored!, status: "running", version: 77 }, 0)).toBe(
        true,
      );
      // A writer that read version 0 lost the race.
      expect(await store.compareAndSetRun({ ...stored!, status: "failed" }, 0)).toBe(false);
      expect((await store.getRun("r1"))?.status).toBe("running");
      expect((await store.getRun("r1"))?.version).toBe(1);
      expect(await store.getRun("r1")).toMatchObject({ status: "running", version: 1 });
      expect(await store.getRun("missing")).toBeUndefined();
    });

    it("lists runs newest first (by createdAt, not write order), by status and with a limit", async () => {
      const store = await make();
      await store.compareAndSetRun(
        run("a", { createdAt: "2026-01-01T00:00:00.000Z", status: "succeeded" }),
        -1,
      );
      await store.compareAndSetRun(
        run("c", { createdAt: "2026-01-03T00:00:00.000Z", status: "succeeded" }),
        -1,
      );
      await store.compareAndSetRun(
        run("b", { createdAt: "2026-01-02T00:00:00.000Z", status: "failed" }),
        -1,
      );
      expect((await store.listRuns()).map((r) => r.id)).toEqual(["c", "b", "a"]);
      expect((await store.listRuns({ status: "succeeded" })).map((r) => r.id)).toEqual(["c", "a"]);
      expect((await store.listRuns({ status: "failed" })).map((r) => r.id)).toEqual(["b"]);
      expect((await store.listRuns({ limit: 1 })).map((r) => r.id)).toEqual(["c"]);
      expect((await store.listRuns({ status: "succeeded", limit: 1 })).map((r) => r.id)).toEqual([
        "c",
      ]);
    });

    it("keeps append-only event logs per run with sequence numbers from 1, read after a sequence", async () => {
      const store = await make();
      const at = "2026-01-01T00:00:00.000Z";
      expect(await store.appendEvent("r", { runId: "r", type: "run.started", at, data: {} })).toBe(
        1,
      );
      // The log's run id wins over the event's.
      expect(
        await store.appendEvent("r", {
          runId: "other",
          type: "step.started",
          at,
          stepId: "s1",
          data: { n: 1 },
        }),
      ).toBe(2);
      // Every run has its own log.
      expect(await store.appendEvent("q", { runId: "q", type: "run.started", at, data: {} })).toBe(
        1,
      );
      expect(
        await store.appendEvent("r", { runId: "r", type: "run.completed", at, data: {} }),
      ).toBe(3);
      const events = await store.readEvents("r");
      expect(events.map((e) => [e.seq, e.type])).toEqual([
        [1, "run.started"],
        [2, "step.started"],
        [3, "run.completed"],
      ]);
      expect(events).toEqual([
        { runId: "r", seq: 1, type: "run.started", at, data: {} },
        { runId: "r", seq: 2, type: "step.started", at, stepId: "s1", data: { n: 1 } },
        { runId: "r", seq: 3, type: "run.completed", at, data: {} },
      ]);
      const after = await store.readEvents("r", 1);
      expect(after.map((e) => e.seq)).toEqual([2, 3]);
      expect(after[0]).toMatchObject({ runId: "r", stepId: "s1", data: { n: 1 } });
      expect(after).toEqual(events.slice(1));
      expect(await store.readEvents("q")).toEqual([
        { runId: "q", seq: 1, type: "run.started", at, data: {} },
      ]);
      expect(await store.readEvents("none")).toEqual([]);
    });

    it("grants leases with growing fencing tokens; they renew, expire and release", async () => {
      const store = await make();
      const a = await store.acquireLease("k", "A", LONG_TTL_MS);
      expect(a).toMatchObject({ key: "k", owner: "A", fencingToken: 1 });
      expect(await store.acquireLease("k", "B", LONG_TTL_MS)).toBeUndefined();
      // Re-acquiring one's own live lease extends it and keeps the token.
      await advance(SHORT_TTL_MS);
      const again = await store.acquireLease("k", "A", LONG_TTL_MS);
      expect(again?.fencingToken).toBe(1);
      expect(again!.expiresAt).toBeGreaterThan(a!.expiresAt);
      // Renewing sets the expiry from now, with the new TTL.
      const renewed = await store.renewLease(a!, SHORT_TTL_MS);
      expect(renewed).toMatchObject({ key: "k", owner: "A", fencingToken: 1 });
      expect(renewed!.expiresAt).toBeLessThan(again!.expiresAt);
      await advance(PAST_SHORT_TTL_MS);
      // Expired: it cannot be renewed, and another owner takes it with a higher token.
      expect(await store.renewLease(a!, 1000)).toBeUndefined();
      const b = await store.acquireLease("k", "B", LONG_TTL_MS);
      expect(b?.fencingToken).toBe(2);
      expect(b?.fencingToken).toBeGreaterThan(a!.fencingToken);
      // A stale holder can neither renew nor release the new lease.
      expect(await store.renewLease(a!, LONG_TTL_MS)).toBeUndefined();
      await store.releaseLease(a!);
      expect(await store.acquireLease("k", "C", LONG_TTL_MS)).toBeUndefined();
      await store.releaseLease(b!);
      expect((await store.acquireLease("k", "C", LONG_TTL_MS))?.fencingToken).toBe(3);
    });

    it("fences writes to a run against the run's lease: a stale holder's writes are refused", async () => {
      const store = await make();
      // Taken over after a release.
      await store.compareAndSetRun(run("f1"), -1);
      const first = await store.acquireLease(runLease("f1"), "worker-a", LONG_TTL_MS);
      expect(first?.fencingToken).toBe(1);
      expect(await store.acquireLease(runLease("f1"), "worker-b", LONG_TTL_MS)).toBeUndefined();
      // the same owner re-acquiring keeps its token
      expect(
        (await store.acquireLease(runLease("f1"), "worker-a", LONG_TTL_MS))?.fencingToken,
      ).toBe(1);
      await store.appendCheckpoint("f1", { n: 1 }, first!.fencingToken);
      expect(await store.renewLease(first!, LONG_TTL_MS)).toBeDefined();
      await store.releaseLease(first!);
      const second = await store.acquireLease(runLease("f1"), "worker-b", LONG_TTL_MS);
      expect(second?.fencingToken).toBe(2);
      expect(await store.renewLease(first!, LONG_TTL_MS)).toBeUndefined();
      // the stalled first holder wakes up: its writes are refused
      await expect(
        store.appendCheckpoint("f1", { n: 2 }, first!.fencingToken),
      ).rejects.toMatchObject({ code: "RUN_CONFLICT" });
      const current = await store.getRun("f1");
      await expect(
        store.compareAndSetRun(
          { ...current!, status: "failed" },
          current!.version,
          first!.fencingToken,
        ),
      ).rejects.toMatchObject({ code: "RUN_CONFLICT" });
      await store.appendCheckpoint("f1", { n: 3 }, second!.fencingToken);
      expect(await store.readCheckpoints("f1")).toEqual([{ n: 1 }, { n: 3 }]);

      // Taken over after the lease expired (taken before the run existed).
      const stale = await store.acquireLease(runLease("f2"), "A", SHORT_TTL_MS);
      await store.compareAndSetRun(run("f2"), -1, stale!.fencingToken);
      await advance(PAST_SHORT_TTL_MS);
      const fresh = await store.acquireLease(runLease("f2"), "B", LONG_TTL_MS);
      await expect(store.compareAndSetRun(run("f2"), 0, stale!.fencingToken)).rejects.toMatchObject(
        { code: "RUN_CONFLICT" },
      );
      await expect(store.appendCheckpoint("f2", {}, stale!.fencingToken)).rejects.toMatchObject({
        code: "RUN_CONFLICT",
      });
      expect(await store.compareAndSetRun(run("f2"), 0, fresh!.fencingToken)).toBe(true);
    });

    it("keeps values as strings per namespace, with an optional expiry", async () => {
      const store = await make();
      await store.setValue("sessions", "s1", JSON.stringify({ a: 1 }));
      await store.setValue("ns", "a", "1");
      await store.setValue("other", "a", "x");
      await store.setValue("cache", "k", "v", SHORT_TTL_MS);
      expect(JSON.parse((await store.getValue("sessions", "s1"))!)).toEqual({ a: 1 });
      expect(await store.getValue("ns", "a")).toBe("1");
      expect(await store.getValue("other", "a")).toBe("x");
      await advance(PAST_SHORT_TTL_MS);
      expect(await store.getValue("cache", "k")).toBeUndefined();
      await store.deleteValue("sessions", "s1");
      expect(await store.getValue("sessions", "s1")).toBeUndefined();
      await store.deleteValue("ns", "a");
      expect(await store.getValue("ns", "a")).toBeUndefined();
      expect(await store.getValue("other", "a")).toBe("x");
    });

    it("keeps serialised copies: neither the written nor the read object is shared", async () => {
      const store = await make();
      const written = run("copy", { input: { list: [1] } });
      await store.compareAndSetRun(written, -1);
      written.status = "failed";
      (written.input as { list: number[] }).list.push(2);
      const read = await store.getRun("copy");
      expect(read?.status).toBe("queued");
      expect(read?.input).toEqual({ list: [1] });
      read!.status = "cancelled";
      (read!.input as { list: number[] }).list.push(3);
      expect((await store.getRun("copy"))?.status).toBe("queued");
      expect((await store.getRun("copy"))?.input).toEqual({ list: [1] });

      const record = { schemaVersion: 2, kind: "memory.set", at: "t", key: "k", value: { a: 1 } };
      await store.appendCheckpoint("copy", record);
      record.value.a = 2;
      const [stored] = (await store.readCheckpoints("copy")) as Array<typeof record>;
      expect(stored!.value).toEqual({ a: 1 });
      expect(stored).not.toBe(record);
    });
  });
}
