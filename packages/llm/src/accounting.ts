import type { LlmProviderName, LlmUsage } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { LRUCache } from "lru-cache";

/** Usage and cost summed over calls. Cache hits count as calls with no tokens and no cost. */
export interface UsageTotals {
  /** Calls answered (by a provider or from the cache). */
  calls: number;
  /** Calls answered from the response cache. */
  cacheHits: number;
  /** Calls that failed after every retry and fallback. */
  failures: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  totalTokens: number;
  costUsd: number;
}

/** A spending limit. Either bound may be left out. */
export interface Budget {
  maxTokens?: number;
  maxCostUsd?: number;
}

/** Who a call is attributed to (the request's `runId`, `sessionId`, `agent`). */
export interface UsageScope {
  runId?: string | undefined;
  sessionId?: string | undefined;
  agent?: string | undefined;
}

/** One answered call, as reported to `onUsage` listeners (engines turn it into `llm.usage`). */
export interface LlmUsageEvent extends UsageScope {
  provider: LlmProviderName;
  model: string;
  usage: LlmUsage;
  costUsd: number;
  cached: boolean;
  latencyMs: number;
  /** Provider attempts made (retries and fallbacks included); 0 for a cache hit. */
  attempts: number;
  /** Providers that failed before the one that answered. */
  fellBackFrom: LlmProviderName[];
}

/** What a pending call is expected to spend, reserved against budgets until it finishes. */
export interface UsageEstimate {
  tokens: number;
  costUsd: number;
}

/** A reservation made by `reserve`; pass it to `commit` or `release`. */
export interface Reservation {
  readonly scope: UsageScope;
  readonly estimate: UsageEstimate;
  settled: boolean;
}

export interface LlmAccountingDeps {
  /** Budget of every run that has none of its own (e.g. `limits.maxTokensPerRun`/`maxCostPerRunUsd`). */
  defaultRunBudget?: Budget;
  /** Budget of every session that has none of its own. */
  defaultSessionBudget?: Budget;
  /** How many runs, sessions and agents are remembered (least recently used are dropped). */
  maxScopes?: number;
}

const emptyTotals = (): UsageTotals => ({
  calls: 0,
  cacheHits: 0,
  failures: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  totalTokens: 0,
  costUsd: 0,
});

function add(totals: UsageTotals, usage: LlmUsage, costUsd: number, cached: boolean): void {
  totals.calls++;
  if (cached) {
    totals.cacheHits++;
    return;
  }
  totals.inputTokens += usage.inputTokens;
  totals.outputTokens += usage.outputTokens;
  totals.cachedInputTokens += usage.cachedInputTokens;
  totals.cacheWriteTokens += usage.cacheWriteTokens;
  totals.totalTokens += usage.totalTokens;
  totals.costUsd += costUsd;
}

/**
 * Token and cost accounting per run, session, agent and provider, with budgets per run and per
 * session. Budgets are checked before a call: `reserve` refuses (BUDGET_EXCEEDED) a call whose
 * estimate, added to what is spent and what concurrent calls have reserved, would pass a budget.
 */
export class LlmAccounting {
  readonly #total = emptyTotals();
  readonly #runs: LRUCache<string, UsageTotals>;
  readonly #sessions: LRUCache<string, UsageTotals>;
  readonly #agents: LRUCache<string, UsageTotals>;
  readonly #providers = new Map<LlmProviderName, UsageTotals>();
  readonly #runBudgets: LRUCache<string, Budget>;
  readonly #sessionBudgets: LRUCache<string, Budget>;
  readonly #reserved = new Map<string, UsageEstimate>();
  readonly #listeners = new Set<(event: LlmUsageEvent) => void>();
  #defaultRunBudget: Budget | undefined;
  #defaultSessionBudget: Budget | undefined;

  constructor(deps: LlmAccountingDeps = {}) {
    const max = deps.maxScopes ?? 10_000;
    this.#runs = new LRUCache({ max });
    this.#sessions = new LRUCache({ max });
    this.#agents = new LRUCache({ max });
    this.#runBudgets = new LRUCache({ max });
    this.#sessionBudgets = new LRUCache({ max });
    this.#defaultRunBudget = deps.defaultRunBudget;
    this.#defaultSessionBudget = deps.defaultSessionBudget;
  }

  /** Totals over every call this handler made. */
  total(): UsageTotals {
    return { ...this.#total };
  }

  /** Totals of one run (zeros when it made no call). */
  run(runId: string): UsageTotals {
    return { ...(this.#runs.get(runId) ?? emptyTotals()) };
  }

  /** Totals of one session. */
  session(sessionId: string): UsageTotals {
    return { ...(this.#sessions.get(sessionId) ?? emptyTotals()) };
  }

  /** Totals of one agent, over every run. */
  agent(agent: string): UsageTotals {
    return { ...(this.#agents.get(agent) ?? emptyTotals()) };
  }

  /** Totals per provider (for metrics). */
  byProvider(): Partial<Record<LlmProviderName, UsageTotals>> {
    return Object.fromEntries([...this.#providers].map(([name, t]) => [name, { ...t }]));
  }

  /** Sets (or with `undefined` removes) a run's own budget. */
  setRunBudget(runId: string, budget: Budget | undefined): void {
    if (budget) this.#runBudgets.set(runId, budget);
    else this.#runBudgets.delete(runId);
  }

  /** Sets (or removes) a session's own budget. */
  setSessionBudget(sessionId: string, budget: Budget | undefined): void {
    if (budget) this.#sessionBudgets.set(sessionId, budget);
    else this.#sessionBudgets.delete(sessionId);
  }

  /** Changes the budgets that apply to runs and sessions without their own. */
  setDefaultBudgets(budgets: { run?: Budget | undefined; session?: Budget | undefined }): void {
    if ("run" in budgets) this.#defaultRunBudget = budgets.run;
    if ("session" in budgets) this.#defaultSessionBudget = budgets.session;
  }

  /** The budget in force for a run, and what is left of it. */
  runBudget(runId: string): { budget: Budget | undefined; remaining: Budget } {
    const budget = this.#runBudgets.get(runId) ?? this.#defaultRunBudget;
    return { budget, remaining: remaining(budget, this.#runs.get(runId)) };
  }

  /** The budget in force for a session, and what is left of it. */
  sessionBudget(sessionId: string): { budget: Budget | undefined; remaining: Budget } {
    const budget = this.#sessionBudgets.get(sessionId) ?? this.#defaultSessionBudget;
    return { budget, remaining: remaining(budget, this.#sessions.get(sessionId)) };
  }

  /** Forgets a finished run's totals and budget (its session and agent totals stay). */
  clearRun(runId: string): void {
    this.#runs.delete(runId);
    this.#runBudgets.delete(runId);
  }

  /** Forgets a session's totals and budget. */
  clearSession(sessionId: string): void {
    this.#sessions.delete(sessionId);
    this.#sessionBudgets.delete(sessionId);
  }

  /** Subscribes to every answered call; returns the unsubscribe function. */
  onUsage(listener: (event: LlmUsageEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Checks the run and session budgets and reserves the estimate against them. Throws
   * BUDGET_EXCEEDED, naming the scope and the bound, when the call would pass a budget.
   */
  reserve(scope: UsageScope, estimate: UsageEstimate): Reservation {
    if (scope.runId !== undefined) {
      const budget = this.#runBudgets.get(scope.runId) ?? this.#defaultRunBudget;
      this.#check("run", scope.runId, budget, this.#runs.get(scope.runId), estimate);
    }
    if (scope.sessionId !== undefined) {
      const budget = this.#sessionBudgets.get(scope.sessionId) ?? this.#defaultSessionBudget;
      this.#check(
        "session",
        scope.sessionId,
        budget,
        this.#sessions.get(scope.sessionId),
        estimate,
      );
    }
    if (scope.runId !== undefined) this.#hold(`run:${scope.runId}`, estimate, 1);
    if (scope.sessionId !== undefined) this.#hold(`session:${scope.sessionId}`, estimate, 1);
    return { scope, estimate, settled: false };
  }

  /** Releases a reservation without recording anything (the call failed). */
  release(reservation: Reservation, failed = true): void {
    if (reservation.settled) return;
    reservation.settled = true;
    this.#unhold(reservation);
    if (failed) {
      this.#total.failures++;
      for (const totals of this.#scopes(reservation.scope, undefined)) totals.failures++;
    }
  }

  /** Records an answered call (releasing its reservation, if any) and notifies listeners. */
  record(event: LlmUsageEvent, reservation?: Reservation): void {
    if (reservation && !reservation.settled) {
      reservation.settled = true;
      this.#unhold(reservation);
    }
    add(this.#total, event.usage, event.costUsd, event.cached);
    for (const totals of this.#scopes(event, event.provider)) {
      add(totals, event.usage, event.costUsd, event.cached);
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A failing listener must not fail the call it observes.
      }
    }
  }

  #scopes(scope: UsageScope, provider: LlmProviderName | undefined): UsageTotals[] {
    const out: UsageTotals[] = [];
    const pick = (cache: LRUCache<string, UsageTotals>, key: string | undefined) => {
      if (key === undefined) return;
      let totals = cache.get(key);
      if (!totals) {
        totals = emptyTotals();
        cache.set(key, totals);
      }
      out.push(totals);
    };
    pick(this.#runs, scope.runId);
    pick(this.#sessions, scope.sessionId);
    pick(this.#agents, scope.agent);
    if (provider) {
      let totals = this.#providers.get(provider);
      if (!totals) {
        totals = emptyTotals();
        this.#providers.set(provider, totals);
      }
      out.push(totals);
    }
    return out;
  }

  #check(
    kind: "run" | "session",
    id: string,
    budget: Budget | undefined,
    spent: UsageTotals | undefined,
    estimate: UsageEstimate,
  ): void {
    if (!budget) return;
    const held = this.#reserved.get(`${kind}:${id}`);
    const usedTokens = (spent?.totalTokens ?? 0) + (held?.tokens ?? 0);
    const usedCost = (spent?.costUsd ?? 0) + (held?.costUsd ?? 0);
    const context = kind === "run" ? { runId: id } : { sessionId: id };
    if (budget.maxTokens !== undefined && usedTokens + estimate.tokens > budget.maxTokens) {
      throw new AriaError("BUDGET_EXCEEDED", {
        message: `The ${kind}'s token budget would be exceeded: ${usedTokens} used or reserved + about ${estimate.tokens} for this call > ${budget.maxTokens}. The LLM call was refused, not made.`,
        details: {
          scope: kind,
          bound: "tokens",
          limit: budget.maxTokens,
          used: usedTokens,
          estimate: estimate.tokens,
        },
        context: { component: "llm", ...context },
      });
    }
    if (budget.maxCostUsd !== undefined && usedCost + estimate.costUsd > budget.maxCostUsd) {
      throw new AriaError("BUDGET_EXCEEDED", {
        message: `The ${kind}'s cost budget would be exceeded: $${usedCost.toFixed(6)} used or reserved + about $${estimate.costUsd.toFixed(6)} for this call > $${budget.maxCostUsd}. The LLM call was refused, not made.`,
        details: {
          scope: kind,
          bound: "cost",
          limitUsd: budget.maxCostUsd,
          usedUsd: usedCost,
          estimateUsd: estimate.costUsd,
        },
        context: { component: "llm", ...context },
      });
    }
  }

  #hold(key: string, estimate: UsageEstimate, sign: 1 | -1): void {
    const held = this.#reserved.get(key) ?? { tokens: 0, costUsd: 0 };
    const next = {
      tokens: held.tokens + sign * estimate.tokens,
      costUsd: held.costUsd + sign * estimate.costUsd,
    };
    if (next.tokens <= 0 && next.costUsd <= 1e-12) this.#reserved.delete(key);
    else this.#reserved.set(key, next);
  }

  #unhold(reservation: Reservation): void {
    const { scope, estimate } = reservation;
    if (scope.runId !== undefined) this.#hold(`run:${scope.runId}`, estimate, -1);
    if (scope.sessionId !== undefined) this.#hold(`session:${scope.sessionId}`, estimate, -1);
  }
}

function remaining(budget: Budget | undefined, spent: UsageTotals | undefined): Budget {
  const out: Budget = {};
  if (budget?.maxTokens !== undefined) {
    out.maxTokens = Math.max(0, budget.maxTokens - (spent?.totalTokens ?? 0));
  }
  if (budget?.maxCostUsd !== undefined) {
    out.maxCostUsd = Math.max(0, budget.maxCostUsd - (spent?.costUsd ?? 0));
  }
  return out;
}
