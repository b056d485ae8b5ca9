import type {
  LlmCapabilities,
  LlmProviderName,
  LlmRequest,
  ModelCapabilitiesInput,
} from "@aria/core-types";

/**
 * Defaults per provider when `llm.models` says nothing about a model. OpenAI and Anthropic models
 * all call tools and answer JSON; their windows are at least 128 000 / 200 000 tokens. A local
 * server's model is unknown, so its defaults are conservative: the JSON tool-call contract (which
 * every instruction-following model can use, where native tool calling needs a model and chat
 * template trained for it) and 4096 tokens (the smallest window Ollama and llama.cpp server
 * commonly run with). JSON mode stays on: Ollama, llama.cpp server and vLLM implement
 * `response_format: {type: "json_object"}` by constrained sampling, for any model; set
 * `jsonMode: false` for a server that rejects it.
 */
export const DEFAULT_CAPABILITIES: Readonly<Record<LlmProviderName, Readonly<LlmCapabilities>>> = {
  openai: { toolCalling: true, jsonMode: true, contextTokens: 128_000 },
  anthropic: { toolCalling: true, jsonMode: true, contextTokens: 200_000 },
  local: { toolCalling: false, jsonMode: true, contextTokens: 4096 },
};

/** The instruction that replaces `responseFormat: "json"` for a model without a JSON mode. */
export const JSON_MODE_INSTRUCTION = "Answer with one JSON object only: no prose, no code fences.";

/**
 * A model's capabilities: its `llm.models` entry (exact name first, then the name without an
 * Ollama tag such as `:3b` or `:latest`), field by field over the provider's defaults.
 */
export function capabilitiesOf(
  provider: LlmProviderName,
  model: string | undefined,
  models: Readonly<Record<string, ModelCapabilitiesInput>>,
): LlmCapabilities {
  const base = DEFAULT_CAPABILITIES[provider];
  let entry: ModelCapabilitiesInput | undefined;
  if (model !== undefined) {
    entry = Object.hasOwn(models, model) ? models[model] : undefined;
    const colon = model.lastIndexOf(":");
    if (entry === undefined && colon > 0) {
      const family = model.slice(0, colon);
      entry = Object.hasOwn(models, family) ? models[family] : undefined;
    }
  }
  return {
    toolCalling: entry?.toolCalling ?? base.toolCalling,
    jsonMode: entry?.jsonMode ?? base.jsonMode,
    contextTokens: entry?.contextTokens ?? base.contextTokens,
  };
}

/**
 * The request a model without a JSON mode receives: `responseFormat: "json"` is left out and the
 * instruction is appended to the system prompt (or sent as one), as for Anthropic.
 */
export function withoutJsonMode(request: LlmRequest): LlmRequest {
  if (request.responseFormat !== "json") return request;
  const { responseFormat: _dropped, ...rest } = request;
  const messages = [...request.messages];
  const first = messages[0];
  if (first?.role === "system") {
    messages[0] = { ...first, content: `${first.content ?? ""}\n\n${JSON_MODE_INSTRUCTION}` };
  } else {
    messages.unshift({ role: "system", content: JSON_MODE_INSTRUCTION });
  }
  return { ...rest, messages };
}
