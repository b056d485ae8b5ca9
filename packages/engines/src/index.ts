/**
 * @aria/engines: the execution core of Aria Runtime. Placeholder resolution, the per-run
 * RuntimeContext, the single-step ExecutionEngine, pipelines and plans as parallel dependency
 * graphs, the AriaRuntimeEngine coordinator with incremental checkpoints, leases and resume, and an
 * in-memory StateStore.
 */

// Context
export { entryBytes, jsonBytes } from "./context/byte-size.ts";
export {
  CONTEXT_DEFAULTS,
  type MemoryEviction,
  type MemoryUsage,
  RuntimeContext,
  type RuntimeContextOptions,
} from "./context/runtime-context.ts";
// Coordinator
export {
  AriaRuntimeEngine,
  type AriaRuntimeEngineConfig,
  type AriaRuntimeEngineDeps,
  type PlanInput,
  type RunRequest,
  type RunResult,
} from "./coordinator/aria-runtime-engine.ts";
export {
  type FailurePolicy,
  GraphRun,
  type GraphRunConfig,
  type GraphRunHooks,
  type GraphRunResult,
  type GraphRunStop,
  type StepRecord,
} from "./coordinator/graph-run.ts";
export { type EngineMetricsSnapshot, emptyExecutionMetrics } from "./coordinator/metrics.ts";

// Single steps
export {
  abortError,
  ExecutionEngine,
  type ExecutionEngineConfig,
  type ExecutionEngineDeps,
  type RetryNotice,
  resolveStep,
  type StepOutcome,
  type StepRunOptions,
} from "./execution/execution-engine.ts";
export type {
  AgentExecutor,
  InvocationRequest,
  InvocationResult,
  PipelineRunner,
  StepUsage,
  TeamExecutor,
} from "./execution/executors.ts";
export {
  backoffDelay,
  maxAttempts,
  RETRY_DEFAULTS,
  type RetryDefaults,
} from "./execution/retry.ts";
export { type CompiledStep, compileStep } from "./execution/step-template.ts";

// Plans as graphs
export {
  buildPlanGraph,
  type ImplicitOrder,
  type PlanGraph,
  type PlanGraphOptions,
  type PlanProblem,
  planInvalid,
  validatePlan,
} from "./graph/plan-graph.ts";
// Placeholders (contracts §1)
export {
  type CompiledTemplate,
  compileTemplate,
  listPlaceholderReferences,
} from "./placeholders/compile.ts";
export {
  clearPlaceholderCache,
  formatPath,
  type PathSegment,
  type PlaceholderReference,
} from "./placeholders/parse.ts";
export {
  type PlaceholderScope,
  type PlaceholderSource,
  type PlaceholderStep,
  resolvePlaceholders,
  resolveValue,
  sourceFromScope,
  type UnresolvedReason,
} from "./placeholders/resolve.ts";

// State
export {
  CHECKPOINT_SCHEMA_VERSION,
  type FoldedCheckpoints,
  foldCheckpoints,
  migrateCheckpoint,
} from "./state/checkpoints.ts";
export {
  MemoryStateStore,
  type MemoryStateStoreOptions,
  runLeaseKey,
} from "./state/memory-state-store.ts";
export { readRunView } from "./state/run-view.ts";
