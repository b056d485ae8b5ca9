import { AriaError } from "@aria/errors";
import {
  formatPath,
  mayContainPlaceholder,
  type ParsedString,
  type PathSegment,
  type PlaceholderReference,
  parseString,
} from "./parse.ts";

/** A step as placeholders see it. */
export interface PlaceholderStep {
  id: string;
  success: boolean;
  output: unknown;
  /** Optional finer status for messages (`skipped`, `cancelled`, `pending`...). */
  status?: string;
}

/**
 * What placeholders resolve against (contracts §1): steps in declared order, so `step_N_output` is
 * `steps[N-1]`, and the run's input.
 */
export interface PlaceholderScope {
  steps: ReadonlyArray<PlaceholderStep | undefined>;
  input?: unknown;
}

/**
 * A lookup the engine implements over its own run state (no per-call arrays or maps), used by the
 * compiled templates. `resolvePlaceholders` adapts a {@link PlaceholderScope} to it.
 */
export interface PlaceholderSource {
  /** The step at a 1-based declared position, or undefined when there is none. */
  stepAt(position: number): PlaceholderStep | undefined;
  stepById(id: string): PlaceholderStep | undefined;
  /** Number of steps in the plan (for messages). */
  readonly stepCount: number;
  readonly hasInput: boolean;
  readonly input: unknown;
}

/** Why a placeholder did not resolve (also in `details.reason` of the error). */
export type UnresolvedReason =
  | "invalid_reference"
  | "missing_step"
  | "step_failed"
  | "missing_input"
  | "missing_path";

/** Adapts the public scope shape to a source (the id index is built only when an id is asked for). */
export function sourceFromScope(scope: PlaceholderScope): PlaceholderSource {
  let byId: Map<string, PlaceholderStep> | undefined;
  const steps = scope.steps;
  return {
    stepCount: steps.length,
    hasInput: "input" in scope && scope.input !== undefined,
    input: scope.input,
    stepAt: (position) => steps[position - 1],
    stepById(id) {
      if (byId === undefined) {
        byId = new Map();
        for (const step of steps)
          if (step !== undefined && !byId.has(step.id)) byId.set(step.id, step);
      }
      return byId.get(id);
    },
  };
}

/**
 * Resolves every `{{...}}` placeholder in `value` (contracts §1) and returns a resolved copy:
 * - a string that is exactly one placeholder becomes the referenced value, keeping its type;
 * - placeholders inside longer strings become text (strings as they are, anything else as JSON),
 *   several per string;
 * - nested objects and arrays (strings directly inside arrays too) are resolved;
 * - whitespace inside the braces is allowed, and `\{{` is a literal `{{`;
 * - a reference to a missing step, a failed step or a missing path throws `PLACEHOLDER_UNRESOLVED`
 *   naming the placeholder, the step and the path segment that failed.
 *
 * Neither `value` nor `scope` is mutated; referenced objects are copied, so the result never shares
 * structure with the scope.
 *
 * @example resolvePlaceholders({ url: "{{step_1_output.items[0].url}}" }, { steps: [{ id: "search", success: true, output: { items: [{ url: "u" }] } }] })
 */
export function resolvePlaceholders(value: unknown, scope: PlaceholderScope): unknown {
  return resolveValue(value, sourceFromScope(scope));
}

/** Resolves `value` against a source (see {@link resolvePlaceholders}). */
export function resolveValue(value: unknown, source: PlaceholderSource): unknown {
  if (typeof value === "string") {
    return mayContainPlaceholder(value) ? renderParsed(parseString(value), source) : value;
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = resolveValue(value[i], source);
    return out;
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    setOwn(out, key, resolveValue((value as Record<string, unknown>)[key], source));
  }
  return out;
}

/** Renders a parsed string: the lone reference keeps its type, otherwise text. */
export function renderParsed(parsed: ParsedString, source: PlaceholderSource): unknown {
  if (parsed.literal !== undefined) return parsed.literal;
  if (parsed.lone !== undefined) return copyValue(lookupReference(parsed.lone, source));
  let text = "";
  for (const part of parsed.parts) {
    if (typeof part === "string") {
      text += part;
    } else {
      const resolved = lookupReference(part, source);
      text += typeof resolved === "string" ? resolved : stringifyForText(resolved);
    }
  }
  return text;
}

function stringifyForText(value: unknown): string {
  if (value === undefined) return "null";
  return JSON.stringify(value) ?? "null";
}

/**
 * The value a reference points at (not copied). Throws `PLACEHOLDER_UNRESOLVED` when the step is
 * missing or failed, the input is absent, or a path segment does not exist.
 */
export function lookupReference(
  reference: PlaceholderReference,
  source: PlaceholderSource,
): unknown {
  switch (reference.kind) {
    case "input":
      if (!source.hasInput) {
        throw unresolved(reference, "missing_input", "the run has no input");
      }
      return walkPath(reference, source.input, undefined);
    case "position": {
      const step = source.stepAt(reference.position);
      if (step === undefined) {
        throw unresolved(
          reference,
          "missing_step",
          `there is no step ${reference.position} (the plan has ${source.stepCount} step${source.stepCount === 1 ? "" : "s"})`,
          { step: `step_${reference.position}`, stepIndex: reference.position },
        );
      }
      return stepValue(reference, step, `step ${reference.position} ('${step.id}')`);
    }
    case "id": {
      const step = source.stepById(reference.stepId);
      if (step === undefined) {
        throw unresolved(
          reference,
          "missing_step",
          `there is no step with id '${reference.stepId}'`,
          {
            step: reference.stepId,
          },
        );
      }
      return stepValue(reference, step, `step '${step.id}'`);
    }
    default:
      throw unresolved(reference, "invalid_reference", reference.problem);
  }
}

function stepValue(
  reference: Extract<PlaceholderReference, { kind: "position" | "id" }>,
  step: PlaceholderStep,
  label: string,
): unknown {
  if (!step.success) {
    const status = step.status ?? "failed";
    const why =
      status === "pending" || status === "running"
        ? "has not finished"
        : status === "evicted"
          ? "has an output that was evicted from working memory"
          : `did not succeed (${status})`;
    throw unresolved(reference, "step_failed", `${label} ${why}`, {
      step: step.id,
      ...(reference.kind === "position" ? { stepIndex: reference.position } : {}),
      stepStatus: status,
    });
  }
  return walkPath(reference, step.output === undefined ? null : step.output, step.id);
}

function walkPath(
  reference: Extract<PlaceholderReference, { path: readonly PathSegment[] }>,
  root: unknown,
  stepId: string | undefined,
): unknown {
  const path = reference.path;
  let current = root;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const next = child(current, segment);
    if (next === MISSING) {
      const at = formatPath(path, i);
      const segmentText = typeof segment === "number" ? `[${segment}]` : segment;
      const where = at === "" ? "at the root" : `at '${at}'`;
      throw unresolved(
        reference,
        "missing_path",
        `${describeMiss(current, segment)} ${where}${stepId === undefined ? " of the input" : ` of step '${stepId}'`}`,
        {
          ...(stepId !== undefined ? { step: stepId } : {}),
          ...(reference.kind === "position" ? { stepIndex: reference.position } : {}),
          segment: segmentText,
          path: formatPath(path),
        },
      );
    }
    current = next;
  }
  return current;
}

const MISSING = Symbol("missing");

function child(current: unknown, segment: PathSegment): unknown {
  if (Array.isArray(current)) {
    const index = typeof segment === "number" ? segment : toIndex(segment);
    if (index === undefined || index >= current.length) return MISSING;
    return current[index];
  }
  if (typeof current === "object" && current !== null) {
    const key = typeof segment === "number" ? String(segment) : segment;
    if (!Object.hasOwn(current, key)) return MISSING;
    const value = (current as Record<string, unknown>)[key];
    return value === undefined ? MISSING : value;
  }
  return MISSING;
}

function toIndex(segment: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
  const n = Number(segment);
  return Number.isSafeInteger(n) ? n : undefined;
}

function describeMiss(current: unknown, segment: PathSegment): string {
  if (Array.isArray(current)) {
    return typeof segment === "number" || toIndex(segment) !== undefined
      ? `index ${segment} is out of range (length ${current.length})`
      : `'${segment}' is not an array index (length ${current.length})`;
  }
  if (typeof current === "object" && current !== null) return `no key '${segment}'`;
  return `cannot read '${segment}' of ${current === null ? "null" : typeof current}`;
}

function unresolved(
  reference: PlaceholderReference,
  reason: UnresolvedReason,
  why: string,
  details: Record<string, unknown> = {},
): AriaError {
  return new AriaError("PLACEHOLDER_UNRESOLVED", {
    message: `Placeholder ${reference.raw} cannot be resolved: ${why}`,
    details: { placeholder: reference.raw, reason, ...details },
  });
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Assigns an own property, also for keys like `__proto__` (no prototype pollution). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** Copies plain data (arrays and plain objects); other values are returned as they are. */
export function copyValue(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyValue(value[i]);
    return out;
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    setOwn(out, key, copyValue((value as Record<string, unknown>)[key]));
  }
  return out;
}
