import { z } from "zod";
import {
  LlmMessageSchema,
  LlmToolCallSchema,
  LlmToolDefinitionSchema,
  LlmUsageSchema,
} from "./llm.ts";

/** Permissions bound into an ICC token. */
export const IccPermissionSchema = z.enum(["tools", "agents", "llm", "context"]);
export type IccPermission = z.infer<typeof IccPermissionSchema>;

export const IccToolCallRequestSchema = z.strictObject({
  parameters: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});
export const IccToolCallResponseSchema = z.strictObject({
  success: z.boolean(),
  result: z.unknown(),
  error: z.record(z.string(), z.unknown()).optional(),
  executionTimeMs: z.number().min(0),
});
export const IccAgentRequestSchema = z.strictObject({
  message: z.string().min(1),
  context: z.record(z.string(), z.unknown()).optional(),
  maxTurns: z.number().int().positive().max(100).optional(),
});
export const IccAgentResponseSchema = z.strictObject({
  success: z.boolean(),
  response: z.string(),
  turns: z.number().int().min(0),
  usage: LlmUsageSchema.partial(),
});
export const IccLlmRequestSchema = z.strictObject({
  messages: z.array(LlmMessageSchema).min(1),
  model: z.string().optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  tools: z.array(LlmToolDefinitionSchema).optional(),
});
export const IccLlmResponseSchema = z.strictObject({
  content: z.string().nullable(),
  toolCalls: z.array(LlmToolCallSchema).optional(),
  usage: LlmUsageSchema,
  model: z.string(),
  provider: z.string(),
});
export const IccContextResponseSchema = z.strictObject({
  sessionId: z.string().optional(),
  runId: z.string(),
  stepId: z.string().optional(),
  task: z.string().optional(),
  workingMemory: z.record(z.string(), z.unknown()).optional(),
  history: z.array(z.unknown()).optional(),
});
export const IccContextSetRequestSchema = z.strictObject({
  key: z.string().min(1).max(256),
  value: z.unknown(),
});

export type IccToolCallRequest = z.infer<typeof IccToolCallRequestSchema>;
export type IccToolCallResponse = z.infer<typeof IccToolCallResponseSchema>;
export type IccAgentRequest = z.infer<typeof IccAgentRequestSchema>;
export type IccAgentResponse = z.infer<typeof IccAgentResponseSchema>;
export type IccLlmRequest = z.infer<typeof IccLlmRequestSchema>;
export type IccLlmResponse = z.infer<typeof IccLlmResponseSchema>;
export type IccContextResponse = z.infer<typeof IccContextResponseSchema>;
export type IccContextSetRequest = z.infer<typeof IccContextSetRequestSchema>;

/** Environment variables injected into every container (contracts §4). */
export const ICC_ENV = [
  "ARIA_ICC_URL",
  "ARIA_ICC_TOKEN",
  "ARIA_SESSION_ID",
  "ARIA_RUN_ID",
  "ARIA_STEP_ID",
  "ARIA_CONTAINER_ID",
  "ARIA_TASK",
  "ARIA_STEP_INDEX",
  "ARIA_TOTAL_STEPS",
] as const;
export const ICC_BUNDLE_ENV = [
  "ARIA_BUNDLE_NAME",
  "ARIA_BUNDLE_VERSION",
  "ARIA_BUNDLE_DIGEST",
] as const;
