/**
 * @aria/runtime: the runtime process. Exposes its building blocks for tests and embedding.
 */

export { type AppDeps, type AppEnv, createApp, errorResponse } from "./app.ts";
export {
  type AuditEntry,
  type AuditInput,
  type AuditLog,
  buildEntry,
  MemoryAuditLog,
} from "./audit.ts";
export { cliMain } from "./cli.ts";
export { type Closeable, composeRuntime, type Runtime } from "./compose.ts";
export {
  configFromEnv,
  describeConfig,
  ENV_FIELDS,
  type LoadConfigOptions,
  loadConfig,
} from "./config.ts";
export { apiKeyAuth, keyId } from "./http/auth.ts";
export { jsonBody, readBody, validationError } from "./http/body.ts";
export { type CounterStore, MemoryCounterStore, rateLimit } from "./http/rate-limit.ts";
export { createLogger } from "./logger.ts";
export { createMetrics, type Metrics } from "./metrics.ts";
export {
  type DependencyState,
  type DependencyStatus,
  dockerCheck,
  type ReadinessCheck,
  runChecks,
} from "./readiness.ts";
export { type RunningServer, startServer } from "./server.ts";
