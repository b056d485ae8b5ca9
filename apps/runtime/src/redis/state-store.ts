import {
  type Lease,
  type RunEvent,
  type RunState,
  RunStateSchema,
  type StateStore,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { Redis } from "ioredis";
import { guarded } from "./connection.ts";

const CAS_RUN = `
if ARGV[4] ~= '' then
  local latest = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tonumber(ARGV[4]) < latest then return {-2, latest} end
end
local v = redis.call('HGET', KEYS[1], 'version')
local current = -1
if v then current = tonumber(v) end
if current ~= tonumber(ARGV[1]) then return {0, current} end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', tonumber(ARGV[1]) + 1, 'status', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
return {1, tonumber(ARGV[1]) + 1}
`;

const APPEND_CHECKPOINT = `
if ARGV[2] ~= '' then
  local latest = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tonumber(ARGV[2]) < latest then return {-2, latest} end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return {1, 0}
`;

const ACQUIRE = `
local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
if cur[1] then
  if cur[1] ~= ARGV[1] then return nil end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(cur[2])
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
`;

const RENEW = `
local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
if cur[1] == ARGV[1] and tonumber(cur[2]) == tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`;

const RELEASE = `
local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
if cur[1] == ARGV[1] and tonumber(cur[2]) == tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** The lease key that guards a run (the same as the engines' `runLeaseKey`). */
const runLeaseKey = (runId: string) => `run:${runId}`;

/**
 * The StateStore in Redis, with the exact semantics of the engines' MemoryStateStore (a shared test
 * suite runs against both): runs written by compare-and-set on their version (atomic Lua), leases
 * with fencing tokens that only grow, writes fenced against the run's lease, append-only event logs
 * (RPUSH: the list length is the sequence number) and checkpoint lists, values with TTL. Every
 * failure to reach Redis is STORE_UNAVAILABLE; nothing is acknowledged before Redis has it.
 */
export class RedisStateStore implements StateStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(deps: { redis: Redis; prefix?: string }) {
    this.redis = deps.redis;
    this.prefix = deps.prefix ?? "aria:";
  }

  private k(...parts: string[]): string {
    return `${this.prefix}${parts.join(":")}`;
  }

  async getRun(runId: string): Promise<RunState | undefined> {
    const json = await guarded("getRun", () => this.redis.hget(this.k("run", runId), "json"));
    return json ? RunStateSchema.parse(JSON.parse(json)) : undefined;
  }

  async compareAndSetRun(
    run: RunState,
    expectedVersion: number,
    fencingToken?: number,
  ): Promise<boolean> {
    const json = JSON.stringify({ ...run, version: expectedVersion + 1 });
    const score = Date.parse(run.createdAt) || Date.now();
    const [result, latest] = (await guarded("compareAndSetRun", () =>
      this.redis.eval(
        CAS_RUN,
        3,
        this.k("run", run.id),
        this.k("fence", runLeaseKey(run.id)),
        this.k("runs"),
        expectedVersion,
        json,
        run.status,
        fencingToken ?? "",
        score,
        run.id,
      ),
    )) as [number, number];
    if (result === -2) throw fenced(run.id, fencingToken!, latest);
    return result === 1;
  }

  async listRuns(options: { limit?: number; status?: string } = {}): Promise<RunState[]> {
    const limit = options.limit ?? 100;
    const out: RunState[] = [];
    let offset = 0;
    while (out.length < limit) {
      const ids = await guarded("listRuns", () =>
        this.redis.zrevrange(this.k("runs"), offset, offset + 199),
      );
      if (ids.length === 0) break;
      offset += ids.length;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hmget(this.k("run", id), "json", "status");
      const rows = (await guarded("listRuns", () => pipeline.exec())) ?? [];
      for (const [error, value] of rows) {
        if (error)
          throw new AriaError("STORE_UNAVAILABLE", { message: error.message, cause: error });
        const [json, status] = value as [string | null, string | null];
        if (!json || (options.status !== undefined && status !== options.status)) continue;
        out.push(RunStateSchema.parse(JSON.parse(json)));
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  async appendEvent(runId: string, event: Omit<RunEvent, "seq">): Promise<number> {
    const { seq: _ignored, ...rest } = event as RunEvent;
    return guarded("appendEvent", () =>
      this.redis.rpush(this.k("events", runId), JSON.stringify({ ...rest, runId })),
    );
  }

  async readEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    const rows = await guarded("readEvents", () =>
      this.redis.lrange(this.k("events", runId), Math.max(0, afterSeq), -1),
    );
    return rows.map(
      (json, i) =>
        ({
          ...(JSON.parse(json) as Omit<RunEvent, "seq">),
          seq: Math.max(0, afterSeq) + i + 1,
        }) as RunEvent,
    );
  }

  async appendCheckpoint(runId: string, record: unknown, fencingToken?: number): Promise<void> {
    const json = JSON.stringify(record);
    if (json === undefined)
      throw new AriaError("VALIDATION_FAILED", { message: "a checkpoint record must be JSON" });
    const [result, latest] = (await guarded("appendCheckpoint", () =>
      this.redis.eval(
        APPEND_CHECKPOINT,
        2,
        this.k("checkpoints", runId),
        this.k("fence", runLeaseKey(runId)),
        json,
        fencingToken ?? "",
      ),
    )) as [number, number];
    if (result === -2) throw fenced(runId, fencingToken!, latest);
  }

  async readCheckpoints(runId: string): Promise<unknown[]> {
    const rows = await guarded("readCheckpoints", () =>
      this.redis.lrange(this.k("checkpoints", runId), 0, -1),
    );
    return rows.map((json) => JSON.parse(json) as unknown);
  }

  async acquireLease(key: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    const token = (await guarded("acquireLease", () =>
      this.redis.eval(
        ACQUIRE,
        2,
        this.k("lease", key),
        this.k("fence", key),
        owner,
        Math.max(1, Math.round(ttlMs)),
      ),
    )) as number | null;
    if (token === null || token === undefined) return undefined;
    return { key, owner, fencingToken: Number(token), expiresAt: Date.now() + ttlMs };
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    const ok = (await guarded("renewLease", () =>
      this.redis.eval(
        RENEW,
        1,
        this.k("lease", lease.key),
        lease.owner,
        lease.fencingToken,
        Math.max(1, Math.round(ttlMs)),
      ),
    )) as number;
    return ok === 1 ? { ...lease, expiresAt: Date.now() + ttlMs } : undefined;
  }

  async releaseLease(lease: Lease): Promise<void> {
    await guarded("releaseLease", () =>
      this.redis.eval(RELEASE, 1, this.k("lease", lease.key), lease.owner, lease.fencingToken),
    );
  }

  async getValue(namespace: string, key: string): Promise<string | undefined> {
    const value = await guarded("getValue", () => this.redis.get(this.k("kv", namespace, key)));
    return value ?? undefined;
  }

  async setValue(namespace: string, key: string, value: string, ttlMs?: number): Promise<void> {
    if (typeof value !== "string")
      throw new AriaError("VALIDATION_FAILED", { message: "values are strings (serialise first)" });
    await guarded("setValue", () =>
      ttlMs === undefined
        ? this.redis.set(this.k("kv", namespace, key), value)
        : this.redis.set(this.k("kv", namespace, key), value, "PX", Math.max(1, Math.round(ttlMs))),
    );
  }

  async deleteValue(namespace: string, key: string): Promise<void> {
    await guarded("deleteValue", () => this.redis.del(this.k("kv", namespace, key)));
  }

  /** The connection belongs to the composition root, which closes it. */
  async close(): Promise<void> {}
}

function fenced(runId: string, fencingToken: number, latest: number): AriaError {
  return new AriaError("RUN_CONFLICT", {
    message: `Write to run ${runId} refused: fencing token ${fencingToken} is older than ${latest} (another worker took the run over)`,
    details: { runId, fencingToken, latestToken: latest },
  });
}
