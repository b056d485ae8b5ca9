import type { LlmProviderName } from "@aria/core-types";
import { AriaError, llmError, redactText } from "@aria/errors";

/** Codes after which the next provider in the fallback order is tried. */
export const FALLBACK_CODES = new Set([
  "LLM_RATE_LIMITED",
  "LLM_UNAVAILABLE",
  "LLM_INVALID_RESPONSE",
  "LLM_NOT_CONFIGURED",
]);

/** Codes that count against a provider's circuit breaker and may be retried on it. */
export const PROVIDER_FAILURE_CODES = new Set([
  "LLM_RATE_LIMITED",
  "LLM_UNAVAILABLE",
  "LLM_INVALID_RESPONSE",
]);

/** Removes the configured API keys (and anything else that looks like a credential) from text. */
export function createSanitizer(secrets: readonly string[]): (text: string) => string {
  const keys = secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text;
    for (const key of keys) if (out.includes(key)) out = out.split(key).join("[REDACTED]");
    return redactText(out);
  };
}

interface HeadersLike {
  get(name: string): string | null;
}

/** The delay a provider asked for, from `retry-after-ms` or `retry-after` (seconds or a date). */
export function retryAfterMs(
  headers: HeadersLike | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers || typeof headers.get !== "function") return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) {
    return Math.max(0, Number(ms));
  }
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function sanitizedCause(error: unknown, sanitize: (t: string) => string): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  // A plain copy: SDK errors carry response bodies and headers that must not travel with ours.
  const copy = new Error(sanitize(error.message));
  copy.name = error.name;
  return copy;
}

const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && SOCKET_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const STREAM_ERROR_TYPES: Record<string, "rate" | "unavailable" | "rejected"> = {
  rate_limit_error: "rate",
  overloaded_error: "unavailable",
  api_error: "unavailable",
  timeout_error: "unavailable",
  invalid_request_error: "rejected",
  authentication_error: "rejected",
  permission_error: "rejected",
  not_found_error: "rejected",
  request_too_large: "rejected",
};

/**
 * Maps whatever a provider call threw to an AriaError: HTTP statuses through
 * `llmError.providerStatus` (429 → LLM_RATE_LIMITED with `retryAfterMs`, 5xx and 408 →
 * LLM_UNAVAILABLE, other 4xx → LLM_REQUEST_REJECTED), network failures and timeouts →
 * LLM_UNAVAILABLE, unparseable answers → LLM_INVALID_RESPONSE. Messages are sanitised and the
 * SDK error is never kept as the cause (it holds the response body).
 */
export function toLlmError(
  provider: LlmProviderName,
  error: unknown,
  sanitize: (text: string) => string,
  info: { timedOut?: boolean; timeoutMs?: number } = {},
): AriaError {
  // A timeout wins over whatever the aborted request threw (or a stream that just ended early).
  if (info.timedOut) {
    const cause = AriaError.is(error) ? undefined : sanitizedCause(error, sanitize);
    return llmError.unavailable(provider, `no answer within ${info.timeoutMs} ms`, {
      ...(cause ? { cause } : {}),
      details: { timeout: true, timeoutMs: info.timeoutMs },
    });
  }
  if (AriaError.is(error)) return error;
  const cause = sanitizedCause(error, sanitize);
  const extra = cause ? { cause } : {};
  const e = error as {
    status?: unknown;
    headers?: HeadersLike;
    message?: unknown;
    name?: unknown;
    error?: unknown;
    type?: unknown;
  };
  const message = sanitize(typeof e?.message === "string" ? e.message : String(error));
  if (typeof e?.status === "number") {
    const after = e.status === 429 || e.status >= 500 ? retryAfterMs(e.headers) : undefined;
    return llmError.providerStatus(provider, e.status, message, {
      ...extra,
      details: after !== undefined ? { retryAfterMs: after } : {},
    });
  }
  const name = typeof e?.name === "string" ? e.name : "";
  if (name === "APIConnectionTimeoutError") {
    return llmError.unavailable(provider, "the connection timed out", {
      ...extra,
      details: { timeout: true },
    });
  }
  if (name === "APIConnectionError" || networkCode(error)) {
    const code = networkCode(error);
    return llmError.unavailable(
      provider,
      `connection failed${code ? ` (${code})` : ""}: ${message}`,
      {
        ...extra,
        details: code ? { networkCode: code } : {},
      },
    );
  }
  if (name === "APIError" || name.endsWith("APIError")) {
    // An error event inside a stream (no HTTP status): classify by the provider's error type.
    const body = e.error as { error?: { type?: unknown }; type?: unknown } | undefined;
    const type = String(body?.error?.type ?? e.type ?? body?.type ?? "");
    const kind = STREAM_ERROR_TYPES[type] ?? "unavailable";
    if (kind === "rate") return llmError.rateLimited(provider, undefined, extra);
    if (kind === "rejected") {
      return new AriaError("LLM_REQUEST_REJECTED", {
        message: `Provider '${provider}' rejected the request: ${message}`,
        details: { provider, type },
        ...extra,
      });
    }
    return llmError.unavailable(provider, `stream error (${type || "unknown"}): ${message}`, extra);
  }
  if (error instanceof TypeError && /terminated|other side closed|socket/i.test(message)) {
    return llmError.unavailable(provider, `the connection dropped: ${message}`, extra);
  }
  if (error instanceof SyntaxError) {
    return llmError.invalidResponse(provider, `the body is not valid JSON (${message})`, extra);
  }
  return llmError.invalidResponse(provider, message, extra);
}
