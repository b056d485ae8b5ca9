import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  MessageCreateParamsNonStreaming,
  MessageParam,
} from "@anthropic-ai/sdk/resources/messages";
import type { LlmFinishReason, LlmRequest, LlmToolCall, LlmUsage } from "@aria/core-types";
import { llmError } from "@aria/errors";
import {
  isObject,
  type LlmProvider,
  type ProviderCall,
  type ProviderResult,
  type ProviderStreamEvent,
  parseArguments,
  safeEndpoint,
} from "./types.ts";

/** Settings of the Anthropic provider. */
export interface AnthropicProviderDeps {
  apiKey: string;
  baseURL?: string | undefined;
  model?: string | undefined;
  /** `max_tokens` is required by the Messages API: used when the request gives none. */
  defaultMaxTokens?: number | undefined;
  timeoutMs: number;
  fetch?: typeof fetch | undefined;
}

const FINISH: Record<string, LlmFinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

const JSON_INSTRUCTION = "Answer with one JSON object only: no prose, no code fences.";

/**
 * Anthropic counts cache reads and writes apart from `input_tokens`; the normalised
 * `inputTokens` adds them back so it means the same as OpenAI's `prompt_tokens`.
 */
export function anthropicUsage(raw: unknown): LlmUsage | undefined {
  if (!isObject(raw)) return undefined;
  const uncached = num(raw.input_tokens);
  const read = num(raw.cache_read_input_tokens);
  const written = num(raw.cache_creation_input_tokens);
  const output = num(raw.output_tokens);
  const input = uncached + read + written;
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: read,
    cacheWriteTokens: written,
    totalTokens: input + output,
  };
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/**
 * Maps the messages: system prompts are pulled out (joined), assistant tool calls become
 * `tool_use` blocks, tool results become `tool_result` blocks in a user turn, and consecutive
 * tool results (and a user message right after them) are merged into one user turn, as the
 * Messages API requires.
 */
export function toAnthropicMessages(request: LlmRequest): {
  system: string | undefined;
  messages: MessageParam[];
} {
  const system: string[] = [];
  const messages: MessageParam[] = [];
  const lastUserBlocks = (): ContentBlockParam[] | undefined => {
    const last = messages[messages.length - 1];
    if (last?.role !== "user") return undefined;
    if (typeof last.content === "string") {
      last.content = [{ type: "text", text: last.content }];
    }
    return last.content as ContentBlockParam[];
  };
  for (const m of request.messages) {
    switch (m.role) {
      case "system":
        system.push(m.content);
        break;
      case "user": {
        const blocks = lastUserBlocks();
        if (blocks) blocks.push({ type: "text", text: m.content });
        else messages.push({ role: "user", content: m.content });
        break;
      }
      case "assistant": {
        const content: ContentBlockParam[] = [];
        if (m.content) content.push({ type: "text", text: m.content });
        for (const call of m.toolCalls ?? []) {
          content.push({ type: "tool_use", id: call.id, name: call.name, input: call.arguments });
        }
        if (content.length > 0) messages.push({ role: "assistant", content });
        break;
      }
      case "tool": {
        const block: ContentBlockParam = {
          type: "tool_result",
          tool_use_id: m.toolCallId,
          content: m.content,
          ...(m.isError ? { is_error: true } : {}),
        };
        const blocks = lastUserBlocks();
        if (blocks) blocks.push(block);
        else messages.push({ role: "user", content: [block] });
        break;
      }
    }
  }
  if (request.responseFormat === "json") system.push(JSON_INSTRUCTION);
  return { system: system.length > 0 ? system.join("\n\n") : undefined, messages };
}

/**
 * Whether a model still accepts `temperature`. Anthropic deprecated the sampling parameters from
 * Claude Opus 4.7 on (those models answer 400 when it is present, and SDK 1.x no longer declares
 * it); Claude 2, 3 and the 4.x models up to 4.6 accept it. Unknown names get none: every model
 * accepts a request without it.
 */
export function anthropicAcceptsTemperature(model: string): boolean {
  if (/^claude-(2|instant|3)/.test(model)) return true;
  return /^claude-(opus|sonnet|haiku)-4(-[0-6])?($|-\d{8}|-latest|@)/.test(model);
}

/** The Messages API body, with `temperature` for the models that still take it. */
export type AnthropicParams = MessageCreateParamsNonStreaming & { temperature?: number };

/**
 * The Messages API body for a request. `temperature: 0` is sent as 0 (above 1 is capped at 1) to
 * models that accept a temperature, and left out for the others.
 */
export function toAnthropicParams(
  request: LlmRequest,
  model: string,
  defaultMaxTokens: number,
): AnthropicParams {
  const { system, messages } = toAnthropicMessages(request);
  const params: AnthropicParams = {
    model,
    messages,
    max_tokens: request.maxTokens ?? defaultMaxTokens,
  };
  if (system !== undefined) params.system = system;
  if (request.temperature !== undefined && anthropicAcceptsTemperature(model)) {
    params.temperature = Math.min(1, request.temperature);
  }
  if (request.stop && request.stop.length > 0) params.stop_sequences = request.stop;
  if (request.tools && request.tools.length > 0) {
    params.tools = request.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: { type: "object", ...(t.parameters as Record<string, unknown>) },
    }));
  }
  const choice = request.toolChoice;
  if (choice !== undefined) {
    params.tool_choice =
      choice === "auto"
        ? { type: "auto" }
        : choice === "required"
          ? { type: "any" }
          : choice === "none"
            ? { type: "none" }
            : { type: "tool", name: choice.name };
  }
  return params;
}

/** Provider over the official `@anthropic-ai/sdk` client. */
export class AnthropicProvider implements LlmProvider {
  readonly name = "anthropic" as const;
  readonly defaultModel: string;
  readonly endpoint: string;
  readonly #client: Anthropic;
  readonly #defaultMaxTokens: number;

  constructor(deps: AnthropicProviderDeps) {
    const baseURL = deps.baseURL ?? "https://api.anthropic.com";
    this.endpoint = safeEndpoint(baseURL);
    this.defaultModel = deps.model ?? "claude-haiku-4-5";
    this.#defaultMaxTokens = deps.defaultMaxTokens ?? 4096;
    this.#client = new Anthropic({
      apiKey: deps.apiKey,
      baseURL,
      // Exactly one retry layer: the handler's.
      maxRetries: 0,
      timeout: deps.timeoutMs,
      logLevel: "off",
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  }

  async complete(call: ProviderCall): Promise<ProviderResult> {
    const raw: unknown = await this.#client.messages.create(
      toAnthropicParams(call.request, call.model, this.#defaultMaxTokens),
      { signal: call.signal },
    );
    return this.#fromMessage(raw, call.model);
  }

  async stream(call: ProviderCall): Promise<AsyncIterable<ProviderStreamEvent>> {
    const stream = await this.#client.messages.create(
      { ...toAnthropicParams(call.request, call.model, this.#defaultMaxTokens), stream: true },
      { signal: call.signal },
    );
    return this.#events(stream as AsyncIterable<unknown>, call.model);
  }

  #fromMessage(raw: unknown, requestedModel: string): ProviderResult {
    if (!isObject(raw) || !Array.isArray(raw.content)) {
      throw llmError.invalidResponse(
        this.name,
        typeof raw === "string"
          ? "the body is not a message (not JSON)"
          : "the body has no content blocks",
      );
    }
    let text = "";
    const toolCalls: LlmToolCall[] = [];
    for (const block of raw.content) {
      if (!isObject(block)) continue;
      if (block.type === "text" && typeof block.text === "string") text += block.text;
      else if (block.type === "tool_use") {
        if (typeof block.name !== "string" || typeof block.id !== "string") {
          throw llmError.invalidResponse(this.name, "a tool_use block has no id or name");
        }
        if (!isObject(block.input)) {
          throw llmError.invalidResponse(
            this.name,
            `tool_use '${block.name}' input is not an object`,
          );
        }
        toolCalls.push({ id: block.id, name: block.name, arguments: block.input });
      }
    }
    return {
      content: text === "" && toolCalls.length > 0 ? null : text,
      toolCalls,
      finishReason:
        FINISH[String(raw.stop_reason)] ?? (toolCalls.length > 0 ? "tool_calls" : "other"),
      usage: anthropicUsage(raw.usage),
      model: typeof raw.model === "string" && raw.model ? raw.model : requestedModel,
    };
  }

  async *#events(
    stream: AsyncIterable<unknown>,
    requestedModel: string,
  ): AsyncGenerator<ProviderStreamEvent> {
    let text = "";
    let model = requestedModel;
    let usageRaw: Record<string, unknown> = {};
    let stop: string | undefined;
    let stopped = false;
    const blocks = new Map<number, { type: string; id: string; name: string; json: string }>();
    const toolCalls: LlmToolCall[] = [];
    for await (const event of stream) {
      if (!isObject(event) || typeof event.type !== "string") {
        throw llmError.invalidResponse(this.name, "a stream event is not an object with a type");
      }
      switch (event.type) {
        case "message_start": {
          const message = isObject(event.message) ? event.message : {};
          if (typeof message.model === "string" && message.model) model = message.model;
          if (isObject(message.usage)) usageRaw = { ...message.usage };
          break;
        }
        case "content_block_start": {
          const block = isObject(event.content_block) ? event.content_block : {};
          const index = typeof event.index === "number" ? event.index : blocks.size;
          blocks.set(index, {
            type: String(block.type),
            id: typeof block.id === "string" ? block.id : "",
            name: typeof block.name === "string" ? block.name : "",
            json: "",
          });
          if (block.type === "text" && typeof block.text === "string" && block.text !== "") {
            text += block.text;
            yield { type: "text", text: block.text };
          }
          break;
        }
        case "content_block_delta": {
          const delta = isObject(event.delta) ? event.delta : {};
          if (delta.type === "text_delta" && typeof delta.text === "string") {
            text += delta.text;
            yield { type: "text", text: delta.text };
          } else if (delta.type === "input_json_delta" && typeof delta.partial_json === "string") {
            const block = blocks.get(typeof event.index === "number" ? event.index : -1);
            if (!block)
              throw llmError.invalidResponse(this.name, "input_json_delta for an unknown block");
            block.json += delta.partial_json;
          }
          break;
        }
        case "content_block_stop": {
          const block = blocks.get(typeof event.index === "number" ? event.index : -1);
          if (block?.type === "tool_use") {
            if (!block.id || !block.name) {
              throw llmError.invalidResponse(
                this.name,
                "a streamed tool_use block has no id or name",
              );
            }
            const toolCall = {
              id: block.id,
              name: block.name,
              arguments: parseArguments(this.name, block.name, block.json),
            };
            toolCalls.push(toolCall);
            yield { type: "tool_call", toolCall };
          }
          break;
        }
        case "message_delta": {
          const delta = isObject(event.delta) ? event.delta : {};
          if (typeof delta.stop_reason === "string") stop = delta.stop_reason;
          if (isObject(event.usage)) {
            for (const [key, value] of Object.entries(event.usage)) {
              if (typeof value === "number") usageRaw[key] = value;
            }
          }
          break;
        }
        case "message_stop":
          stopped = true;
          break;
        default:
          // ping, and event types newer than this adapter: ignored.
          break;
      }
    }
    if (!stopped) {
      throw llmError.unavailable(this.name, "the stream ended before message_stop", {
        details: { truncated: true },
      });
    }
    yield {
      type: "end",
      result: {
        content: text === "" && toolCalls.length > 0 ? null : text,
        toolCalls,
        finishReason: FINISH[String(stop)] ?? (toolCalls.length > 0 ? "tool_calls" : "other"),
        usage: anthropicUsage(usageRaw),
        model,
      },
    };
  }
}
