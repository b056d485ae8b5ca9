import {
  extractJson,
  type LlmClient,
  type LlmMessageInput,
  type LlmRequestInput,
  type ToolExecutionContext,
} from "@aria/core-types";
import { AriaError, llmError } from "@aria/errors";
import type { z } from "zod";

/** Options shared by the LLM-backed built-in tools. */
export interface LlmToolOptions {
  /** The LLM client (the runtime's LLMHandler). Without it the tools fail with LLM_NOT_CONFIGURED. */
  llm?: LlmClient;
  /** Model and provider for these calls (default: the handler's defaults). */
  model?: string;
  provider?: "openai" | "anthropic" | "local";
  /** Attempts to get a valid answer: the first call plus repairs (default 2). */
  attempts?: number;
}

/** Re-exported from `@aria/core-types`, the one implementation. */
export { extractJson };

/**
 * Asks the model for JSON, checks it with `validate` (parse + zod + custom checks), and on a bad
 * answer sends the problem back for a repaired answer, up to `attempts` calls. Throws
 * `LLM_INVALID_RESPONSE` (or the code `failureCode` names) when no valid answer came.
 */
export async function completeJson<T>(args: {
  options: LlmToolOptions;
  context: ToolExecutionContext;
  tool: string;
  messages: LlmMessageInput[];
  validate: (value: unknown) => { ok: true; value: T } | { ok: false; problems: string[] };
  temperature?: number;
  maxTokens?: number;
  failureCode?: "LLM_INVALID_RESPONSE" | "PLAN_INVALID";
}): Promise<{
  value: T;
  model: string;
  provider: string;
  usage: { inputTokens: number; outputTokens: number };
}> {
  const { options, context } = args;
  if (!options.llm)
    throw llmError.notConfigured(
      `the built-in tool '${args.tool}' needs an LLM provider, and none is configured`,
    );
  const messages = [...args.messages];
  const attempts = Math.max(1, options.attempts ?? 2);
  let problems: string[] = [];
  const usage = { inputTokens: 0, outputTokens: 0 };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const request: LlmRequestInput = {
      messages,
      responseFormat: "json",
      temperature: args.temperature ?? 0.2,
      maxTokens: args.maxTokens ?? 2048,
      runId: context.runId,
      ...(context.sessionId ? { sessionId: context.sessionId } : {}),
      ...(options.model ? { model: options.model } : {}),
      ...(options.provider ? { provider: options.provider } : {}),
    };
    const response = await options.llm.complete(request, { signal: context.signal });
    usage.inputTokens += response.usage.inputTokens;
    usage.outputTokens += response.usage.outputTokens;
    const text = response.content ?? "";
    const parsed = extractJson(text);
    const checked =
      parsed === undefined
        ? { ok: false as const, problems: ["the reply is not JSON"] }
        : args.validate(parsed);
    if (checked.ok)
      return { value: checked.value, model: response.model, provider: response.provider, usage };
    problems = checked.problems;
    messages.push(
      { role: "assistant", content: text },
      {
        role: "user",
        content: `That answer cannot be used: ${problems.slice(0, 8).join("; ")}. Reply again with only the corrected JSON object, nothing else.`,
      },
    );
  }
  const message = `the model gave no valid answer for '${args.tool}' after ${attempts} attempt(s): ${problems.slice(0, 5).join("; ")}`;
  if (args.failureCode === "PLAN_INVALID")
    throw new AriaError("PLAN_INVALID", { message, details: { problems } });
  throw llmError.invalidResponse(options.provider ?? "llm", message, { details: { problems } });
}

/** Turns zod issues into short problem strings for a repair prompt. */
export function zodProblems(error: z.ZodError): string[] {
  return error.issues.map(
    (i) => `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`,
  );
}
