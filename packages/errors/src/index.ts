/**
 * @aria/errors: the AriaError class, the catalogue of error codes with guidance and recovery actions,
 * error families for containers, LLMs, bundles and ICC, and helpers to wrap and bubble errors.
 */
export {
  AriaError,
  type AriaErrorOptions,
  bubble,
  type ErrorContext,
  isRetryable,
  toAriaError,
} from "./aria-error.ts";
export {
  type CatalogEntry,
  ERROR_CATALOG,
  ERROR_CATEGORIES,
  ERROR_CODES,
  type ErrorCategory,
  type ErrorCode,
  type Severity,
} from "./catalog.ts";
export { bundleError, containerError, iccError, llmError } from "./families.ts";
export { REDACTED, redact, redactText } from "./redact.ts";
