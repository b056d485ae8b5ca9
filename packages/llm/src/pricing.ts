import type { LlmUsage } from "@aria/core-types";

/** Prices in US dollars per million tokens (the shape of `RuntimeConfig.llm.prices`). */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
  /** Cached input read; defaults to the input price. */
  cachedInputPerMTok?: number;
  /** Cache write (Anthropic prompt caching); defaults to the input price. */
  cacheWritePerMTok?: number;
}

/**
 * Built-in list prices (USD per million tokens) of common models, as published by the providers
 * when this table was written. Configuration (`llm.prices`) extends and overrides it; a model with
 * no price costs 0 (local models, unknown names) and the handler logs that once.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  "gpt-4o": { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 },
  "gpt-4o-mini": { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 },
  "gpt-4.1": { inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 0.5 },
  "gpt-4.1-mini": { inputPerMTok: 0.4, outputPerMTok: 1.6, cachedInputPerMTok: 0.1 },
  "gpt-4.1-nano": { inputPerMTok: 0.1, outputPerMTok: 0.4, cachedInputPerMTok: 0.025 },
  "gpt-4-turbo": { inputPerMTok: 10, outputPerMTok: 30 },
  "gpt-3.5-turbo": { inputPerMTok: 0.5, outputPerMTok: 1.5 },
  o1: { inputPerMTok: 15, outputPerMTok: 60, cachedInputPerMTok: 7.5 },
  "o3-mini": { inputPerMTok: 1.1, outputPerMTok: 4.4, cachedInputPerMTok: 0.55 },
  "o4-mini": { inputPerMTok: 1.1, outputPerMTok: 4.4, cachedInputPerMTok: 0.275 },
  "claude-3-haiku": {
    inputPerMTok: 0.25,
    outputPerMTok: 1.25,
    cachedInputPerMTok: 0.03,
    cacheWritePerMTok: 0.3,
  },
  "claude-3-5-haiku": {
    inputPerMTok: 0.8,
    outputPerMTok: 4,
    cachedInputPerMTok: 0.08,
    cacheWritePerMTok: 1,
  },
  "claude-haiku-4-5": {
    inputPerMTok: 1,
    outputPerMTok: 5,
    cachedInputPerMTok: 0.1,
    cacheWritePerMTok: 1.25,
  },
  "claude-3-5-sonnet": {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
  },
  "claude-3-7-sonnet": {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
  },
  "claude-sonnet-4": {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
  },
  "claude-3-opus": {
    inputPerMTok: 15,
    outputPerMTok: 75,
    cachedInputPerMTok: 1.5,
    cacheWritePerMTok: 18.75,
  },
  "claude-opus-4": {
    inputPerMTok: 15,
    outputPerMTok: 75,
    cachedInputPerMTok: 1.5,
    cacheWritePerMTok: 18.75,
  },
};

/** A price table: exact model names first, then the longest known prefix (dated snapshots). */
export class PriceTable {
  readonly #prices: Map<string, ModelPrice>;
  readonly #prefixes: string[];
  readonly #resolved = new Map<string, ModelPrice | undefined>();

  constructor(deps: { prices?: Record<string, ModelPrice>; defaults?: boolean } = {}) {
    this.#prices = new Map(
      Object.entries({ ...(deps.defaults === false ? {} : DEFAULT_PRICES), ...deps.prices }),
    );
    this.#prefixes = [...this.#prices.keys()].sort((a, b) => b.length - a.length);
  }

  /** The price of a model (`gpt-4o-mini-2024-07-18` finds `gpt-4o-mini`), or undefined. */
  priceOf(model: string): ModelPrice | undefined {
    if (this.#resolved.has(model)) return this.#resolved.get(model);
    let price = this.#prices.get(model);
    if (!price) {
      const prefix = this.#prefixes.find(
        (p) => model.startsWith(`${p}-`) || model.startsWith(`${p}:`),
      );
      price = prefix ? this.#prices.get(prefix) : undefined;
    }
    if (this.#resolved.size > 1000) this.#resolved.clear();
    this.#resolved.set(model, price);
    return price;
  }

  /** The cost in USD of a call's normalised usage. */
  costOf(model: string, usage: LlmUsage): number {
    const price = this.priceOf(model);
    return price ? costFromPrice(price, usage) : 0;
  }
}

/**
 * Cost of normalised usage: uncached input at the input price, cache reads and cache writes at
 * their own prices, output at the output price. `usage.inputTokens` includes the cached tokens.
 */
export function costFromPrice(price: ModelPrice, usage: LlmUsage): number {
  const cached = usage.cachedInputTokens;
  const written = usage.cacheWriteTokens;
  const uncached = Math.max(0, usage.inputTokens - cached - written);
  const dollars =
    uncached * price.inputPerMTok +
    cached * (price.cachedInputPerMTok ?? price.inputPerMTok) +
    written * (price.cacheWritePerMTok ?? price.inputPerMTok) +
    usage.outputTokens * price.outputPerMTok;
  return dollars / 1_000_000;
}
