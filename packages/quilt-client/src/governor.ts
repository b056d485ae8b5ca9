import { AriaError, containerError } from "@aria/errors";

/** Limits on what runs at once. Idle warm-pool members are bounded by the pool's own size. */
export interface ResourceLimits {
  /** Containers running workloads at once, across all runs (default 16). */
  maxConcurrent: number;
  /** Sum of the memory limits of running workloads, MiB (default 8192). */
  maxMemoryMb: number;
  /** Containers one run may use at once (default 8). */
  perRunMaxConcurrent: number;
  /** Memory one run may hold at once, MiB (default 4096). */
  perRunMaxMemoryMb: number;
  /** Over a limit: wait in a FIFO queue (default) or fail at once with CONTAINER_LIMIT_REACHED. */
  onLimit: "queue" | "reject";
  /** How long a queued request waits before CONTAINER_LIMIT_REACHED (default 60 s). */
  queueTimeoutMs: number;
}

export const DEFAULT_LIMITS: ResourceLimits = {
  maxConcurrent: 16,
  maxMemoryMb: 8192,
  perRunMaxConcurrent: 8,
  perRunMaxMemoryMb: 4096,
  onLimit: "queue",
  queueTimeoutMs: 60_000,
};

/** A granted slot; release it exactly once when the workload has ended. */
export interface ResourceLease {
  release(): void;
}

interface Waiter {
  runKey: string;
  memoryMb: number;
  grant: (lease: ResourceLease) => void;
  fail: (error: unknown) => void;
}

/** Usage figures for metrics. */
export interface GovernorUsage {
  running: number;
  memoryMb: number;
  queued: number;
  runs: number;
}

/**
 * Admission control for container workloads: per-run and global limits on concurrent containers and
 * on the sum of their memory limits. Requests over a limit queue (first fit, in arrival order) or are
 * refused, as configured. A request that could never fit is refused at once.
 */
export class ResourceGovernor {
  readonly limits: ResourceLimits;
  #running = 0;
  #memoryMb = 0;
  #perRun = new Map<string, { running: number; memoryMb: number }>();
  #queue: Waiter[] = [];

  constructor(limits: Partial<ResourceLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  usage(): GovernorUsage {
    return {
      running: this.#running,
      memoryMb: this.#memoryMb,
      queued: this.#queue.length,
      runs: this.#perRun.size,
    };
  }

  #fits(runKey: string, memoryMb: number): boolean {
    const run = this.#perRun.get(runKey) ?? { running: 0, memoryMb: 0 };
    return (
      this.#running + 1 <= this.limits.maxConcurrent &&
      this.#memoryMb + memoryMb <= this.limits.maxMemoryMb &&
      run.running + 1 <= this.limits.perRunMaxConcurrent &&
      run.memoryMb + memoryMb <= this.limits.perRunMaxMemoryMb
    );
  }

  #take(runKey: string, memoryMb: number): ResourceLease {
    this.#running += 1;
    this.#memoryMb += memoryMb;
    const run = this.#perRun.get(runKey) ?? { running: 0, memoryMb: 0 };
    run.running += 1;
    run.memoryMb += memoryMb;
    this.#perRun.set(runKey, run);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#running -= 1;
        this.#memoryMb -= memoryMb;
        const r = this.#perRun.get(runKey);
        if (r) {
          r.running -= 1;
          r.memoryMb -= memoryMb;
          if (r.running <= 0) this.#perRun.delete(runKey);
        }
        this.#drain();
      },
    };
  }

  #drain(): void {
    for (let i = 0; i < this.#queue.length; ) {
      const waiter = this.#queue[i]!;
      if (this.#fits(waiter.runKey, waiter.memoryMb)) {
        this.#queue.splice(i, 1);
        waiter.grant(this.#take(waiter.runKey, waiter.memoryMb));
      } else {
        i += 1;
      }
    }
  }

  /** Grants a slot for one container of `runId` with `memoryMb`, waiting or refusing per `onLimit`. */
  acquire(
    request: { runId?: string | undefined; memoryMb: number },
    signal?: AbortSignal,
  ): Promise<ResourceLease> {
    const runKey = request.runId ?? "";
    const { memoryMb } = request;
    if (memoryMb > this.limits.maxMemoryMb || memoryMb > this.limits.perRunMaxMemoryMb) {
      return Promise.reject(
        containerError.limitReached(
          `a container asking for ${memoryMb} MiB can never fit (global ${this.limits.maxMemoryMb} MiB, per run ${this.limits.perRunMaxMemoryMb} MiB)`,
          { details: { memoryMb, ...this.limits } },
        ),
      );
    }
    if (this.#queue.length === 0 && this.#fits(runKey, memoryMb))
      return Promise.resolve(this.#take(runKey, memoryMb));
    if (this.limits.onLimit === "reject") {
      return Promise.reject(
        containerError.limitReached(
          `${this.#running} containers / ${this.#memoryMb} MiB in use (limits: ${this.limits.maxConcurrent} containers, ${this.limits.maxMemoryMb} MiB; per run ${this.limits.perRunMaxConcurrent}, ${this.limits.perRunMaxMemoryMb} MiB)`,
          { details: { usage: this.usage(), limits: this.limits } },
        ),
      );
    }
    return new Promise<ResourceLease>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
      };
      const waiter: Waiter = {
        runKey,
        memoryMb,
        grant: (lease) => {
          cleanup();
          resolve(lease);
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.fail(
            containerError.limitReached(
              `waited ${this.limits.queueTimeoutMs} ms for a container slot`,
              {
                details: { usage: this.usage(), limits: this.limits },
              },
            ),
          ),
        this.limits.queueTimeoutMs,
      );
      const onAbort = () =>
        waiter.fail(
          new AriaError("RUN_CANCELLED", {
            message: "Cancelled while waiting for a container slot",
          }),
        );
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }
}

/** A token bucket on container creation: `perSecond` sustained, `burst` at once. */
export class CreationRateLimiter {
  readonly perSecond: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  #waiters: Array<{
    resolve: () => void;
    reject: (e: unknown) => void;
    signal?: AbortSignal | undefined;
    onAbort: () => void;
  }> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #now: () => number;

  constructor(options: { perSecond?: number; burst?: number; now?: () => number } = {}) {
    this.perSecond = options.perSecond ?? 20;
    this.burst = options.burst ?? 10;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.burst;
    this.#last = this.#now();
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.perSecond,
    );
    this.#last = now;
  }

  /** Tokens available right now (for metrics). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Resolves when a creation may proceed. */
  take(signal?: AbortSignal): Promise<void> {
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiters.indexOf(entry);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(
            new AriaError("RUN_CANCELLED", {
              message: "Cancelled while waiting for the container creation rate limit",
            }),
          );
        },
      };
      if (signal?.aborted) {
        entry.onAbort();
        return;
      }
      signal?.addEventListener("abort", entry.onAbort, { once: true });
      this.#waiters.push(entry);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer || this.#waiters.length === 0) return;
    this.#refill();
    const waitMs = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.perSecond) * 1000;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#tokens >= 1 && this.#waiters.length > 0) {
        const entry = this.#waiters.shift()!;
        entry.signal?.removeEventListener("abort", entry.onAbort);
        this.#tokens -= 1;
        entry.resolve();
      }
      this.#schedule();
    }, Math.ceil(waitMs));
  }
}
