import { z } from "zod";
import { JsonSchemaSchema } from "./json.ts";
import { LlmProviderNameSchema } from "./manifest.ts";

/** A tool call requested by a model, normalised to one shape whatever the provider. */
export const LlmToolCallSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  /** Parsed arguments (the providers send JSON text or an object; both end up here as an object). */
  arguments: z.record(z.string(), z.unknown()),
});
export type LlmToolCall = z.infer<typeof LlmToolCallSchema>;

export const LlmMessageSchema = z.discriminatedUnion("role", [
  z.strictObject({ role: z.literal("system"), content: z.string() }),
  z.strictObject({ role: z.literal("user"), content: z.string(), name: z.string().optional() }),
  z.strictObject({
    role: z.literal("assistant"),
    content: z.string().nullable().default(null),
    toolCalls: z.array(LlmToolCallSchema).optional(),
  }),
  z.strictObject({
    role: z.literal("tool"),
    toolCallId: z.string().min(1),
    name: z.string().optional(),
    content: z.string(),
    isError: z.boolean().optional(),
  }),
]);
export type LlmMessage = z.infer<typeof LlmMessageSchema>;
export type LlmMessageInput = z.input<typeof LlmMessageSchema>;

/** A tool offered to a model. `name` must match `[a-zA-Z0-9_-]{1,64}` (every provider's rule). */
export const LlmToolDefinitionSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names shown to a model use [a-zA-Z0-9_-], 1-64 chars"),
  description: z.string(),
  parameters: JsonSchemaSchema,
});
export type LlmToolDefinition = z.infer<typeof LlmToolDefinitionSchema>;

export const LlmRequestSchema = z.strictObject({
  messages: z.array(LlmMessageSchema).min(1),
  provider: LlmProviderNameSchema.optional(),
  model: z.string().min(1).optional(),
  tools: z.array(LlmToolDefinitionSchema).optional(),
  toolChoice: z
    .union([z.enum(["auto", "none", "required"]), z.strictObject({ name: z.string() })])
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  stop: z.array(z.string()).max(8).optional(),
  responseFormat: z.enum(["text", "json"]).optional(),
  /** Opt in to caching of a non-deterministic request. */
  cache: z.boolean().optional(),
  timeoutMs: z.number().int().positive().optional(),
  /** Accounting scope: usage and cost are attributed to these. */
  runId: z.string().optional(),
  sessionId: z.string().optional(),
  agent: z.string().optional(),
});
export type LlmRequest = z.infer<typeof LlmRequestSchema>;
export type LlmRequestInput = z.input<typeof LlmRequestSchema>;

/** Token usage, normalised: `inputTokens` counts every input token, cached ones included. */
export const LlmUsageSchema = z.strictObject({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  cachedInputTokens: z.number().int().min(0).default(0),
  cacheWriteTokens: z.number().int().min(0).default(0),
  totalTokens: z.number().int().min(0),
});
export type LlmUsage = z.infer<typeof LlmUsageSchema>;

export const LlmFinishReasonSchema = z.enum([
  "stop",
  "length",
  "tool_calls",
  "content_filter",
  "other",
]);
export type LlmFinishReason = z.infer<typeof LlmFinishReasonSchema>;

export const LlmResponseSchema = z.strictObject({
  content: z.string().nullable(),
  toolCalls: z.array(LlmToolCallSchema).default([]),
  finishReason: LlmFinishReasonSchema,
  usage: LlmUsageSchema,
  costUsd: z.number().min(0).default(0),
  model: z.string(),
  provider: LlmProviderNameSchema,
  cached: z.boolean().default(false),
  latencyMs: z.number().min(0).default(0),
});
export type LlmResponse = z.infer<typeof LlmResponseSchema>;

/** One chunk of a streamed completion. The last chunk is `done` and carries the full response. */
export type LlmStreamChunk =
  | { type: "text"; text: string }
  | { type: "tool_call"; toolCall: LlmToolCall }
  | { type: "done"; response: LlmResponse };

/**
 * Extracts the JSON value of a model's text reply: the whole text, the content of a ```json fence,
 * or the outermost `{...}` / `[...]` span. Returns `undefined` when nothing parses. (Models without
 * a JSON mode wrap their JSON in prose or fences; every package that reads model JSON uses this.)
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const candidates: string[] = [trimmed];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence?.[1]) candidates.push(fence[1].trim());
  for (const [open, close] of [
    ["{", "}"],
    ["[", "]"],
  ] as const) {
    const start = text.indexOf(open);
    const end = text.lastIndexOf(close);
    if (start >= 0 && end > start) candidates.push(text.slice(start, end + 1));
  }
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate);
    } catch {
      // try the next form
    }
  }
  return undefined;
}
