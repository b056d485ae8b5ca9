import type { GuardrailSpec, JsonSchema } from "@aria/core-types";
import { AriaError, bundleError } from "@aria/errors";
import type { SchemaValidator } from "./validation.ts";

/** The text a `redact` guardrail puts in place of what it matched. */
export const REDACTED = "[REDACTED]";

/** Which side of a tool call a guardrail looks at. */
export type GuardrailDirection = "input" | "output";

/** A guardrail as written by hand (`on` defaults to `both`, `action` to `block`, as in a manifest). */
export type GuardrailConfig = Omit<GuardrailSpec, "on" | "action"> &
  Partial<Pick<GuardrailSpec, "on" | "action">>;

/** What a check is told beside the value: never credentials, provider keys or the run's context. */
export interface GuardrailCheckContext {
  tool: string;
  on: GuardrailDirection;
  runId: string;
  stepId: string;
}

/** The verdict of a check: `ok`, or a finding with an optional message and a redacted copy. */
export interface GuardrailCheckResult {
  ok: boolean;
  /** Why it tripped; must not repeat the offending content (it goes into the error). */
  message?: string;
  /** The value with the offending parts replaced (what a `redact` action continues with). */
  redacted?: unknown;
  /** What kinds of content were found (`email`, `credit-card`, …); never the content itself. */
  findings?: string[];
}

/**
 * A guardrail check: a function of the value. Built-ins are made by `schemaCheck`, `sizeCheck`,
 * `regexCheck` and `piiCheck`; a bundle exports its own (`custom`, found by `export` name).
 */
export type GuardrailCheck = (
  value: unknown,
  context: GuardrailCheckContext,
) => GuardrailCheckResult | Promise<GuardrailCheckResult>;

/** A tripped guardrail as reported to `onGuardrail` (the runtime turns it into `guardrail.tripped`). */
export interface GuardrailTrip {
  tool: string;
  kind: GuardrailSpec["kind"];
  on: GuardrailDirection;
  action: GuardrailSpec["action"];
  runId: string;
  stepId: string;
  /** Position of the guardrail in the tool's list. */
  index: number;
  findings?: string[];
}

/** A guardrail ready to run: its (normalised) spec and its check. */
export interface CompiledGuardrail {
  spec: GuardrailSpec;
  check: GuardrailCheck;
}

// ---- deep string walking ------------------------------------------------------------------------

/** Applies `fn` to every string in a JSON-like value (deep; object keys are left alone). */
export function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  const seen = new WeakMap<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return fn(v);
    if (v === null || typeof v !== "object") return v;
    const done = seen.get(v);
    if (done !== undefined) return done;
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      seen.set(v, out);
      for (const item of v) out.push(walk(item));
      return out;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    const out: Record<string, unknown> = {};
    seen.set(v, out);
    for (const [key, item] of Object.entries(v)) out[key] = walk(item);
    return out;
  };
  return walk(value);
}

/** A pattern to find in strings, with an optional validator for each match (Luhn, mod 97). */
interface Detector {
  name: string;
  pattern: RegExp;
  valid?: (match: string) => boolean;
}

/** Finds every detector's matches in every string of `value`; returns the names found and a redacted copy. */
function scan(value: unknown, detectors: readonly Detector[]): GuardrailCheckResult {
  const found = new Set<string>();
  const redacted = mapStrings(value, (text) => {
    let out = text;
    for (const d of detectors) {
      const re = new RegExp(
        d.pattern.source,
        d.pattern.flags.includes("g") ? d.pattern.flags : `${d.pattern.flags}g`,
      );
      out = out.replace(re, (match) => {
        if (d.valid && !d.valid(match)) return match;
        found.add(d.name);
        return REDACTED;
      });
    }
    return out;
  });
  if (found.size === 0) return { ok: true };
  const findings = [...found];
  return { ok: false, message: `found ${findings.join(", ")}`, redacted, findings };
}

// ---- built-in checks ----------------------------------------------------------------------------

/** A check that the value matches a JSON Schema (ajv through the registry's `SchemaValidator`). */
export function schemaCheck(schema: JsonSchema, validator: SchemaValidator): GuardrailCheck {
  return (value) => {
    const issues = validator.issues(schema, value);
    if (issues.length === 0) return { ok: true };
    const summary = issues
      .slice(0, 3)
      .map((i) => `${i.path || "(root)"} ${i.message}`)
      .join("; ");
    return { ok: false, message: `does not match the guardrail schema: ${summary}` };
  };
}

/** UTF-8 bytes of the value as JSON (0 for `undefined`). */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text, "utf8");
}

/** A check that the value, as JSON, is at most `maxBytes` UTF-8 bytes. */
export function sizeCheck(maxBytes: number): GuardrailCheck {
  return (value) => {
    const bytes = jsonBytes(value);
    return bytes <= maxBytes
      ? { ok: true }
      : {
          ok: false,
          message: `${bytes} bytes exceed the limit of ${maxBytes}`,
          findings: ["size"],
        };
  };
}

/** A check that no string in the value matches `pattern` (a RegExp source, or a RegExp). */
export function regexCheck(pattern: string | RegExp): GuardrailCheck {
  const re = typeof pattern === "string" ? new RegExp(pattern, "g") : pattern;
  const detectors = [{ name: "pattern", pattern: re }];
  return (value) => scan(value, detectors);
}

/** Luhn checksum of a card-number-like string (spaces and dashes ignored). */
export function luhnValid(text: string): boolean {
  const digits = text.replace(/[ -]/g, "");
  if (!/^\d{13,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616 mod-97 check of an IBAN-like string (spaces ignored). */
export function ibanValid(text: string): boolean {
  const compact = text.replace(/ /g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const n = ch >= "A" && ch <= "Z" ? ch.charCodeAt(0) - 55 : Number(ch);
    remainder = Number(`${remainder}${n}`) % 97;
  }
  return remainder === 1;
}

/** The kinds of personal data and secrets `piiCheck` looks for, in the order it applies them. */
export const PII_KINDS = ["api-key", "credit-card", "iban", "email", "phone"] as const;
export type PiiKind = (typeof PII_KINDS)[number];

const PII_DETECTORS: Record<PiiKind, Detector[]> = {
  "api-key": [
    // OpenAI / Anthropic / Stripe style (`sk-…`, `sk-ant-…`, `sk_live_…`, `pk_test_…`).
    { name: "api-key", pattern: /\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]{16,}/g },
    // AWS access key ids, GitHub tokens, Slack tokens, Google API keys.
    { name: "api-key", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g },
    { name: "api-key", pattern: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g },
    { name: "api-key", pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g },
    { name: "api-key", pattern: /\bAIza[0-9A-Za-z_-]{35}/g },
    // `Bearer <token>` in headers copied into text.
    { name: "api-key", pattern: /\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*/g },
  ],
  "credit-card": [
    { name: "credit-card", pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, valid: luhnValid },
  ],
  iban: [
    {
      name: "iban",
      pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g,
      valid: ibanValid,
    },
  ],
  email: [
    {
      name: "email",
      pattern: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g,
    },
  ],
  phone: [
    // International (`+44 20 7946 0958`, `+14155550123`) or with separators (`(415) 555-0123`).
    {
      name: "phone",
      pattern: /(?<![\w+.-]|\d[ .-])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w|[ .-]\d)/g,
      valid: (m) => m.replace(/\D/g, "").length >= 8,
    },
    {
      name: "phone",
      pattern:
        /(?<![\w+.-]|\d[ .-])(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?!\w|[ .-]\d)/g,
      valid: (m) => m.replace(/\D/g, "").length >= 9,
    },
  ],
};

/**
 * A check for personal data and secrets in any string of the value: e-mail addresses, phone
 * numbers, credit-card numbers (Luhn-checked), IBANs (mod-97-checked) and API-key-like strings.
 */
export function piiCheck(kinds: readonly PiiKind[] = PII_KINDS): GuardrailCheck {
  const detectors = PII_KINDS.filter((k) => kinds.includes(k)).flatMap((k) => PII_DETECTORS[k]);
  return (value) => scan(value, detectors);
}

// ---- compiling and applying -----------------------------------------------------------------------

/** How a `custom` guardrail's check is found: by export name (from the bundle module or a table). */
export type CustomCheckResolver = (exportName: string) => Promise<GuardrailCheck>;

/** Turns a bundle export into a check: a function, or an object with a `check` function. */
export function toGuardrailCheck(
  exported: unknown,
  exportName: string,
  where: string,
): GuardrailCheck {
  const fn =
    typeof exported === "function"
      ? exported
      : typeof (exported as { check?: unknown } | null)?.check === "function"
        ? (exported as { check: (...args: unknown[]) => unknown }).check.bind(exported)
        : undefined;
  if (!fn)
    throw bundleError.invalid(`${where} has no guardrail function exported as '${exportName}'`, {
      details: { reason: "missing_export", export: exportName },
    });
  return fn as GuardrailCheck;
}

/**
 * Checks a tool's guardrail specs and makes their checks (`schema` compiled with the validator,
 * `regex` compiled, `custom` resolved on first use). A spec missing what its kind needs, or with a
 * bad pattern or schema, is BUNDLE_INVALID (`bad_guardrail`).
 */
export function compileGuardrails(
  tool: string,
  specs: readonly GuardrailConfig[] | undefined,
  deps: { validator: SchemaValidator; resolveCustom?: CustomCheckResolver },
): CompiledGuardrail[] {
  if (!specs || specs.length === 0) return [];
  return specs.map((config, index) => {
    const spec: GuardrailSpec = {
      ...config,
      on: config.on ?? "both",
      action: config.action ?? "block",
    };
    const bad = (why: string) =>
      bundleError.invalid(`guardrail ${index} (${spec.kind}) of tool '${tool}' ${why}`, {
        details: { reason: "bad_guardrail", tool, index, kind: spec.kind },
      });
    switch (spec.kind) {
      case "schema": {
        if (!spec.schema) throw bad("needs a 'schema'");
        try {
          deps.validator.check(spec.schema);
        } catch (error) {
          throw bad(`has an invalid schema: ${(error as Error).message}`);
        }
        return { spec, check: schemaCheck(spec.schema, deps.validator) };
      }
      case "size":
        if (spec.maxBytes === undefined) throw bad("needs 'maxBytes'");
        return { spec, check: sizeCheck(spec.maxBytes) };
      case "regex": {
        if (!spec.pattern) throw bad("needs a 'pattern'");
        let re: RegExp;
        try {
          re = new RegExp(spec.pattern, "g");
        } catch (error) {
          throw bad(`has an invalid pattern: ${(error as Error).message}`);
        }
        return { spec, check: regexCheck(re) };
      }
      case "pii":
        return { spec, check: piiCheck() };
      default: {
        // custom
        const name = spec.export;
        if (!name) throw bad("needs an 'export'");
        const resolve = deps.resolveCustom;
        if (!resolve) throw bad(`'${name}' cannot be resolved: no check is provided for it`);
        let resolved: Promise<GuardrailCheck> | undefined;
        return {
          spec,
          check: async (value, context) => {
            // Resolved once; a failed resolution is retried on the next call.
            resolved ??= resolve(name).catch((error: unknown) => {
              resolved = undefined;
              throw error;
            });
            return (await resolved)(value, context);
          },
        };
      }
    }
  });
}

/**
 * Runs the guardrails that apply to one direction, in order, each on the value the previous one let
 * through. A trip is reported to `onTrip` (any action); `block` throws GUARDRAIL_TRIPPED naming the
 * guardrail, the direction and the tool, never the matched content; `redact` continues with the
 * redacted value (a check that cannot redact — schema, size, or a custom check without `redacted` —
 * blocks instead); `warn` continues with the value unchanged. Returns the value to continue with.
 */
export async function applyGuardrails(
  guardrails: readonly CompiledGuardrail[],
  value: unknown,
  context: GuardrailCheckContext,
  onTrip?: (trip: GuardrailTrip) => void,
): Promise<unknown> {
  let current = value;
  // Agents' guardrails run through here too (`agent:NAME`).
  const subject = context.tool.startsWith("agent:")
    ? `agent '${context.tool.slice(6)}'`
    : `tool '${context.tool}'`;
  for (const [index, { spec, check }] of guardrails.entries()) {
    if (spec.on !== "both" && spec.on !== context.on) continue;
    let result: GuardrailCheckResult;
    try {
      result = await check(current, { ...context });
    } catch (error) {
      if (AriaError.is(error))
        throw error.withContext({
          tool: context.tool,
          runId: context.runId,
          stepId: context.stepId,
        });
      throw new AriaError("GUARDRAIL_TRIPPED", {
        message: `guardrail ${index} (${spec.kind}) on the ${context.on} of ${subject} failed to run: ${(error as Error)?.message ?? String(error)}`,
        details: {
          guardrail: spec.kind,
          index,
          on: context.on,
          action: spec.action,
          reason: "check_failed",
        },
        context: { tool: context.tool, runId: context.runId, stepId: context.stepId },
        cause: error,
      });
    }
    if (result.ok) continue;
    const trip: GuardrailTrip = {
      tool: context.tool,
      kind: spec.kind,
      on: context.on,
      action: spec.action,
      runId: context.runId,
      stepId: context.stepId,
      index,
      ...(result.findings ? { findings: result.findings } : {}),
    };
    onTrip?.(trip);
    if (spec.action === "warn") continue;
    if (spec.action === "redact" && result.redacted !== undefined) {
      current = result.redacted;
      continue;
    }
    throw new AriaError("GUARDRAIL_TRIPPED", {
      message: `guardrail ${index} (${spec.kind}) blocked the ${context.on} of ${subject}${result.message ? `: ${result.message}` : ""}`,
      details: {
        guardrail: spec.kind,
        index,
        on: context.on,
        action: spec.action,
        ...(result.findings ? { findings: result.findings } : {}),
      },
      context: { tool: context.tool, runId: context.runId, stepId: context.stepId },
    });
  }
  return current;
}
