import { z } from "zod";
import { RunStatusSchema, StepStatusSchema } from "./steps.ts";

/**
 * The checkpoint format version engines write today. Older records stay readable: engines migrate
 * them on load (`@aria/engines` keeps a corpus of older checkpoints in its tests).
 */
export const CHECKPOINT_SCHEMA_VERSION = 2;

/** A serialised error inside a checkpoint (the AriaError body; kept open so older bodies load). */
const CheckpointErrorSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
});

/** Token and cost usage a step spent (LLM calls made by the step). */
export const CheckpointUsageSchema = z.strictObject({
  inputTokens: z.number().int().min(0).default(0),
  outputTokens: z.number().int().min(0).default(0),
  costUsd: z.number().min(0).default(0),
});
export type CheckpointUsage = z.infer<typeof CheckpointUsageSchema>;

/** One step reached a final state: what it changed (its output, its error, its metrics). */
export const StepCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("step"),
  at: z.string(),
  stepId: z.string().min(1),
  index: z.number().int().min(0),
  status: StepStatusSchema,
  output: z.unknown().optional(),
  error: CheckpointErrorSchema.optional(),
  attempts: z.number().int().min(0),
  retries: z.number().int().min(0).default(0),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationMs: z.number().min(0).default(0),
  idempotencyKey: z.string().optional(),
  containerId: z.string().optional(),
  usage: CheckpointUsageSchema.optional(),
  /** A failure the run continues past (reflection skipped the step or a plan revision replaced it). */
  tolerated: z.boolean().optional(),
  /** The parameters the step ran with: placeholders resolved (and an approver's edits applied). */
  resolvedParams: z.record(z.string(), z.unknown()).optional(),
});
export type StepCheckpoint = z.infer<typeof StepCheckpointSchema>;

/** A value written to the run's working memory from outside a step's output (e.g. ICC `POST /context`). */
export const MemorySetCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("memory.set"),
  at: z.string(),
  key: z.string().min(1),
  value: z.unknown(),
});
export type MemorySetCheckpoint = z.infer<typeof MemorySetCheckpointSchema>;

/** Working-memory entries evicted by the 80% → 25% cleanup. */
export const MemoryEvictedCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("memory.evicted"),
  at: z.string(),
  keys: z.array(z.string()),
});
export type MemoryEvictedCheckpoint = z.infer<typeof MemoryEvictedCheckpointSchema>;

/** A worker took the run over (resume) under a new lease. */
export const RunResumedCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("run.resumed"),
  at: z.string(),
  owner: z.string(),
  fencingToken: z.number().int().min(0),
});
export type RunResumedCheckpoint = z.infer<typeof RunResumedCheckpointSchema>;

/** The run reached a final status. */
export const RunFinishedCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("run.finished"),
  at: z.string(),
  status: RunStatusSchema,
});
export type RunFinishedCheckpoint = z.infer<typeof RunFinishedCheckpointSchema>;

/** Nothing else could run: the run paused with these steps waiting for an approval. */
export const RunPausedCheckpointSchema = z.strictObject({
  schemaVersion: z.literal(2),
  kind: z.literal("run.paused"),
  at: z.string(),
  waiting: z.array(z.string()),
});
export type RunPausedCheckpoint = z.infer<typeof RunPausedCheckpointSchema>;

/** One incremental checkpoint record (current format, schema version 2). */
export const CheckpointRecordSchema = z.discriminatedUnion("kind", [
  StepCheckpointSchema,
  MemorySetCheckpointSchema,
  MemoryEvictedCheckpointSchema,
  RunResumedCheckpointSchema,
  RunFinishedCheckpointSchema,
  RunPausedCheckpointSchema,
]);
export type CheckpointRecord = z.infer<typeof CheckpointRecordSchema>;

/**
 * Schema version 1 (the pre-release format): only step results, each carrying a nested result
 * object, and a final marker. Still readable; engines migrate it to version 2 on load.
 */
export const CheckpointRecordV1Schema = z.discriminatedUnion("type", [
  z.looseObject({
    schemaVersion: z.literal(1),
    type: z.literal("step"),
    completedAt: z.string(),
    result: z.looseObject({
      stepId: z.string().min(1),
      index: z.number().int().min(0),
      success: z.boolean(),
      status: z.string().optional(),
      output: z.unknown().optional(),
      error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
      attempts: z.number().int().min(0).optional(),
      durationMs: z.number().min(0).optional(),
    }),
  }),
  z.looseObject({
    schemaVersion: z.literal(1),
    type: z.literal("finished"),
    completedAt: z.string(),
    status: z.string(),
  }),
]);
export type CheckpointRecordV1 = z.infer<typeof CheckpointRecordV1Schema>;
