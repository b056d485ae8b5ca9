import {
  CHECKPOINT_SCHEMA_VERSION,
  type CheckpointRecord,
  CheckpointRecordSchema,
  CheckpointRecordV1Schema,
  type RunStatus,
  type StepCheckpoint,
  type StepStatus,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

export { CHECKPOINT_SCHEMA_VERSION };

/**
 * Reads one stored checkpoint record of any supported schema version and returns it in the current
 * format (version 2). Version 1 records (step results nested under `result`) are migrated.
 */
export function migrateCheckpoint(raw: unknown): CheckpointRecord {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version === CHECKPOINT_SCHEMA_VERSION) {
    const parsed = CheckpointRecordSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    throw corrupt(
      raw,
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  if (version === 1) {
    const parsed = CheckpointRecordV1Schema.safeParse(raw);
    if (!parsed.success)
      throw corrupt(
        raw,
        parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
      );
    const v1 = parsed.data;
    if (v1.type === "finished") {
      return {
        schemaVersion: 2,
        kind: "run.finished",
        at: v1.completedAt,
        status: toRunStatus(v1.status),
      };
    }
    const result = v1.result;
    const status: StepStatus = isStepStatus(result.status)
      ? result.status
      : result.success
        ? "succeeded"
        : "failed";
    const record: StepCheckpoint = {
      schemaVersion: 2,
      kind: "step",
      at: v1.completedAt,
      stepId: result.stepId,
      index: result.index,
      status,
      attempts: result.attempts ?? 1,
      retries: Math.max(0, (result.attempts ?? 1) - 1),
      durationMs: result.durationMs ?? 0,
      finishedAt: v1.completedAt,
    };
    if (result.success && "output" in result) record.output = result.output;
    if (result.error !== undefined) record.error = result.error;
    return record;
  }
  if (typeof version === "number" && version > CHECKPOINT_SCHEMA_VERSION) {
    throw new AriaError("VALIDATION_FAILED", {
      message: `Checkpoint schema version ${version} is newer than this engine reads (${CHECKPOINT_SCHEMA_VERSION}); upgrade the runtime`,
      details: { schemaVersion: version },
    });
  }
  throw corrupt(raw, "no known schemaVersion");
}

/** A run's checkpoints folded into what resume needs. */
export interface FoldedCheckpoints {
  /** The last record of each step that reached a final state. */
  steps: Map<string, StepCheckpoint>;
  /** Working-memory writes that were not step outputs, in order (last write wins). */
  memory: Map<string, unknown>;
  /** Keys evicted by memory cleanup. */
  evicted: Set<string>;
  /** The final status, when the run finished. */
  finished: RunStatus | undefined;
  resumes: number;
  records: number;
  /** Time spent paused for approvals and resumed since (ms), and when the last open pause began. */
  pausedMs: number;
  pausedAt: number | undefined;
}

/** Migrates and folds a run's checkpoint list. */
export function foldCheckpoints(raw: readonly unknown[]): FoldedCheckpoints {
  const folded: FoldedCheckpoints = {
    steps: new Map(),
    memory: new Map(),
    evicted: new Set(),
    finished: undefined,
    resumes: 0,
    records: raw.length,
    pausedMs: 0,
    pausedAt: undefined,
  };
  for (const item of raw) {
    const record = migrateCheckpoint(item);
    switch (record.kind) {
      case "step":
        folded.steps.set(record.stepId, record);
        // A step written again after an eviction makes its output live again.
        folded.evicted.delete(`steps.${record.stepId}.output`);
        break;
      case "memory.set":
        folded.memory.set(record.key, record.value);
        folded.evicted.delete(record.key);
        break;
      case "memory.evicted":
        for (const key of record.keys) folded.evicted.add(key);
        break;
      case "run.resumed":
        folded.resumes++;
        if (folded.pausedAt !== undefined) {
          folded.pausedMs += Math.max(0, Date.parse(record.at) - folded.pausedAt);
          folded.pausedAt = undefined;
        }
        break;
      case "run.paused":
        folded.pausedAt = Date.parse(record.at);
        break;
      case "run.finished":
        folded.finished = record.status;
        break;
    }
  }
  return folded;
}

const STEP_STATUSES: readonly string[] = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
];
function isStepStatus(value: unknown): value is StepStatus {
  return typeof value === "string" && STEP_STATUSES.includes(value);
}

function toRunStatus(value: string): RunStatus {
  switch (value) {
    case "succeeded":
    case "completed":
    case "success":
      return "succeeded";
    case "cancelled":
    case "aborted":
      return "cancelled";
    case "failed":
    case "error":
      return "failed";
    default:
      return "failed";
  }
}

function corrupt(raw: unknown, why: string): AriaError {
  return new AriaError("VALIDATION_FAILED", {
    message: `A checkpoint record cannot be read: ${why}`,
    details: { record: typeof raw === "object" ? raw : String(raw) },
  });
}
