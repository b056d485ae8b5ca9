/**
 * Keys whose values are secrets: the whole key (ignoring case, `-` and `_`) is one of these words or
 * ends with one. Counting words such as `inputTokens` or `maxTokens` are not secrets.
 */
const SECRET_WORDS =
  /(?:apikey|secret|password|passwd|authorization|cookie|credentials?|privatekey|signingkey|accesstoken|refreshtoken|authtoken|bearertoken|icctoken|sessiontoken|clientsecret)$|^token$/;
const isSecretKey = (key: string) => SECRET_WORDS.test(key.toLowerCase().replace(/[-_]/g, ""));

/** Text patterns that look like credentials: provider keys, bearer tokens, JWT-like strings. */
const SECRET_PATTERNS: RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
  /\b(?:aria|icc)_[A-Za-z0-9]{16,}\b/g,
];

export const REDACTED = "[REDACTED]";

/** Replaces credential-looking substrings in a text. */
export function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
  return out;
}

/**
 * A deep copy of `value` with secrets removed: values under secret-sounding keys are replaced, strings
 * are scrubbed of credential patterns, and depth and size are bounded so an answer never explodes.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[TRUNCATED]";
  if (typeof value === "string")
    return redactText(value.length > 4000 ? `${value.slice(0, 4000)}…` : value);
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint"
      ? value.toString()
      : typeof value === "function"
        ? undefined
        : value;
  }
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value).slice(0, 100)) {
    out[key] =
      isSecretKey(key) && v !== undefined && v !== null && typeof v !== "boolean"
        ? REDACTED
        : redact(v, depth + 1);
  }
  return out;
}
