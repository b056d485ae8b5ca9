import type { ErrorBody, ExecutionStep } from "@aria/core-types";
import type { AriaError } from "@aria/errors";
import type { StepUsage } from "../execution/executors.ts";

/**
 * What the coordinator asks its {@link RunRecovery} when a step failed (after the step's own
 * retries). The intelligence layer's reflection answers it.
 */
export interface StepFailure {
  runId: string;
  stepId: string;
  /** Position of the step in the current plan (0-based). */
  index: number;
  /** The step as it is declared now (placeholders unresolved; a reflection rerun may have changed it). */
  step: ExecutionStep;
  /** The parameters it ran with, when its placeholders resolved. */
  resolvedParams?: Record<string, unknown>;
  error: ErrorBody;
  /** The run's reflection round this is (1-based). */
  round: number;
  /** How many times this step already failed and was recovered in this run (0 the first time). */
  stepRecoveries: number;
  plan: { id: string; objective: string; steps: readonly ExecutionStep[]; revision: number };
  /** Steps that reached a final state so far, in plan order. */
  finished: ReadonlyArray<{ stepId: string; status: string; error?: string }>;
  task?: string;
  sessionId?: string;
  /** Tokens and cost the run spent so far. */
  spent: StepUsage;
  signal: AbortSignal;
}

/** A step that succeeded (for reflection on successes, when the recovery asks for it). */
export interface StepSuccess {
  runId: string;
  stepId: string;
  index: number;
  step: ExecutionStep;
  output: unknown;
  plan: { id: string; objective: string; steps: readonly ExecutionStep[]; revision: number };
  sessionId?: string;
  signal: AbortSignal;
}

/**
 * What to do about a failed step:
 * - `retry`: run the step again, as it is or as `step` (changed parameters, a different tool);
 * - `skip`: go on without it (the run does not fail for it; steps reading its output cannot run);
 * - `replan`: replace the unfinished rest of the plan (finished steps are kept), see `replan`;
 * - `abort`: stop the run with `error` (default: the step's own failure);
 * - `fail`: do nothing: the failure stands (as without recovery);
 * - `continue`: nothing to do (the answer for successful steps).
 */
export type RecoveryDecision =
  | { action: "retry"; step?: ExecutionStep }
  | { action: "skip" }
  | { action: "replan"; guidance?: string }
  | { action: "abort"; error?: AriaError }
  | { action: "fail" }
  | { action: "continue" };

/** The recovery's answer: the decision, what to record, what it cost. */
export interface RecoveryAnswer {
  decision: RecoveryDecision;
  /** Recorded as the `reflection` event's data and in the run's history. */
  reflection?: Record<string, unknown>;
  /** An insight worth keeping in the run's context. */
  insight?: { text: string; confidence?: number };
  usage?: StepUsage;
}

/** What the coordinator asks for after a `replan` decision. */
export interface ReplanRequest {
  runId: string;
  objective: string;
  task?: string;
  input?: unknown;
  sessionId?: string;
  /** The plan being replaced. */
  plan: { id: string; steps: readonly ExecutionStep[]; revision: number };
  /** Finished steps the new plan keeps, in order (they become its steps 1..k). */
  kept: ReadonlyArray<{
    step: ExecutionStep;
    succeeded: boolean;
    output?: unknown;
    error?: { code: string; message: string };
  }>;
  /** The failure that led here, the reflection's record of it, and its guidance. */
  cause?: {
    stepId: string;
    error?: ErrorBody;
    reflection?: Record<string, unknown>;
    guidance?: string;
  };
  spent: StepUsage;
  signal: AbortSignal;
}

/** The steps that replace the unfinished rest of the plan. */
export interface ReplanAnswer {
  steps: unknown[];
  reasoning?: string;
  usage?: StepUsage;
}

/**
 * The coordinator's hook for reflection: it asks after every failed step what to do, and carries
 * the decision out within the run's bounds (`maxReflectionRounds`, `maxPlanRevisions`, token and cost
 * budgets), recording a `reflection` event per answer and a `plan.adapted` event per plan revision.
 */
export interface RunRecovery {
  onStepFailed(failure: StepFailure): Promise<RecoveryAnswer>;
  replan(request: ReplanRequest): Promise<ReplanAnswer>;
  /** Optional reflection on successful steps: recorded (event, history, insight); its decision is not acted on. */
  onStepSucceeded?(success: StepSuccess): Promise<RecoveryAnswer | undefined>;
}
