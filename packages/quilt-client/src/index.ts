/**
 * @aria/quilt-client: hardened container execution over the Docker Engine API (dockerode), behind a
 * `ContainerBackend` interface; a `ContainerManager` with resource limits, admission control, a
 * creation rate limit, a warm pool of runner containers, cleanup and a reaper; and the executor for
 * bundle tools with `execution: "container"`.
 */
export type { ContainerAuditEntry, DispatchGrant, DispatchInfo } from "./audit.ts";
export type {
  CallOptions,
  ContainerBackend,
  ContainerConfig,
  ContainerLogs,
  ContainerMount,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  ContainerTmpfs,
  ExecResult,
} from "./backend.ts";
export {
  type DockerBackendOptions,
  DockerContainerBackend,
  type DockerCreateOptions,
  demuxLogs,
  isConnectionError,
  toDockerCreateOptions,
} from "./docker-backend.ts";
export {
  CreationRateLimiter,
  DEFAULT_LIMITS,
  type GovernorUsage,
  ResourceGovernor,
  type ResourceLease,
  type ResourceLimits,
} from "./governor.ts";
export {
  BUNDLE_TARGET,
  parseContainerSpec,
  parseUser,
  type Relaxation,
  type ResolveOptions,
  resolveContainerConfig,
  SOCKET_DIR_TARGET,
} from "./hardening.ts";
export { containerLabels, LABELS } from "./labels.ts";
export {
  type ContainerManagerMetrics,
  type ContainerManagerOptions,
  type ContainerToolRequest,
  type ContainerToolResult,
  createContainerManager,
  DEFAULT_RUNNER_COMMAND,
  DEFAULT_TOOL_IMAGE,
  type ManagerPoolOptions,
  QuiltContainerManager,
  type ReapReport,
  type RunOptions,
} from "./manager.ts";
export {
  DEFAULT_CAPS,
  DEFAULT_RESOURCES,
  deriveContainerResources,
  type ResourceCaps,
  type ResourceInputs,
  type ResourceProfile,
} from "./resources.ts";
export {
  RUNNER_SOCKET_NAME,
  RunnerConnection,
  type RunnerExecReply,
  type RunnerFailureReply,
  RunnerGoneError,
  type RunnerJob,
  type RunnerStats,
  type RunnerToolReply,
} from "./runner-client.ts";
export { runnerScriptPath } from "./runner-path.ts";
export { createSocketDir, removeSocketDir } from "./socket-dir.ts";
export {
  type ContainerToolExecutor,
  type ContainerToolExecutorDeps,
  createContainerToolExecutor,
  type OutputValidation,
} from "./tool-executor.ts";
export {
  DEFAULT_POOL_OPTIONS,
  type PoolMember,
  type PoolProfile,
  poolKey,
  WarmPool,
  type WarmPoolDeps,
  type WarmPoolOptions,
  type WarmPoolStats,
} from "./warm-pool.ts";
