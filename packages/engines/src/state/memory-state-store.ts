import {
  type Clock,
  type Lease,
  type RunEvent,
  type RunState,
  RunStateSchema,
  type StateStore,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

/** The lease key that guards writes to a run (checkpoints and run records are fenced against it). */
export function runLeaseKey(runId: string): string {
  return RUN_LEASE_PREFIX + runId;
}

const RUN_LEASE_PREFIX = "run:";

/** Options of the {@link MemoryStateStore}. */
export interface MemoryStateStoreOptions {
  /** Time source for lease and value expiry (tests pass a fake one). */
  clock?: Clock;
}

interface StoredRun {
  json: string;
  version: number;
  status: string;
  createdAt: string;
}

interface StoredLease {
  owner: string;
  token: number;
  expiresAt: number;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * A StateStore in process memory that behaves like one in Redis: every value crosses it as
 * serialised JSON text (never a shared object), runs are written by compare-and-set on their
 * version, leases carry fencing tokens that grow with every new holder and expire, and event logs
 * and checkpoint lists are append-only.
 *
 * Fencing: when a write to a run (compareAndSetRun, appendCheckpoint) carries a fencing token, it is
 * refused with RUN_CONFLICT if the run's lease (`run:<runId>`) has since been granted with a higher
 * token, so a stalled former holder cannot overwrite the new holder's progress.
 */
export class MemoryStateStore implements StateStore {
  private readonly clock: Clock;
  private readonly runs = new Map<string, StoredRun>();
  private readonly events = new Map<string, string[]>();
  private readonly checkpoints = new Map<string, string[]>();
  private readonly leases = new Map<string, StoredLease>();
  /** Last token granted per key; never reset, so tokens only grow. */
  private readonly tokens = new Map<string, number>();
  /** The same tokens for run leases, by run id (the fence check runs on every checkpoint). */
  private readonly runTokens = new Map<string, number>();
  private readonly values = new Map<string, { value: string; expiresAt: number | undefined }>();
  private closed = false;

  constructor(options: MemoryStateStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async getRun(runId: string): Promise<RunState | undefined> {
    this.open();
    const stored = this.runs.get(runId);
    return stored === undefined ? undefined : RunStateSchema.parse(JSON.parse(stored.json));
  }

  /**
   * Writes `run` if the stored version equals `expectedVersion` (-1: the run must not exist yet).
   * The stored copy gets version `expectedVersion + 1`, whatever `run.version` said.
   */
  async compareAndSetRun(
    run: RunState,
    expectedVersion: number,
    fencingToken?: number,
  ): Promise<boolean> {
    this.open();
    this.checkFence(run.id, fencingToken);
    const current = this.runs.get(run.id);
    const currentVersion = current === undefined ? -1 : current.version;
    if (currentVersion !== expectedVersion) return false;
    const version = expectedVersion + 1;
    this.runs.set(run.id, {
      json: JSON.stringify({ ...run, version }),
      version,
      status: run.status,
      createdAt: run.createdAt,
    });
    return true;
  }

  async listRuns(options: { limit?: number; status?: string } = {}): Promise<RunState[]> {
    this.open();
    const selected = [...this.runs.values()]
      .filter((run) => options.status === undefined || run.status === options.status)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, options.limit ?? 100);
    return selected.map((run) => RunStateSchema.parse(JSON.parse(run.json)));
  }

  /** Appends an event; sequence numbers start at 1 per run (so `afterSeq = 0` reads everything). */
  async appendEvent(runId: string, event: Omit<RunEvent, "seq">): Promise<number> {
    this.open();
    let lines = this.events.get(runId);
    if (lines === undefined) {
      lines = [];
      this.events.set(runId, lines);
    }
    const seq = lines.length + 1;
    // One flat string per event (RunEvent's fields are fixed; `runId` and `seq` are the store's).
    lines.push(
      JSON.stringify({
        runId,
        seq,
        type: event.type,
        at: event.at,
        stepId: event.stepId,
        data: event.data ?? {},
      }),
    );
    return seq;
  }

  async readEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    this.open();
    const lines = this.events.get(runId) ?? [];
    const out: RunEvent[] = [];
    for (let i = Math.max(0, afterSeq); i < lines.length; i++)
      out.push(JSON.parse(lines[i]!) as RunEvent);
    return out;
  }

  async appendCheckpoint(runId: string, record: unknown, fencingToken?: number): Promise<void> {
    this.open();
    this.checkFence(runId, fencingToken);
    const json = JSON.stringify(record);
    if (json === undefined)
      throw new AriaError("VALIDATION_FAILED", { message: "a checkpoint record must be JSON" });
    let list = this.checkpoints.get(runId);
    if (list === undefined) {
      list = [];
      this.checkpoints.set(runId, list);
    }
    list.push(json);
  }

  async readCheckpoints(runId: string): Promise<unknown[]> {
    this.open();
    return (this.checkpoints.get(runId) ?? []).map((json) => JSON.parse(json) as unknown);
  }

  /** Grants the lease when it is free or expired (a new holder always gets a higher token). */
  async acquireLease(key: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    this.open();
    const now = this.clock.now();
    const current = this.leases.get(key);
    if (current !== undefined && current.expiresAt > now && current.owner !== owner)
      return undefined;
    if (current !== undefined && current.expiresAt > now && current.owner === owner) {
      // Re-acquiring one's own live lease extends it and keeps the token.
      current.expiresAt = now + ttlMs;
      return { key, owner, fencingToken: current.token, expiresAt: current.expiresAt };
    }
    const token = (this.tokens.get(key) ?? 0) + 1;
    this.tokens.set(key, token);
    if (key.startsWith(RUN_LEASE_PREFIX))
      this.runTokens.set(key.slice(RUN_LEASE_PREFIX.length), token);
    const lease: StoredLease = { owner, token, expiresAt: now + ttlMs };
    this.leases.set(key, lease);
    return { key, owner, fencingToken: token, expiresAt: lease.expiresAt };
  }

  /** Extends a lease still held (same owner and token, not expired); undefined when it was lost. */
  async renewLease(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    this.open();
    const now = this.clock.now();
    const current = this.leases.get(lease.key);
    if (
      current === undefined ||
      current.token !== lease.fencingToken ||
      current.owner !== lease.owner
    )
      return undefined;
    if (current.expiresAt <= now) return undefined;
    current.expiresAt = now + ttlMs;
    return { ...lease, expiresAt: current.expiresAt };
  }

  async releaseLease(lease: Lease): Promise<void> {
    this.open();
    const current = this.leases.get(lease.key);
    if (
      current !== undefined &&
      current.token === lease.fencingToken &&
      current.owner === lease.owner
    ) {
      this.leases.delete(lease.key);
    }
  }

  async getValue(namespace: string, key: string): Promise<string | undefined> {
    this.open();
    const id = `${namespace}\u0000${key}`;
    const entry = this.values.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.clock.now()) {
      this.values.delete(id);
      return undefined;
    }
    return entry.value;
  }

  async setValue(namespace: string, key: string, value: string, ttlMs?: number): Promise<void> {
    this.open();
    if (typeof value !== "string")
      throw new AriaError("VALIDATION_FAILED", { message: "values are strings (serialise first)" });
    this.values.set(`${namespace}\u0000${key}`, {
      value,
      expiresAt: ttlMs === undefined ? undefined : this.clock.now() + ttlMs,
    });
  }

  async deleteValue(namespace: string, key: string): Promise<void> {
    this.open();
    this.values.delete(`${namespace}\u0000${key}`);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed)
      throw new AriaError("STORE_UNAVAILABLE", { message: "the in-memory state store is closed" });
  }

  private checkFence(runId: string, fencingToken: number | undefined): void {
    if (fencingToken === undefined) return;
    const latest = this.runTokens.get(runId) ?? 0;
    if (fencingToken < latest) {
      throw new AriaError("RUN_CONFLICT", {
        message: `Write to run ${runId} refused: fencing token ${fencingToken} is older than ${latest} (another worker took the run over)`,
        details: { runId, fence: fencingToken, latestFence: latest },
      });
    }
  }
}
