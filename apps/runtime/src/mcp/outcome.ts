import type { McpCallOutcome, McpRunEvent } from "./backend.ts";

/** A run event as the backends pass it on (`RunEvent` or an SSE event of `/v1/runs/:id/events`). */
export function mcpEvent(
  runId: string,
  event: { type: string; stepId?: string | undefined; data: Record<string, unknown> },
): McpRunEvent {
  return {
    runId,
    type: event.type,
    ...(event.stepId ? { stepId: event.stepId } : {}),
    data: event.data,
  };
}

/** The parts of an ended run an outcome needs (`RunState`, or `GET /v1/runs/:id`'s answer). */
export interface EndedRun {
  status: string;
  result?: unknown;
  error?: {
    code: string;
    message: string;
    userGuidance?: string;
    details?: Record<string, unknown>;
  } | null;
  metrics?: { durationMs: number };
  cost?: { usd: number };
}

/** The outcome of an ended run (the same for both backends: they read the same view). */
export function outcomeOf(runId: string, run: EndedRun | undefined): McpCallOutcome {
  if (!run)
    return {
      ok: false,
      runId,
      status: "unknown",
      error: { code: "RUN_NOT_FOUND", message: `Run ${runId} cannot be read` },
    };
  const base = {
    runId,
    status: run.status,
    ...(run.metrics ? { durationMs: run.metrics.durationMs } : {}),
    ...(run.cost ? { costUsd: run.cost.usd } : {}),
  };
  if (run.status === "succeeded") return { ok: true, ...base, result: run.result ?? null };
  const error = run.error ?? undefined;
  return {
    ok: false,
    ...base,
    error: error
      ? {
          code: error.code,
          message: error.message,
          ...(error.userGuidance ? { userGuidance: error.userGuidance } : {}),
          ...(error.details ? { details: error.details } : {}),
        }
      : run.status === "cancelled"
        ? { code: "RUN_CANCELLED", message: `Run ${runId} was cancelled` }
        : { code: "INTERNAL_ERROR", message: `Run ${runId} ended ${run.status}` },
  };
}
