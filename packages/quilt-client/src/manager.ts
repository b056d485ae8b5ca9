import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type {
  ContainerManager,
  ContainerResult,
  ContainerSpec,
  ContainerSpecInput,
  Logger,
  ResourceRequest,
} from "@aria/core-types";
import { AriaError, containerError } from "@aria/errors";
import type { ContainerAuditEntry, DispatchGrant, DispatchInfo } from "./audit.ts";
import type { ContainerBackend, ContainerStatsSample } from "./backend.ts";
import {
  CreationRateLimiter,
  type GovernorUsage,
  ResourceGovernor,
  type ResourceLease,
  type ResourceLimits,
} from "./governor.ts";
import {
  BUNDLE_TARGET,
  parseContainerSpec,
  parseUser,
  type Relaxation,
  resolveContainerConfig,
  SOCKET_DIR_TARGET,
} from "./hardening.ts";
import { containerLabels, LABELS } from "./labels.ts";
import { deriveContainerResources, type ResourceCaps, type ResourceProfile } from "./resources.ts";
import {
  RUNNER_SOCKET_NAME,
  RunnerConnection,
  type RunnerExecReply,
  type RunnerFailureReply,
  RunnerGoneError,
  type RunnerStats,
  type RunnerToolReply,
} from "./runner-client.ts";
import { createSocketDir, removeSocketDir } from "./socket-dir.ts";
import {
  type PoolMember,
  type PoolProfile,
  WarmPool,
  type WarmPoolOptions,
  type WarmPoolStats,
} from "./warm-pool.ts";

/** The default tool-runner image (built by deploy/tool-runner/build-local.sh). */
export const DEFAULT_TOOL_IMAGE = "aria-tool-runner:latest";
/** How the tool-runner image starts its runner. */
export const DEFAULT_RUNNER_COMMAND = ["node", "/opt/aria/runner.mjs"];

/** Warm-pool settings of the manager. */
export interface ManagerPoolOptions extends Partial<WarmPoolOptions> {
  /** Off: nothing is pre-started and `run` always goes cold (tools still use runner containers). */
  enabled?: boolean;
  /** Images whose containers can run the in-container runner (default: the tool image). */
  images?: string[];
  /** Added to a warm member's memory limit for the runner itself (default 48 MiB). */
  runnerOverheadMb?: number;
  /** Added to a warm member's PID limit for the runner's threads (default 16). */
  runnerOverheadPids?: number;
  /** Profiles to keep warm from `start()` on. */
  warm?: Array<{
    spec?: Partial<Pick<ContainerSpec, "image" | "cpus" | "memoryMb" | "pids" | "user">>;
    minIdle: number;
  }>;
}

export interface ContainerManagerOptions {
  backend: ContainerBackend;
  /** This runtime instance's id (the key of its heartbeat lease); labelled on every container. */
  instanceId: string;
  /**
   * Host folder for the per-container socket folders (mounted at /run/aria). It must be on the
   * Docker host, and short: a Unix socket path has at most 107 bytes. Default: $TMPDIR/aria-q-<hash>.
   */
  stateDir?: string;
  toolImage?: string;
  runnerCommand?: string[];
  /** Runtime defaults and ceilings for container resources. */
  defaults?: Partial<ResourceProfile>;
  caps?: Partial<ResourceCaps>;
  limits?: Partial<ResourceLimits>;
  /** Container creations per second (sustained) and burst (defaults 20 and 10). */
  rateLimit?: { perSecond?: number; burst?: number };
  pool?: ManagerPoolOptions;
  /** Whether another instance is alive (the runtime wires it to the state store's heartbeat lease). */
  isInstanceAlive?: (instanceId: string) => boolean | Promise<boolean>;
  onAudit?: (entry: ContainerAuditEntry) => void;
  /** Called before a run's work reaches a container (the ICC server plugs in here). */
  onDispatch?: (
    info: DispatchInfo,
  ) => DispatchGrant | undefined | Promise<DispatchGrant | undefined>;
  /** Mount a socket folder at /run/aria in cold workload containers too (default: when `onDispatch` is set). */
  socketDirForWorkloads?: boolean;
  logger?: Logger;
  /** Interval of resource sampling of cold containers (default 1000 ms; first sample after 250 ms). */
  statsIntervalMs?: number;
  /** Engine liveness check while a workload runs (default every 2000 ms). */
  heartbeatMs?: number;
  /** How long a warm member may take to answer `ready` (default 15 s). */
  readyTimeoutMs?: number;
  /** Bytes of stdout+stderr kept per workload (default 4 MiB). */
  maxOutputBytes?: number;
  /** Extra time the host waits beyond a workload's timeout before destroying its container (default 2 s). */
  timeoutGraceMs?: number;
}

/** Options of one `run` beyond the `ContainerManager` interface's `signal`. */
export interface RunOptions {
  signal?: AbortSignal;
  /** `auto` (default): a warm member when one is ready, else cold. `cold`/`warm` force a path. */
  path?: "auto" | "cold" | "warm";
}

/** A bundle tool to run in a container. */
export interface ContainerToolRequest {
  runId?: string | undefined;
  stepId?: string | undefined;
  /** The unpacked bundle on the host (mounted read-only at /bundle). */
  bundle: { name: string; version: string; digest: string; dir: string; entry: string };
  /** The exported tool's `name`. */
  tool: string;
  input: unknown;
  env?: Record<string, string> | undefined;
  /** Passed to the handler as its context (idempotency key, attempt...). */
  context?: Record<string, unknown> | undefined;
  resources?: ResourceRequest | undefined;
  bundleDefaults?: ResourceRequest | undefined;
  budget?: { remainingMs?: number | undefined; memoryMb?: number | undefined } | undefined;
  network?: boolean | undefined;
  image?: string | undefined;
}

/** The outcome of a container tool run. */
export interface ContainerToolResult {
  output: unknown;
  containerId: string;
  durationMs: number;
  warm: boolean;
  stats?: { cpuMs?: number; memoryPeakBytes?: number } | undefined;
}

/** What the reaper did. */
export interface ReapReport {
  removed: string[];
  kept: number;
}

/** Counters for `/metrics`. */
export interface ContainerManagerMetrics {
  created: number;
  removed: number;
  coldRuns: number;
  warmRuns: number;
  toolRuns: number;
  failures: Record<string, number>;
  governor: GovernorUsage;
  pool: WarmPoolStats;
  rateLimitTokens: number;
  pendingRemovals: number;
}

interface Tracked {
  id: string;
  runId?: string | undefined;
  socketDir?: string | undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs container workloads on a `ContainerBackend` with the default hardening, resource limits,
 * admission control, a creation rate limit, a warm pool of runner containers and cleanup after every
 * outcome. Implements the `ContainerManager` interface of core-types.
 */
export class QuiltContainerManager implements ContainerManager {
  readonly backend: ContainerBackend;
  readonly instanceId: string;
  /** Distinguishes this process from earlier processes of the same instance. */
  readonly bootId: string;
  readonly stateDir: string;
  readonly toolImage: string;
  readonly pool: WarmPool;
  readonly governor: ResourceGovernor;
  readonly rateLimiter: CreationRateLimiter;
  readonly #o: ContainerManagerOptions;
  readonly #namePrefix: string;
  readonly #poolImages: Set<string>;
  readonly #poolEnabled: boolean;
  #seq = 0;
  #tracked = new Map<string, Tracked>();
  #removals = new Map<string, Promise<void>>();
  #active = new Map<string, Set<AbortController>>();
  #closed = false;
  #engineWatchers = new Set<(error: unknown) => void>();
  #engineTimer: NodeJS.Timeout | undefined;
  #metrics = {
    created: 0,
    removed: 0,
    coldRuns: 0,
    warmRuns: 0,
    toolRuns: 0,
    failures: {} as Record<string, number>,
  };

  constructor(options: ContainerManagerOptions) {
    this.#o = options;
    this.backend = options.backend;
    this.instanceId = options.instanceId;
    this.bootId = randomBytes(4).toString("hex");
    const short = createHash("sha256").update(options.instanceId).digest("hex").slice(0, 8);
    this.#namePrefix = `aria-${short}`;
    this.stateDir = options.stateDir ?? path.join(os.tmpdir(), `aria-q-${short}`);
    // name (~32) + "/" + "runner.sock" must fit a Unix socket path (107 bytes).
    if (this.stateDir.length > 60) {
      throw new AriaError("CONFIG_INVALID", {
        message: `Container state folder '${this.stateDir}' is too long for Unix socket paths (at most 60 characters)`,
        details: { field: "stateDir" },
      });
    }
    this.toolImage = options.toolImage ?? "aria-tool-runner:latest";
    this.#poolEnabled = options.pool?.enabled !== false;
    this.#poolImages = new Set(options.pool?.images ?? [this.toolImage]);
    this.governor = new ResourceGovernor(options.limits);
    this.rateLimiter = new CreationRateLimiter(options.rateLimit);
    const poolOptions: Partial<WarmPoolOptions> = { ...options.pool };
    if (!this.#poolEnabled) poolOptions.maxIdlePerKey = 0;
    this.pool = new WarmPool(
      {
        createMember: (profile, key, signal) => this.#createMember(profile, key, signal),
        destroyMember: (member) => this.#destroyMember(member),
        onError: (error, key) =>
          this.#o.logger?.warn({ err: error, poolKey: key }, "warm pool member failed"),
      },
      poolOptions,
    );
  }

  // --- lifecycle ----------------------------------------------------------------------------------

  /** Reaps what earlier instances left behind and starts the configured warm pools. */
  async start(): Promise<ReapReport> {
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o711 });
    const report = await this.reap();
    if (this.#poolEnabled) {
      for (const entry of this.#o.pool?.warm ?? []) {
        const spec = parseContainerSpec({
          image: this.toolImage,
          command: ["true"],
          ...entry.spec,
        });
        this.pool.warm(this.#profileFor(spec, []), entry.minIdle);
      }
    }
    return report;
  }

  /** Resolves when the engine answers; throws CONTAINER_RUNTIME_UNAVAILABLE otherwise. */
  ping(signal?: AbortSignal): Promise<void> {
    return this.backend.ping(signal ? { signal } : {});
  }

  /** Whether an image is present, with its labels (the tool image carries `aria.content-hash`). */
  async checkImage(
    image = this.toolImage,
  ): Promise<{ present: boolean; labels: Record<string, string> }> {
    const labels = await this.backend.imageLabels(image);
    return { present: labels !== undefined, labels: labels ?? {} };
  }

  /**
   * Removes managed containers left behind: this instance's from an earlier process (other boot id),
   * and other instances' whose heartbeat lease has expired (`isInstanceAlive` false). Without
   * `isInstanceAlive`, other instances' containers are left alone.
   */
  async reap(): Promise<ReapReport> {
    const all = await this.backend.list({ [LABELS.managed]: "true" });
    const removed: string[] = [];
    let kept = 0;
    const alive = new Map<string, boolean>();
    for (const c of all) {
      const owner = c.labels[LABELS.instance] ?? "";
      let stale = false;
      if (owner === this.instanceId) stale = c.labels[LABELS.boot] !== this.bootId;
      else if (this.#o.isInstanceAlive) {
        if (!alive.has(owner)) alive.set(owner, await this.#o.isInstanceAlive(owner));
        stale = alive.get(owner) === false;
      }
      if (!stale) {
        kept += 1;
        continue;
      }
      await this.backend.remove(c.id);
      removed.push(c.id);
      this.#audit({
        action: "container.reaped",
        outcome: "removed",
        container: c.id,
        runId: c.labels[LABELS.run] || undefined,
        details: { owner, name: c.name },
      });
    }
    // Socket folders of this instance's earlier processes.
    try {
      for (const entry of await fs.readdir(this.stateDir)) {
        if (
          entry.startsWith(`${this.#namePrefix}-`) &&
          !entry.startsWith(`${this.#namePrefix}-${this.bootId}-`)
        ) {
          await removeSocketDir(path.join(this.stateDir, entry));
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    return { removed, kept };
  }

  /** Stops and removes every container of a run (running work is cancelled), and waits for it. */
  async cleanupRun(runId: string): Promise<void> {
    for (const controller of this.#active.get(runId) ?? [])
      controller.abort(new AriaError("RUN_CANCELLED", { message: `Run ${runId} was cleaned up` }));
    await this.pool.releaseRun(runId);
    const mine = [...this.#tracked.values()].filter((t) => t.runId === runId);
    for (const t of mine) this.#scheduleRemoval(t.id);
    await Promise.allSettled(mine.map((t) => this.#removals.get(t.id)));
    // Anything of this run the engine still lists (e.g. created while the call above ran).
    const left = await this.backend.list({
      [LABELS.instance]: this.instanceId,
      [LABELS.run]: runId,
    });
    await Promise.all(left.map((c) => this.backend.remove(c.id)));
  }

  /** Cancels running work, destroys the pool and waits until none of this process's containers remain. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of this.#active.values())
      for (const c of set)
        c.abort(new AriaError("RUN_CANCELLED", { message: "The runtime is shutting down" }));
    await this.pool.close();
    for (const id of this.#tracked.keys()) this.#scheduleRemoval(id);
    while (this.#removals.size > 0) await Promise.allSettled([...this.#removals.values()]);
    try {
      const left = await this.backend.list({
        [LABELS.instance]: this.instanceId,
        [LABELS.boot]: this.bootId,
      });
      await Promise.all(left.map((c) => this.backend.remove(c.id)));
    } catch (error) {
      this.#o.logger?.warn({ err: error }, "could not list containers at close");
    }
    // The state folder goes when nothing is left in it (another process of the instance may use it).
    await fs.rmdir(this.stateDir).catch(() => {});
    await this.backend.close?.();
  }

  metrics(): ContainerManagerMetrics {
    return {
      ...this.#metrics,
      failures: { ...this.#metrics.failures },
      governor: this.governor.usage(),
      pool: this.pool.stats(),
      rateLimitTokens: this.rateLimiter.available(),
      pendingRemovals: this.#removals.size,
    };
  }

  /** Pre-starts members for workloads like `spec` (e.g. before a burst). */
  warm(spec: ContainerSpecInput, minIdle: number): void {
    const parsed = parseContainerSpec(spec);
    this.pool.warm(this.#profileFor(parsed, parsed.mounts), minIdle);
  }

  // --- naming, tracking, removal ------------------------------------------------------------------

  #name(role: string): string {
    this.#seq += 1;
    return `${this.#namePrefix}-${this.bootId}-${role}${this.#seq.toString(36)}${randomBytes(2).toString("hex")}`;
  }

  #audit(entry: Omit<ContainerAuditEntry, "at" | "instanceId">): void {
    try {
      this.#o.onAudit?.({ at: new Date().toISOString(), instanceId: this.instanceId, ...entry });
    } catch (error) {
      this.#o.logger?.warn({ err: error }, "audit callback failed");
    }
  }

  #auditRelaxations(
    relaxations: Relaxation[],
    info: {
      runId?: string | undefined;
      stepId?: string | undefined;
      image: string;
      container: string;
    },
  ): void {
    if (relaxations.length === 0) return;
    this.#audit({
      action: "container.hardening.relaxed",
      outcome: "allowed",
      relaxations,
      ...info,
    });
  }

  #fail(error: unknown): never {
    const code = AriaError.is(error) ? error.code : "UNKNOWN";
    this.#metrics.failures[code] = (this.#metrics.failures[code] ?? 0) + 1;
    throw error;
  }

  /** Removes a container in the background (off the result's critical path); close/cleanupRun await it. */
  #scheduleRemoval(id: string): Promise<void> {
    const existing = this.#removals.get(id);
    if (existing) return existing;
    const tracked = this.#tracked.get(id);
    const task = (async () => {
      try {
        await this.backend.remove(id, { timeoutMs: 30_000 });
        this.#metrics.removed += 1;
        if (tracked?.socketDir) await removeSocketDir(tracked.socketDir);
        this.#tracked.delete(id);
      } catch (error) {
        // The engine may be gone; the container stays tracked so close() tries again, and the
        // reaper of the next start removes it otherwise.
        this.#o.logger?.warn({ err: error, containerId: id }, "container removal failed");
      } finally {
        this.#removals.delete(id);
      }
    })();
    this.#removals.set(id, task);
    return task;
  }

  #register(runId: string | undefined, controller: AbortController): () => void {
    const key = runId ?? "";
    let set = this.#active.get(key);
    if (!set) {
      set = new Set();
      this.#active.set(key, set);
    }
    set.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0) this.#active.delete(key);
    };
  }

  async #dispatchHook(info: DispatchInfo): Promise<DispatchGrant> {
    if (!this.#o.onDispatch) return {};
    return (await this.#o.onDispatch(info)) ?? {};
  }

  #baseEnv(
    spec: { runId?: string | undefined; stepId?: string | undefined },
    name: string,
  ): Record<string, string> {
    const env: Record<string, string> = { ARIA_CONTAINER_ID: name };
    if (spec.runId) env.ARIA_RUN_ID = spec.runId;
    if (spec.stepId) env.ARIA_STEP_ID = spec.stepId;
    return env;
  }

  // --- run ----------------------------------------------------------------------------------------

  /**
   * Runs one workload and resolves with its exit code, output and resource usage, whatever the exit
   * code. Throws CONTAINER_TIMEOUT, CONTAINER_OOM, RUN_CANCELLED, CONTAINER_START_FAILED,
   * CONTAINER_RUNTIME_UNAVAILABLE, CONTAINER_LIMIT_REACHED or VALIDATION_FAILED. The container is
   * removed after every outcome, in the background; `cleanupRun`/`close` wait for removals.
   */
  async run(specInput: ContainerSpecInput, options: RunOptions = {}): Promise<ContainerResult> {
    if (this.#closed) throw containerError.unavailable("the container manager is closed");
    const spec = this.#capped(parseContainerSpec(specInput));
    parseUser(spec.user);
    const controller = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([options.signal, controller.signal])
      : controller.signal;
    const unregister = this.#register(spec.runId, controller);
    try {
      if (signal.aborted) throw cancelled(signal);
      const mode = options.path ?? "auto";
      if (
        mode !== "cold" &&
        this.#poolImages.has(spec.image) &&
        spec.mounts.every((m) => m.readOnly)
      ) {
        const profile = this.#profileFor(spec, spec.mounts);
        const member =
          mode === "warm"
            ? await this.pool.acquire(profile, spec.runId, signal)
            : this.pool.tryAcquire(profile, spec.runId);
        if (member) return await this.#runWarm(spec, member, signal);
      }
      return await this.#runCold(spec, signal);
    } catch (error) {
      return this.#fail(error);
    } finally {
      unregister();
    }
  }

  /** Applies the configured runtime ceilings (`caps`) to a workload's own limits. */
  #capped(spec: ContainerSpec): ContainerSpec {
    const caps = this.#o.caps;
    if (!caps) return spec;
    return {
      ...spec,
      cpus: Math.min(spec.cpus, caps.maxCpus ?? spec.cpus),
      memoryMb: Math.min(spec.memoryMb, caps.maxMemoryMb ?? spec.memoryMb),
      pids: Math.min(spec.pids, caps.maxPids ?? spec.pids),
      timeoutMs: Math.min(spec.timeoutMs, caps.maxTimeoutMs ?? spec.timeoutMs),
    };
  }

  #profileFor(spec: ContainerSpec, mounts: ContainerSpec["mounts"]): PoolProfile {
    return {
      image: spec.image,
      cpus: spec.cpus,
      memoryMb: spec.memoryMb + (this.#o.pool?.runnerOverheadMb ?? 48),
      pids: spec.pids + (this.#o.pool?.runnerOverheadPids ?? 16),
      network: spec.network,
      readOnlyRoot: spec.readOnlyRoot,
      user: spec.user,
      mounts: mounts.map((m) => ({ source: m.source, target: m.target, readOnly: true })),
    };
  }

  async #runCold(spec: ContainerSpec, signal: AbortSignal): Promise<ContainerResult> {
    this.#metrics.coldRuns += 1;
    const lease = await this.governor.acquire(
      { runId: spec.runId, memoryMb: spec.memoryMb },
      signal,
    );
    let grant: DispatchGrant = {};
    const t0 = performance.now();
    let id: string | undefined;
    let socketDir: string | undefined;
    try {
      await this.rateLimiter.take(signal);
      const name = this.#name("c");
      const { uid, gid } = parseUser(spec.user);
      const wantDir = this.#o.socketDirForWorkloads ?? this.#o.onDispatch !== undefined;
      if (wantDir) {
        const dir = await createSocketDir(this.stateDir, name, uid, gid);
        socketDir = dir.dir;
        if (dir.relaxed)
          this.#audit({
            action: "container.socket-dir.relaxed",
            outcome: "allowed",
            container: name,
            runId: spec.runId,
            details: { dir: dir.dir },
          });
      }
      grant = await this.#dispatchHook({
        containerName: name,
        socketDir,
        uid,
        gid,
        runId: spec.runId,
        stepId: spec.stepId,
        image: spec.image,
        warm: false,
      });
      const labels = containerLabels({
        instanceId: this.instanceId,
        bootId: this.bootId,
        runId: spec.runId,
        stepId: spec.stepId,
        role: "workload",
        extra: spec.labels,
      });
      const { config, relaxations } = resolveContainerConfig(spec, {
        name,
        labels,
        socketDir,
        env: { ...this.#baseEnv(spec, name), ...grant.env },
        maxLogBytes: this.#o.maxOutputBytes,
      });
      this.#auditRelaxations(relaxations, {
        runId: spec.runId,
        stepId: spec.stepId,
        image: spec.image,
        container: name,
      });
      id = await this.backend.create(config, { signal });
      this.#metrics.created += 1;
      this.#tracked.set(id, { id, runId: spec.runId, socketDir });
      if (spec.stdin !== undefined) await this.backend.writeStdin(id, spec.stdin, { signal });
      await this.backend.start(id, { signal });
      return await this.#awaitExit(id, spec, signal, t0);
    } finally {
      lease.release();
      if (id !== undefined) void this.#scheduleRemoval(id);
      else if (socketDir) await removeSocketDir(socketDir).catch(() => {});
      await Promise.resolve(grant.release?.()).catch((error) =>
        this.#o.logger?.warn({ err: error }, "dispatch release failed"),
      );
    }
  }

  /**
   * One engine liveness check shared by every cold workload that is waiting for its container: a ping
   * every `heartbeatMs` while at least one waits. A refused connection fails them all at once, two
   * unanswered pings in a row too, so a dead engine never leaves a run hanging.
   */
  #watchEngine(onDown: (error: unknown) => void): () => void {
    this.#engineWatchers.add(onDown);
    if (!this.#engineTimer) {
      let failures = 0;
      this.#engineTimer = setInterval(() => {
        this.backend.ping({ timeoutMs: 1_500 }).then(
          () => {
            failures = 0;
          },
          (error) => {
            failures += 1;
            const hard =
              AriaError.is(error) && /ECONNREFUSED|ENOENT|connection lost/.test(error.message);
            if (hard || failures >= 2) for (const watcher of this.#engineWatchers) watcher(error);
          },
        );
      }, this.#o.heartbeatMs ?? 2_000);
    }
    return () => {
      this.#engineWatchers.delete(onDown);
      if (this.#engineWatchers.size === 0 && this.#engineTimer) {
        clearInterval(this.#engineTimer);
        this.#engineTimer = undefined;
      }
    };
  }

  /** Waits for a started cold container, enforcing the timeout, cancellation and engine liveness. */
  async #awaitExit(
    id: string,
    spec: ContainerSpec,
    signal: AbortSignal,
    t0: number,
  ): Promise<ContainerResult> {
    const waitAbort = new AbortController();
    const stats: ContainerStatsSample = {};
    let interruption: "timeout" | "cancel" | undefined;
    let rejectInterrupt: (error: unknown) => void = () => {};
    const interrupted = new Promise<never>((_, reject) => {
      rejectInterrupt = reject;
    });
    // Raced below; a rejection arriving after the race has settled must not count as unhandled.
    interrupted.catch(() => {});
    const kill = async (why: "timeout" | "cancel") => {
      if (interruption) return;
      interruption = why;
      try {
        await this.backend.kill(id, { timeoutMs: 5_000 });
      } catch (error) {
        rejectInterrupt(error);
      }
    };
    const timer = setTimeout(() => void kill("timeout"), spec.timeoutMs);
    const onAbort = () => void kill("cancel");
    signal.addEventListener("abort", onAbort, { once: true });
    const unwatch = this.#watchEngine(rejectInterrupt);
    const statsEvery = this.#o.statsIntervalMs ?? 1_000;
    let statsTimer: NodeJS.Timeout | undefined;
    const sample = () => {
      this.backend.stats(id, { timeoutMs: 3_000 }).then(
        (s) => {
          if (s.cpuMs !== undefined) stats.cpuMs = Math.max(stats.cpuMs ?? 0, s.cpuMs);
          const peak = Math.max(s.memoryPeakBytes ?? 0, s.memoryBytes ?? 0);
          if (peak > 0) stats.memoryPeakBytes = Math.max(stats.memoryPeakBytes ?? 0, peak);
        },
        () => {},
      );
      statsTimer = setTimeout(sample, statsEvery);
    };
    if (statsEvery > 0) statsTimer = setTimeout(sample, Math.min(250, statsEvery));
    try {
      let exitCode: number;
      try {
        ({ exitCode } = await Promise.race([
          this.backend.wait(id, { signal: waitAbort.signal }),
          interrupted,
        ]));
      } catch (error) {
        if (interruption === "cancel" && AriaError.hasCode(error, "RUN_CANCELLED"))
          throw cancelled(signal);
        throw error;
      }
      const durationMs = performance.now() - t0;
      if (interruption === "cancel") throw cancelled(signal);
      if (interruption === "timeout") {
        const logs = await this.backend.logs(id, { maxBytes: 8192 }).catch(() => undefined);
        throw containerError.timeout(spec.timeoutMs, {
          context: {
            component: "quilt-client",
            containerId: id,
            runId: spec.runId,
            stepId: spec.stepId,
          },
          details: { stdout: logs?.stdout.slice(-2000), stderr: logs?.stderr.slice(-2000) },
        });
      }
      let oomKilled = false;
      if (exitCode === 137) oomKilled = (await this.backend.inspect(id)).oomKilled;
      const logs = await this.backend.logs(id, {
        maxBytes: this.#o.maxOutputBytes ?? 4 * 1024 * 1024,
      });
      if (oomKilled) {
        throw containerError.oom(spec.memoryMb, {
          context: {
            component: "quilt-client",
            containerId: id,
            runId: spec.runId,
            stepId: spec.stepId,
          },
          details: { exitCode, stderr: logs.stderr.slice(-2000) },
        });
      }
      const result: ContainerResult = {
        containerId: id,
        exitCode,
        stdout: logs.stdout,
        stderr: logs.stderr,
        durationMs,
        oomKilled: false,
        timedOut: false,
      };
      if (stats.cpuMs !== undefined || stats.memoryPeakBytes !== undefined)
        result.stats = { ...stats };
      return result;
    } finally {
      clearTimeout(timer);
      clearTimeout(statsTimer);
      unwatch();
      signal.removeEventListener("abort", onAbort);
      waitAbort.abort();
    }
  }

  async #runWarm(
    spec: ContainerSpec,
    member: PoolMember,
    signal: AbortSignal,
  ): Promise<ContainerResult> {
    this.#metrics.warmRuns += 1;
    let lease: ResourceLease | undefined;
    let grant: DispatchGrant = {};
    let reusable = false;
    try {
      lease = await this.governor.acquire({ runId: spec.runId, memoryMb: spec.memoryMb }, signal);
      const { uid, gid } = parseUser(spec.user);
      grant = await this.#dispatchHook({
        containerName: member.name,
        containerId: member.containerId,
        socketDir: member.socketDir,
        uid,
        gid,
        runId: spec.runId,
        stepId: spec.stepId,
        image: spec.image,
        warm: true,
      });
      const { relaxations } = resolveContainerConfig(spec, { name: member.name, labels: {} });
      this.#auditRelaxations(relaxations, {
        runId: spec.runId,
        stepId: spec.stepId,
        image: spec.image,
        container: member.containerId,
      });
      const t0 = performance.now();
      const reply = await this.#dispatch(
        member,
        () =>
          member.connection.send({
            type: "exec",
            command: spec.command,
            env: { ...spec.env, ...this.#baseEnv(spec, member.name), ...grant.env },
            cwd: spec.workingDir,
            ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
            timeoutMs: spec.timeoutMs,
            maxOutputBytes: this.#o.maxOutputBytes ?? 4 * 1024 * 1024,
          }),
        spec,
        signal,
      );
      const durationMs = performance.now() - t0;
      if (!reply.ok) {
        const failure = reply as RunnerFailureReply;
        if (failure.error.kind === "spawn") {
          reusable = true;
          throw containerError.execFailed(
            127,
            `cannot start ${spec.command[0]}: ${failure.error.message}`,
            {
              context: {
                component: "quilt-client",
                containerId: member.containerId,
                runId: spec.runId,
                stepId: spec.stepId,
              },
              details: { command: spec.command, code: failure.error.code },
            },
          );
        }
        throw containerError.execFailed(-1, `runner error: ${failure.error.message}`, {
          context: { containerId: member.containerId },
        });
      }
      const exec = reply as RunnerExecReply;
      if (exec.stats?.oomKilled)
        throw containerError.oom(spec.memoryMb, {
          context: { containerId: member.containerId, runId: spec.runId, stepId: spec.stepId },
          details: { exitCode: exec.exitCode },
        });
      if (exec.timedOut)
        throw containerError.timeout(spec.timeoutMs, {
          context: { containerId: member.containerId, runId: spec.runId, stepId: spec.stepId },
          details: { stderr: exec.stderr.slice(-2000) },
        });
      reusable = true;
      const result: ContainerResult = {
        containerId: member.containerId,
        exitCode: exec.exitCode,
        stdout: exec.stdout,
        stderr: exec.stderr,
        durationMs,
        oomKilled: false,
        timedOut: false,
      };
      const stats = pickStats(exec.stats);
      if (stats) result.stats = stats;
      return result;
    } finally {
      lease?.release();
      this.pool.release(member, { reusable });
      await Promise.resolve(grant.release?.()).catch((error) =>
        this.#o.logger?.warn({ err: error }, "dispatch release failed"),
      );
    }
  }

  /**
   * Sends one job to a warm member with the host-side guards: the wall-clock timeout (plus grace),
   * cancellation, and the member dying (OOM-killed runner, container removed).
   */
  async #dispatch<T>(
    member: PoolMember,
    send: () => Promise<T>,
    spec: {
      timeoutMs: number;
      memoryMb: number;
      runId?: string | undefined;
      stepId?: string | undefined;
    },
    signal: AbortSignal,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const context = {
      component: "quilt-client",
      containerId: member.containerId,
      runId: spec.runId,
      stepId: spec.stepId,
    };
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          reject(containerError.timeout(spec.timeoutMs, { context }));
        },
        spec.timeoutMs + (this.#o.timeoutGraceMs ?? 2_000),
      );
      onAbort = () => reject(cancelled(signal));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([send(), guard]);
    } catch (error) {
      if (error instanceof RunnerGoneError) {
        // The runner died under the job: find out whether the kernel killed it for memory.
        const state = await this.backend.inspect(member.containerId).catch((e: unknown) => {
          // The engine itself is gone (it takes its containers with it): say so, not "exec failed".
          if (AriaError.hasCode(e, "CONTAINER_RUNTIME_UNAVAILABLE")) throw e;
          return undefined;
        });
        if (state?.oomKilled)
          throw containerError.oom(spec.memoryMb, {
            context,
            details: { exitCode: state?.exitCode },
          });
        throw containerError.execFailed(
          state?.exitCode ?? -1,
          `the in-container runner exited during the job (${state?.status ?? "container gone"})`,
          { context },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  // --- bundle tools -------------------------------------------------------------------------------

  /**
   * Runs a bundle tool in a runner container with the bundle mounted read-only at /bundle: a member
   * reserved for this run and bundle when there is one, else a warm one, else a new one. The handler's
   * JSON output is returned; its own failure is TOOL_EXECUTION_FAILED.
   */
  async runTool(
    request: ContainerToolRequest,
    options: { signal?: AbortSignal } = {},
  ): Promise<ContainerToolResult> {
    if (this.#closed) throw containerError.unavailable("the container manager is closed");
    const entry = path.posix.normalize(request.bundle.entry);
    if (entry.startsWith("..") || path.posix.isAbsolute(entry)) {
      throw new AriaError("BUNDLE_INVALID", {
        message: `Bundle entry '${request.bundle.entry}' must stay inside the bundle`,
      });
    }
    const resources = deriveContainerResources({
      request: request.resources,
      bundleDefaults: request.bundleDefaults,
      runtimeDefaults: this.#o.defaults,
      caps: this.#o.caps,
      budget: request.budget,
    });
    const spec = parseContainerSpec({
      image: request.image ?? this.toolImage,
      command: DEFAULT_RUNNER_COMMAND,
      cpus: resources.cpus,
      memoryMb: resources.memoryMb,
      pids: resources.pids,
      timeoutMs: resources.timeoutMs,
      network: request.network ?? false,
      mounts: [{ source: request.bundle.dir, target: BUNDLE_TARGET, readOnly: true }],
      ...(request.runId !== undefined ? { runId: request.runId } : {}),
      ...(request.stepId !== undefined ? { stepId: request.stepId } : {}),
    });
    const controller = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([options.signal, controller.signal])
      : controller.signal;
    const unregister = this.#register(request.runId, controller);
    this.#metrics.toolRuns += 1;
    let member: PoolMember | undefined;
    let lease: ResourceLease | undefined;
    let grant: DispatchGrant = {};
    let reusable = false;
    try {
      lease = await this.governor.acquire(
        { runId: request.runId, memoryMb: resources.memoryMb },
        signal,
      );
      const profile = this.#profileFor(spec, spec.mounts);
      const ready = this.pool.tryAcquire(profile, request.runId);
      member = ready ?? (await this.pool.acquire(profile, request.runId, signal));
      const { uid, gid } = parseUser(spec.user);
      const bundle = {
        name: request.bundle.name,
        version: request.bundle.version,
        digest: request.bundle.digest,
      };
      grant = await this.#dispatchHook({
        containerName: member.name,
        containerId: member.containerId,
        socketDir: member.socketDir,
        uid,
        gid,
        runId: request.runId,
        stepId: request.stepId,
        image: spec.image,
        warm: ready !== undefined,
        bundle,
      });
      const { relaxations } = resolveContainerConfig(spec, { name: member.name, labels: {} });
      this.#auditRelaxations(relaxations, {
        runId: request.runId,
        stepId: request.stepId,
        image: spec.image,
        container: member.containerId,
      });
      const env = {
        ...request.env,
        ...this.#baseEnv(request, member.name),
        ARIA_BUNDLE_NAME: bundle.name,
        ARIA_BUNDLE_VERSION: bundle.version,
        ARIA_BUNDLE_DIGEST: bundle.digest,
        ...grant.env,
      };
      const t0 = performance.now();
      const current = member;
      const reply = await this.#dispatch(
        current,
        () =>
          current.connection.send({
            type: "tool",
            entry,
            tool: request.tool,
            input: request.input,
            env,
            context: { ...request.context, runId: request.runId, stepId: request.stepId },
          }),
        {
          timeoutMs: resources.timeoutMs,
          memoryMb: resources.memoryMb,
          runId: request.runId,
          stepId: request.stepId,
        },
        signal,
      );
      const durationMs = performance.now() - t0;
      const context = {
        component: "quilt-client",
        containerId: current.containerId,
        runId: request.runId,
        stepId: request.stepId,
        tool: request.tool,
      };
      if (reply.stats?.oomKilled) throw containerError.oom(resources.memoryMb, { context });
      if (!reply.ok) {
        const failure = (reply as RunnerFailureReply).error;
        reusable = failure.kind === "tool";
        if (failure.code === "TOOL_NOT_FOUND") {
          throw new AriaError("TOOL_NOT_FOUND", { message: failure.message, context });
        }
        throw new AriaError("TOOL_EXECUTION_FAILED", {
          message: `Tool '${request.tool}' failed in its container: ${failure.message}`,
          context,
          details: {
            name: failure.name,
            code: failure.code,
            stack: failure.stack?.split("\n").slice(0, 8).join("\n"),
          },
        });
      }
      reusable = true;
      const ok = reply as RunnerToolReply;
      return {
        output: ok.output,
        containerId: current.containerId,
        durationMs,
        warm: ready !== undefined,
        stats: pickStats(ok.stats),
      };
    } catch (error) {
      return this.#fail(error);
    } finally {
      lease?.release();
      if (member) this.pool.release(member, { reusable });
      await Promise.resolve(grant.release?.()).catch((error) =>
        this.#o.logger?.warn({ err: error }, "dispatch release failed"),
      );
      unregister();
    }
  }

  // --- warm members -------------------------------------------------------------------------------

  async #createMember(profile: PoolProfile, key: string, signal: AbortSignal): Promise<PoolMember> {
    await this.rateLimiter.take(signal);
    const name = this.#name("w");
    const { uid, gid } = parseUser(profile.user);
    const dir = await createSocketDir(this.stateDir, name, uid, gid);
    if (dir.relaxed)
      this.#audit({
        action: "container.socket-dir.relaxed",
        outcome: "allowed",
        container: name,
        details: { dir: dir.dir },
      });
    const spec = parseContainerSpec({
      image: profile.image,
      command: this.#o.runnerCommand ?? DEFAULT_RUNNER_COMMAND,
      cpus: profile.cpus,
      memoryMb: profile.memoryMb,
      pids: profile.pids,
      network: profile.network,
      readOnlyRoot: profile.readOnlyRoot,
      user: profile.user,
      mounts: profile.mounts,
      env: { ARIA_RUNNER_SOCKET: `${SOCKET_DIR_TARGET}/${RUNNER_SOCKET_NAME}` },
    });
    const labels = containerLabels({
      instanceId: this.instanceId,
      bootId: this.bootId,
      role: "pool",
      poolKey: key,
    });
    const { config } = resolveContainerConfig(spec, {
      name,
      labels,
      socketDir: dir.dir,
      tmpfsSizeMb: Math.min(profile.memoryMb, 512),
    });
    let id: string | undefined;
    const connection = new RunnerConnection(path.join(dir.dir, RUNNER_SOCKET_NAME));
    try {
      id = await this.backend.create(config, { signal });
      this.#metrics.created += 1;
      this.#tracked.set(id, { id, socketDir: dir.dir });
      await this.backend.start(id, { signal });
      const ready = AbortSignal.any([
        signal,
        AbortSignal.timeout(this.#o.readyTimeoutMs ?? 15_000),
      ]);
      // While waiting for `ready`, notice a container that exits at once (bad image, no node).
      const settled = new AbortController();
      const watching = AbortSignal.any([ready, settled.signal]);
      const exited = this.backend.wait(id, { signal: watching }).then(
        ({ exitCode }) => {
          throw containerError.startFailed(
            profile.image,
            `the runner exited with status ${exitCode} before it was ready`,
          );
        },
        () => new Promise<never>(() => {}),
      );
      exited.catch(() => {});
      try {
        await Promise.race([connection.connect(watching), exited]);
      } catch (error) {
        if (AriaError.is(error)) throw error;
        if (signal.aborted) throw cancelled(signal);
        throw containerError.startFailed(
          profile.image,
          `the in-container runner did not become ready: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      } finally {
        settled.abort();
      }
      const now = Date.now();
      return {
        key,
        profile,
        containerId: id,
        name,
        socketDir: dir.dir,
        connection,
        createdAt: now,
        lastUsedAt: now,
        uses: 0,
        state: "idle",
      };
    } catch (error) {
      connection.close();
      if (id !== undefined) void this.#scheduleRemoval(id);
      else await removeSocketDir(dir.dir);
      throw error;
    }
  }

  async #destroyMember(member: PoolMember): Promise<void> {
    member.connection.close();
    await this.#scheduleRemoval(member.containerId);
  }

  /** Waits until all background removals so far have finished (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.#removals.size > 0) await Promise.allSettled([...this.#removals.values()]);
    await sleep(0);
  }
}

function pickStats(
  stats: RunnerStats | undefined,
): { cpuMs?: number; memoryPeakBytes?: number } | undefined {
  if (!stats) return undefined;
  const out: { cpuMs?: number; memoryPeakBytes?: number } = {};
  if (stats.cpuMs !== undefined) out.cpuMs = stats.cpuMs;
  if (stats.memoryPeakBytes !== undefined) out.memoryPeakBytes = stats.memoryPeakBytes;
  return Object.keys(out).length > 0 ? out : undefined;
}

function cancelled(signal: AbortSignal): AriaError {
  const reason = signal.reason;
  if (AriaError.is(reason)) return reason;
  return new AriaError("RUN_CANCELLED", {
    message: "The container workload was cancelled",
    cause: reason,
  });
}

/** Creates a `QuiltContainerManager`; call `start()` before use and `close()` at shutdown. */
export function createContainerManager(options: ContainerManagerOptions): QuiltContainerManager {
  return new QuiltContainerManager(options);
}
