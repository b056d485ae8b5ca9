import type {
  LlmCallOptions,
  LlmClient,
  LlmFinishReason,
  LlmProviderName,
  LlmRequestInput,
  LlmResponse,
  LlmStreamChunk,
  LlmToolCall,
} from "@aria/core-types";
import { AriaError, llmError } from "@aria/errors";
import {
  chunkText,
  type FakeReply,
  type FakeReplyInput,
  resolveUsage,
  toReply,
} from "./fake-replies.ts";

/** What a scripted LLM answers: one reply for every call, a queue, or a function of the request. */
export type ScriptedLlmScript =
  | FakeReplyInput
  | readonly FakeReplyInput[]
  | ((request: LlmRequestInput, index: number) => FakeReplyInput | Promise<FakeReplyInput>);

/** An in-process `LlmClient` that answers from a script and records every request. */
export interface ScriptedLlm extends LlmClient {
  /** Every request received, in order. */
  requests: LlmRequestInput[];
  /** Appends replies to the queue. */
  push(...replies: FakeReplyInput[]): void;
  /** Replaces the script. */
  setScript(script: ScriptedLlmScript): void;
}

export interface ScriptedLlmOptions {
  /** The `provider` its responses name (default `openai`). */
  provider?: LlmProviderName;
  /** The `model` its responses name when neither the reply nor the request gives one. */
  model?: string;
}

const FINISH: Record<string, LlmFinishReason> = {
  stop: "stop",
  end_turn: "stop",
  length: "length",
  max_tokens: "length",
  tool_calls: "tool_calls",
  tool_use: "tool_calls",
  content_filter: "content_filter",
};

function cancelled(signal: AbortSignal): AriaError {
  return new AriaError("RUN_CANCELLED", {
    message: "The LLM call was cancelled",
    cause: signal.reason,
  });
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled(signal));
    const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      if (timer) clearTimeout(timer);
      reject(cancelled(signal as AbortSignal));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An in-process scripted `LlmClient` for engine unit tests and benchmarks: no HTTP, no SDK. It
 * takes the same `reply.*` scripts as the fake provider servers; errors become the AriaErrors the
 * real `@aria/llm` handler would throw (`reply.error(429)` → `LLM_RATE_LIMITED`,
 * `reply.malformed()` → `LLM_INVALID_RESPONSE`, `reply.drop()` → `LLM_UNAVAILABLE`).
 */
export function createScriptedLlm(
  script: ScriptedLlmScript = "ok",
  options: ScriptedLlmOptions = {},
): ScriptedLlm {
  const provider = options.provider ?? "openai";
  let current = script;
  let queue: FakeReplyInput[] | undefined = Array.isArray(script) ? [...script] : undefined;
  let served = 0;
  const requests: LlmRequestInput[] = [];

  const next = async (request: LlmRequestInput): Promise<FakeReply> => {
    const index = served++;
    requests.push(request);
    if (queue) {
      const item = queue.shift();
      if (item === undefined) {
        throw new AriaError("LLM_REQUEST_REJECTED", {
          message: `scripted LLM: script exhausted (call #${index + 1} has no scripted reply)`,
          details: { provider },
        });
      }
      return toReply(item);
    }
    if (typeof current === "function") return toReply(await current(request, index));
    return toReply(current as FakeReplyInput);
  };

  const answer = async (
    request: LlmRequestInput,
    signal: AbortSignal | undefined,
  ): Promise<LlmResponse> => {
    if (signal?.aborted) throw cancelled(signal);
    const reply = await next(request);
    if (reply.delayMs) await wait(reply.delayMs, signal);
    switch (reply.type) {
      case "hang":
        await wait(Number.POSITIVE_INFINITY, signal);
        throw new Error("unreachable");
      case "error":
        throw llmError.providerStatus(provider, reply.status, reply.message ?? "scripted error", {
          details: {
            ...(reply.retryAfterMs !== undefined ? { retryAfterMs: reply.retryAfterMs } : {}),
            ...(typeof reply.retryAfter === "number"
              ? { retryAfterMs: reply.retryAfter * 1000 }
              : {}),
          },
        });
      case "malformed":
      case "raw":
        throw llmError.invalidResponse(provider, "scripted malformed answer");
      case "drop":
        throw llmError.unavailable(provider, "scripted dropped connection");
      case "text":
      case "tool_calls": {
        const toolCalls: LlmToolCall[] = [];
        if (reply.type === "tool_calls") {
          reply.calls.forEach((call, i) => {
            let args: unknown = call.args;
            if (typeof call.args === "string") {
              try {
                args = JSON.parse(call.args);
              } catch {
                throw llmError.invalidResponse(
                  provider,
                  `tool call '${call.name}' has invalid JSON arguments`,
                );
              }
            }
            toolCalls.push({
              id: call.id ?? `call_scripted_${served}_${i}`,
              name: call.name,
              arguments: args as Record<string, unknown>,
            });
          });
        }
        const text = reply.text ?? "";
        const usage = resolveUsage(
          reply.usage,
          JSON.stringify(request.messages),
          text + toolCalls.map((c) => JSON.stringify(c.arguments)).join(""),
        );
        return {
          content: reply.text ?? (toolCalls.length > 0 ? null : ""),
          toolCalls,
          finishReason:
            FINISH[reply.finishReason ?? ""] ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
          usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens },
          costUsd: 0,
          model: reply.model ?? request.model ?? options.model ?? "scripted",
          provider: request.provider ?? provider,
          cached: false,
          latencyMs: 0,
        };
      }
    }
  };

  return {
    requests,
    push(...replies) {
      if (!queue) queue = [];
      queue.push(...replies);
    },
    setScript(script) {
      current = script;
      queue = Array.isArray(script) ? [...script] : undefined;
    },
    complete(request: LlmRequestInput, callOptions?: LlmCallOptions) {
      return answer(request, callOptions?.signal);
    },
    async *stream(
      request: LlmRequestInput,
      callOptions?: LlmCallOptions,
    ): AsyncIterable<LlmStreamChunk> {
      const response = await answer(request, callOptions?.signal);
      if (response.content) {
        for (const piece of chunkText(response.content, 16)) yield { type: "text", text: piece };
      }
      for (const toolCall of response.toolCalls) yield { type: "tool_call", toolCall };
      yield { type: "done", response };
    },
  };
}
