import type { RetrySpec } from "@aria/core-types";

/** Engine-wide retry defaults; a step's `retry` overrides them. */
export interface RetryDefaults {
  /** First delay when a step's `retry.backoffMs` is not given (default 200 ms). */
  backoffMs: number;
  /** Upper bound of one delay when a step's `retry.maxBackoffMs` is not given (default 30 s). */
  maxBackoffMs: number;
  /** Random share subtracted from each delay, 0..1 (default 0: deterministic delays). */
  jitter: number;
}

export const RETRY_DEFAULTS: RetryDefaults = { backoffMs: 200, maxBackoffMs: 30_000, jitter: 0 };

/** Total attempts a step may make: `retry.attempts` counts every attempt, the first one included. */
export function maxAttempts(retry: RetrySpec | undefined): number {
  return retry === undefined ? 1 : Math.max(1, retry.attempts);
}

/**
 * Delay before attempt `failedAttempt + 1`: `backoffMs × 2^(failedAttempt-1)`, capped at
 * `maxBackoffMs`, minus up to `jitter` of it at random.
 */
export function backoffDelay(
  retry: RetrySpec | undefined,
  failedAttempt: number,
  defaults: RetryDefaults = RETRY_DEFAULTS,
  random: () => number = Math.random,
): number {
  const base = retry?.backoffMs ?? defaults.backoffMs;
  const cap = retry?.maxBackoffMs ?? defaults.maxBackoffMs;
  const raw = Math.min(cap, base * 2 ** Math.max(0, failedAttempt - 1));
  if (defaults.jitter <= 0) return raw;
  return Math.round(raw * (1 - Math.min(1, defaults.jitter) * random()));
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
