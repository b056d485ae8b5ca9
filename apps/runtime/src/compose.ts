import { createRequire } from "node:module";
import type { Logger, RuntimeConfig } from "@aria/core-types";
import type { Hono } from "hono";
import type { AppEnv } from "./app.ts";
import { createApp } from "./app.ts";
import { type AuditLog, MemoryAuditLog } from "./audit.ts";
import { describeConfig } from "./config.ts";
import { MemoryCounterStore } from "./http/rate-limit.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { dockerCheck, type ReadinessCheck } from "./readiness.ts";

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

  if (!config.redisUrl) {
    logger.warn(
      { state: "memory" },
      "REDIS_URL is not set: state is kept in memory and will not survive a restart",
    );
  }
  checks.push({
    name: "store",
    required: true,
    check: async () => ({ status: "up", kind: config.redisUrl ? "redis" : "memory" }),
  });
  checks.push(dockerCheck(config.dockerHost, config.features.containers));
  for (const provider of config.llm.providers) {
    const settings = config.llm[provider];
    const configured = provider === "local" ? Boolean(settings.baseURL) : Boolean(settings.apiKey);
    checks.push({
      name: `llm.${provider}`,
      required: false,
      check: async () =>
        configured
          ? { status: "up", detail: "configured" }
          : { status: "disabled", detail: `not configured (see docs/configuration.md)` },
    });
  }

  const metrics = createMetrics();
  const audit: AuditLog = new MemoryAuditLog();
  const counters = new MemoryCounterStore();

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
