import { createLlmHandler, JSON_MODE_INSTRUCTION } from "@aria/llm";
import { reply, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { collect, OPENAI_KEY, serverPool } from "./helpers.ts";

const pool = serverPool();
afterEach(() => pool.closeAll());

const MODELS = {
  "llama3.2": { toolCalling: true, jsonMode: true, contextTokens: 8192 },
  "qwen2.5:0.5b": { toolCalling: false, jsonMode: false, contextTokens: 2048 },
  phi3: { contextTokens: 2048 },
};

describe("local provider capabilities", () => {
  it("answers OpenAI and Anthropic defaults for their models", () => {
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY } },
      cache: false,
    });
    expect(llm.capabilities({ model: "gpt-4o-mini" })).toEqual({
      toolCalling: true,
      jsonMode: true,
      contextTokens: 128_000,
    });
    expect(llm.capabilities({ model: "claude-haiku-4-5" })).toEqual({
      toolCalling: true,
      jsonMode: true,
      contextTokens: 200_000,
    });
    expect(llm.capabilities()).toMatchObject({ toolCalling: true });
  });

  it("answers conservative local defaults for what llm.models does not say", () => {
    const llm = createLlmHandler({
      config: {
        providers: ["local"],
        local: { baseURL: "http://127.0.0.1:9/v1", model: "phi3" },
        models: MODELS,
      },
      cache: false,
    });
    // phi3 sets only its window: the other flags are the local defaults.
    expect(llm.capabilities()).toEqual({ toolCalling: false, jsonMode: true, contextTokens: 2048 });
    // mistral has no entry at all.
    expect(llm.capabilities({ provider: "local", model: "mistral" })).toEqual({
      toolCalling: false,
      jsonMode: true,
      contextTokens: 4096,
    });
  });

  it("reads llm.models: exact name, then the name without its Ollama tag, field by field", () => {
    const llm = createLlmHandler({
      config: {
        providers: ["local"],
        local: { baseURL: "http://127.0.0.1:9/v1", model: "llama3.2:3b" },
        models: MODELS,
      },
      agents: { tiny: { provider: "local", model: "qwen2.5:0.5b" } },
      cache: false,
    });
    // `llama3.2:3b` has no entry of its own: the family `llama3.2` applies.
    expect(llm.capabilities()).toEqual({ toolCalling: true, jsonMode: true, contextTokens: 8192 });
    // The agent's model, from its own entry.
    expect(llm.capabilities({ agent: "tiny" })).toEqual({
      toolCalling: false,
      jsonMode: false,
      contextTokens: 2048,
    });
    // An entry can also raise an OpenAI model's flags or lower its window.
    const openai = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY },
        models: { "gpt-4o-mini": { contextTokens: 1000 } },
      },
      cache: false,
    });
    expect(openai.capabilities({ model: "gpt-4o-mini" })).toEqual({
      toolCalling: true,
      jsonMode: true,
      contextTokens: 1000,
    });
  });

  it("rejects invalid llm.models entries", () => {
    expect(() =>
      createLlmHandler({
        config: { models: { x: { contextTokens: -1 } } },
        cache: false,
      }),
    ).toThrow();
  });
});

describe("JSON mode on a local model without it", () => {
  it("never sends response_format; the instruction goes into the system prompt", async () => {
    const server = await pool.add(startFakeOpenAI(reply.text('{"ok":true}')));
    const llm = createLlmHandler({
      config: {
        providers: ["local"],
        local: { baseURL: server.baseURL, model: "qwen2.5:0.5b" },
        models: MODELS,
      },
      cache: false,
    });
    const response = await llm.complete({
      messages: [
        { role: "system", content: "You grade answers." },
        { role: "user", content: "Grade: 2+2=4" },
      ],
      responseFormat: "json",
    });
    expect(response).toMatchObject({ content: '{"ok":true}', provider: "local" });
    const body = server.calls[0]?.body as Record<string, unknown>;
    expect(body.model).toBe("qwen2.5:0.5b");
    expect(body).not.toHaveProperty("response_format");
    expect(body.messages).toEqual([
      { role: "system", content: `You grade answers.\n\n${JSON_MODE_INSTRUCTION}` },
      { role: "user", content: "Grade: 2+2=4" },
    ]);

    // Streams too, and a request without a system message gets one.
    await collect(
      llm.stream({ messages: [{ role: "user", content: "Grade" }], responseFormat: "json" }),
    );
    const streamed = server.calls[1]?.body as Record<string, unknown>;
    expect(streamed).not.toHaveProperty("response_format");
    expect(streamed.messages).toEqual([
      { role: "system", content: JSON_MODE_INSTRUCTION },
      { role: "user", content: "Grade" },
    ]);
  });

  it("sends response_format to a local model marked jsonMode: true", async () => {
    const server = await pool.add(startFakeOpenAI(reply.text("{}")));
    const llm = createLlmHandler({
      config: {
        providers: ["local"],
        local: { baseURL: server.baseURL, model: "llama3.2" },
        models: MODELS,
      },
      cache: false,
    });
    await llm.complete({ messages: [{ role: "user", content: "x" }], responseFormat: "json" });
    const body = server.calls[0]?.body as Record<string, unknown>;
    expect(body.response_format).toEqual({ type: "json_object" });
    expect(body.messages).toEqual([{ role: "user", content: "x" }]);
  });
});
