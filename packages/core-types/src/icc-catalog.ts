import { z } from "zod";
import { JsonSchemaSchema } from "./json.ts";

/**
 * Answers of the ICC listing routes (contracts §4: `GET /tools`, `GET /agents` list what the
 * calling token may call, with schemas), of `POST /context` and of `GET /health`. The ICC server
 * builds them and the SDK's ICC client validates them.
 */
export const IccToolInfoSchema = z.strictObject({
  /** `BUNDLE/TOOL` for bundle tools, the bare name for built-ins (what `POST /tools/:name` takes). */
  id: z.string(),
  name: z.string(),
  description: z.string(),
  inputSchema: JsonSchemaSchema,
  outputSchema: JsonSchemaSchema.optional(),
  execution: z.string(),
  bundle: z.string().optional(),
});
export const IccToolListResponseSchema = z.strictObject({ tools: z.array(IccToolInfoSchema) });

export const IccAgentInfoSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  tools: z.array(z.string()),
  maxSteps: z.number().int().positive().optional(),
  /** The JSON Schema of the `POST /agents/:name` body. */
  inputSchema: JsonSchemaSchema,
});
export const IccAgentListResponseSchema = z.strictObject({ agents: z.array(IccAgentInfoSchema) });

export const IccContextSetResponseSchema = z.strictObject({
  ok: z.literal(true),
  key: z.string(),
});
export const IccHealthResponseSchema = z.strictObject({ status: z.string() });

export type IccToolInfo = z.infer<typeof IccToolInfoSchema>;
export type IccToolListResponse = z.infer<typeof IccToolListResponseSchema>;
export type IccAgentInfo = z.infer<typeof IccAgentInfoSchema>;
export type IccAgentListResponse = z.infer<typeof IccAgentListResponseSchema>;
export type IccContextSetResponse = z.infer<typeof IccContextSetResponseSchema>;
export type IccHealthResponse = z.infer<typeof IccHealthResponseSchema>;

/** Fields of `GET /context` that `?include=` may select (comma-separated). */
export const ICC_CONTEXT_FIELDS = [
  "sessionId",
  "runId",
  "stepId",
  "task",
  "workingMemory",
  "history",
] as const;
export type IccContextField = (typeof ICC_CONTEXT_FIELDS)[number];
