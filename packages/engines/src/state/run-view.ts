import type {
  ErrorBody,
  RunState,
  StateStore,
  StepCheckpoint,
  StepKind,
  StepResult,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { emptyExecutionMetrics } from "../coordinator/metrics.ts";
import { foldCheckpoints } from "./checkpoints.ts";

/**
 * A run with all its step results, from any StateStore: the run record plus the step results in
 * its checkpoints. Engines write each finished step once, as a checkpoint, and keep only skipped
 * and cancelled steps in the run record, so this is how to read a run's steps, while it runs and
 * after it ended (`GET /v1/runs/:id`). Undefined when there is no such run.
 */
export async function readRunView(store: StateStore, runId: string): Promise<RunState | undefined> {
  const stored = await store.getRun(runId);
  if (stored === undefined) return undefined;
  const folded = foldCheckpoints(await store.readCheckpoints(runId));
  const planSteps = stored.plan?.steps ?? [];
  const byIndex = new Map<number, StepResult>();
  for (const checkpoint of folded.steps.values()) {
    byIndex.set(
      checkpoint.index,
      stepResultFromCheckpoint(checkpoint, planSteps[checkpoint.index]?.type ?? "tool"),
    );
  }
  for (const step of stored.steps) if (!byIndex.has(step.index)) byIndex.set(step.index, step);
  const steps = [...byIndex.values()].sort((a, b) => a.index - b.index);
  return { ...stored, steps };
}

/** A stored error (possibly from an older format with only code and message) as a full body. */
export function normaliseErrorBody(error: { code: string; message: string }): ErrorBody {
  return AriaError.fromBody(error as ErrorBody).toBody();
}

function stepResultFromCheckpoint(checkpoint: StepCheckpoint, type: StepKind): StepResult {
  const result: StepResult = {
    stepId: checkpoint.stepId,
    index: checkpoint.index,
    type,
    status: checkpoint.status,
    success: checkpoint.status === "succeeded",
    metrics: {
      ...emptyExecutionMetrics(),
      durationMs: checkpoint.durationMs,
      attempts: checkpoint.attempts,
      retries: checkpoint.retries,
      ...(checkpoint.startedAt !== undefined ? { startedAt: checkpoint.startedAt } : {}),
      ...(checkpoint.finishedAt !== undefined ? { finishedAt: checkpoint.finishedAt } : {}),
      ...(checkpoint.usage !== undefined
        ? {
            inputTokens: checkpoint.usage.inputTokens,
            outputTokens: checkpoint.usage.outputTokens,
            costUsd: checkpoint.usage.costUsd,
          }
        : {}),
    },
  };
  if (checkpoint.status === "succeeded") result.output = checkpoint.output;
  if (checkpoint.error !== undefined) result.error = normaliseErrorBody(checkpoint.error);
  if (checkpoint.idempotencyKey !== undefined) result.idempotencyKey = checkpoint.idempotencyKey;
  if (checkpoint.containerId !== undefined) result.containerId = checkpoint.containerId;
  if (checkpoint.resolvedParams !== undefined) result.resolvedParams = checkpoint.resolvedParams;
  return result;
}
