/**
 * @aria/engines: the execution core of Aria Runtime. Placeholder resolution, the per-run
 * RuntimeContext, the single-step ExecutionEngine, pipelines and plans as parallel dependency
 * graphs, the AriaRuntimeEngine coordinator with incremental checkpoints, leases and resume, and an
 * in-memory StateStore.
 */

export { LlmToolNames, toLlmToolName } from "@aria/core-types";
// Intelligence (issue 6): agents, planning, reflection, conversations, teams
export {
  type AgentExecutorDeps,
  type AgentGuard,
  type AgentInvocationOptions,
  type AgentInvocationResult,
  type AgentInvocationUsage,
  type AgentInvoker,
  type AgentStepOutput,
  createAgentExecutor,
  type IntelligentAgentExecutor,
  toDefinition,
} from "./agents/agent-executor.ts";
export {
  type AgentDefinition,
  AgentLoop,
  type AgentLoopConfig,
  type AgentLoopDeps,
  type AgentRunOptions,
  type AgentRunResult,
  type AgentToolCallRecord,
  createAgentLoop,
  jsonCalls,
  type ToolCallMode,
} from "./agents/agent-loop.ts";
export {
  addUsage,
  Budget,
  type BudgetLimits,
  budgetExceeded,
  emitLlmUsage,
  emptyUsage,
  UsageLedger,
  type UsageTotals,
} from "./agents/budget.ts";
export {
  createIntelligence,
  type Intelligence,
  type IntelligenceConfig,
  type IntelligenceDeps,
} from "./agents/intelligence.ts";
export { extractJson } from "./agents/json-reply.ts";
// Context
export { entryBytes, jsonBytes } from "./context/byte-size.ts";
export {
  CONTEXT_DEFAULTS,
  type MemoryEviction,
  type MemoryUsage,
  RuntimeContext,
  type RuntimeContextOptions,
} from "./context/runtime-context.ts";
export {
  CONVERSATION_TRANSITIONS,
  ConversationEngine,
  type ConversationEngineDeps,
  estimateTokens,
  type SummarizationConfig,
  type TurnRole,
} from "./conversation/conversation-engine.ts";
export {
  SESSIONS_NAMESPACE,
  type SessionAgentInvoker,
  SessionManager,
  type SessionManagerDeps,
  type SessionReply,
} from "./conversation/session-manager.ts";
// Coordinator
export {
  APPROVALS_INDEX_NAMESPACE,
  APPROVALS_NAMESPACE,
  ApprovalBook,
  type ApprovalInput,
  ApprovalPolicyCheck,
  type ApprovalSettings,
} from "./coordinator/approvals.ts";
export {
  AriaRuntimeEngine,
  type AriaRuntimeEngineConfig,
  type AriaRuntimeEngineDeps,
  type PlanInput,
  type RunRequest,
  type RunResult,
} from "./coordinator/aria-runtime-engine.ts";
export {
  type ApprovalAnswer,
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
export {
  checkPlan,
  type PlanIssue,
  type PlanValidationContext,
} from "./planning/plan-validation.ts";
export {
  type AdaptedPlan,
  type AdaptPlanRequest,
  type CreatedPlan,
  type KeptStep,
  type PlanningAgent,
  type PlanningCallOptions,
  type PlanningConfig,
  PlanningEngine,
  type PlanningEngineDeps,
  type TaskAnalysis,
  type TaskComplexity,
  type TaskHint,
} from "./planning/planning-engine.ts";
export {
  createTaskRunner,
  type TaskMode,
  type TaskRequest,
  type TaskResult,
  type TaskRunner,
  type TaskRunnerDeps,
} from "./planning/task-runner.ts";
export {
  PONDER_TOOL_KEY,
  type Reflection,
  type ReflectionAction,
  type ReflectionActionType,
  type ReflectionAssessment,
  ReflectionEngine,
  type ReflectionEngineDeps,
  type ReflectionRequest,
} from "./reflection/reflection-engine.ts";
export {
  createReflectionRecovery,
  type ReflectionRecoveryDeps,
  TASK_PLAN_PREFIX,
} from "./reflection/reflection-recovery.ts";
export type {
  RecoveryAnswer,
  RecoveryDecision,
  ReplanAnswer,
  ReplanRequest,
  RunRecovery,
  StepFailure,
  StepSuccess,
} from "./reflection/run-recovery.ts";
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
export {
  createTeamExecutor,
  memberRole,
  TEAM_ROLE_ORDER,
  type TeamExecutorDeps,
  type TeamMemberInvoker,
  type TeamMemberResult,
  type TeamOutput,
  type TeamRole,
} from "./teams/team-executor.ts";
