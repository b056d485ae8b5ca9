/**
 * A zero-overhead scripted `LlmClient` (the core-types interface Aria's engines take) answering
 * from the shared script: no request log, no token estimation, no copies. (`createScriptedLlm` in
 * @aria/testkit records every request and estimates tokens from the whole conversation, which a
 * benchmark would end up measuring.)
 */
import type {
  LlmCallOptions,
  LlmClient,
  LlmRequestInput,
  LlmResponse,
  LlmStreamChunk,
} from "@aria/core-types";
import { decide, latency, type ScriptInput, USAGE } from "./script.ts";

function lastInput(request: LlmRequestInput): ScriptInput {
  const last = request.messages[request.messages.length - 1];
  if (last?.role === "tool") return { kind: "tool", callId: last.toolCallId };
  if (last?.role === "user") return { kind: "user", text: last.content };
  throw new Error(`scripted model: unexpected last message ${JSON.stringify(last)}`);
}

const usage = {
  inputTokens: USAGE.inputTokens,
  outputTokens: USAGE.outputTokens,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  totalTokens: USAGE.inputTokens + USAGE.outputTokens,
};
const NO_CALLS: never[] = [];

/** The scripted model as an Aria `LlmClient`, with `latencyMs` per call. */
export function createBenchLlm(latencyMs: number): LlmClient {
  const complete = async (
    request: LlmRequestInput,
    _options?: LlmCallOptions,
  ): Promise<LlmResponse> => {
    await latency(latencyMs);
    const decision = decide(lastInput(request));
    const base = {
      usage,
      costUsd: 0,
      model: "scripted",
      provider: "openai" as const,
      cached: false,
      latencyMs,
    };
    return decision.kind === "tool"
      ? {
          ...base,
          content: null,
          toolCalls: [{ id: decision.callId, name: decision.name, arguments: {} }],
          finishReason: "tool_calls",
        }
      : { ...base, content: decision.text, toolCalls: NO_CALLS, finishReason: "stop" };
  };
  return {
    complete,
    async *stream(request, options): AsyncIterable<LlmStreamChunk> {
      const response = await complete(request, options);
      if (response.content) yield { type: "text", text: response.content };
      for (const toolCall of response.toolCalls) yield { type: "tool_call", toolCall };
      yield { type: "done", response };
    },
  };
}
