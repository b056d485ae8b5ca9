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

const ERROR_TYPES: Record<number, [string, string | null]> = {
  400: ["invalid_request_error", null],
  401: ["invalid_request_error", "invalid_api_key"],
  403: ["insufficient_permissions", null],
  404: ["invalid_request_error", "model_not_found"],
  429: ["requests", "rate_limit_exceeded"],
};

let sequence = 0;

function requestText(request: RecordedRequest): string {
  return JSON.stringify(request.body?.messages ?? "") + JSON.stringify(request.body?.tools ?? "");
}

function toolCallsOf(reply: CompletionReply, id: number) {
  if (reply.type !== "tool_calls") return [];
  return reply.calls.map((call, i) => ({
    id: call.id ?? `call_fake_${id}_${i}`,
    type: "function" as const,
    function: { name: call.name, arguments: argsText(call.args) },
  }));
}

function usageOf(reply: CompletionReply, request: RecordedRequest) {
  const answer =
    (reply.text ?? "") +
    (reply.type === "tool_calls" ? reply.calls.map((c) => argsText(c.args)).join("") : "");
  const u = resolveUsage(reply.usage, requestText(request), answer);
  return {
    // OpenAI counts cached tokens inside prompt_tokens; it has no separate cache-write count.
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
    ...reply.wireUsage,
  };
}

const renderer: ProtocolRenderer = {
  name: "fake-openai",
  endpoint: "/v1/chat/completions",
  sdkBasePath: "/v1",
  error(reply) {
    const [type, code] = ERROR_TYPES[reply.status] ?? ["server_error", null];
    return [
      reply.status,
      {
        error: {
          message: reply.message ?? `fake-openai error ${reply.status}`,
          type: reply.errorType ?? type,
          param: null,
          code,
        },
      },
    ];
  },
  json(reply, request) {
    const id = ++sequence;
    const toolCalls = toolCallsOf(reply, id);
    return {
      id: `chatcmpl-fake-${id}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: reply.model ?? request.body?.model ?? "fake-model",
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: reply.text ?? null,
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: reply.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
        },
      ],
      usage: usageOf(reply, request),
    };
  },
  frames(reply, request) {
    const id = ++sequence;
    const includeUsage = request.body?.stream_options?.include_usage === true;
    const base = {
      id: `chatcmpl-fake-${id}`,
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: reply.model ?? request.body?.model ?? "fake-model",
      system_fingerprint: null,
      ...(includeUsage ? { usage: null } : {}),
    };
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      sse({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] });
    const size = reply.chunkSize ?? 4;
    const frames = [chunk({ role: "assistant", content: "", refusal: null })];
    if (reply.text)
      for (const piece of chunkText(reply.text, size)) frames.push(chunk({ content: piece }));
    const toolCalls = toolCallsOf(reply, id);
    toolCalls.forEach((call, index) => {
      frames.push(
        chunk({
          tool_calls: [
            {
              index,
              id: call.id,
              type: "function",
              function: { name: call.function.name, arguments: "" },
            },
          ],
        }),
      );
      for (const piece of chunkText(call.function.arguments, reply.chunkSize ?? 8)) {
        frames.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    frames.push(chunk({}, reply.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop")));
    if (includeUsage) frames.push(sse({ ...base, choices: [], usage: usageOf(reply, request) }));
    frames.push(sse("[DONE]"));
    return frames;
  },
  extra(request, res) {
    if (request.method === "GET" && request.path === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ id: "fake-model", object: "model", owned_by: "aria-testkit" }],
        }),
      );
      return true;
    }
    return false;
  },
};

/**
 * Starts a fake OpenAI chat-completions server (`POST /v1/chat/completions`, JSON and SSE with
 * `stream: true`, streamed tool-call argument deltas, `stream_options.include_usage`) on a free
 * loopback port. Pass `server.baseURL` to the `openai` client. Also serves any OpenAI-compatible
 * "local" provider in tests.
 */
export function startFakeOpenAI(script: FakeScript = "ok"): Promise<FakeProviderServer> {
  return startFakeServer(renderer, script);
}
