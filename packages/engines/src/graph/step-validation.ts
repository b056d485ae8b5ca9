import { type ExecutionStep, ExecutionStepSchema, PIPELINE_STEP_KEYS } from "@aria/core-types";
import { copyValue } from "../placeholders/resolve.ts";

/** The result of validating one step. */
export type StepParseResult =
  | { success: true; data: ExecutionStep }
  | { success: false; issues: Array<{ path: Array<string | number>; message: string }> };

/**
 * Validates one step against `ExecutionStepSchema`. Plain, common steps go through a fast check
 * that accepts only what the schema accepts and builds the same output (keys in schema order,
 * defaults applied, parameters copied); anything unusual, and every invalid step, goes through the
 * zod schema itself, which stays the single authority and writes the error messages. A test keeps
 * the two in agreement.
 */
export function parseStep(raw: unknown): StepParseResult {
  const fast = fastParse(raw);
  if (fast !== undefined) return { success: true, data: fast };
  const parsed = ExecutionStepSchema.safeParse(raw);
  if (parsed.success) return { success: true, data: parsed.data };
  return {
    success: false,
    issues: parsed.error.issues.map((i) => ({
      path: i.path.map((k) => (typeof k === "number" ? k : String(k))),
      message: i.message,
    })),
  };
}

/** The schema's keys in declaration order (zod emits its output in this order). */
const KEYS = PIPELINE_STEP_KEYS;
const KNOWN = new Set<string>(KEYS);
const STEP_ID = /^[a-zA-Z0-9_-]+$/;
const TYPES = new Set(["tool", "agent", "team", "container", "pipeline", "reasoning"]);

/** The fast path: the validated step, or undefined to let zod decide. */
function fastParse(raw: unknown): ExecutionStep | undefined {
  if (!isPlain(raw)) return undefined;
  const input = raw as Record<string, unknown>;
  for (const key in input) {
    if (!KNOWN.has(key) || input[key] === undefined) return undefined;
  }
  // Rarely used nested shapes are left to zod.
  if (input.resources !== undefined || input.retry !== undefined) return undefined;
  if (!isStepId(input.id) || typeof input.type !== "string" || !TYPES.has(input.type))
    return undefined;
  for (const key of ["description", "prompt"] as const) {
    if (input[key] !== undefined && typeof input[key] !== "string") return undefined;
  }
  for (const key of ["tool", "agent", "team", "pipeline", "image"] as const) {
    const value = input[key];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) return undefined;
  }
  for (const key of ["network", "continueOnError", "needsApproval"] as const) {
    if (input[key] !== undefined && typeof input[key] !== "boolean") return undefined;
  }
  const command = input.command;
  if (
    command !== undefined &&
    (!Array.isArray(command) ||
      command.length === 0 ||
      !command.every((c) => typeof c === "string"))
  ) {
    return undefined;
  }
  const env = input.env;
  if (
    env !== undefined &&
    (!isPlain(env) || !Object.values(env as object).every((v) => typeof v === "string"))
  )
    return undefined;
  const params = input.params;
  if (
    params !== undefined &&
    (!isPlain(params) || !isJsonRecord(params as Record<string, unknown>))
  )
    return undefined;
  const dependsOn = input.dependsOn;
  if (dependsOn !== undefined && (!Array.isArray(dependsOn) || !dependsOn.every(isStepId)))
    return undefined;
  const timeoutMs = input.timeoutMs;
  if (
    timeoutMs !== undefined &&
    (!Number.isSafeInteger(timeoutMs) ||
      (timeoutMs as number) <= 0 ||
      (timeoutMs as number) > 86_400_000)
  ) {
    return undefined;
  }
  // The schema's per-type requirements (its superRefine).
  switch (input.type) {
    case "tool":
    case "agent":
    case "team":
    case "pipeline":
      if (input[input.type] === undefined) return undefined;
      break;
    case "container":
      if (input.image === undefined || input.command === undefined) return undefined;
      break;
    case "reasoning":
      if (
        input.prompt === undefined &&
        typeof (params as Record<string, unknown> | undefined)?.prompt !== "string"
      )
        return undefined;
      break;
  }

  const out: Record<string, unknown> = {};
  for (const key of KEYS) {
    if (key === "params") out.params = params === undefined ? {} : copyValue(params);
    else if (key === "continueOnError") out.continueOnError = input.continueOnError ?? false;
    else if (input[key] !== undefined)
      out[key] =
        key === "command" || key === "dependsOn" || key === "env"
          ? copyValue(input[key])
          : input[key];
  }
  return out as ExecutionStep;
}

function isStepId(value: unknown): boolean {
  return (
    typeof value === "string" && value.length > 0 && value.length <= 128 && STEP_ID.test(value)
  );
}

function isPlain(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isJsonRecord(record: Record<string, unknown>): boolean {
  for (const key in record) if (!isJson(record[key])) return false;
  return true;
}

function isJson(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJson);
      return isPlain(value) && isJsonRecord(value as Record<string, unknown>);
    default:
      return false;
  }
}
