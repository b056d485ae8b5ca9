import type {
  LlmCapabilities,
  LlmClient,
  LlmMessageInput,
  LlmRequestInput,
  LlmResponse,
  LlmStreamChunk,
} from "@aria/core-types";
import { createAgentLoop } from "@aria/engines";
import { type FakeProviderServer, reply, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { fitContext } from "../src/agents/context-window.ts";
import { FixtureTools } from "./intelligence-fixtures.ts";

/**
 * A minimal OpenAI chat-completions client (the wire Ollama and llama.cpp server speak) with the
 * optional `capabilities()` of `LlmClient`, as the LLM handler answers it from `llm.models`. The
 * engines may not import @aria/llm, so the test talks to the fake server directly.
 */
class WireLlm implements LlmClient {
  readonly #baseURL: string;
  readonly #models: Record<string, LlmCapabilities>;
  readonly #model: string;
  constructor(baseURL: string, model: string, models: Record<string, LlmCapabilities>) {
    this.#baseURL = baseURL;
    this.#model = model;
    this.#models = models;
  }

  capabilities(request: { model?: string | undefined }): LlmCapabilities {
    return (
      this.#models[request.model ?? this.#model] ?? {
        toolCalling: false,
        jsonMode: true,
        contextTokens: 4096,
      }
    );
  }

  async complete(request: LlmRequestInput): Promise<LlmResponse> {
    const model = request.model ?? this.#model;
    const body: Record<string, unknown> = {
      model,
      messages: request.messages.map(toWire),
      ...(request.tools
        ? {
            tools: request.tools.map((t) => ({ type: "function", function: t })),
            tool_choice: request.toolChoice,
          }
        : {}),
      ...(request.responseFormat === "json" ? { response_format: { type: "json_object" } } : {}),
    };
    const res = await fetch(`${this.#baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as {
      choices: Array<{
        message: {
          content: string | null;
          tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
        };
      }>;
      usage?: { prompt_tokens: number; completion_tokens: number };
    };
    const message = json.choices[0]!.message;
    const inputTokens = json.usage?.prompt_tokens ?? 0;
    const outputTokens = json.usage?.completion_tokens ?? 0;
    return {
      content: message.content,
      toolCalls: (message.tool_calls ?? []).map((c) => ({
        id: c.id,
        name: c.function.name,
        arguments: JSON.parse(c.function.arguments) as Record<string, unknown>,
      })),
      finishReason: message.tool_calls?.length ? "tool_calls" : "stop",
      usage: {
        inputTokens,
        outputTokens,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        totalTokens: inputTokens + outputTokens,
      },
      costUsd: 0,
      model,
      provider: "local",
      cached: false,
      latencyMs: 0,
    };
  }

  // biome-ignore lint/correctness/useYield: the agent loop never streams
  async *stream(): AsyncIterable<LlmStreamChunk> {
    throw new Error("not used");
  }
}

function toWire(m: LlmMessageInput): Record<string, unknown> {
  if (m.role === "assistant")
    return {
      role: "assistant",
      content: m.content ?? null,
      ...(m.toolCalls?.length
        ? {
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: "function",
              function: { name: c.name, arguments: JSON.stringify(c.arguments) },
            })),
          }
        : {}),
    };
  if (m.role === "tool") return { role: "tool", tool_call_id: m.toolCallId, content: m.content };
  return { role: m.role, content: m.content };
}

const servers: FakeProviderServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function fake(script: Parameters<typeof startFakeOpenAI>[0]) {
  const server = await startFakeOpenAI(script);
  servers.push(server);
  return server;
}

const MODELS: Record<string, LlmCapabilities> = {
  "qwen2.5:0.5b": { toolCalling: false, jsonMode: false, contextTokens: 8192 },
  "llama3.1:8b": { toolCalling: true, jsonMode: true, contextTokens: 8192 },
  tiny: { toolCalling: false, jsonMode: false, contextTokens: 700 },
};

const wordCount = () =>
  new FixtureTools().add("text-tools/wordCount", {
    description: "Counts words",
    inputSchema: { type: "object", properties: { text: { type: "string" } } },
    handler: ({ text }) => ({ words: String(text).split(" ").length }),
  });

type WireBody = {
  messages: Array<{ role: string; content: string }>;
  tools?: unknown;
  tool_choice?: unknown;
  response_format?: unknown;
};

describe("agent loop on a local model without tool calling", () => {
  it("sends no tools, uses the JSON tool-call contract, runs the tool and answers", async () => {
    const server = await fake([
      reply.text('{"tool_name": "text-tools__wordCount", "parameters": {"text": "one two three"}}'),
      reply.text('{"tool_name": "none", "response": "There are 3 words."}'),
    ]);
    const tools = wordCount();
    const loop = createAgentLoop({
      llm: new WireLlm(server.baseURL, "qwen2.5:0.5b", MODELS),
      tools,
    });
    const result = await loop.run(
      {
        name: "counter",
        systemPrompt: "You count words.",
        tools: ["text-tools/wordCount"],
        llm: { provider: "local", model: "qwen2.5:0.5b" },
      },
      { message: "How many words in 'one two three'?" },
    );

    expect(result.response).toBe("There are 3 words.");
    expect(result.toolSteps).toBe(1);
    expect(tools.callsOf("text-tools/wordCount").map((c) => c.input)).toEqual([
      { text: "one two three" },
    ]);
    expect(server.calls).toHaveLength(2);
    for (const call of server.calls) {
      const body = call.body as WireBody;
      expect(body).not.toHaveProperty("tools");
      expect(body).not.toHaveProperty("tool_choice");
      expect(body).not.toHaveProperty("response_format");
      expect(body.messages[0]!.role).toBe("system");
      expect(body.messages[0]!.content).toContain('{"tool_name": "<name>"');
      expect(body.messages[0]!.content).toContain("text-tools__wordCount");
    }
    const second = server.calls[1]!.body as WireBody;
    expect(second.messages.at(-1)!.role).toBe("user");
    expect(second.messages.at(-1)!.content).toContain('"words":3');
  });

  it("sends native tools to a local model marked toolCalling: true", async () => {
    const server = await fake([
      reply.toolCall("text-tools__wordCount", { text: "a b" }),
      reply.text("2 words"),
    ]);
    const loop = createAgentLoop({
      llm: new WireLlm(server.baseURL, "llama3.1:8b", MODELS),
      tools: wordCount(),
    });
    const result = await loop.run(
      { name: "counter", systemPrompt: "You count words.", tools: ["text-tools/wordCount"] },
      { message: "Count 'a b'" },
    );
    expect(result.response).toBe("2 words");
    const body = server.calls[0]!.body as WireBody;
    expect(body.tools).toHaveLength(1);
    expect(body.messages[0]).toEqual({ role: "system", content: "You count words." });
  });

  it("an explicit toolMode wins over the capabilities", async () => {
    const server = await fake([reply.text("fine")]);
    const loop = createAgentLoop(
      { llm: new WireLlm(server.baseURL, "qwen2.5:0.5b", MODELS), tools: wordCount() },
      { toolMode: "native" },
    );
    await loop.run(
      { name: "counter", systemPrompt: "S", tools: ["text-tools/wordCount"] },
      { message: "hi" },
    );
    expect((server.calls[0]!.body as WireBody).tools).toHaveLength(1);
  });
});

describe("agent loop on a model with a small context window", () => {
  const history: LlmMessageInput[] = [];
  for (let i = 1; i <= 6; i++) {
    history.push({ role: "user", content: `question ${i} ${"x".repeat(300)}` });
    history.push({ role: "assistant", content: `answer ${i} ${"y".repeat(300)}` });
  }

  it("drops the oldest turns, keeps the system prompt and the task, and says so", async () => {
    const server = await fake([reply.text("done")]);
    const loop = createAgentLoop({
      llm: new WireLlm(server.baseURL, "tiny", MODELS),
      tools: wordCount(),
    });
    const result = await loop.run(
      { name: "chat", systemPrompt: "You chat.", tools: [], llm: { model: "tiny" } },
      { message: "the current question", history },
    );
    const sent = (server.calls[0]!.body as WireBody).messages;
    expect(sent[0]).toEqual({ role: "system", content: "You chat." });
    expect(sent.at(-1)).toEqual({ role: "user", content: "the current question" });
    // Fewer turns than the history, the newest ones, starting with a user message.
    expect(sent.length).toBeLessThan(history.length + 2);
    expect(sent.length).toBeGreaterThan(2);
    expect(sent[1]!.role).toBe("user");
    expect(sent[1]!.content).toMatch(/^\[\d+ earlier messages were left out/);
    expect(sent[1]!.content).not.toContain("question 1 ");
    expect(sent.at(-2)!.content).toContain("answer 6");
    // The conversation returned (sessions) keeps everything.
    expect(result.messages).toHaveLength(history.length + 2);
    expect(result.messages[0]).toEqual(history[0]);
  });

  it("sends the whole history to a model with room for it", async () => {
    const server = await fake([reply.text("done")]);
    const loop = createAgentLoop({
      llm: new WireLlm(server.baseURL, "llama3.1:8b", MODELS),
      tools: wordCount(),
    });
    await loop.run(
      { name: "chat", systemPrompt: "You chat.", tools: [] },
      { message: "now", history },
    );
    const sent = (server.calls[0]!.body as WireBody).messages;
    expect(sent).toHaveLength(history.length + 2);
    expect(sent[1]).toEqual(history[0]);
  });
});

describe("fitContext", () => {
  const call = { id: "c1", name: "t", arguments: {} };
  it("keeps a tool call with its results and the latest exchange of the task", () => {
    const conversation: LlmMessageInput[] = [
      { role: "user", content: "old ".repeat(200) },
      { role: "assistant", content: null, toolCalls: [call] },
      { role: "tool", toolCallId: "c1", name: "t", content: "r".repeat(600) },
      { role: "assistant", content: "old answer" },
      { role: "user", content: "task" },
      { role: "assistant", content: null, toolCalls: [{ ...call, id: "c2" }] },
      { role: "tool", toolCallId: "c2", name: "t", content: "z".repeat(600) },
      { role: "assistant", content: null, toolCalls: [{ ...call, id: "c3" }] },
      { role: "tool", toolCallId: "c3", name: "t", content: "latest" },
    ];
    const { messages, dropped } = fitContext(conversation, 4, 60);
    expect(dropped).toBe(6);
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "tool"]);
    expect(messages[0]!.content).toBe(
      "[6 earlier messages were left out to fit the model's context window.]\n\ntask",
    );
    expect(messages[2]!.content).toBe("latest");
  });

  it("changes nothing that fits", () => {
    const conversation: LlmMessageInput[] = [{ role: "user", content: "hi" }];
    expect(fitContext(conversation, 0, 1000)).toEqual({ messages: conversation, dropped: 0 });
  });
});
