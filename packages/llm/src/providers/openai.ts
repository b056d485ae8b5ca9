import type { LlmFinishReason, LlmRequest, LlmToolCall, LlmUsage } from "@aria/core-types";
import { llmError } from "@aria/errors";
import OpenAI from "openai";
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import {
  isObject,
  type LlmProvider,
  type ProviderCall,
  type ProviderResult,
  type ProviderStreamEvent,
  parseArguments,
  safeEndpoint,
} from "./types.ts";

/** Settings of the OpenAI provider, or of "local" (any OpenAI-compatible server). */
export interface OpenAiProviderDeps {
  name: "openai" | "local";
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  model?: string | undefined;
  /** The SDK's own timeout, a backstop behind the handler's per-call timeout. */
  timeoutMs: number;
  /** A `fetch` for the SDK (tests, proxies). */
  fetch?: typeof fetch | undefined;
}

const FINISH: Record<string, LlmFinishReason> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool_calls",
  function_call: "tool_calls",
  content_filter: "content_filter",
};

/** OpenAI counts cached tokens inside `prompt_tokens`, so `inputTokens` is `prompt_tokens`. */
export function openAiUsage(raw: unknown): LlmUsage | undefined {
  if (!isObject(raw)) return undefined;
  const input = num(raw.prompt_tokens);
  const output = num(raw.completion_tokens);
  const details = isObject(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: Math.min(input, num(details.cached_tokens)),
    cacheWriteTokens: 0,
    totalTokens: typeof raw.total_tokens === "number" ? raw.total_tokens : input + output,
  };
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

function toMessages(request: LlmRequest): ChatCompletionMessageParam[] {
  return request.messages.map((m): ChatCompletionMessageParam => {
    switch (m.role) {
      case "system":
        return { role: "system", content: m.content };
      case "user":
        return m.name
          ? { role: "user", content: m.content, name: m.name }
          : { role: "user", content: m.content };
      case "assistant":
        return m.toolCalls && m.toolCalls.length > 0
          ? {
              role: "assistant",
              content: m.content,
              tool_calls: m.toolCalls.map((c) => ({
                id: c.id,
                type: "function" as const,
                function: { name: c.name, arguments: JSON.stringify(c.arguments) },
              })),
            }
          : { role: "assistant", content: m.content ?? "" };
      default:
        return { role: "tool", tool_call_id: m.toolCallId, content: m.content };
    }
  });
}

/** The chat-completions body for a request (`temperature: 0` is sent as 0). */
export function toOpenAiParams(
  request: LlmRequest,
  model: string,
  local: boolean,
): ChatCompletionCreateParamsNonStreaming {
  const params: ChatCompletionCreateParamsNonStreaming = { model, messages: toMessages(request) };
  if (request.tools && request.tools.length > 0) {
    params.tools = request.tools.map((t) => ({
      type: "function" as const,
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
  }
  if (request.toolChoice !== undefined) {
    params.tool_choice =
      typeof request.toolChoice === "string"
        ? request.toolChoice
        : { type: "function", function: { name: request.toolChoice.name } };
  }
  if (request.temperature !== undefined) params.temperature = request.temperature;
  if (request.maxTokens !== undefined) {
    // OpenAI's reasoning models accept only max_completion_tokens; compatible servers know max_tokens.
    if (local) params.max_tokens = request.maxTokens;
    else params.max_completion_tokens = request.maxTokens;
  }
  if (request.stop && request.stop.length > 0) params.stop = request.stop;
  if (request.responseFormat === "json") params.response_format = { type: "json_object" };
  return params;
}

/** Provider over the official `openai` client: OpenAI itself, or "local" by base URL. */
export class OpenAiProvider implements LlmProvider {
  readonly name: "openai" | "local";
  readonly defaultModel: string | undefined;
  readonly endpoint: string;
  readonly #client: OpenAI;
  readonly #local: boolean;

  constructor(deps: OpenAiProviderDeps) {
    this.name = deps.name;
    this.#local = deps.name === "local";
    const baseURL = deps.baseURL ?? "https://api.openai.com/v1";
    this.endpoint = safeEndpoint(baseURL);
    this.defaultModel = deps.model ?? (this.#local ? undefined : "gpt-4o-mini");
    this.#client = new OpenAI({
      // Never let the SDK fall back to OPENAI_API_KEY: a local server must not receive that key.
      apiKey: deps.apiKey ?? "aria-local-no-key",
      baseURL,
      organization: null,
      project: null,
      // Exactly one retry layer: the handler's.
      maxRetries: 0,
      timeout: deps.timeoutMs,
      logLevel: "off",
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  }

  async complete(call: ProviderCall): Promise<ProviderResult> {
    const raw: unknown = await this.#client.chat.completions.create(
      toOpenAiParams(call.request, call.model, this.#local),
      { signal: call.signal },
    );
    return this.#fromCompletion(raw, call.model);
  }

  async stream(call: ProviderCall): Promise<AsyncIterable<ProviderStreamEvent>> {
    const stream = await this.#client.chat.completions.create(
      {
        ...toOpenAiParams(call.request, call.model, this.#local),
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: call.signal },
    );
    return this.#events(stream as AsyncIterable<unknown>, call.model);
  }

  #fromCompletion(raw: unknown, requestedModel: string): ProviderResult {
    if (!isObject(raw) || !Array.isArray(raw.choices)) {
      throw llmError.invalidResponse(
        this.name,
        typeof raw === "string"
          ? "the body is not a chat completion (not JSON)"
          : "the body has no choices",
      );
    }
    const choice = raw.choices[0];
    if (!isObject(choice) || !isObject(choice.message)) {
      throw llmError.invalidResponse(this.name, "the completion has no message");
    }
    const message = choice.message;
    const toolCalls: LlmToolCall[] = [];
    if (Array.isArray(message.tool_calls)) {
      message.tool_calls.forEach((tc: unknown, i: number) => {
        if (!isObject(tc) || !isObject(tc.function) || typeof tc.function.name !== "string") {
          throw llmError.invalidResponse(this.name, "a tool call has no function name");
        }
        toolCalls.push({
          id: typeof tc.id === "string" && tc.id ? tc.id : `call_${i}`,
          name: tc.function.name,
          arguments: parseArguments(this.name, tc.function.name, tc.function.arguments),
        });
      });
    }
    let content = typeof message.content === "string" ? message.content : null;
    let finishReason =
      FINISH[String(choice.finish_reason)] ?? (toolCalls.length > 0 ? "tool_calls" : "other");
    if (content === null && typeof message.refusal === "string") {
      content = message.refusal;
      finishReason = "content_filter";
    }
    return {
      content: content === "" && toolCalls.length > 0 ? null : content,
      toolCalls,
      finishReason,
      usage: openAiUsage(raw.usage),
      model: typeof raw.model === "string" && raw.model ? raw.model : requestedModel,
    };
  }

  async *#events(
    stream: AsyncIterable<unknown>,
    requestedModel: string,
  ): AsyncGenerator<ProviderStreamEvent> {
    let text = "";
    let model = requestedModel;
    let usage: LlmUsage | undefined;
    let finish: string | undefined;
    const calls = new Map<number, { id: string; name: string; args: string }>();
    for await (const chunk of stream) {
      if (!isObject(chunk))
        throw llmError.invalidResponse(this.name, "a stream chunk is not an object");
      if (typeof chunk.model === "string" && chunk.model) model = chunk.model;
      if (isObject(chunk.usage)) usage = openAiUsage(chunk.usage);
      if (!Array.isArray(chunk.choices)) {
        if (isObject(chunk.error))
          throw llmError.unavailable(this.name, "error event in the stream");
        throw llmError.invalidResponse(this.name, "a stream chunk has no choices");
      }
      const choice = chunk.choices[0];
      if (!isObject(choice)) continue;
      const delta = isObject(choice.delta) ? choice.delta : {};
      if (typeof delta.content === "string" && delta.content !== "") {
        text += delta.content;
        yield { type: "text", text: delta.content };
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const tc of delta.tool_calls) {
          if (!isObject(tc)) continue;
          const index = typeof tc.index === "number" ? tc.index : 0;
          let entry = calls.get(index);
          if (!entry) {
            entry = { id: "", name: "", args: "" };
            calls.set(index, entry);
          }
          if (typeof tc.id === "string" && tc.id) entry.id = tc.id;
          if (isObject(tc.function)) {
            if (typeof tc.function.name === "string") entry.name += tc.function.name;
            if (typeof tc.function.arguments === "string") entry.args += tc.function.arguments;
          }
        }
      }
      if (typeof choice.finish_reason === "string" && choice.finish_reason) {
        finish = choice.finish_reason;
      }
    }
    if (finish === undefined) {
      throw llmError.unavailable(this.name, "the stream ended before the answer was complete", {
        details: { truncated: true },
      });
    }
    const toolCalls: LlmToolCall[] = [];
    for (const [index, entry] of [...calls].sort((a, b) => a[0] - b[0])) {
      if (!entry.name)
        throw llmError.invalidResponse(this.name, "a streamed tool call has no name");
      const toolCall = {
        id: entry.id || `call_${index}`,
        name: entry.name,
        arguments: parseArguments(this.name, entry.name, entry.args),
      };
      toolCalls.push(toolCall);
      yield { type: "tool_call", toolCall };
    }
    yield {
      type: "end",
      result: {
        content: text === "" && toolCalls.length > 0 ? null : text,
        toolCalls,
        finishReason: FINISH[finish] ?? (toolCalls.length > 0 ? "tool_calls" : "other"),
        usage,
        model,
      },
    };
  }
}
