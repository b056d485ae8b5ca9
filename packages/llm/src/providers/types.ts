import type {
  LlmFinishReason,
  LlmProviderName,
  LlmRequest,
  LlmToolCall,
  LlmUsage,
} from "@aria/core-types";
import { llmError } from "@aria/errors";

/** What a provider answered, before cost, caching and timing are added by the handler. */
export interface ProviderResult {
  content: string | null;
  toolCalls: LlmToolCall[];
  finishReason: LlmFinishReason;
  /** Normalised usage; `undefined` when the server reported none (the handler estimates it). */
  usage: LlmUsage | undefined;
  model: string;
}

/** A streamed provider event: text as it comes, each tool call once complete, then the end. */
export type ProviderStreamEvent =
  | { type: "text"; text: string }
  | { type: "tool_call"; toolCall: LlmToolCall }
  | { type: "end"; result: ProviderResult };

/** One call to one provider: the validated request, the model chosen, the attempt's signal. */
export interface ProviderCall {
  request: LlmRequest;
  model: string;
  signal: AbortSignal;
}

/** A provider adapter over an official SDK client (created with `maxRetries: 0`). */
export interface LlmProvider {
  readonly name: LlmProviderName;
  /** The model used when the request names none, or when this provider is a fallback. */
  readonly defaultModel: string | undefined;
  /** Where it sends requests (for health output; never contains credentials). */
  readonly endpoint: string;
  complete(call: ProviderCall): Promise<ProviderResult>;
  /** Resolves once the provider accepted the request (HTTP status known); then yields events. */
  stream(call: ProviderCall): Promise<AsyncIterable<ProviderStreamEvent>>;
}

/** Parses tool-call arguments sent as JSON text; an empty string is `{}`. */
export function parseArguments(
  provider: LlmProviderName,
  name: string,
  text: unknown,
): Record<string, unknown> {
  if (text === undefined || text === null || text === "") return {};
  if (typeof text === "object" && !Array.isArray(text)) return text as Record<string, unknown>;
  if (typeof text !== "string") {
    throw llmError.invalidResponse(
      provider,
      `tool call '${name}' has arguments of type ${typeof text}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw llmError.invalidResponse(
      provider,
      `tool call '${name}' has arguments that are not JSON`,
      {
        details: { tool: name },
      },
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw llmError.invalidResponse(
      provider,
      `tool call '${name}' has arguments that are not a JSON object`,
      {
        details: { tool: name },
      },
    );
  }
  return parsed as Record<string, unknown>;
}

/** Strips user:password from a URL before it is shown anywhere. */
export function safeEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(invalid URL)";
  }
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
