/** Per-token request limits. */
export interface RateLimitOptions {
  /** Sustained requests per second per token (default 1000). */
  requestsPerSecond?: number;
  /** Bucket size: requests a token may make at once after being idle (default 2000). */
  burst?: number;
  /** Requests of one token in flight at once (default 64). */
  maxConcurrent?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  inFlight: number;
}

/** What `take` decided. */
export type RateDecision =
  | { ok: true }
  | { ok: false; reason: "rate" | "concurrency"; retryAfterMs: number };

/**
 * A token bucket per key (the ICC token id) plus a cap on concurrent requests, in memory. Buckets of
 * keys idle for a minute are dropped.
 */
export class TokenBucketLimiter {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly maxConcurrent: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  #lastSweep: number;

  constructor(options: RateLimitOptions & { now?: () => number } = {}) {
    this.requestsPerSecond = options.requestsPerSecond ?? 1000;
    this.burst = options.burst ?? 2000;
    this.maxConcurrent = options.maxConcurrent ?? 64;
    this.#now = options.now ?? (() => performance.now());
    this.#lastSweep = this.#now();
  }

  /** Takes one request from `key`'s bucket; on success the caller must call `done(key)` after. */
  take(key: string): RateDecision {
    const t = this.#now();
    if (t - this.#lastSweep > 60_000) this.#sweep(t);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, updatedAt: t, inFlight: 0 };
      this.#buckets.set(key, bucket);
    } else {
      const refill = ((t - bucket.updatedAt) / 1000) * this.requestsPerSecond;
      bucket.tokens = Math.min(this.burst, bucket.tokens + refill);
      bucket.updatedAt = t;
    }
    if (bucket.inFlight >= this.maxConcurrent)
      return { ok: false, reason: "concurrency", retryAfterMs: 100 };
    if (bucket.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - bucket.tokens) / this.requestsPerSecond) * 1000);
      return { ok: false, reason: "rate", retryAfterMs };
    }
    bucket.tokens -= 1;
    bucket.inFlight += 1;
    return { ok: true };
  }

  /** Marks one request of `key` as finished. */
  done(key: string): void {
    const bucket = this.#buckets.get(key);
    if (bucket !== undefined && bucket.inFlight > 0) bucket.inFlight -= 1;
  }

  /** Forgets a key (its token was revoked). */
  forget(key: string): void {
    this.#buckets.delete(key);
  }

  #sweep(t: number): void {
    this.#lastSweep = t;
    for (const [key, bucket] of this.#buckets)
      if (bucket.inFlight === 0 && t - bucket.updatedAt > 60_000) this.#buckets.delete(key);
  }
}
