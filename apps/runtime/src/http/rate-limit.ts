import { AriaError } from "@aria/errors";
import type { MiddlewareHandler } from "hono";

/** Counts hits in fixed windows; a Redis implementation shares the counts between replicas. */
export interface CounterStore {
  /** Adds one hit to `key` in the window of `windowMs` and returns the count and the window's end. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
}

/** Fixed-window counters in memory (one process). */
export class MemoryCounterStore implements CounterStore {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
      if (this.windows.size > 10_000) {
        for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
      }
    }
    window.count += 1;
    return { ...window };
  }
}

/**
 * Per-principal rate limit (the API key's id, or the client address without keys). Over the limit:
 * 429 RATE_LIMITED with `Retry-After`. Every answer carries `RateLimit-Limit`/`-Remaining`.
 */
export function rateLimit(options: {
  store: CounterStore;
  limit: number;
  windowMs?: number;
  open?: string[];
}): MiddlewareHandler<{ Variables: { principal: string } }> {
  const windowMs = options.windowMs ?? 60_000;
  const open = options.open ?? ["/health"];
  return async (c, next) => {
    if (open.includes(c.req.path)) return next();
    const principal = c.get("principal") ?? "anonymous";
    let hit: { count: number; resetAt: number };
    try {
      hit = await options.store.hit(`ratelimit:${principal}`, windowMs);
    } catch {
      // The counters live in Redis: when it is down, requests are not limited (fail open) so that
      // /ready and reads can still answer with the real problem.
      return next();
    }
    const { count, resetAt } = hit;
    const remaining = Math.max(0, options.limit - count);
    const retryAfterSeconds = Math.max(1, Math.ceil((resetAt - Date.now()) / 1000));
    if (count > options.limit) {
      throw new AriaError("RATE_LIMITED", {
        message: `More than ${options.limit} requests in ${windowMs / 1000} s`,
        details: { limit: options.limit, retryAfterSeconds },
        context: { component: "http", operation: "rate-limit" },
      });
    }
    await next();
    c.header("RateLimit-Limit", String(options.limit));
    c.header("RateLimit-Remaining", String(remaining));
  };
}
