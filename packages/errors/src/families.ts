import { AriaError, type ErrorContext } from "./aria-error.ts";

type Extra = { context?: ErrorContext; details?: Record<string, unknown>; cause?: unknown };

const opts = (message: string, extra: Extra = {}) => ({
  message,
  ...(extra.context ? { context: extra.context } : {}),
  ...(extra.details ? { details: extra.details } : {}),
  ...(extra.cause !== undefined ? { cause: extra.cause } : {}),
});

/** Container error family (factories, not subclasses: clients switch on `code`). */
export const containerError = {
  unavailable: (detail: string, extra?: Extra) =>
    new AriaError(
      "CONTAINER_RUNTIME_UNAVAILABLE",
      opts(`Container engine unavailable: ${detail}`, extra),
    ),
  startFailed: (image: string, detail: string, extra?: Extra) =>
    new AriaError(
      "CONTAINER_START_FAILED",
      opts(`Could not start a container from '${image}': ${detail}`, extra),
    ),
  timeout: (timeoutMs: number, extra?: Extra) =>
    new AriaError(
      "CONTAINER_TIMEOUT",
      opts(`Container workload exceeded its ${timeoutMs} ms timeout`, extra),
    ),
  oom: (memoryMb: number, extra?: Extra) =>
    new AriaError(
      "CONTAINER_OOM",
      opts(`Container was killed for using more than ${memoryMb} MiB of memory`, extra),
    ),
  execFailed: (exitCode: number, stderr: string, extra?: Extra) =>
    new AriaError(
      "CONTAINER_EXEC_FAILED",
      opts(`Container workload exited with status ${exitCode}`, {
        ...extra,
        details: { exitCode, stderr: stderr.slice(-2000), ...extra?.details },
      }),
    ),
  limitReached: (detail: string, extra?: Extra) =>
    new AriaError("CONTAINER_LIMIT_REACHED", opts(`Container limit reached: ${detail}`, extra)),
};

/** LLM error family. `providerStatus` maps an HTTP status from a provider to the right code. */
export const llmError = {
  notConfigured: (detail: string, extra?: Extra) =>
    new AriaError("LLM_NOT_CONFIGURED", opts(detail, extra)),
  rateLimited: (provider: string, retryAfterMs?: number, extra?: Extra) =>
    new AriaError(
      "LLM_RATE_LIMITED",
      opts(`Provider '${provider}' is rate limiting requests`, {
        ...extra,
        details: {
          provider,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          ...extra?.details,
        },
      }),
    ),
  unavailable: (provider: string, detail: string, extra?: Extra) =>
    new AriaError(
      "LLM_UNAVAILABLE",
      opts(`Provider '${provider}' unavailable: ${detail}`, {
        ...extra,
        details: { provider, ...extra?.details },
      }),
    ),
  invalidResponse: (provider: string, detail: string, extra?: Extra) =>
    new AriaError(
      "LLM_INVALID_RESPONSE",
      opts(`Provider '${provider}' sent an invalid response: ${detail}`, {
        ...extra,
        details: { provider, ...extra?.details },
      }),
    ),
  providerStatus: (provider: string, status: number, detail: string, extra?: Extra): AriaError => {
    const details = { provider, status, ...extra?.details };
    if (status === 429)
      return new AriaError(
        "LLM_RATE_LIMITED",
        opts(`Provider '${provider}' answered 429: ${detail}`, { ...extra, details }),
      );
    if (status >= 500 || status === 408)
      return new AriaError(
        "LLM_UNAVAILABLE",
        opts(`Provider '${provider}' answered ${status}: ${detail}`, { ...extra, details }),
      );
    return new AriaError(
      "LLM_REQUEST_REJECTED",
      opts(`Provider '${provider}' rejected the request (${status}): ${detail}`, {
        ...extra,
        details,
      }),
    );
  },
};

/** Bundle error family. */
export const bundleError = {
  invalid: (detail: string, extra?: Extra) =>
    new AriaError("BUNDLE_INVALID", opts(`Invalid bundle: ${detail}`, extra)),
  unsafe: (detail: string, extra?: Extra) =>
    new AriaError("BUNDLE_UNSAFE", opts(`Unsafe bundle: ${detail}`, extra)),
  integrity: (detail: string, extra?: Extra) =>
    new AriaError("BUNDLE_INTEGRITY", opts(`Bundle integrity check failed: ${detail}`, extra)),
  dependency: (detail: string, extra?: Extra) =>
    new AriaError("BUNDLE_DEPENDENCY", opts(`Bundle dependency problem: ${detail}`, extra)),
};

/** ICC error family. */
export const iccError = {
  unauthorized: (detail: string, extra?: Extra) =>
    new AriaError("ICC_UNAUTHORIZED", opts(`ICC token rejected: ${detail}`, extra)),
  forbidden: (detail: string, extra?: Extra) =>
    new AriaError("ICC_FORBIDDEN", opts(`ICC call not permitted: ${detail}`, extra)),
};
