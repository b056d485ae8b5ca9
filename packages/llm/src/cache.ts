import { createHash } from "node:crypto";
import type { LlmResponse } from "@aria/core-types";
import { Redis } from "ioredis";
import { LRUCache } from "lru-cache";

/** Where cached responses live. `get` and `set` may be synchronous (memory) or not (Redis). */
export interface LlmCacheStore {
  readonly kind: "memory" | "redis";
  get(key: string): LlmResponse | undefined | Promise<LlmResponse | undefined>;
  set(key: string, value: LlmResponse, ttlMs: number): void | Promise<void>;
  /** Entries held (memory only). */
  size?(): number;
  close(): Promise<void>;
}

/**
 * The in-memory store: an LRU with a time to live (lru-cache). Values are kept as JSON text, so a
 * hit hands out a fresh object that the caller may change, and the size bound counts characters.
 */
export class MemoryCacheStore implements LlmCacheStore {
  readonly kind = "memory" as const;
  readonly #lru: LRUCache<string, string>;

  constructor(deps: { maxEntries?: number; maxBytes?: number; ttlMs?: number } = {}) {
    this.#lru = new LRUCache<string, string>({
      max: deps.maxEntries ?? 1000,
      maxSize: deps.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (value) => Math.max(1, value.length),
      ttl: deps.ttlMs ?? 3_600_000,
      ttlAutopurge: false,
    });
  }

  get(key: string): LlmResponse | undefined {
    const text = this.#lru.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as LlmResponse);
  }

  set(key: string, value: LlmResponse, ttlMs: number): void {
    this.#lru.set(key, JSON.stringify(value), { ttl: ttlMs });
  }

  size(): number {
    return this.#lru.size;
  }

  async close(): Promise<void> {
    this.#lru.clear();
  }
}

/** Options of the Redis store. */
export interface RedisCacheStoreDeps {
  /** An ioredis client to use (not closed by `close`), or a `redis://` URL to connect to. */
  redis: Redis | string;
  /** Key prefix (default `aria:llm:cache:`). */
  keyPrefix?: string;
  /** A lookup slower than this counts as a miss (default 250 ms), so a slow Redis never stalls calls. */
  timeoutMs?: number;
}

/** The Redis store (ioredis): JSON values with a per-key expiry (`SET key value PX ttl`). */
export class RedisCacheStore implements LlmCacheStore {
  readonly kind = "redis" as const;
  readonly #client: Redis;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(deps: RedisCacheStoreDeps) {
    this.#owned = typeof deps.redis === "string";
    this.#client =
      typeof deps.redis === "string"
        ? new Redis(deps.redis, {
            maxRetriesPerRequest: 1,
            connectTimeout: 2000,
            // The cache is an optimisation: never hold calls in a queue while Redis is away for long.
            enableOfflineQueue: true,
          })
        : deps.redis;
    this.#prefix = deps.keyPrefix ?? "aria:llm:cache:";
    this.#timeoutMs = deps.timeoutMs ?? 250;
    // An error event with no listener would crash the process; the handler sees failures per call.
    if (this.#owned) this.#client.on("error", () => {});
  }

  async get(key: string): Promise<LlmResponse | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`redis cache lookup timed out after ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      const text = await Promise.race([this.#client.get(this.#prefix + key), timeout]);
      return text === null ? undefined : (JSON.parse(text) as LlmResponse);
    } finally {
      clearTimeout(timer);
    }
  }

  async set(key: string, value: LlmResponse, ttlMs: number): Promise<void> {
    await this.#client.set(this.#prefix + key, JSON.stringify(value), "PX", Math.max(1, ttlMs));
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }
}

/**
 * JSON with object keys sorted at every level, so two requests that differ only in key order (tool
 * parameter schemas, tool-call arguments) hash the same.
 */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return value === undefined ? "null" : JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      out += stableStringify(value[i]);
    }
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (!first) out += ",";
    first = false;
    out += `${JSON.stringify(key)}:${stableStringify(v)}`;
  }
  return `${out}}`;
}

/** The cache key of a normalised request: SHA-256 over its canonical JSON, base64url. */
export function cacheKey(parts: Record<string, unknown>): string {
  return createHash("sha256").update(stableStringify(parts)).digest("base64url");
}
