import { z } from "zod";

/** One entry of a run's working memory. */
export const WorkingMemoryEntrySchema = z.strictObject({
  key: z.string().min(1),
  value: z.unknown(),
  bytes: z.number().int().min(0),
  /** The step that produced it (step outputs are the evictable entries). */
  stepId: z.string().optional(),
  createdAt: z.string(),
  seq: z.number().int().min(0),
});
export type WorkingMemoryEntry = z.infer<typeof WorkingMemoryEntrySchema>;

export const HistoryEntrySchema = z.strictObject({
  at: z.string(),
  stepId: z.string().optional(),
  kind: z.string(),
  summary: z.string(),
  data: z.unknown().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

export const InsightSchema = z.strictObject({
  at: z.string(),
  source: z.string(),
  text: z.string(),
  confidence: z.number().min(0).max(1).optional(),
});
export type Insight = z.infer<typeof InsightSchema>;

/** A serialised RuntimeContext: round-trips everything, working memory included. */
export const ContextSnapshotSchema = z.strictObject({
  schemaVersion: z.literal(1),
  runId: z.string(),
  sessionId: z.string().optional(),
  task: z.string().optional(),
  memoryLimitBytes: z.number().int().positive(),
  memoryUsedBytes: z.number().int().min(0),
  nextSeq: z.number().int().min(0),
  workingMemory: z.array(WorkingMemoryEntrySchema),
  history: z.array(HistoryEntrySchema),
  insights: z.array(InsightSchema),
  errors: z.array(z.record(z.string(), z.unknown())),
  evictions: z.number().int().min(0).default(0),
  takenAt: z.string(),
});
export type ContextSnapshot = z.infer<typeof ContextSnapshotSchema>;

export const ConversationStateNameSchema = z.enum([
  "initiated",
  "working",
  "reflecting",
  "adapting",
  "concluding",
  "completed",
  "error",
]);
export type ConversationStateName = z.infer<typeof ConversationStateNameSchema>;

export const ConversationTurnSchema = z.strictObject({
  id: z.string(),
  role: z.enum(["system", "user", "assistant", "tool", "summary"]),
  content: z.string(),
  at: z.string(),
  agent: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
});
export type ConversationTurn = z.infer<typeof ConversationTurnSchema>;

/** A conversation session: turns, state and a context snapshot. */
export const ConversationSchema = z.strictObject({
  schemaVersion: z.literal(1),
  id: z.string(),
  state: ConversationStateNameSchema,
  agent: z.string().optional(),
  turns: z.array(ConversationTurnSchema),
  summary: z.string().optional(),
  tokenEstimate: z.number().int().min(0).default(0),
  createdAt: z.string(),
  updatedAt: z.string(),
  context: ContextSnapshotSchema.optional(),
});
export type Conversation = z.infer<typeof ConversationSchema>;
