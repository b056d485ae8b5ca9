import { createHash } from "node:crypto";
import type { ContainerMount } from "./backend.ts";
import type { RunnerConnection } from "./runner-client.ts";

/**
 * What a warm container is created with. Everything here is fixed at creation; what is specific to a
 * run (environment, token, input, code to call) only reaches the member at dispatch.
 */
export interface PoolProfile {
  image: string;
  cpus: number;
  memoryMb: number;
  pids: number;
  network: boolean;
  readOnlyRoot: boolean;
  user: string;
  /** Read-only mounts fixed at creation, e.g. one bundle's unpacked folder at /bundle. */
  mounts: ContainerMount[];
}

/** The stable key of a profile: members of one key are interchangeable until they serve a run. */
export function poolKey(profile: PoolProfile): string {
  const canonical = JSON.stringify([
    profile.image,
    profile.cpus,
    profile.memoryMb,
    profile.pids,
    profile.network,
    profile.readOnlyRoot,
    profile.user,
    [...profile.mounts]
      .sort((a, b) => a.target.localeCompare(b.target))
      .map((m) => [m.source, m.target, m.readOnly]),
  ]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/** A pre-started container running the in-container runner. */
export interface PoolMember {
  key: string;
  profile: PoolProfile;
  containerId: string;
  name: string;
  /** Host path of the folder mounted at /run/aria (runner socket; the ICC socket goes here too). */
  socketDir: string;
  connection: RunnerConnection;
  createdAt: number;
  lastUsedAt: number;
  /** Set once the member has served a run: from then on it serves only that run. */
  runId?: string | undefined;
  uses: number;
  state: "idle" | "leased" | "reserved" | "gone";
}

export interface WarmPoolOptions {
  /** Idle members per key at most (default 4). */
  maxIdlePerKey: number;
  /** Members (idle, starting and reserved for a run) across all keys at most (default 16). */
  maxMembers: number;
  /** An idle member above the key's target, or a member reserved for a run, is destroyed after this (default 60 s). */
  idleTimeoutMs: number;
  /** Window over which demand is measured to size each key (default 30 s). */
  demandWindowMs: number;
  /** Members being started at once per key at most (default 3). */
  maxStartingPerKey: number;
  /** Distinct keys kept at most (default 16); the least recently used idle key is dropped. */
  maxKeys: number;
  /** How often idle timeouts and targets are re-evaluated (default 1 s). */
  sweepIntervalMs: number;
}

export const DEFAULT_POOL_OPTIONS: WarmPoolOptions = {
  maxIdlePerKey: 4,
  maxMembers: 16,
  idleTimeoutMs: 60_000,
  demandWindowMs: 30_000,
  maxStartingPerKey: 3,
  maxKeys: 16,
  sweepIntervalMs: 1_000,
};

export interface WarmPoolDeps {
  /** Creates, starts and connects to one member (create/start are Docker calls: never on acquire). */
  createMember(profile: PoolProfile, key: string, signal: AbortSignal): Promise<PoolMember>;
  /** Kills and removes a member's container and its folder. */
  destroyMember(member: PoolMember): Promise<void>;
  onError?(error: unknown, key: string): void;
  now?(): number;
}

interface KeyState {
  key: string;
  profile: PoolProfile;
  idle: PoolMember[];
  starting: number;
  /** Explicitly requested floor (from `warm`). */
  minIdle: number;
  acquires: number[];
  /** EWMA of member start latency, ms. */
  startMs: number;
  failures: number;
  retryAt: number;
  lastDemandAt: number;
}

/** Counters for metrics and the benchmark. */
export interface WarmPoolStats {
  keys: number;
  idle: number;
  starting: number;
  leased: number;
  reserved: number;
  hits: number;
  misses: number;
  created: number;
  destroyed: number;
  deadReplaced: number;
}

/**
 * Warm pool of pre-started runner containers, per profile key. `tryAcquire` is synchronous and makes
 * no backend call: it hands out a member reserved for the same run (same key), else a fresh idle
 * one; refills happen in the background. Each key's idle target follows recent demand (acquire rate ×
 * start latency, within [minIdle, maxIdlePerKey]). A member that served a run is kept only for that
 * run and destroyed when the run ends or it idles out; dead members are dropped and replaced.
 */
export class WarmPool {
  readonly options: WarmPoolOptions;
  readonly #deps: WarmPoolDeps;
  readonly #now: () => number;
  #keys = new Map<string, KeyState>();
  /** runId → members reserved for it. */
  #reserved = new Map<string, Set<PoolMember>>();
  #leased = new Set<PoolMember>();
  #endedRuns = new Set<string>();
  #pending = new Set<Promise<unknown>>();
  #closed = false;
  #sweeper: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  #counters = { hits: 0, misses: 0, created: 0, destroyed: 0, deadReplaced: 0 };

  constructor(deps: WarmPoolDeps, options: Partial<WarmPoolOptions> = {}) {
    this.#deps = deps;
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
    this.#now = deps.now ?? (() => Date.now());
    this.#sweeper = setInterval(() => this.#sweep(), this.options.sweepIntervalMs);
    this.#sweeper.unref();
  }

  stats(): WarmPoolStats {
    let idle = 0;
    let starting = 0;
    for (const k of this.#keys.values()) {
      idle += k.idle.length;
      starting += k.starting;
    }
    let reserved = 0;
    for (const set of this.#reserved.values())
      for (const m of set) if (m.state === "reserved") reserved += 1;
    return {
      keys: this.#keys.size,
      idle,
      starting,
      leased: this.#leased.size,
      reserved,
      ...this.#counters,
    };
  }

  /** Idle members of a profile right now. */
  idleCount(profile: PoolProfile): number {
    return this.#keys.get(poolKey(profile))?.idle.length ?? 0;
  }

  #memberCount(): number {
    const s = this.stats();
    return s.idle + s.starting + s.leased + s.reserved;
  }

  #state(profile: PoolProfile): KeyState {
    const key = poolKey(profile);
    let state = this.#keys.get(key);
    if (!state) {
      state = {
        key,
        profile,
        idle: [],
        starting: 0,
        minIdle: 0,
        acquires: [],
        startMs: 400,
        failures: 0,
        retryAt: 0,
        lastDemandAt: this.#now(),
      };
      this.#keys.set(key, state);
      this.#evictKeys();
    }
    return state;
  }

  #evictKeys(): void {
    if (this.#keys.size <= this.options.maxKeys) return;
    const candidates = [...this.#keys.values()]
      .filter((k) => k.minIdle === 0 && k.starting === 0)
      .sort((a, b) => a.lastDemandAt - b.lastDemandAt);
    while (this.#keys.size > this.options.maxKeys && candidates.length > 0) {
      const victim = candidates.shift()!;
      this.#keys.delete(victim.key);
      for (const member of victim.idle) this.#destroy(member);
      victim.idle = [];
    }
  }

  /** Keeps at least `minIdle` members of this profile ready (e.g. the tool image at start). */
  warm(profile: PoolProfile, minIdle: number): void {
    const state = this.#state(profile);
    state.minIdle = Math.min(minIdle, this.options.maxIdlePerKey);
    this.#refill(state);
  }

  /** The idle target of a key: recent acquire rate × start latency, within its bounds. */
  target(profile: PoolProfile): number {
    return this.#target(this.#state(profile));
  }

  #target(state: KeyState): number {
    const now = this.#now();
    const window = this.options.demandWindowMs;
    state.acquires = state.acquires.filter((t) => now - t <= window);
    let want = 0;
    if (state.acquires.length > 0) {
      const first = state.acquires[0]!;
      const spanMs = Math.max(1_000, Math.min(window, now - first));
      const perMs = state.acquires.length / spanMs;
      want = Math.ceil(perMs * state.startMs * 1.5) + 1;
    }
    return Math.max(state.minIdle, Math.min(this.options.maxIdlePerKey, want));
  }

  /**
   * Hands out a member for `runId` with no backend call, or undefined when none is ready. A member
   * already reserved for this run and key comes first.
   */
  tryAcquire(profile: PoolProfile, runId: string | undefined): PoolMember | undefined {
    if (this.#closed) return undefined;
    const state = this.#state(profile);
    const now = this.#now();
    state.acquires.push(now);
    state.lastDemandAt = now;
    let member: PoolMember | undefined;
    if (runId !== undefined) {
      for (const m of this.#reserved.get(runId) ?? []) {
        if (m.key === state.key && m.state === "reserved" && !m.connection.closed) {
          member = m;
          break;
        }
      }
    }
    if (!member) {
      while (state.idle.length > 0) {
        const candidate = state.idle.shift()!;
        if (!candidate.connection.closed) {
          member = candidate;
          break;
        }
        this.#dropDead(candidate);
      }
    }
    if (member) {
      this.#counters.hits += 1;
      member.state = "leased";
      member.runId = runId ?? member.runId;
      this.#leased.add(member);
    } else {
      this.#counters.misses += 1;
    }
    this.#refill(state);
    return member;
  }

  /**
   * Like `tryAcquire`, but when nothing is ready starts a member for this request (paying the start
   * cost) instead of returning undefined.
   */
  async acquire(
    profile: PoolProfile,
    runId: string | undefined,
    signal?: AbortSignal,
  ): Promise<PoolMember> {
    const ready = this.tryAcquire(profile, runId);
    if (ready) return ready;
    const state = this.#state(profile);
    const started = this.#now();
    const combined = signal ? AbortSignal.any([signal, this.#abort.signal]) : this.#abort.signal;
    const member = await this.#deps.createMember(profile, state.key, combined);
    this.#counters.created += 1;
    state.startMs = state.startMs * 0.7 + (this.#now() - started) * 0.3;
    if (this.#closed) {
      await this.#destroy(member);
      throw new Error("warm pool closed");
    }
    this.#watch(member);
    member.state = "leased";
    member.runId = runId;
    this.#leased.add(member);
    return member;
  }

  /**
   * Gives a member back after a job. `reusable` (the job ended normally) keeps it reserved for the
   * same run; anything else, or a run that has ended, destroys it.
   */
  release(member: PoolMember, options: { reusable: boolean }): void {
    this.#leased.delete(member);
    member.lastUsedAt = this.#now();
    member.uses += 1;
    const runId = member.runId;
    if (
      !options.reusable ||
      runId === undefined ||
      this.#closed ||
      this.#endedRuns.has(runId) ||
      member.connection.closed
    ) {
      this.#destroy(member);
      return;
    }
    member.state = "reserved";
    let set = this.#reserved.get(runId);
    if (!set) {
      set = new Set();
      this.#reserved.set(runId, set);
    }
    set.add(member);
  }

  /** Destroys every member reserved for the run; members still leased are destroyed on release. */
  async releaseRun(runId: string): Promise<void> {
    this.#endedRuns.add(runId);
    if (this.#endedRuns.size > 10_000)
      this.#endedRuns.delete(this.#endedRuns.values().next().value!);
    const set = this.#reserved.get(runId);
    this.#reserved.delete(runId);
    const work: Promise<void>[] = [];
    for (const member of set ?? [])
      if (member.state === "reserved") work.push(this.#destroy(member));
    await Promise.all(work);
  }

  /** Forgets that a run ended (a resumed run may use containers again). */
  reopenRun(runId: string): void {
    this.#endedRuns.delete(runId);
  }

  #watch(member: PoolMember): void {
    member.connection.onClose(() => {
      if (member.state === "idle") {
        const state = this.#keys.get(member.key);
        if (state) {
          state.idle = state.idle.filter((m) => m !== member);
          this.#dropDead(member);
          this.#refill(state);
        }
      } else if (member.state === "reserved") {
        this.#destroy(member);
      }
      // A leased member's job fails with RunnerGoneError; the manager releases it as not reusable.
    });
  }

  #dropDead(member: PoolMember): void {
    this.#counters.deadReplaced += 1;
    this.#destroy(member);
  }

  #destroy(member: PoolMember): Promise<void> {
    if (member.state === "gone") return Promise.resolve();
    member.state = "gone";
    this.#leased.delete(member);
    if (member.runId !== undefined) this.#reserved.get(member.runId)?.delete(member);
    member.connection.close();
    this.#counters.destroyed += 1;
    const task = this.#deps
      .destroyMember(member)
      .catch((error) => this.#deps.onError?.(error, member.key));
    this.#track(task);
    return task;
  }

  #track(task: Promise<unknown>): void {
    this.#pending.add(task);
    void task.finally(() => this.#pending.delete(task));
  }

  #refill(state: KeyState): void {
    if (this.#closed) return;
    const now = this.#now();
    if (now < state.retryAt) return;
    const target = this.#target(state);
    let missing = target - state.idle.length - state.starting;
    while (
      missing > 0 &&
      state.starting < this.options.maxStartingPerKey &&
      this.#memberCount() < this.options.maxMembers
    ) {
      missing -= 1;
      state.starting += 1;
      const started = this.#now();
      const task = this.#deps
        .createMember(state.profile, state.key, this.#abort.signal)
        .then((member) => {
          state.starting -= 1;
          this.#counters.created += 1;
          state.failures = 0;
          state.startMs = state.startMs * 0.7 + (this.#now() - started) * 0.3;
          if (this.#closed || !this.#keys.has(state.key)) {
            this.#destroy(member);
            return;
          }
          member.state = "idle";
          this.#watch(member);
          state.idle.push(member);
          this.#refill(state);
        })
        .catch((error) => {
          state.starting -= 1;
          if (this.#closed) return;
          state.failures += 1;
          state.retryAt = this.#now() + Math.min(30_000, 250 * 2 ** state.failures);
          this.#deps.onError?.(error, state.key);
        });
      this.#track(task);
    }
  }

  #sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const state of [...this.#keys.values()]) {
      const target = this.#target(state);
      // Idle members above the target that have idled out go first (oldest first).
      while (state.idle.length > target) {
        const oldest = state.idle[0]!;
        if (now - oldest.lastUsedAt < this.options.idleTimeoutMs) break;
        state.idle.shift();
        this.#destroy(oldest);
      }
      for (const member of state.idle) if (member.connection.closed) this.#dropDead(member);
      state.idle = state.idle.filter((m) => m.state === "idle");
      if (
        state.idle.length === 0 &&
        state.starting === 0 &&
        target === 0 &&
        now - state.lastDemandAt > this.options.idleTimeoutMs
      ) {
        this.#keys.delete(state.key);
        continue;
      }
      this.#refill(state);
    }
    for (const set of this.#reserved.values()) {
      for (const member of set) {
        if (member.state === "reserved" && now - member.lastUsedAt >= this.options.idleTimeoutMs)
          this.#destroy(member);
      }
    }
  }

  /** Destroys every member and waits for all removals. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort(new Error("warm pool closed"));
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const state of this.#keys.values()) {
      for (const member of state.idle) this.#destroy(member);
      state.idle = [];
    }
    for (const set of this.#reserved.values()) for (const member of set) this.#destroy(member);
    for (const member of [...this.#leased]) this.#destroy(member);
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
