import type { Redis } from "ioredis";
import type { CounterStore } from "../http/rate-limit.ts";
import { guarded } from "./connection.ts";

const HIT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
`;

/** Fixed-window rate-limit counters shared by every replica through Redis. */
export class RedisCounterStore implements CounterStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(deps: { redis: Redis; prefix?: string }) {
    this.redis = deps.redis;
    this.prefix = deps.prefix ?? "aria:";
  }

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const [count, ttl] = (await guarded("rate-limit", () =>
      this.redis.eval(HIT, 1, `${this.prefix}${key}`, windowMs),
    )) as [number, number];
    return { count, resetAt: Date.now() + Math.max(0, ttl) };
  }
}
