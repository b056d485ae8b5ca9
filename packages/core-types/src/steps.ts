import { z } from "zod";
import { JsonValueSchema } from "./json.ts";
import { PipelineStepSpecSchema, StepKindSchema } from "./manifest.ts";

/** Core-types names of the step kinds (clarifications: Step kinds). */
export const StepTypeNames = {
  tool: "ToolCall",
  agent: "AgentInvocation",
  team: "TeamInvocation",
  container: "ContainerWorkload",
  pipeline: "PipelineExecution",
  reasoning: "Reasoning",
} as const;

/** A step of an execution plan: the manifest step shape, as the LLM also writes it. */
export const ExecutionStepSchema = PipelineStepSpecSchema;
export type ExecutionStep = z.infer<typeof ExecutionStepSchema>;

/** Typed views of each step kind. */
export type ToolCallStep = ExecutionStep & { type: "tool"; tool: string };
export type AgentInvocationStep = ExecutionStep & { type: "agent"; agent: string };
export type TeamInvocationStep = ExecutionStep & { type: "team"; team: string };
export type ContainerWorkloadStep = ExecutionStep & {
  type: "container";
  image: string;
  command: string[];
};
export type PipelineExecutionStep = ExecutionStep & { type: "pipeline"; pipeline: string };
export type ReasoningStep = ExecutionStep & { type: "reasoning" };

/** An execution plan: steps in declared order (`step_N_output` is `steps[N-1]`). */
export const ExecutionPlanSchema = z.strictObject({
  id: z.string().min(1),
  objective: z.string().default(""),
  steps: z.array(ExecutionStepSchema).min(1),
  revision: z.number().int().min(0).default(0),
  output: JsonValueSchema.optional(),
  reasoning: z.string().optional(),
});
export type ExecutionPlan = z.infer<typeof ExecutionPlanSchema>;

export const StepStatusSchema = z.enum([
  "pending",
  "running",
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
  /** Parked until a human approves or rejects it (the run is `paused`). */
  "waiting",
]);
export type StepStatus = z.infer<typeof StepStatusSchema>;

/** Metrics of one step or run. */
export const ExecutionMetricsSchema = z.strictObject({
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationMs: z.number().min(0).default(0),
  attempts: z.number().int().min(0).default(0),
  retries: z.number().int().min(0).default(0),
  stepsTotal: z.number().int().min(0).default(0),
  stepsSucceeded: z.number().int().min(0).default(0),
  stepsFailed: z.number().int().min(0).default(0),
  stepsSkipped: z.number().int().min(0).default(0),
  inputTokens: z.number().int().min(0).default(0),
  outputTokens: z.number().int().min(0).default(0),
  costUsd: z.number().min(0).default(0),
  containerCpuMs: z.number().min(0).optional(),
  containerMemoryPeakBytes: z.number().min(0).optional(),
});
export type ExecutionMetrics = z.infer<typeof ExecutionMetricsSchema>;

/** The serialisable error inside results and run state (the AriaError envelope body). */
export const ErrorBodySchema = z.strictObject({
  code: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
  category: z.string(),
  severity: z.enum(["low", "medium", "high", "critical"]),
  message: z.string(),
  userGuidance: z.string(),
  recoveryActions: z.array(z.string()),
  retryable: z.boolean().default(false),
  details: z.record(z.string(), z.unknown()).default({}),
  context: z.record(z.string(), z.unknown()).default({}),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** The JSON error envelope every HTTP error answers with (contracts §3). */
export const ErrorEnvelopeSchema = z.strictObject({ error: ErrorBodySchema });
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

export const StepResultSchema = z.strictObject({
  stepId: z.string(),
  index: z.number().int().min(0),
  type: StepKindSchema,
  status: StepStatusSchema,
  success: z.boolean(),
  output: z.unknown().optional(),
  error: ErrorBodySchema.optional(),
  /** Parameters after placeholder resolution. */
  resolvedParams: z.record(z.string(), z.unknown()).optional(),
  idempotencyKey: z.string().optional(),
  containerId: z.string().optional(),
  metrics: ExecutionMetricsSchema,
});
export type StepResult = z.infer<typeof StepResultSchema>;

export const RunStatusSchema = z.enum([
  "queued",
  "running",
  "paused",
  "succeeded",
  "failed",
  "cancelled",
]);
export type RunStatus = z.infer<typeof RunStatusSchema>;

/** What a run targets. */
export const RunTargetSchema = z.union([
  z.strictObject({ kind: z.literal("agent"), name: z.string().min(1) }),
  z.strictObject({ kind: z.literal("pipeline"), name: z.string().min(1) }),
  z.strictObject({ kind: z.literal("team"), name: z.string().min(1) }),
  z.strictObject({ kind: z.literal("plan") }),
]);
export type RunTarget = z.infer<typeof RunTargetSchema>;

export const RunOptionsSchema = z.strictObject({
  maxSteps: z.number().int().positive().max(10_000).optional(),
  planning: z.boolean().optional(),
  reflection: z.boolean().optional(),
  timeoutMs: z.number().int().positive().max(86_400_000).optional(),
  maxParallel: z.number().int().positive().max(1024).optional(),
  maxTokens: z.number().int().positive().optional(),
  maxCostUsd: z.number().positive().optional(),
});
export type RunOptions = z.infer<typeof RunOptionsSchema>;

/** The durable state of a run (what `GET /v1/runs/:id` shows). */
export const RunStateSchema = z.strictObject({
  id: z.string().min(1),
  status: RunStatusSchema,
  target: RunTargetSchema,
  task: z.string().optional(),
  input: z.unknown().optional(),
  sessionId: z.string().optional(),
  options: RunOptionsSchema.default({}),
  plan: ExecutionPlanSchema.optional(),
  steps: z.array(StepResultSchema).default([]),
  result: z.unknown().optional(),
  error: ErrorBodySchema.optional(),
  metrics: ExecutionMetricsSchema,
  cost: z.strictObject({
    usd: z.number().min(0),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Monotonic version for compare-and-set. */
  version: z.number().int().min(0).default(0),
});
export type RunState = z.infer<typeof RunStateSchema>;
