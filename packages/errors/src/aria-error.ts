import type { ErrorBody } from "@aria/core-types";
import {
  type CatalogEntry,
  ERROR_CATALOG,
  type ErrorCategory,
  type ErrorCode,
  type Severity,
} from "./catalog.ts";
import { redact, redactText } from "./redact.ts";

const MARKER = Symbol.for("aria.error");

/** Where an error happened. Every field is optional; helpers add fields as an error bubbles up. */
export interface ErrorContext {
  component?: string;
  operation?: string;
  sessionId?: string;
  runId?: string;
  stepId?: string;
  containerId?: string;
  tool?: string;
  agent?: string;
  [key: string]: unknown;
}

export interface AriaErrorOptions {
  message?: string;
  userGuidance?: string;
  recoveryActions?: string[];
  severity?: Severity;
  retryable?: boolean;
  context?: ErrorContext;
  details?: Record<string, unknown>;
  cause?: unknown;
  httpStatus?: number;
}

/**
 * The one error class of the runtime. Clients switch on `code`; everything else (category,
 * severity, HTTP status, guidance, recovery actions, retryable) defaults from `ERROR_CATALOG`.
 */
export class AriaError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly severity: Severity;
  readonly userGuidance: string;
  readonly recoveryActions: string[];
  readonly retryable: boolean;
  readonly context: ErrorContext;
  readonly details: Record<string, unknown>;
  readonly httpStatus: number;
  override readonly cause: unknown;
  readonly [MARKER] = true;

  constructor(code: ErrorCode, options: AriaErrorOptions = {}) {
    const entry: CatalogEntry = ERROR_CATALOG[code] ?? ERROR_CATALOG.INTERNAL_ERROR;
    super(options.message ?? entry.guidance);
    this.name = "AriaError";
    this.code = code in ERROR_CATALOG ? code : "INTERNAL_ERROR";
    this.category = entry.category;
    this.severity = options.severity ?? entry.severity;
    this.userGuidance = options.userGuidance ?? entry.guidance;
    this.recoveryActions = options.recoveryActions ?? [...entry.recoveryActions];
    this.retryable = options.retryable ?? entry.retryable;
    this.context = { ...options.context };
    this.details = { ...options.details };
    this.httpStatus = options.httpStatus ?? entry.httpStatus;
    this.cause = options.cause;
  }

  /** True for any AriaError, also across duplicate copies of this package. */
  static is(value: unknown): value is AriaError {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARKER] === true
    );
  }

  /** True when `value` is an AriaError with the given code. */
  static hasCode(value: unknown, code: ErrorCode): value is AriaError {
    return AriaError.is(value) && value.code === code;
  }

  /** The HTTP status this error answers with. */
  toHttpStatus(): number {
    return this.httpStatus;
  }

  /** A copy with more context (fields already set win: the innermost context is the most precise). */
  withContext(context: ErrorContext): AriaError {
    const copy = new AriaError(this.code, {
      message: this.message,
      userGuidance: this.userGuidance,
      recoveryActions: this.recoveryActions,
      severity: this.severity,
      retryable: this.retryable,
      context: { ...context, ...this.context },
      details: this.details,
      cause: this.cause,
      httpStatus: this.httpStatus,
    });
    copy.stack = this.stack;
    return copy;
  }

  /** The serialisable body: no stack, secrets redacted, the cause chain as messages only. */
  toBody(): ErrorBody {
    const details: Record<string, unknown> = {
      ...(redact(this.details) as Record<string, unknown>),
    };
    const causes = causeChain(this.cause);
    if (causes.length > 0) details.causes = causes;
    return {
      code: this.code,
      category: this.category,
      severity: this.severity,
      message: redactText(this.message),
      userGuidance: redactText(this.userGuidance),
      recoveryActions: this.recoveryActions.map(redactText),
      retryable: this.retryable,
      details,
      context: redact(this.context) as Record<string, unknown>,
    };
  }

  /** The HTTP error envelope `{ error: {...} }` (contracts §3). */
  toJSON(): { error: ErrorBody } {
    return { error: this.toBody() };
  }

  /** Rebuilds an AriaError from a stored body (checkpoints, ICC answers). */
  static fromBody(body: ErrorBody): AriaError {
    const code = (body.code in ERROR_CATALOG ? body.code : "INTERNAL_ERROR") as ErrorCode;
    return new AriaError(code, {
      message: body.message,
      userGuidance: body.userGuidance,
      recoveryActions: body.recoveryActions,
      severity: body.severity,
      retryable: body.retryable,
      details: body.details,
      context: body.context as ErrorContext,
    });
  }
}

function causeChain(cause: unknown): Array<{ name: string; message: string; code?: string }> {
  const out: Array<{ name: string; message: string; code?: string }> = [];
  let current = cause;
  const seen = new Set<unknown>();
  while (current !== undefined && current !== null && out.length < 5 && !seen.has(current)) {
    seen.add(current);
    if (current instanceof Error) {
      const code = AriaError.is(current) ? current.code : (current as { code?: unknown }).code;
      out.push({
        name: current.name,
        message: redactText(current.message),
        ...(typeof code === "string" ? { code } : {}),
      });
      current = (current as { cause?: unknown }).cause;
    } else {
      out.push({ name: typeof current, message: redactText(String(current)) });
      break;
    }
  }
  return out;
}

/**
 * Wraps anything thrown into an AriaError. AriaErrors pass through (with the context added); an
 * `AbortError` becomes RUN_CANCELLED; anything else becomes `fallback` with the original as cause.
 */
export function toAriaError(
  error: unknown,
  fallback: ErrorCode = "INTERNAL_ERROR",
  context?: ErrorContext,
): AriaError {
  if (AriaError.is(error)) return context ? error.withContext(context) : error;
  if (
    error instanceof Error &&
    (error.name === "AbortError" || (error as { code?: unknown }).code === "ABORT_ERR")
  ) {
    return new AriaError("RUN_CANCELLED", {
      message: "The operation was cancelled",
      cause: error,
      ...(context ? { context } : {}),
    });
  }
  const message =
    error instanceof Error ? error.message : typeof error === "string" ? error : "Unknown error";
  return new AriaError(fallback, {
    message: redactText(message),
    cause: error,
    ...(context ? { context } : {}),
  });
}

/**
 * Adds context to an error on its way up and rethrows it: `catch (e) { bubble(e, {stepId}) }`.
 */
export function bubble(
  error: unknown,
  context: ErrorContext,
  fallback: ErrorCode = "INTERNAL_ERROR",
): never {
  throw toAriaError(error, fallback, context);
}

/** Whether a retry can help: AriaErrors say so; HTTP-ish errors by status (408, 409, 429, 5xx). */
export function isRetryable(error: unknown): boolean {
  if (AriaError.is(error)) return error.retryable;
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number")
    return status === 408 || status === 409 || status === 429 || status >= 500;
  return false;
}
