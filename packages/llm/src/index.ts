/**
 * @aria/llm: the LLM handler over OpenAI, Anthropic and any OpenAI-compatible local server, with
 * provider selection and fallback, retry with backoff honouring retry-after, a circuit breaker per
 * provider, per-call timeouts and cancellation, a response cache (memory or Redis), and token and
 * cost accounting with budgets per run and per session.
 */
export {
  type Budget,
  LlmAccounting,
  type LlmAccountingDeps,
  type LlmUsageEvent,
  type Reservation,
  type UsageEstimate,
  type UsageScope,
  type UsageTotals,
} from "./accounting.ts";
export {
  cacheKey,
  type LlmCacheStore,
  MemoryCacheStore,
  RedisCacheStore,
  type RedisCacheStoreDeps,
  stableStringify,
} from "./cache.ts";
export {
  capabilitiesOf,
  DEFAULT_CAPABILITIES,
  JSON_MODE_INSTRUCTION,
  withoutJsonMode,
} from "./capabilities.ts";
export { retryAfterMs, toLlmError } from "./errors.ts";
export {
  type AgentLlmPreference,
  createLlmHandler,
  type LlmCacheOptions,
  type LlmConfigInput,
  LlmHandler,
  type LlmHandlerDeps,
  type LlmHealth,
  type ProviderHealth,
} from "./handler.ts";
export { costFromPrice, DEFAULT_PRICES, type ModelPrice, PriceTable } from "./pricing.ts";
export {
  type AnthropicParams,
  anthropicAcceptsTemperature,
  anthropicUsage,
  toAnthropicMessages,
  toAnthropicParams,
} from "./providers/anthropic.ts";
export { openAiUsage, toOpenAiParams } from "./providers/openai.ts";
export {
  type BreakerState,
  DEFAULT_RESILIENCE,
  type ProviderFailure,
  type ResilienceOptions,
} from "./resilience.ts";
