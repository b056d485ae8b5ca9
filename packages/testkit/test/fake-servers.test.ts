import { type FakeProviderServer, reply, startFakeAnthropic, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";

const servers: FakeProviderServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function openai(script: Parameters<typeof startFakeOpenAI>[0]) {
  const server = await startFakeOpenAI(script);
  servers.push(server);
  return server;
}

async function anthropic(script: Parameters<typeof startFakeAnthropic>[0]) {
  const server = await startFakeAnthropic(script);
  servers.push(server);
  return server;
}

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary wire fields.
async function readJson(res: Response): Promise<any> {
  return res.json();
}

/** The JSON payloads of an SSE body, with their event names. */
function frames(text: string): Array<{ event: string | undefined; data: string }> {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
      return { event, data };
    });
}

describe("startFakeOpenAI", () => {
  it("answers chat completions as JSON and records the request", async () => {
    const server = await openai(
      reply.text("hi there", { usage: { inputTokens: 7, outputTokens: 2, cachedInputTokens: 3 } }),
    );
    expect(server.baseURL).toBe(`${server.url}/v1`);
    const res = await post(
      `${server.baseURL}/chat/completions`,
      { model: "gpt-x", messages: [{ role: "user", content: "hello" }] },
      { authorization: "Bearer sk-abc" },
    );
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "gpt-x",
      choices: [
        { index: 0, message: { role: "assistant", content: "hi there" }, finish_reason: "stop" },
      ],
      usage: {
        prompt_tokens: 7,
        completion_tokens: 2,
        total_tokens: 9,
        prompt_tokens_details: { cached_tokens: 3 },
      },
    });
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0]).toMatchObject({
      method: "POST",
      path: "/v1/chat/completions",
      stream: false,
      body: { model: "gpt-x" },
      headers: { authorization: "Bearer sk-abc" },
    });
  });

  it("streams text and tool-call argument deltas, with usage when asked and [DONE]", async () => {
    const server = await openai(
      reply.toolCall(
        "lookup",
        { id: "12345", verbose: true },
        { id: "call_1", text: "Checking", chunkSize: 4 },
      ),
    );
    const res = await post(`${server.baseURL}/chat/completions`, {
      model: "m",
      messages: [],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = frames(await res.text());
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    const deltas = chunks.flatMap((c) => c.choices.map((ch: { delta: unknown }) => ch.delta));
    expect(deltas.map((d) => d.content ?? "").join("")).toBe("Checking");
    const argPieces = deltas
      .flatMap((d) => d.tool_calls ?? [])
      .map((t) => t.function?.arguments ?? "");
    expect(argPieces.filter((p: string) => p !== "").length).toBeGreaterThan(2);
    expect(argPieces.join("")).toBe('{"id":"12345","verbose":true}');
    expect(deltas.find((d) => d.tool_calls)?.tool_calls[0]).toMatchObject({
      index: 0,
      id: "call_1",
      function: { name: "lookup" },
    });
    expect(chunks.at(-2).choices[0].finish_reason).toBe("tool_calls");
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { completion_tokens: expect.any(Number) },
    });
  });

  it("injects errors with retry-after headers in OpenAI's error format", async () => {
    const server = await openai(
      reply.error(429, { retryAfter: 2, retryAfterMs: 2000, message: "slow down" }),
    );
    const res = await post(`${server.baseURL}/chat/completions`, { messages: [] });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.headers.get("retry-after-ms")).toBe("2000");
    expect(await res.json()).toEqual({
      error: { message: "slow down", type: "requests", param: null, code: "rate_limit_exceeded" },
    });
  });

  it("plays a queue in order, then says the script is exhausted", async () => {
    const server = await openai(["one", reply.error(500), "three"]);
    const url = `${server.baseURL}/chat/completions`;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(url, { messages: [] })).status);
    expect(statuses).toEqual([200, 500, 200, 418]);
    server.push("four");
    const res = await post(url, { messages: [] });
    expect((await readJson(res)).choices[0].message.content).toBe("four");
  });

  it("answers from a function of the request", async () => {
    const server = await openai(
      (request, index) => `#${index} ${request.body.messages[0].content}`,
    );
    const res = await post(`${server.baseURL}/chat/completions`, {
      messages: [{ role: "user", content: "echo" }],
    });
    expect((await readJson(res)).choices[0].message.content).toBe("#0 echo");
  });

  it("sends malformed bodies, delays, dropped connections and hanging replies", async () => {
    const server = await openai([
      reply.malformed(),
      reply.text("late", { delayMs: 60 }),
      reply.drop(),
      reply.hang(),
    ]);
    const url = `${server.baseURL}/chat/completions`;
    const broken = await post(url, { messages: [] });
    expect(broken.headers.get("content-type")).toBe("application/json");
    await expect(broken.json()).rejects.toThrow();
    const started = performance.now();
    await post(url, { messages: [] });
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    await expect(post(url, { messages: [] })).rejects.toThrow();
    const hanging = post(url, { messages: [] });
    while (server.calls.length < 4) await new Promise((r) => setTimeout(r, 5));
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(hanging).rejects.toThrow();
  });

  it("cuts a stream after a number of events", async () => {
    const server = await openai(reply.drop({ afterChunks: 2 }));
    const res = await post(`${server.baseURL}/chat/completions`, { messages: [], stream: true });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it("lists a model and answers 404 elsewhere", async () => {
    const server = await openai("x");
    expect((await readJson(await fetch(`${server.baseURL}/models`))).data[0].id).toBe("fake-model");
    expect((await post(`${server.url}/v1/embeddings`, {})).status).toBe(404);
    expect(server.requests).toHaveLength(2);
    expect(server.calls).toHaveLength(0);
  });
});

describe("startFakeAnthropic", () => {
  it("answers messages as JSON with tool_use blocks and Anthropic usage fields", async () => {
    const server = await anthropic(
      reply.toolCall(
        "search",
        { q: "x" },
        {
          id: "toolu_9",
          text: "Let me check",
          usage: { inputTokens: 100, outputTokens: 9, cachedInputTokens: 60, cacheWriteTokens: 10 },
        },
      ),
    );
    expect(server.baseURL).toBe(server.url);
    const res = await post(`${server.url}/v1/messages`, {
      model: "claude-x",
      max_tokens: 10,
      messages: [],
    });
    expect(await res.json()).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-x",
      content: [
        { type: "text", text: "Let me check" },
        { type: "tool_use", id: "toolu_9", name: "search", input: { q: "x" } },
      ],
      stop_reason: "tool_use",
      usage: {
        input_tokens: 30,
        cache_read_input_tokens: 60,
        cache_creation_input_tokens: 10,
        output_tokens: 9,
      },
    });
  });

  it("streams the message event sequence with text and input_json deltas", async () => {
    const server = await anthropic(
      reply.toolCall("search", { query: "a longer query" }, { text: "Hm", chunkSize: 5 }),
    );
    const res = await post(`${server.url}/v1/messages`, { model: "c", messages: [], stream: true });
    const events = frames(await res.text());
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("message_start");
    expect(names.at(-2)).toBe("message_delta");
    expect(names.at(-1)).toBe("message_stop");
    for (const e of events) expect(JSON.parse(e.data).type).toBe(e.event);
    const payloads = events.map((e) => JSON.parse(e.data));
    const json = payloads
      .filter((p) => p.delta?.type === "input_json_delta")
      .map((p) => p.delta.partial_json);
    expect(json.length).toBeGreaterThan(2);
    expect(JSON.parse(json.join(""))).toEqual({ query: "a longer query" });
    expect(payloads.find((p) => p.content_block?.type === "tool_use").content_block).toMatchObject({
      type: "tool_use",
      name: "search",
      input: {},
    });
    expect(payloads.at(-2).delta.stop_reason).toBe("tool_use");
  });

  it("sends errors in Anthropic's format", async () => {
    const server = await anthropic(reply.error(529));
    const res = await post(`${server.url}/v1/messages`, {});
    expect(res.status).toBe(529);
    expect(await res.json()).toEqual({
      type: "error",
      error: { type: "overloaded_error", message: "fake-anthropic error 529" },
    });
  });
});
