import { z } from "zod";

/** Run event types streamed over SSE (contracts §3). */
export const RunEventTypeSchema = z.enum([
  "run.started",
  "plan.created",
  "step.started",
  "step.completed",
  "step.failed",
  "step.retrying",
  "reflection",
  "plan.adapted",
  "memory.evicted",
  "approval.requested",
  "approval.resolved",
  "guardrail.tripped",
  "llm.usage",
  "run.completed",
  "run.failed",
  "run.cancelled",
]);
export type RunEventType = z.infer<typeof RunEventTypeSchema>;

/** One event of a run. `seq` is the position in the run's append-only event log (SSE id). */
export const RunEventSchema = z.strictObject({
  runId: z.string(),
  seq: z.number().int().min(0),
  type: RunEventTypeSchema,
  at: z.string(),
  stepId: z.string().optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type RunEvent = z.infer<typeof RunEventSchema>;
