import type { ToolExecutionContext } from "@aria/core-types";
import { z } from "zod";
import type { ToolRegistration } from "../tool-registry.ts";
import { completeJson, type LlmToolOptions, zodProblems } from "./llm-json.ts";

/** What `ponder` returns: the reflection engine's assessment (original-behaviour §4) and an action. */
export const PonderResultSchema = z.strictObject({
  performance: z.enum(["good", "acceptable", "poor"]),
  quality: z.enum(["good", "acceptable", "wrong"]),
  suggestedImprovements: z.array(z.string()),
  reasoning: z.string().min(1),
  confidence: z.number().min(0).max(1),
  action: z.enum(["continue", "retry", "modify_parameters", "replan", "skip", "abort"]).optional(),
  modifiedParameters: z.record(z.string(), z.unknown()).optional(),
  insights: z.array(z.string()).optional(),
});
export type PonderResult = z.infer<typeof PonderResultSchema>;

const SYSTEM = `You assess work done by an automated agent and decide what to do next.
Think about the root cause, the evidence, and what would most likely succeed.
Answer with one JSON object and nothing else, with exactly these keys:
- "performance": "good" | "acceptable" | "poor" (how well the work went)
- "quality": "good" | "acceptable" | "wrong" (how good the result is)
- "suggestedImprovements": array of short, concrete suggestions
- "reasoning": your reasoning in a few sentences
- "confidence": number between 0 and 1
- "action" (optional): "continue" | "retry" | "modify_parameters" | "replan" | "skip" | "abort"
- "modifiedParameters" (optional, with "modify_parameters"): the corrected parameters as an object
- "insights" (optional): array of short lessons worth remembering`;

const THINK = `Think step by step about the question below before any conclusion: observations, analysis,
the root cause, alternatives, and what is uncertain. Answer with a JSON object
{"observations": [..], "analysis": "..", "alternatives": [..], "uncertainties": [..]}.`;

/**
 * The built-in `ponder`: structured reflection through the LLM. `depth: "deep"` first asks for an
 * analysis and then for the assessment built on it; both answers are validated (zod), with a
 * repair round when a reply does not match.
 */
export function ponderTool(options: LlmToolOptions): ToolRegistration {
  return {
    name: "ponder",
    description:
      "Reflects on a question or on a step's outcome (its error, parameters and context) and returns a structured assessment: performance, quality, suggested improvements, reasoning, confidence and a suggested action.",
    inputSchema: {
      type: "object",
      properties: {
        query: {
          type: "string",
          minLength: 1,
          maxLength: 20000,
          description: "what to think about",
        },
        context: {
          description: "anything relevant: the plan, the failed step, its error, the history",
        },
        depth: { type: "string", enum: ["standard", "deep"], default: "standard" },
      },
      required: ["query"],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      properties: {
        performance: { type: "string", enum: ["good", "acceptable", "poor"] },
        quality: { type: "string", enum: ["good", "acceptable", "wrong"] },
        suggestedImprovements: { type: "array", items: { type: "string" } },
        reasoning: { type: "string" },
        confidence: { type: "number", minimum: 0, maximum: 1 },
        action: { type: "string" },
        modifiedParameters: { type: "object" },
        insights: { type: "array", items: { type: "string" } },
      },
      required: ["performance", "quality", "suggestedImprovements", "reasoning", "confidence"],
    },
    securityLevel: "safe",
    handler: async (raw, context: ToolExecutionContext) => {
      const input = raw as { query: string; context?: unknown; depth?: "standard" | "deep" };
      const question =
        input.context === undefined
          ? input.query
          : `${input.query}\n\nContext (JSON):\n${JSON.stringify(input.context, null, 2).slice(0, 60_000)}`;
      const messages = [
        { role: "system" as const, content: SYSTEM },
        { role: "user" as const, content: question },
      ];
      if (input.depth === "deep") {
        const thinking = await completeJson({
          options,
          context,
          tool: "ponder",
          messages: [
            { role: "system", content: THINK },
            { role: "user", content: question },
          ],
          validate: (value) =>
            value !== null && typeof value === "object" && !Array.isArray(value)
              ? { ok: true, value: value as Record<string, unknown> }
              : { ok: false, problems: ["expected a JSON object"] },
          temperature: 0.4,
        });
        messages.push({
          role: "user" as const,
          content: `Your analysis so far (JSON):\n${JSON.stringify(thinking.value)}\n\nNow give the assessment.`,
        });
      }
      const { value } = await completeJson({
        options,
        context,
        tool: "ponder",
        messages,
        validate: (candidate) => {
          const parsed = PonderResultSchema.safeParse(candidate);
          return parsed.success
            ? { ok: true, value: parsed.data }
            : { ok: false, problems: zodProblems(parsed.error) };
        },
      });
      return value;
    },
  };
}
