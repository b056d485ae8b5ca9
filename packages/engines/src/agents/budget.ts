import type { EventSink, LlmResponse } from "@aria/core-types";
import { AriaError } from "@aria/errors";

/** Tokens, money and calls spent by LLM calls. */
export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** LLM calls made. */
  calls: number;
}

/** Token and cost limits (absent: no limit). */
export interface BudgetLimits {
  maxTokens?: number | undefined;
  maxCostUsd?: number | undefined;
}

/** A fresh zeroed {@link UsageTotals}. */
export function emptyUsage(): UsageTotals {
  return { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 };
}

/** Adds one response's usage (or another total) to `target`. */
export function addUsage(
  target: UsageTotals,
  usage: { inputTokens?: number; outputTokens?: number; costUsd?: number; calls?: number },
): void {
  target.inputTokens += usage.inputTokens ?? 0;
  target.outputTokens += usage.outputTokens ?? 0;
  target.costUsd += usage.costUsd ?? 0;
  target.calls += usage.calls ?? 0;
}

/** The usage of one LLM response as a total of one call. */
export function responseUsage(response: LlmResponse): UsageTotals {
  return {
    inputTokens: response.usage.inputTokens,
    outputTokens: response.usage.outputTokens,
    costUsd: response.costUsd ?? 0,
    calls: 1,
  };
}

/**
 * Charges one LLM response: adds it to `usage` (when given) and to every budget; returns what it
 * cost. The one place a call's spending is counted (agent loop, planning, reflection, summaries).
 */
export function chargeCall(
  response: LlmResponse,
  usage: UsageTotals | undefined,
  budgets: Iterable<Budget> | undefined,
): UsageTotals {
  const spent = responseUsage(response);
  if (usage !== undefined) addUsage(usage, spent);
  for (const budget of budgets ?? []) budget.add(spent);
  return spent;
}

/**
 * A token and cost budget that refuses the next LLM call once what was spent reaches a limit
 * (`BUDGET_EXCEEDED`, with what was spent and the limits in `details`). Spending is shared: a run's
 * agent steps, planning, reflection and summarization all add to the run's budget through the
 * {@link UsageLedger}.
 */
export class Budget {
  readonly limits: BudgetLimits;
  readonly spent: UsageTotals;

  constructor(limits: BudgetLimits = {}, spent: UsageTotals = emptyUsage()) {
    this.limits = limits;
    this.spent = spent;
  }

  /** Tokens spent (input plus output). */
  tokens(): number {
    return this.spent.inputTokens + this.spent.outputTokens;
  }

  /** True when a limit is reached. */
  exhausted(): boolean {
    const { maxTokens, maxCostUsd } = this.limits;
    return (
      (maxTokens !== undefined && this.tokens() >= maxTokens) ||
      (maxCostUsd !== undefined && this.spent.costUsd >= maxCostUsd)
    );
  }

  /** Throws BUDGET_EXCEEDED when a limit is reached; `what` names the call that was refused. */
  check(what: string, context: Record<string, string | undefined> = {}): void {
    if (!this.exhausted()) return;
    throw budgetExceeded(this, what, context);
  }

  add(usage: { inputTokens?: number; outputTokens?: number; costUsd?: number; calls?: number }) {
    addUsage(this.spent, usage);
  }
}

/** The BUDGET_EXCEEDED error for a spent budget. */
export function budgetExceeded(
  budget: Budget,
  what: string,
  context: Record<string, string | undefined> = {},
): AriaError {
  const tokens = budget.tokens();
  const cost = budget.spent.costUsd;
  const { maxTokens, maxCostUsd } = budget.limits;
  const which =
    maxTokens !== undefined && tokens >= maxTokens
      ? `${tokens} of ${maxTokens} tokens`
      : `$${cost.toFixed(4)} of $${maxCostUsd?.toFixed(4)}`;
  const ctx: Record<string, string> = {};
  for (const [key, value] of Object.entries(context)) if (value !== undefined) ctx[key] = value;
  return new AriaError("BUDGET_EXCEEDED", {
    message: `Budget spent (${which}); ${what} was refused, not made`,
    context: ctx,
    // (Keys avoid the bare word "token": error details redact such keys as secrets.)
    details: {
      budget: "llm",
      spent: {
        tokens,
        inputTokens: budget.spent.inputTokens,
        outputTokens: budget.spent.outputTokens,
        usd: cost,
        calls: budget.spent.calls,
      },
      limit: { tokens: maxTokens, usd: maxCostUsd },
      refused: what,
    },
  });
}

/**
 * Spending per run (or session) shared by everything of the intelligence layer that calls the LLM
 * for it: agent loops, planning, reflection, summarization, team members. `open` sets a run's limits
 * (the task runner does it from the run's options); runs opened by nobody get the default limits
 * (`config.limits.maxTokensPerRun` / `maxCostPerRunUsd`). At most `maxEntries` runs are tracked,
 * the oldest forgotten first.
 */
export class UsageLedger {
  private readonly budgets = new Map<string, Budget>();
  private readonly defaults: BudgetLimits;
  private readonly maxEntries: number;

  constructor(defaults: BudgetLimits = {}, maxEntries = 10_000) {
    this.defaults = defaults;
    this.maxEntries = maxEntries;
  }

  /** The budget of a run, created with the default limits when new. */
  get(runId: string): Budget {
    let budget = this.budgets.get(runId);
    if (budget === undefined) {
      budget = new Budget({ ...this.defaults });
      this.remember(runId, budget);
    }
    return budget;
  }

  /** Starts (or restarts) a run's budget with its own limits (unset ones take the defaults). */
  open(runId: string, limits: BudgetLimits = {}, spent?: UsageTotals): Budget {
    const budget = new Budget(
      {
        maxTokens: limits.maxTokens ?? this.defaults.maxTokens,
        maxCostUsd: limits.maxCostUsd ?? this.defaults.maxCostUsd,
      },
      spent ?? emptyUsage(),
    );
    this.budgets.delete(runId);
    this.remember(runId, budget);
    return budget;
  }

  /** Forgets a run (its spending stays in its run record). */
  close(runId: string): void {
    this.budgets.delete(runId);
  }

  private remember(runId: string, budget: Budget): void {
    this.budgets.set(runId, budget);
    if (this.budgets.size > this.maxEntries) {
      const oldest = this.budgets.keys().next().value;
      if (oldest !== undefined) this.budgets.delete(oldest);
    }
  }
}

/**
 * Sends an `llm.usage` event for one model call of a run (never throws: events do not fail work).
 * `source` says which part of the intelligence layer made the call.
 */
export function emitLlmUsage(
  events: EventSink | undefined,
  runId: string | undefined,
  response: LlmResponse,
  data: Record<string, unknown>,
  stepId?: string,
): void {
  if (events === undefined || runId === undefined) return;
  try {
    const pending = events.emit(
      runId,
      "llm.usage",
      {
        ...data,
        model: response.model,
        provider: response.provider,
        inputTokens: response.usage.inputTokens,
        outputTokens: response.usage.outputTokens,
        costUsd: response.costUsd ?? 0,
        cached: response.cached ?? false,
      },
      stepId,
    );
    if (pending !== undefined) pending.catch(() => {});
  } catch {
    // events never fail the caller
  }
}
