import {
  type FakeProviderServer,
  type FakeScript,
  type ProtocolRenderer,
  type RecordedRequest,
  sse,
  startFakeServer,
} from "./fake-http.ts";
import { argsText, chunkText, type FakeReply, resolveUsage } from "./fake-replies.ts";

type CompletionReply = Extract<FakeReply, { type: "text" | "tool_calls" }>;

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

let sequence = 0;

function requestText(request: RecordedRequest): string {
  return (
    JSON.stringify(request.body?.system ?? "") +
    JSON.stringify(request.body?.messages ?? "") +
    JSON.stringify(request.body?.tools ?? "")
  );
}

function toolUses(reply: CompletionReply, id: number) {
  if (reply.type !== "tool_calls") return [];
  return reply.calls.map((call, i) => ({
    type: "tool_use" as const,
    id: call.id ?? `toolu_fake_${id}_${i}`,
    name: call.name,
    args: call.args,
  }));
}

function usageOf(reply: CompletionReply, request: RecordedRequest) {
  const answer =
    (reply.text ?? "") +
    (reply.type === "tool_calls" ? reply.calls.map((c) => argsText(c.args)).join("") : "");
  const u = resolveUsage(reply.usage, requestText(request), answer);
  return {
    // Anthropic's input_tokens excludes cache reads and cache writes, which are counted apart.
    input_tokens: Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteTokens),
    output_tokens: u.outputTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cachedInputTokens,
    ...reply.wireUsage,
  };
}

function stopReason(reply: CompletionReply, hasTools: boolean): string {
  return reply.finishReason ?? (hasTools ? "tool_use" : "end_turn");
}

const renderer: ProtocolRenderer = {
  name: "fake-anthropic",
  endpoint: "/v1/messages",
  sdkBasePath: "",
  error(reply) {
    return [
      reply.status,
      {
        type: "error",
        error: {
          type: reply.errorType ?? ERROR_TYPES[reply.status] ?? "api_error",
          message: reply.message ?? `fake-anthropic error ${reply.status}`,
        },
      },
    ];
  },
  malformedFrame(body) {
    // A named event, since the SDK skips `data:` lines that have none.
    return `event: message_start\ndata: ${body}\n\n`;
  },
  json(reply, request) {
    const id = ++sequence;
    const tools = toolUses(reply, id);
    const content: unknown[] = [];
    if (reply.text) content.push({ type: "text", text: reply.text });
    for (const tool of tools) {
      content.push({ type: "tool_use", id: tool.id, name: tool.name, input: tool.args });
    }
    return {
      id: `msg_fake_${id}`,
      type: "message",
      role: "assistant",
      model: reply.model ?? request.body?.model ?? "fake-model",
      content,
      stop_reason: stopReason(reply, tools.length > 0),
      stop_sequence: null,
      usage: usageOf(reply, request),
    };
  },
  frames(reply, request) {
    const id = ++sequence;
    const tools = toolUses(reply, id);
    const usage = usageOf(reply, request);
    const { output_tokens: outputTokens, ...inputUsage } = usage;
    const frames = [
      sse(
        {
          type: "message_start",
          message: {
            id: `msg_fake_${id}`,
            type: "message",
            role: "assistant",
            model: reply.model ?? request.body?.model ?? "fake-model",
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { ...inputUsage, output_tokens: 1 },
          },
        },
        "message_start",
      ),
    ];
    let index = 0;
    if (reply.text) {
      frames.push(
        sse(
          { type: "content_block_start", index, content_block: { type: "text", text: "" } },
          "content_block_start",
        ),
        sse({ type: "ping" }, "ping"),
      );
      for (const piece of chunkText(reply.text, reply.chunkSize ?? 4)) {
        frames.push(
          sse(
            { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } },
            "content_block_delta",
          ),
        );
      }
      frames.push(sse({ type: "content_block_stop", index }, "content_block_stop"));
      index++;
    }
    for (const tool of tools) {
      frames.push(
        sse(
          {
            type: "content_block_start",
            index,
            content_block: { type: "tool_use", id: tool.id, name: tool.name, input: {} },
          },
          "content_block_start",
        ),
      );
      for (const piece of chunkText(argsText(tool.args), reply.chunkSize ?? 8)) {
        frames.push(
          sse(
            {
              type: "content_block_delta",
              index,
              delta: { type: "input_json_delta", partial_json: piece },
            },
            "content_block_delta",
          ),
        );
      }
      frames.push(sse({ type: "content_block_stop", index }, "content_block_stop"));
      index++;
    }
    frames.push(
      sse(
        {
          type: "message_delta",
          delta: { stop_reason: stopReason(reply, tools.length > 0), stop_sequence: null },
          usage: { output_tokens: outputTokens },
        },
        "message_delta",
      ),
      sse({ type: "message_stop" }, "message_stop"),
    );
    return frames;
  },
};

/**
 * Starts a fake Anthropic messages server (`POST /v1/messages`, JSON and SSE events
 * `message_start`, `content_block_start`/`delta` (`text_delta`, `input_json_delta`)/`stop`,
 * `message_delta`, `message_stop`, with `tool_use` blocks and cache usage fields) on a free
 * loopback port. Pass `server.baseURL` to the `@anthropic-ai/sdk` client.
 */
export function startFakeAnthropic(script: FakeScript = "ok"): Promise<FakeProviderServer> {
  return startFakeServer(renderer, script);
}
