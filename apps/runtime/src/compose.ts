import { createRequire } from "node:module";
import type { Logger, RuntimeConfig, StateStore } from "@aria/core-types";
import { MemoryStateStore } from "@aria/engines";
import { createLlmHandler, type LlmHandler } from "@aria/llm";
import type { Hono } from "hono";
import type { Redis } from "ioredis";
import { type AppEnv, createApp } from "./app.ts";
import { type AuditLog, MemoryAuditLog } from "./audit.ts";
import { describeConfig } from "./config.ts";
import { type CounterStore, MemoryCounterStore } from "./http/rate-limit.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { dockerCheck, type ReadinessCheck } from "./readiness.ts";
import { RedisAuditLog } from "./redis/audit.ts";
import { connectRedis, waitReady } from "./redis/connection.ts";
import { RedisCounterStore } from "./redis/counters.ts";
import { RedisStateStore } from "./redis/state-store.ts";

const pkg = createRequire(import.meta.url)("../package.json") as { version: string };

/** A long-lived part of the runtime, closed in reverse order of creation on shutdown. */
export interface Closeable {
  name: string;
  close(): Promise<void>;
}

export interface Runtime {
  config: RuntimeConfig;
  app: Hono<AppEnv>;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  store: StateStore;
  llm: LlmHandler;
  redis: Redis | undefined;
  closeables: Closeable[];
  close(): Promise<void>;
}

/**
 * The composition root: the only place that builds concrete collaborators and wires them together
 * (config → clients → stores and registries → engines → HTTP apps). Later layers add themselves here.
 */
export async function composeRuntime(config: RuntimeConfig, logger: Logger): Promise<Runtime> {
  const closeables: Closeable[] = [];
  const checks: ReadinessCheck[] = [];
  const metrics = createMetrics();

  // State: Redis when configured (shared by replicas, survives restarts), memory otherwise.
  let redis: Redis | undefined;
  let store: StateStore;
  let audit: AuditLog;
  let counters: CounterStore;
  if (config.redisUrl) {
    const client = connectRedis(config.redisUrl, { name: "aria-runtime" });
    redis = client;
    client.on("error", (error: Error) =>
      logger.warn({ err: { message: error.message } }, "redis connection error"),
    );
    closeables.push({ name: "redis", close: async () => void client.disconnect() });
    await waitReady(client, 10_000);
    store = new RedisStateStore({ redis: client });
    audit = new RedisAuditLog({ redis: client });
    counters = new RedisCounterStore({ redis: client });
    checks.push({
      name: "store",
      required: true,
      check: async () => {
        try {
          await client.ping();
          return { status: "up", kind: "redis" };
        } catch (error) {
          return {
            status: "down",
            kind: "redis",
            detail: `${(error as Error).message}; check REDIS_URL and that Redis runs`,
          };
        }
      },
    });
  } else {
    logger.warn(
      { state: "memory" },
      "REDIS_URL is not set: state is kept in memory and will not survive a restart",
    );
    store = new MemoryStateStore();
    audit = new MemoryAuditLog();
    counters = new MemoryCounterStore();
    checks.push({
      name: "store",
      required: true,
      check: async () => ({
        status: "up",
        kind: "memory",
        detail: "state will not survive a restart",
      }),
    });
  }
  closeables.push({ name: "store", close: () => store.close() });

  checks.push(dockerCheck(config.dockerHost, config.features.containers));

  // LLM: one handler over the configured providers; usage feeds metrics.
  const llm = createLlmHandler({
    config: config.llm,
    limits: config.limits,
    cache: config.features.caching ? { ...(redis ? { redis } : {}) } : false,
    logger: logger.child({ component: "llm" }),
    onUsage: (event) => {
      metrics.llmTokens.inc(
        { provider: event.provider, model: event.model, direction: "input" },
        event.usage.inputTokens,
      );
      metrics.llmTokens.inc(
        { provider: event.provider, model: event.model, direction: "output" },
        event.usage.outputTokens,
      );
      metrics.llmCost.inc({ provider: event.provider, model: event.model }, event.costUsd);
    },
    onBreakerStateChange: (provider, state) => {
      metrics.llmBreakerOpen.set({ provider }, state === "open" ? 1 : 0);
      logger.warn({ provider, state }, "LLM provider circuit breaker changed state");
    },
  });
  closeables.push({ name: "llm", close: () => llm.close() });
  for (const provider of config.llm.providers) {
    checks.push({
      name: `llm.${provider}`,
      required: false,
      check: async () => {
        const health = llm.health().providers[provider];
        if (!health?.configured)
          return { status: "disabled", detail: "not configured (see docs/configuration.md)" };
        const status =
          health.state === "open" ? "down" : health.state === "half-open" ? "degraded" : "up";
        return {
          status,
          breaker: health.state,
          ...(health.defaultModel ? { model: health.defaultModel } : {}),
        };
      },
    });
  }

  logger.info({ config: describeConfig(config) }, "configuration loaded");
  await audit.record({
    actor: "runtime",
    action: "runtime.start",
    outcome: "success",
    details: describeConfig(config),
  });

  const app = createApp({
    logger,
    checks,
    version: pkg.version,
    startedAt: Date.now(),
    metrics,
    audit,
    apiKeys: config.apiKeys,
    counters,
    rateLimitPerMinute: config.limits.rateLimitPerMinute,
  });

  let closed = false;
  return {
    config,
    app,
    logger,
    metrics,
    audit,
    store,
    llm,
    redis,
    closeables,
    async close() {
      if (closed) return;
      closed = true;
      for (const part of [...closeables].reverse()) {
        try {
          await part.close();
        } catch (error) {
          logger.error({ err: error, part: part.name }, "error while closing");
        }
      }
    },
  };
}
