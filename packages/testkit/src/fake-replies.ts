/**
 * Scripted replies shared by the fake provider servers (`startFakeOpenAI`, `startFakeAnthropic`)
 * and the in-process `createScriptedLlm`. A reply says *what* the model answers; each fake renders
 * it in its own wire protocol (JSON, or SSE when the request has `stream: true`), so one script
 * works against every provider.
 *
 * ```ts
 * const server = await startFakeOpenAI([
 *   reply.toolCall("get_weather", { city: "Paris" }),      // first request
 *   reply.error(429, { retryAfterMs: 200 }),                // second: rate limited
 *   reply.text("Sunny.", { usage: { inputTokens: 50 } }),   // third
 * ]);
 * const client = new OpenAI({ apiKey: "sk-test", baseURL: server.baseURL, maxRetries: 0 });
 * // ... then assert on server.calls[i].body / .headers, and `await server.close()`.
 *
 * startFakeAnthropic((request, i) => reply.text(`echo ${request.body.messages[0].content}`));
 * startFakeOpenAI("always this text");                      // one reply, repeated
 * createScriptedLlm(["plan", reply.toolCall("x", {})]);    // an LlmClient without HTTP
 * ```
 *
 * Failure injection: `reply.error(status, {retryAfter, retryAfterMs})`, `reply.malformed(body)`,
 * `reply.raw(status, body)`, `reply.drop({afterChunks})`, `reply.hang()`, and `delayMs` /
 * `chunkDelayMs` on any reply.
 */

/**
 * Token usage a fake reports, in the normalised sense of `@aria/core-types` (`inputTokens` counts
 * every input token, cached reads and cache writes included). Each fake converts it to its
 * provider's wire convention: OpenAI's `prompt_tokens` includes cached tokens, Anthropic's
 * `input_tokens` excludes cache reads and writes.
 */
export interface FakeUsage {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
}

/** One tool call a fake model makes. `args` as a string is sent verbatim (e.g. broken JSON). */
export interface FakeToolCall {
  name: string;
  args: Record<string, unknown> | string;
  id?: string;
}

/** Options every reply accepts. */
export interface FakeReplyCommon {
  /** Wait this long before answering (headers included). */
  delayMs?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** The `model` field of the answer (defaults to the requested model). */
  model?: string;
}

/** Options of replies that carry a completion. */
export interface FakeCompletionOptions extends FakeReplyCommon {
  usage?: FakeUsage;
  /** Merged verbatim into the wire `usage` object, to test a provider's exact counting rules. */
  wireUsage?: Record<string, unknown>;
  /** Wire finish/stop reason (defaults: `stop`/`end_turn`, or `tool_calls`/`tool_use`). */
  finishReason?: string;
  /** When streaming: characters per text delta (default 4) and per tool-argument delta (default 8). */
  chunkSize?: number;
  /** When streaming: pause between events. */
  chunkDelayMs?: number;
  /** When streaming: stall once, for `ms`, after the first `chunks` events (idle-timeout tests). */
  pauseAfter?: { chunks: number; ms: number };
}

export type FakeReply =
  | (FakeCompletionOptions & { type: "text"; text: string })
  | (FakeCompletionOptions & { type: "tool_calls"; calls: FakeToolCall[]; text?: string })
  | (FakeReplyCommon & {
      type: "error";
      status: number;
      message?: string;
      /** Provider error type (defaults from the status, e.g. `rate_limit_error`). */
      errorType?: string;
      /** `retry-after` header, seconds (number) or an HTTP date (string). */
      retryAfter?: number | string;
      /** `retry-after-ms` header. */
      retryAfterMs?: number;
    })
  | (FakeReplyCommon & { type: "malformed"; body: string; status?: number; contentType?: string })
  | (FakeReplyCommon & { type: "drop"; afterChunks?: number })
  | (FakeReplyCommon & { type: "hang" })
  | (FakeReplyCommon & { type: "raw"; status: number; body: unknown; contentType?: string });

/** A reply, or a plain string as shorthand for `reply.text(string)`. */
export type FakeReplyInput = FakeReply | string;

/** Builders for scripted replies. */
export const reply = {
  /** The model answers with text. */
  text: (text: string, options: FakeCompletionOptions = {}): FakeReply => ({
    ...options,
    type: "text",
    text,
  }),
  /** The model calls one tool (arguments streamed in several deltas when streaming). */
  toolCall: (
    name: string,
    args: Record<string, unknown> | string = {},
    options: FakeCompletionOptions & { id?: string; text?: string } = {},
  ): FakeReply => {
    const { id, text, ...rest } = options;
    return {
      ...rest,
      type: "tool_calls",
      calls: [{ name, args, ...(id !== undefined ? { id } : {}) }],
      ...(text !== undefined ? { text } : {}),
    };
  },
  /** The model calls several tools in one turn. */
  toolCalls: (
    calls: FakeToolCall[],
    options: FakeCompletionOptions & { text?: string } = {},
  ): FakeReply => {
    const { text, ...rest } = options;
    return { ...rest, type: "tool_calls", calls, ...(text !== undefined ? { text } : {}) };
  },
  /** An HTTP error in the provider's error format, optionally with `retry-after`. */
  error: (
    status: number,
    options: FakeReplyCommon & {
      message?: string;
      errorType?: string;
      retryAfter?: number | string;
      retryAfterMs?: number;
    } = {},
  ): FakeReply => ({ ...options, type: "error", status }),
  /** A body that is not what the protocol promises (default: broken JSON with a JSON type). */
  malformed: (
    body = '{"id": "broken", "choices": [',
    options: FakeReplyCommon & { status?: number; contentType?: string } = {},
  ): FakeReply => ({ ...options, type: "malformed", body }),
  /** Closes the connection: at once, or when streaming after `afterChunks` events. */
  drop: (options: FakeReplyCommon & { afterChunks?: number } = {}): FakeReply => ({
    ...options,
    type: "drop",
  }),
  /** Never answers (until the client gives up or the server closes). */
  hang: (options: FakeReplyCommon = {}): FakeReply => ({ ...options, type: "hang" }),
  /** Any status and body, sent as JSON unless `contentType` says otherwise. */
  raw: (
    status: number,
    body: unknown,
    options: FakeReplyCommon & { contentType?: string } = {},
  ): FakeReply => ({ ...options, type: "raw", status, body }),
};

/** Normalises the string shorthand. */
export function toReply(input: FakeReplyInput): FakeReply {
  return typeof input === "string" ? reply.text(input) : input;
}

/** A rough token count (4 characters a token), so fakes report plausible usage by default. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Resolved usage with defaults filled in: input from the request size, output from the answer. */
export function resolveUsage(
  usage: FakeUsage | undefined,
  requestText: string,
  answerText: string,
): Required<FakeUsage> {
  return {
    inputTokens: usage?.inputTokens ?? estimateTokens(requestText),
    outputTokens: usage?.outputTokens ?? estimateTokens(answerText),
    cachedInputTokens: usage?.cachedInputTokens ?? 0,
    cacheWriteTokens: usage?.cacheWriteTokens ?? 0,
  };
}

/** The JSON text of a tool call's arguments (strings are sent verbatim). */
export function argsText(args: Record<string, unknown> | string): string {
  return typeof args === "string" ? args : JSON.stringify(args);
}

/** Splits a string into pieces of at most `size` characters (at least one piece). */
export function chunkText(text: string, size: number): string[] {
  if (text.length === 0) return [""];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}
