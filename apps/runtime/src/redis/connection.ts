import { AriaError } from "@aria/errors";
import { Redis } from "ioredis";

/**
 * Opens an ioredis connection that fails fast instead of queueing forever when Redis is down:
 * commands are rejected while disconnected (STORE_UNAVAILABLE upstream) and the client keeps
 * reconnecting in the background, so the runtime recovers when Redis returns.
 */
export function connectRedis(url: string, options: { name?: string } = {}): Redis {
  return new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
    connectionName: options.name ?? "aria-runtime",
    retryStrategy: (times) => Math.min(1000, 50 * times),
  });
}

/** Maps a Redis failure to STORE_UNAVAILABLE (503), keeping the cause. */
export function storeUnavailable(error: unknown, operation: string): AriaError {
  if (AriaError.is(error)) return error;
  return new AriaError("STORE_UNAVAILABLE", {
    message: `The state store is unavailable (${operation}): ${(error as Error)?.message ?? String(error)}`,
    cause: error,
    context: { component: "store", operation },
  });
}

/** Runs a Redis operation, mapping connection failures to STORE_UNAVAILABLE. */
export async function guarded<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw storeUnavailable(error, operation);
  }
}

/** Waits until the client is ready (or fails with STORE_UNAVAILABLE after `timeoutMs`). */
export async function waitReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(storeUnavailable(new Error(`no connection within ${timeoutMs} ms`), "connect"));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off("ready", onReady);
    };
    redis.on("ready", onReady);
  });
}
