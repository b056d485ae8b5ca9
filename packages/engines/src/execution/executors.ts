import type { PipelineManifest } from "@aria/core-types";
import type { RuntimeContext } from "../context/runtime-context.ts";

/** Tokens and cost a step spent (LLM calls it made), added to the run's metrics. */
export interface StepUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** What an agent or team step hands to its executor. */
export interface InvocationRequest {
  /** The task text: `params.task` when it is a string, else the step's description, else "". */
  task: string;
  /** The step's parameters after placeholder resolution. */
  input: Record<string, unknown>;
  runId: string;
  stepId: string;
  sessionId?: string;
  /** Stable per (run, step); the attempt number is separate. */
  idempotencyKey: string;
  attempt: number;
  /** Aborts on cancellation, run timeout or step timeout. */
  signal: AbortSignal;
  /** The run's context, when the step runs inside a run. */
  context?: RuntimeContext;
  /** Nesting depth (0 at the top-level run). */
  depth: number;
}

/** What an executor returns for a step. */
export interface InvocationResult {
  output: unknown;
  usage?: StepUsage;
}

/**
 * Runs an `agent` step (an LLM tool-calling loop). The intelligence layer implements it; engines
 * only call it.
 */
export interface AgentExecutor {
  executeAgent(request: InvocationRequest & { agent: string }): Promise<InvocationResult>;
}

/** Runs a `team` step with the team's strategy. The intelligence layer implements it. */
export interface TeamExecutor {
  executeTeam(request: InvocationRequest & { team: string }): Promise<InvocationResult>;
}

/** Runs a pipeline nested inside a step (the coordinator implements it with its own graph runner). */
export interface PipelineRunner {
  runNestedPipeline(
    pipeline: PipelineManifest,
    input: unknown,
    parent: {
      runId: string;
      stepId: string;
      /** Prefix for the nested steps' idempotency keys (`<run>:<step>/`). */
      keyPrefix: string;
      sessionId?: string;
      signal: AbortSignal;
      depth: number;
    },
  ): Promise<InvocationResult>;
}
