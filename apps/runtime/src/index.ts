/**
 * @aria/runtime: the runtime process. Exposes its building blocks for tests and embedding.
 */
export { type AppDeps, createApp, errorResponse } from "./app.ts";
export { type Closeable, composeRuntime, type Runtime } from "./compose.ts";
export {
  configFromEnv,
  describeConfig,
  ENV_FIELDS,
  type LoadConfigOptions,
  loadConfig,
} from "./config.ts";
export { createLogger } from "./logger.ts";
export {
  type DependencyState,
  type DependencyStatus,
  dockerCheck,
  type ReadinessCheck,
  runChecks,
} from "./readiness.ts";
export { type RunningServer, startServer } from "./server.ts";
