import {
  type LlmCallOptions,
  type LlmCapabilities,
  type LlmClient,
  type LlmProviderName,
  type LlmRequest,
  type LlmRequestInput,
  LlmRequestSchema,
  type LlmResponse,
  type LlmStreamChunk,
  type LlmUsage,
  type Logger,
  type ModelCapabilitiesInput,
  type RuntimeConfig,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
} from "@aria/core-types";
import { AriaError, llmError } from "@aria/errors";
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
} from "cockatiel";
import type { Redis } from "ioredis";
import {
  type Budget,
  LlmAccounting,
  type LlmUsageEvent,
  type Reservation,
  type UsageScope,
} from "./accounting.ts";
import { cacheKey, type LlmCacheStore, MemoryCacheStore, RedisCacheStore } from "./cache.ts";
import { capabilitiesOf, withoutJsonMode } from "./capabilities.ts";
import { createSanitizer, FALLBACK_CODES, PROVIDER_FAILURE_CODES, toLlmError } from "./errors.ts";
import { type ModelPrice, PriceTable } from "./pricing.ts";
import { AnthropicProvider } from "./providers/anthropic.ts";
import { OpenAiProvider } from "./providers/openai.ts";
import type { LlmProvider, ProviderResult, ProviderStreamEvent } from "./providers/types.ts";
import {
  type BreakerState,
  DEFAULT_RESILIENCE,
  type ProviderFailure,
  ProviderGuard,
  type ResilienceOptions,
} from "./resilience.ts";

/** `RuntimeConfig.llm`, parsed or as written (defaults are applied here). */
export type LlmConfigInput = NonNullable<RuntimeConfigInput["llm"]>;

/** Which provider and model an agent uses unless the request says otherwise. */
export interface AgentLlmPreference {
  provider?: LlmProviderName | undefined;
  model?: string | undefined;
}

/** Response cache settings. */
export interface LlmCacheOptions {
  /** Default true. */
  enabled?: boolean;
  /** Time to live of an entry (default one hour). */
  ttlMs?: number;
  /** Memory store: entry bound (default 1000) and size bound in characters (default 64 Mi). */
  maxEntries?: number;
  maxBytes?: number;
  /** Use Redis (an ioredis client, or a `redis://` URL the handler connects to and closes). */
  redis?: Redis | string | undefined;
  /** Redis key prefix (default `aria:llm:cache:`). */
  keyPrefix?: string;
  /** A Redis lookup slower than this is a miss (default 250 ms). */
  lookupTimeoutMs?: number;
  /** Any other store. */
  store?: LlmCacheStore;
}

/** Everything `createLlmHandler` needs. All of it is optional. */
export interface LlmHandlerDeps {
  /** Providers, their order, timeout, retries and prices: `RuntimeConfig.llm`. */
  config?: LlmConfigInput | RuntimeConfig["llm"] | undefined;
  /** `RuntimeConfig.limits`: `maxTokensPerRun` and `maxCostPerRunUsd` become the default run budget. */
  limits?: { maxTokensPerRun?: number; maxCostPerRunUsd?: number } | undefined;
  /** Default budget of every session. */
  sessionBudget?: Budget | undefined;
  /** Provider and model per agent (a table, or a lookup such as the agent registry's). */
  agents?:
    | Record<string, AgentLlmPreference>
    | ((agent: string) => AgentLlmPreference | undefined)
    | undefined;
  /** Try the next provider on retryable failures (default true). */
  fallback?: boolean | undefined;
  /** Response cache; `false` turns it off (e.g. `features.caching`). */
  cache?: false | LlmCacheOptions | undefined;
  /** Backoff, breaker and retry-after bounds (`maxRetries` defaults to `config.maxRetries`). */
  resilience?: Partial<ResilienceOptions> | undefined;
  /** Anthropic's required `max_tokens` when a request gives none (default 4096). */
  defaultMaxTokens?: number | undefined;
  logger?: Logger | undefined;
  /** Called after every answered call (engines emit `llm.usage` from it). */
  onUsage?: ((event: LlmUsageEvent) => void) | undefined;
  /** Called when a provider's circuit breaker changes state (metrics). */
  onBreakerStateChange?: ((provider: LlmProviderName, state: BreakerState) => void) | undefined;
  /** A `fetch` for the SDK clients (proxies, tests). */
  fetch?: typeof fetch | undefined;
}

/** One provider's health, for `/ready` and metrics. */
export interface ProviderHealth {
  configured: boolean;
  /** `closed` is healthy; `open` means calls skip it until `retryInMs` has passed. */
  state: BreakerState | "not-configured";
  endpoint?: string;
  defaultModel?: string;
  retryInMs?: number;
  lastFailure?: ProviderFailure;
}

/** The handler's health: every provider's breaker and the cache. */
export interface LlmHealth {
  /** True when at least one configured provider's breaker is not open. */
  ready: boolean;
  providers: Record<LlmProviderName, ProviderHealth>;
  cache: { kind: "memory" | "redis" | "off"; state: BreakerState; entries?: number };
}

const PROVIDER_NAMES: readonly LlmProviderName[] = ["openai", "anthropic", "local"];
const ZERO_USAGE: LlmUsage = {
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  totalTokens: 0,
};
const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "isolated",
};

const noop = () => {};
const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

interface Route {
  provider: LlmProvider;
  guard: ProviderGuard;
  model: string;
  /** The request as this route's model receives it (JSON mode left out when it has none). */
  wire: LlmRequest;
}

/** Guesses the provider a model name belongs to, when the request names a model but no provider. */
function inferProvider(model: string): LlmProviderName | undefined {
  if (model.startsWith("claude")) return "anthropic";
  if (/^(gpt-|chatgpt|o\d)/.test(model)) return "openai";
  return undefined;
}

function requestChars(request: LlmRequest): number {
  let chars = 0;
  for (const m of request.messages) {
    chars += m.content?.length ?? 0;
    if (m.role === "assistant" && m.toolCalls) chars += JSON.stringify(m.toolCalls).length;
  }
  if (request.tools) chars += JSON.stringify(request.tools).length;
  return chars;
}

/**
 * The LLM handler: one `complete` and one `stream` over OpenAI, Anthropic and any
 * OpenAI-compatible local server, with provider selection and fallback, retries, circuit
 * breakers, timeouts, cancellation, a response cache, cost accounting and budgets.
 */
export class LlmHandler implements LlmClient {
  /** Usage and cost per run, session, agent and provider; budgets. */
  readonly accounting: LlmAccounting;
  readonly #providers = new Map<LlmProviderName, LlmProvider>();
  readonly #guards = new Map<LlmProviderName, ProviderGuard>();
  readonly #order: LlmProviderName[];
  readonly #timeoutMs: number;
  readonly #fallback: boolean;
  readonly #prices: PriceTable;
  #sanitize: (text: string) => string;
  readonly #secrets: string[];
  readonly #config: RuntimeConfig["llm"];
  readonly #sdkTimeoutMs: number;
  readonly #fetch: typeof fetch | undefined;
  readonly #defaultMaxTokens: number | undefined;
  readonly #logger: Logger;
  readonly #agents: Map<string, AgentLlmPreference>;
  readonly #agentLookup: ((agent: string) => AgentLlmPreference | undefined) | undefined;
  readonly #cache: LlmCacheStore | undefined;
  readonly #ownsCache: boolean;
  readonly #cacheTtlMs: number;
  readonly #cacheBreaker: CircuitBreakerPolicy | undefined;
  readonly #unpriced = new Set<string>();
  readonly #models: Record<string, ModelCapabilitiesInput>;

  constructor(deps: LlmHandlerDeps = {}) {
    const config = RuntimeConfigSchema.shape.llm.parse(deps.config ?? undefined);
    this.#logger = (deps.logger ?? silentLogger).child({ component: "llm" });
    this.#timeoutMs = config.timeoutMs;
    this.#fallback = deps.fallback ?? true;
    this.#order = [...new Set(config.providers)];
    this.#models = { ...config.models };
    this.#prices = new PriceTable({ prices: config.prices as Record<string, ModelPrice> });
    this.#secrets = [config.openai.apiKey, config.anthropic.apiKey, config.local.apiKey].filter(
      (k): k is string => typeof k === "string",
    );
    this.#sanitize = createSanitizer(this.#secrets);
    this.#config = config;
    this.#fetch = deps.fetch;
    this.#defaultMaxTokens = deps.defaultMaxTokens;
    const resilience: ResilienceOptions = {
      ...DEFAULT_RESILIENCE,
      maxRetries: config.maxRetries,
      ...deps.resilience,
    };

    // The SDKs' own timeout is only a backstop behind the per-attempt timeout applied here.
    const sdkTimeoutMs = Math.max(600_000, config.timeoutMs * 2);
    this.#sdkTimeoutMs = sdkTimeoutMs;
    if (config.openai.apiKey) {
      this.#providers.set(
        "openai",
        new OpenAiProvider({
          name: "openai",
          apiKey: config.openai.apiKey,
          baseURL: config.openai.baseURL,
          model: config.openai.model,
          timeoutMs: sdkTimeoutMs,
          fetch: deps.fetch,
        }),
      );
    }
    if (config.anthropic.apiKey) {
      this.#providers.set(
        "anthropic",
        new AnthropicProvider({
          apiKey: config.anthropic.apiKey,
          baseURL: config.anthropic.baseURL,
          model: config.anthropic.model,
          defaultMaxTokens: deps.defaultMaxTokens,
          timeoutMs: sdkTimeoutMs,
          fetch: deps.fetch,
        }),
      );
    }
    if (config.local.baseURL) {
      this.#providers.set(
        "local",
        new OpenAiProvider({
          name: "local",
          apiKey: config.local.apiKey,
          baseURL: config.local.baseURL,
          model: config.local.model,
          timeoutMs: sdkTimeoutMs,
          fetch: deps.fetch,
        }),
      );
    }
    for (const name of this.#providers.keys()) {
      this.#guards.set(
        name,
        new ProviderGuard({
          name,
          options: resilience,
          onStateChange: (state) => {
            const log = state === "closed" ? this.#logger.info : this.#logger.warn;
            log.call(
              this.#logger,
              { provider: name, breaker: state },
              `LLM provider breaker ${state}`,
            );
            deps.onBreakerStateChange?.(name, state);
          },
          onRetry: ({ attempt, delayMs, error }) =>
            this.#logger.warn(
              {
                provider: name,
                attempt,
                delayMs: Math.round(delayMs),
                code: AriaError.is(error) ? error.code : undefined,
              },
              "retrying LLM call",
            ),
        }),
      );
    }

    this.accounting = new LlmAccounting({
      defaultRunBudget: {
        ...(deps.limits?.maxTokensPerRun !== undefined
          ? { maxTokens: deps.limits.maxTokensPerRun }
          : {}),
        ...(deps.limits?.maxCostPerRunUsd !== undefined
          ? { maxCostUsd: deps.limits.maxCostPerRunUsd }
          : {}),
      },
      ...(deps.sessionBudget ? { defaultSessionBudget: deps.sessionBudget } : {}),
    });
    if (deps.onUsage) this.accounting.onUsage(deps.onUsage);

    this.#agents = new Map(
      typeof deps.agents === "object" && deps.agents ? Object.entries(deps.agents) : [],
    );
    this.#agentLookup = typeof deps.agents === "function" ? deps.agents : undefined;

    const cache = deps.cache === false ? { enabled: false } : (deps.cache ?? {});
    this.#cacheTtlMs = cache.ttlMs ?? 3_600_000;
    if (cache.enabled === false) {
      this.#cache = undefined;
      this.#ownsCache = false;
    } else if (cache.store) {
      this.#cache = cache.store;
      this.#ownsCache = false;
    } else if (cache.redis) {
      this.#cache = new RedisCacheStore({
        redis: cache.redis,
        ...(cache.keyPrefix ? { keyPrefix: cache.keyPrefix } : {}),
        ...(cache.lookupTimeoutMs ? { timeoutMs: cache.lookupTimeoutMs } : {}),
      });
      this.#ownsCache = true;
    } else {
      this.#cache = new MemoryCacheStore({
        ttlMs: this.#cacheTtlMs,
        ...(cache.maxEntries ? { maxEntries: cache.maxEntries } : {}),
        ...(cache.maxBytes ? { maxBytes: cache.maxBytes } : {}),
      });
      this.#ownsCache = true;
    }
    if (this.#cache && this.#cache.kind !== "memory") {
      // A cache that keeps failing is skipped for a while instead of slowing every call.
      this.#cacheBreaker = circuitBreaker(handleAll, {
        halfOpenAfter: 10_000,
        breaker: new ConsecutiveBreaker(3),
      });
      this.#cacheBreaker.onStateChange((state) =>
        this.#logger.warn(
          { cache: this.#cache?.kind, breaker: STATE_NAMES[state] },
          "LLM cache breaker",
        ),
      );
    }
  }

  /** The providers that are configured, in fallback order. */
  providers(): LlmProviderName[] {
    return this.#order.filter((name) => this.#providers.has(name));
  }

  /**
   * What the model a request with this provider, model and agent would reach can do: its
   * `llm.models` entry over the provider's defaults (OpenAI and Anthropic: tool calling, JSON mode,
   * 128k/200k tokens; local: none of these and 4096 tokens). Never throws: with no provider
   * configured it answers for the first one in `llm.providers`.
   */
  capabilities(
    request: {
      provider?: string | undefined;
      model?: string | undefined;
      agent?: string | undefined;
    } = {},
  ): LlmCapabilities {
    const agent = this.#agentPreference(request.agent);
    const named =
      request.provider ??
      agent?.provider ??
      (request.model !== undefined ? inferProvider(request.model) : undefined);
    const provider: LlmProviderName =
      named !== undefined && (PROVIDER_NAMES as readonly string[]).includes(named)
        ? (named as LlmProviderName)
        : (this.#order.find((p) => this.#providers.has(p)) ?? this.#order[0] ?? "openai");
    const model =
      request.model ??
      (agent?.provider === undefined || agent.provider === provider ? agent?.model : undefined) ??
      this.#providers.get(provider)?.defaultModel;
    return capabilitiesOf(provider, model, this.#models);
  }

  /** Sets (or removes) an agent's provider and model preference. */
  setAgentPreference(agent: string, preference: AgentLlmPreference | undefined): void {
    if (preference) this.#agents.set(agent, preference);
    else this.#agents.delete(agent);
  }

  /** Breaker state of every provider and of the cache, for `/ready` and metrics. */
  /**
   * Rotates a provider's API key without a restart: the next call uses the new key (calls in flight
   * finish with the old one), and both keys stay redacted from errors and logs. A provider that had
   * no key is not added here (its place in the fallback order was decided at start).
   */
  rotateApiKey(provider: LlmProviderName, apiKey: string): boolean {
    const current = this.#providers.get(provider);
    if (!current || apiKey.trim() === "") return false;
    const settings = this.#config[provider];
    const replacement =
      provider === "anthropic"
        ? new AnthropicProvider({
            apiKey,
            baseURL: settings.baseURL,
            model: settings.model,
            defaultMaxTokens: this.#defaultMaxTokens,
            timeoutMs: this.#sdkTimeoutMs,
            fetch: this.#fetch,
          })
        : new OpenAiProvider({
            name: provider,
            apiKey,
            baseURL: settings.baseURL,
            model: settings.model,
            timeoutMs: this.#sdkTimeoutMs,
            fetch: this.#fetch,
          });
    this.#providers.set(provider, replacement);
    this.#secrets.push(apiKey);
    this.#sanitize = createSanitizer(this.#secrets);
    this.#logger.info({ provider }, "provider API key rotated");
    return true;
  }

  health(): LlmHealth {
    const providers = {} as Record<LlmProviderName, ProviderHealth>;
    let ready = false;
    for (const name of PROVIDER_NAMES) {
      const provider = this.#providers.get(name);
      const guard = this.#guards.get(name);
      if (!provider || !guard) {
        providers[name] = { configured: false, state: "not-configured" };
        continue;
      }
      const state = guard.state;
      if (state === "closed" || state === "half-open") ready = true;
      const retryAt = guard.retryAt;
      providers[name] = {
        configured: true,
        state,
        endpoint: provider.endpoint,
        ...(provider.defaultModel ? { defaultModel: provider.defaultModel } : {}),
        ...(state === "open" && retryAt !== undefined
          ? { retryInMs: Math.max(0, retryAt - Date.now()) }
          : {}),
        ...(guard.lastFailure ? { lastFailure: { ...guard.lastFailure } } : {}),
      };
    }
    const cache: LlmHealth["cache"] = this.#cache
      ? {
          kind: this.#cache.kind,
          state: this.#cacheBreaker ? STATE_NAMES[this.#cacheBreaker.state] : "closed",
          ...(this.#cache.size ? { entries: this.#cache.size() } : {}),
        }
      : { kind: "off", state: "closed" };
    return { ready, providers, cache };
  }

  /** Holds a provider's breaker open (maintenance); `dispose()` releases it. */
  isolate(provider: LlmProviderName): { dispose(): void } {
    const guard = this.#guards.get(provider);
    if (!guard) throw llmError.notConfigured(`LLM provider '${provider}' is not configured`);
    return guard.isolate();
  }

  /** One completion. Throws AriaErrors (LLM_*, BUDGET_EXCEEDED, RUN_CANCELLED, VALIDATION_FAILED). */
  async complete(input: LlmRequestInput, options: LlmCallOptions = {}): Promise<LlmResponse> {
    const started = performance.now();
    const request = this.#parse(input);
    const routes = this.#routes(request);
    const key = this.#cacheKeyFor(request, routes[0] as Route);
    if (key !== undefined) {
      const hit = await this.#cacheGet(key);
      if (hit) return this.#fromCache(hit, request, started);
    }
    const reservation = this.accounting.reserve(
      scopeOf(request),
      this.#estimate(request, routes[0] as Route),
    );
    let attempts = 0;
    const fellBackFrom: LlmProviderName[] = [];
    try {
      for (let i = 0; i < routes.length; i++) {
        const route = routes[i] as Route;
        let result: ProviderResult;
        try {
          result = await route.guard.execute(
            (signal) => {
              attempts++;
              return route.provider.complete({ request: route.wire, model: route.model, signal });
            },
            {
              signal: options.signal,
              timeoutMs: request.timeoutMs ?? this.#timeoutMs,
              toError: (error, info) =>
                toLlmError(route.provider.name, error, this.#sanitize, info),
            },
          );
        } catch (error) {
          this.#fallbackOrThrow(error, route, i, routes, fellBackFrom, request);
          continue;
        }
        const response = this.#respond(result, route, request, started);
        this.#record(response, request, attempts, fellBackFrom, reservation);
        this.#cacheSet(key, request, route, routes[0] as Route, response);
        return response;
      }
      throw llmError.unavailable("none", "no provider could be tried");
    } catch (error) {
      this.accounting.release(reservation, !AriaError.hasCode(error, "RUN_CANCELLED"));
      throw error;
    }
  }

  /**
   * A streamed completion: `text` chunks as they arrive, each `tool_call` once its arguments are
   * complete, then `done` with the full response. Retries and fallback apply until the first
   * event; a stream that breaks after that fails with LLM_UNAVAILABLE. Cached answers replay.
   */
  async *stream(
    input: LlmRequestInput,
    options: LlmCallOptions = {},
  ): AsyncGenerator<LlmStreamChunk> {
    const started = performance.now();
    const request = this.#parse(input);
    const routes = this.#routes(request);
    const key = this.#cacheKeyFor(request, routes[0] as Route);
    if (key !== undefined) {
      const hit = await this.#cacheGet(key);
      if (hit) {
        const response = this.#fromCache(hit, request, started);
        if (response.content) yield { type: "text", text: response.content };
        for (const toolCall of response.toolCalls) yield { type: "tool_call", toolCall };
        yield { type: "done", response };
        return;
      }
    }
    const estimate = this.#estimate(request, routes[0] as Route);
    const reservation = this.accounting.reserve(scopeOf(request), estimate);
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    let attempts = 0;
    const fellBackFrom: LlmProviderName[] = [];
    let opened:
      | {
          route: Route;
          iterator: AsyncIterator<ProviderStreamEvent>;
          first: IteratorResult<ProviderStreamEvent>;
          controller: AbortController;
        }
      | undefined;
    let outcome: "done" | "failed" | "stopped" = "stopped";
    let streamedChars = 0;
    try {
      for (let i = 0; i < routes.length && !opened; i++) {
        const route = routes[i] as Route;
        try {
          opened = await route.guard.execute(
            async (attemptSignal) => {
              attempts++;
              const controller = new AbortController();
              const signals = [attemptSignal, controller.signal];
              if (options.signal) signals.push(options.signal);
              try {
                const events = await route.provider.stream({
                  request: route.wire,
                  model: route.model,
                  signal: AbortSignal.any(signals),
                });
                const iterator = events[Symbol.asyncIterator]();
                const first = await iterator.next();
                return { route, iterator, first, controller };
              } catch (error) {
                controller.abort();
                throw error;
              }
            },
            {
              signal: options.signal,
              timeoutMs,
              streaming: true,
              toError: (error, info) =>
                toLlmError(route.provider.name, error, this.#sanitize, info),
            },
          );
        } catch (error) {
          this.#fallbackOrThrow(error, route, i, routes, fellBackFrom, request);
        }
      }
      if (!opened) throw llmError.unavailable("none", "no provider could be tried");

      const { route, iterator, controller } = opened;
      let step = opened.first;
      let result: ProviderResult | undefined;
      let idleTimedOut = false;
      try {
        while (!step.done) {
          const event = step.value;
          if (event.type === "text") {
            streamedChars += event.text.length;
            yield { type: "text", text: event.text };
          } else if (event.type === "tool_call") {
            yield { type: "tool_call", toolCall: event.toolCall };
          } else {
            result = event.result;
          }
          const timer = setTimeout(() => {
            idleTimedOut = true;
            controller.abort();
          }, timeoutMs);
          try {
            step = await iterator.next();
          } finally {
            clearTimeout(timer);
          }
        }
      } catch (error) {
        if (options.signal?.aborted) {
          throw new AriaError("RUN_CANCELLED", {
            message: "The LLM call was cancelled",
            context: { component: "llm" },
          });
        }
        const mapped = toLlmError(route.provider.name, error, this.#sanitize, {
          timedOut: idleTimedOut,
          timeoutMs,
        });
        if (PROVIDER_FAILURE_CODES.has(mapped.code)) route.guard.reportFailure(mapped);
        throw this.#withContext(mapped, request, fellBackFrom, attempts);
      } finally {
        controller.abort();
      }
      if (!result) throw llmError.invalidResponse(route.provider.name, "the stream had no end");
      const response = this.#respond(result, route, request, started);
      this.#record(response, request, attempts, fellBackFrom, reservation);
      this.#cacheSet(key, request, route, routes[0] as Route, response);
      outcome = "done";
      yield { type: "done", response };
    } catch (error) {
      // A cancelled stream is a stopped one: what the provider already produced was spent.
      outcome = AriaError.hasCode(error, "RUN_CANCELLED") ? "stopped" : "failed";
      throw error;
    } finally {
      if (outcome === "stopped" && opened && !reservation.settled) {
        // The consumer stopped reading (or cancelled): the provider still spent tokens, so count an estimate.
        const usage = estimatedUsage(estimate.tokens - (request.maxTokens ?? 0), streamedChars);
        this.#record(
          {
            content: null,
            toolCalls: [],
            finishReason: "other",
            usage,
            costUsd: this.#prices.costOf(opened.route.model, usage),
            model: opened.route.model,
            provider: opened.route.provider.name,
            cached: false,
            latencyMs: performance.now() - started,
          },
          request,
          attempts,
          fellBackFrom,
          reservation,
        );
      } else if (!reservation.settled) {
        this.accounting.release(reservation, outcome === "failed");
      }
    }
  }

  /** Closes what the handler opened (a Redis connection it created). */
  async close(): Promise<void> {
    if (this.#ownsCache) await this.#cache?.close();
  }

  #parse(input: LlmRequestInput): LlmRequest {
    const parsed = LlmRequestSchema.safeParse(input);
    if (!parsed.success) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `Invalid LLM request: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
          .join("; ")}`,
        details: { issues: parsed.error.issues.slice(0, 20) },
        context: { component: "llm" },
      });
    }
    return parsed.data;
  }

  #agentPreference(agent: string | undefined): AgentLlmPreference | undefined {
    if (agent === undefined) return undefined;
    return this.#agents.get(agent) ?? this.#agentLookup?.(agent);
  }

  /** The providers to try, in order, each with its model. */
  #routes(request: LlmRequest): Route[] {
    const agent = this.#agentPreference(request.agent);
    const preferred =
      request.provider ??
      agent?.provider ??
      (request.model !== undefined ? inferProvider(request.model) : undefined);
    const order = preferred
      ? [preferred, ...this.#order.filter((p) => p !== preferred)]
      : this.#order;
    const intended = preferred ?? order.find((p) => this.#providers.has(p));
    const routes: Route[] = [];
    const skipped: string[] = [];
    for (const name of order) {
      const provider = this.#providers.get(name);
      const guard = this.#guards.get(name);
      if (!provider || !guard) {
        if (name === preferred) skipped.push(`${name} (not configured)`);
        continue;
      }
      const model =
        name === intended
          ? (request.model ??
            (agent?.provider === undefined || agent.provider === name ? agent?.model : undefined) ??
            provider.defaultModel)
          : provider.defaultModel;
      if (!model) {
        skipped.push(`${name} (no model: set llm.${name}.model or the request's model)`);
        continue;
      }
      const wire = capabilitiesOf(name, model, this.#models).jsonMode
        ? request
        : withoutJsonMode(request);
      routes.push({ provider, guard, model, wire });
      if (!this.#fallback) break;
    }
    if (routes.length === 0) {
      const configured = this.providers();
      throw llmError.notConfigured(
        configured.length === 0
          ? "No LLM provider is configured. Set OPENAI_API_KEY, ANTHROPIC_API_KEY or ARIA_LOCAL_LLM_URL."
          : `No configured LLM provider can serve this request (${skipped.join(", ")}; configured: ${configured.join(", ")}).`,
        {
          details: { configured, ...(preferred ? { requested: preferred } : {}) },
          context: { component: "llm", ...contextOf(request) },
        },
      );
    }
    return routes;
  }

  #fallbackOrThrow(
    error: unknown,
    route: Route,
    index: number,
    routes: Route[],
    fellBackFrom: LlmProviderName[],
    request: LlmRequest,
  ): void {
    const aria = AriaError.is(error)
      ? error
      : toLlmError(route.provider.name, error, this.#sanitize);
    const next = routes[index + 1];
    if (!next || !FALLBACK_CODES.has(aria.code)) {
      throw this.#withContext(aria, request, fellBackFrom, undefined);
    }
    fellBackFrom.push(route.provider.name);
    this.#logger.warn(
      {
        provider: route.provider.name,
        next: next.provider.name,
        code: aria.code,
        reason: aria.message,
      },
      "LLM provider failed: falling back",
    );
  }

  #withContext(
    error: AriaError,
    request: LlmRequest,
    fellBackFrom: LlmProviderName[],
    attempts: number | undefined,
  ): AriaError {
    const withDetails =
      fellBackFrom.length > 0
        ? new AriaError(error.code, {
            message: `${error.message} (after falling back from ${fellBackFrom.join(", ")})`,
            userGuidance: error.userGuidance,
            recoveryActions: error.recoveryActions,
            severity: error.severity,
            retryable: error.retryable,
            context: error.context,
            details: { ...error.details, fellBackFrom, ...(attempts ? { attempts } : {}) },
            cause: error.cause,
            httpStatus: error.httpStatus,
          })
        : error;
    return withDetails.withContext({ component: "llm", ...contextOf(request) });
  }

  #respond(
    result: ProviderResult,
    route: Route,
    request: LlmRequest,
    started: number,
  ): LlmResponse {
    const usage =
      result.usage ??
      estimatedUsage(
        Math.ceil(requestChars(request) / 4),
        (result.content?.length ?? 0) + JSON.stringify(result.toolCalls).length,
      );
    const price = this.#prices.priceOf(result.model) ? result.model : route.model;
    if (
      !this.#prices.priceOf(price) &&
      !this.#unpriced.has(price) &&
      route.provider.name !== "local"
    ) {
      this.#unpriced.add(price);
      this.#logger.info(
        { model: price },
        "no price for this model: its cost counts as 0 (set llm.prices)",
      );
    }
    return {
      content: result.content,
      toolCalls: result.toolCalls,
      finishReason: result.finishReason,
      usage,
      costUsd: this.#prices.costOf(price, usage),
      model: result.model,
      provider: route.provider.name,
      cached: false,
      latencyMs: performance.now() - started,
    };
  }

  #record(
    response: LlmResponse,
    request: LlmRequest,
    attempts: number,
    fellBackFrom: LlmProviderName[],
    reservation: Reservation | undefined,
  ): void {
    const event: LlmUsageEvent = {
      ...scopeOf(request),
      provider: response.provider,
      model: response.model,
      usage: response.usage,
      costUsd: response.costUsd,
      cached: response.cached,
      latencyMs: response.latencyMs,
      attempts,
      fellBackFrom: [...fellBackFrom],
    };
    this.accounting.record(event, reservation);
    this.#logger.debug(
      {
        provider: response.provider,
        model: response.model,
        cached: response.cached,
        attempts,
        latencyMs: Math.round(response.latencyMs * 1000) / 1000,
        tokens: response.usage.totalTokens,
      },
      "LLM call",
    );
  }

  /** Worst-case estimate before a call: input from the text size, output from `maxTokens`. */
  #estimate(request: LlmRequest, route: Route): { tokens: number; costUsd: number } {
    const input = Math.ceil(requestChars(request) / 4);
    const output = request.maxTokens ?? 0;
    const price = this.#prices.priceOf(route.model);
    const costUsd = price
      ? (input * price.inputPerMTok + output * price.outputPerMTok) / 1_000_000
      : 0;
    return { tokens: input + output, costUsd };
  }

  #cacheKeyFor(request: LlmRequest, route: Route): string | undefined {
    if (!this.#cache || request.cache === false) return undefined;
    if (request.temperature !== 0 && request.cache !== true) return undefined;
    return cacheKey({
      provider: route.provider.name,
      model: route.model,
      messages: request.messages,
      tools: request.tools,
      toolChoice: request.toolChoice,
      temperature: request.temperature,
      maxTokens: request.maxTokens,
      stop: request.stop,
      responseFormat: request.responseFormat,
    });
  }

  async #cacheGet(key: string): Promise<LlmResponse | undefined> {
    const cache = this.#cache;
    if (!cache) return undefined;
    try {
      if (!this.#cacheBreaker) return (await cache.get(key)) ?? undefined;
      return (await this.#cacheBreaker.execute(() => cache.get(key))) ?? undefined;
    } catch (error) {
      if (this.#cacheBreaker?.state === CircuitState.Closed) {
        this.#logger.warn(
          { cache: cache.kind, err: this.#sanitize(String(error)) },
          "LLM cache lookup failed",
        );
      }
      return undefined;
    }
  }

  #cacheSet(
    key: string | undefined,
    request: LlmRequest,
    route: Route,
    primary: Route,
    response: LlmResponse,
  ): void {
    const cache = this.#cache;
    if (key === undefined || !cache) return;
    // An answer from a fallback provider is stored under that provider's key, not the primary's.
    const storeKey = route === primary ? key : this.#cacheKeyFor(request, route);
    if (storeKey === undefined) return;
    const write = () => cache.set(storeKey, response, this.#cacheTtlMs);
    try {
      const pending = this.#cacheBreaker ? this.#cacheBreaker.execute(write) : write();
      if (pending instanceof Promise) {
        pending.catch((error: unknown) =>
          this.#logger.warn(
            { cache: cache.kind, err: this.#sanitize(String(error)) },
            "LLM cache write failed",
          ),
        );
      }
    } catch (error) {
      this.#logger.warn(
        { cache: cache.kind, err: this.#sanitize(String(error)) },
        "LLM cache write failed",
      );
    }
  }

  #fromCache(hit: LlmResponse, request: LlmRequest, started: number): LlmResponse {
    const response: LlmResponse = {
      ...hit,
      usage: { ...ZERO_USAGE },
      costUsd: 0,
      cached: true,
      latencyMs: performance.now() - started,
    };
    this.#record(response, request, 0, [], undefined);
    return response;
  }
}

function estimatedUsage(inputTokens: number, outputChars: number): LlmUsage {
  const input = Math.max(0, inputTokens);
  const output = Math.ceil(outputChars / 4);
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    totalTokens: input + output,
  };
}

function scopeOf(request: LlmRequest): UsageScope {
  return { runId: request.runId, sessionId: request.sessionId, agent: request.agent };
}

function contextOf(request: LlmRequest): Record<string, string> {
  const out: Record<string, string> = {};
  if (request.runId) out.runId = request.runId;
  if (request.sessionId) out.sessionId = request.sessionId;
  if (request.agent) out.agent = request.agent;
  return out;
}

/** Creates the LLM handler (see `LlmHandlerDeps`); the composition root passes `RuntimeConfig.llm`. */
export function createLlmHandler(deps: LlmHandlerDeps = {}): LlmHandler {
  return new LlmHandler(deps);
}
