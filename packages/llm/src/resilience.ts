import type { LlmProviderName } from "@aria/core-types";
import { AriaError, llmError } from "@aria/errors";
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  DelegateBackoff,
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  type IRetryBackoffContext,
  isBrokenCircuitError,
  isIsolatedCircuitError,
  type RetryPolicy,
  retry,
  TimeoutStrategy,
  timeout,
} from "cockatiel";
import { PROVIDER_FAILURE_CODES } from "./errors.ts";

/** Retry, backoff, breaker and timeout settings (one set, applied to every provider). */
export interface ResilienceOptions {
  /** Retries per provider after the first attempt (`llm.maxRetries`, default 2). */
  maxRetries: number;
  /** First backoff delay; later ones grow exponentially with decorrelated jitter. */
  initialDelayMs: number;
  /** Upper bound of a backoff delay. */
  maxDelayMs: number;
  /**
   * A `retry-after` longer than this is not waited for on the same provider: the handler moves to
   * the next provider at once (or fails with LLM_RATE_LIMITED carrying `retryAfterMs`).
   */
  maxRetryAfterMs: number;
  /** Consecutive provider failures that open its circuit breaker. */
  breakerThreshold: number;
  /** How long an open breaker stays open before one trial call is let through (half-open). */
  breakerHalfOpenAfterMs: number;
}

export const DEFAULT_RESILIENCE: ResilienceOptions = {
  maxRetries: 2,
  initialDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 20_000,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 30_000,
};

/** A circuit breaker's state as health checks and metrics show it. */
export type BreakerState = "closed" | "open" | "half-open" | "isolated";

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "isolated",
};

/** The last failure a provider had, for health output (already sanitised). */
export interface ProviderFailure {
  code: string;
  message: string;
  at: number;
}

function cancelled(signal: AbortSignal): AriaError {
  return new AriaError("RUN_CANCELLED", {
    message: "The LLM call was cancelled",
    context: { component: "llm" },
    cause: signal.reason instanceof Error ? signal.reason : undefined,
  });
}

/** Rejects as soon as `signal` aborts, without waiting for `promise` (which is then ignored). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(cancelled(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(cancelled(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * One provider's resilience (cockatiel): retry with exponential backoff and decorrelated jitter
 * that honours `retry-after`, inside it a consecutive-failure circuit breaker, inside that a
 * cooperative timeout per attempt whose AbortSignal reaches the SDK request.
 */
export class ProviderGuard {
  readonly name: LlmProviderName;
  lastFailure: ProviderFailure | undefined;
  readonly #options: ResilienceOptions;
  readonly #breaker: CircuitBreakerPolicy;
  readonly #retry: RetryPolicy;
  #openedAt: number | undefined;

  constructor(deps: {
    name: LlmProviderName;
    options: ResilienceOptions;
    onStateChange?: (state: BreakerState) => void;
    onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  }) {
    this.name = deps.name;
    this.#options = deps.options;
    const failure = (error: unknown) =>
      AriaError.is(error) && PROVIDER_FAILURE_CODES.has(error.code);
    this.#breaker = circuitBreaker(handleWhen(failure), {
      halfOpenAfter: deps.options.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(deps.options.breakerThreshold),
    });
    this.#breaker.onStateChange((state) => {
      this.#openedAt = state === CircuitState.Open ? Date.now() : undefined;
      deps.onStateChange?.(STATE_NAMES[state]);
    });
    const maxRetryAfter = deps.options.maxRetryAfterMs;
    const retryable = (error: unknown) =>
      failure(error) &&
      (error as AriaError).details.circuit !== "open" &&
      !(Number((error as AriaError).details.retryAfterMs) > maxRetryAfter);
    const exponential = new ExponentialBackoff({
      initialDelay: deps.options.initialDelayMs,
      maxDelay: deps.options.maxDelayMs,
      generator: decorrelatedJitterGenerator,
    });
    const backoff = new DelegateBackoff<
      IRetryBackoffContext<unknown>,
      IBackoff<unknown> | undefined
    >((context, state) => {
      const next = state ? state.next(undefined) : exponential.next();
      const error = "error" in context.result ? context.result.error : undefined;
      const after = AriaError.is(error) ? Number(error.details.retryAfterMs) : Number.NaN;
      // The provider's own retry-after wins over our backoff when it says how long to wait.
      return { delay: Number.isFinite(after) ? after : next.duration, state: next };
    });
    this.#retry = retry(handleWhen(retryable), {
      maxAttempts: deps.options.maxRetries,
      backoff,
    });
    if (deps.onRetry) {
      const onRetry = deps.onRetry;
      this.#retry.onRetry((event) =>
        onRetry({
          attempt: event.attempt,
          delayMs: event.delay,
          error: "error" in event ? event.error : undefined,
        }),
      );
    }
  }

  /** The breaker's state. */
  get state(): BreakerState {
    return STATE_NAMES[this.#breaker.state];
  }

  /** When an open breaker will let a trial call through. */
  get retryAt(): number | undefined {
    return this.#openedAt === undefined
      ? undefined
      : this.#openedAt + this.#options.breakerHalfOpenAfterMs;
  }

  /** Holds the breaker open (maintenance, tests) until `dispose` is called. */
  isolate(): { dispose(): void } {
    return this.#breaker.isolate();
  }

  /**
   * Runs `attempt` with retries, breaker and a per-attempt timeout. `toError` maps what the SDK
   * threw. With `streaming`, the attempt's signal stays live after `attempt` returns (the stream
   * goes on reading with it); the timeout then covers only the wait for the first event.
   */
  async execute<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    options: {
      signal: AbortSignal | undefined;
      timeoutMs: number;
      streaming?: boolean;
      toError: (error: unknown, info: { timedOut: boolean; timeoutMs: number }) => AriaError;
    },
  ): Promise<T> {
    const userSignal = options.signal;
    const perAttempt = timeout(options.timeoutMs, {
      strategy: TimeoutStrategy.Cooperative,
      abortOnReturn: !options.streaming,
    });
    const run = this.#retry.execute(async ({ signal }) => {
      if (userSignal?.aborted) throw cancelled(userSignal);
      try {
        return await this.#breaker.execute(
          () =>
            perAttempt.execute(async ({ signal: attemptSignal }) => {
              try {
                return await attempt(attemptSignal);
              } catch (error) {
                if (userSignal?.aborted) throw cancelled(userSignal);
                const mapped = options.toError(error, {
                  timedOut: attemptSignal.aborted,
                  timeoutMs: options.timeoutMs,
                });
                this.#noteFailure(mapped);
                throw mapped;
              }
            }, signal),
          signal,
        );
      } catch (error) {
        if (isBrokenCircuitError(error) || isIsolatedCircuitError(error)) {
          const retryAt = this.retryAt;
          throw llmError.unavailable(
            this.name,
            "its circuit breaker is open after repeated failures",
            {
              details: {
                circuit: "open",
                ...(retryAt !== undefined ? { retryInMs: Math.max(0, retryAt - Date.now()) } : {}),
              },
            },
          );
        }
        throw error;
      }
    }, userSignal);
    return raceAbort(run, userSignal);
  }

  /** Counts a failure that happened after `execute` returned (a stream that broke mid-way). */
  reportFailure(error: AriaError): void {
    this.#noteFailure(error);
    if (this.#breaker.state !== CircuitState.Closed) return;
    this.#breaker
      .execute(() => {
        throw error;
      })
      .catch(() => {});
  }

  #noteFailure(error: AriaError): void {
    this.lastFailure = { code: error.code, message: error.message, at: Date.now() };
  }
}
