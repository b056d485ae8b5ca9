import type { ExecutionStep, JsonSchema, RegisteredTool, ToolRegistry } from "@aria/core-types";
import { validatePlan } from "../graph/plan-graph.ts";
import { formatPath, type PathSegment, parseString } from "../placeholders/parse.ts";

/** One problem found in a plan a model wrote, phrased so the model can fix it. */
export interface PlanIssue {
  code:
    | "unknown_tool"
    | "tool_not_allowed"
    | "step_type_not_allowed"
    | "missing_parameter"
    | "later_step_reference"
    | "unknown_step_reference"
    | "missing_output_path"
    | "incompatible_type"
    | "missing_input"
    | "invalid_reference"
    | "duplicate_id"
    | "reused_id"
    | "too_many_steps"
    | "structure";
  stepId?: string;
  message: string;
}

/** What the validator checks a plan against. */
export interface PlanValidationContext {
  tools: ToolRegistry;
  /** Tool ids the agent may use (plans may use only these). */
  allowedTools: ReadonlySet<string>;
  /** Step types a plan may contain (default `tool` and `reasoning`). */
  allowedTypes?: ReadonlySet<string>;
  /** Whether the run has an input (`{{input}}` is allowed only then). */
  hasInput?: boolean;
  /** At most this many steps in the plan (the kept ones included). */
  maxSteps?: number;
  /** Steps already run (adaptation): they precede the plan's steps and their outputs are known. */
  kept?: ReadonlyArray<{ step: ExecutionStep; output?: unknown; succeeded: boolean }>;
  /** Ids the new steps may not reuse (every id the run's plan ever had). */
  reservedIds?: ReadonlySet<string>;
}

const DEFAULT_TYPES: ReadonlySet<string> = new Set(["tool", "reasoning"]);

/**
 * Checks a plan before anything runs: every tool exists and is one of the agent's, required
 * parameters are given, every placeholder names an earlier step (or a kept one), its path exists
 * in that step's output (the tool's `outputSchema`, or the kept step's real output) and its type
 * fits the parameter it fills; plus the graph checks (ids, dependencies, cycles). Returns every
 * problem, each with a precise message.
 */
export function checkPlan(
  steps: readonly ExecutionStep[],
  ctx: PlanValidationContext,
): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const kept = ctx.kept ?? [];
  const all: ExecutionStep[] = [...kept.map((k) => k.step), ...steps];
  const allowedTypes = ctx.allowedTypes ?? DEFAULT_TYPES;
  const available = [...ctx.allowedTools].sort().join(", ") || "none";
  const indexById = new Map<string, number>();
  all.forEach((s, i) => {
    if (!indexById.has(s.id)) indexById.set(s.id, i);
  });

  if (ctx.maxSteps !== undefined && all.length > ctx.maxSteps) {
    issues.push({
      code: "too_many_steps",
      message: `The plan has ${all.length} steps; at most ${ctx.maxSteps} are allowed. Combine or drop steps.`,
    });
  }

  const seen = new Set<string>(kept.map((k) => k.step.id));
  steps.forEach((step, offset) => {
    const index = kept.length + offset;
    const where = `step '${step.id}' (step ${index + 1})`;
    if (seen.has(step.id) || ctx.reservedIds?.has(step.id)) {
      issues.push({
        code: ctx.reservedIds?.has(step.id) ? "reused_id" : "duplicate_id",
        stepId: step.id,
        message: `${where}: the id '${step.id}' is already used; give every new step its own id.`,
      });
    }
    seen.add(step.id);
    if (!allowedTypes.has(step.type)) {
      issues.push({
        code: "step_type_not_allowed",
        stepId: step.id,
        message: `${where}: type '${step.type}' is not allowed here; use ${[...allowedTypes].map((t) => `'${t}'`).join(" or ")}.`,
      });
      return;
    }
    let tool: RegisteredTool | undefined;
    if (step.type === "tool" && step.tool !== undefined) {
      if (!ctx.tools.has(step.tool)) {
        issues.push({
          code: "unknown_tool",
          stepId: step.id,
          message: `${where}: tool '${step.tool}' does not exist. Tools you may use: ${available}.`,
        });
      } else {
        tool = resolveQuietly(ctx.tools, step.tool);
        const id = tool?.id ?? step.tool;
        if (!ctx.allowedTools.has(id) && !ctx.allowedTools.has(step.tool)) {
          issues.push({
            code: "tool_not_allowed",
            stepId: step.id,
            message: `${where}: tool '${step.tool}' is not one of this agent's tools. Tools you may use: ${available}.`,
          });
          tool = undefined;
        }
      }
      if (tool !== undefined) {
        for (const key of requiredKeys(tool.inputSchema)) {
          if (!(key in step.params)) {
            issues.push({
              code: "missing_parameter",
              stepId: step.id,
              message: `${where}: tool '${step.tool}' needs parameter '${key}', which is missing.`,
            });
          }
        }
      }
    }
    checkReferences(step, index, where, tool, all, indexById, kept, ctx, issues);
  });

  // Structural checks (dependsOn, cycles) by the graph builder, on the whole plan; what the checks
  // above already reported (ids, tools, placeholders) is not repeated.
  const referenceProblem = issues.some((i) => i.code === "later_step_reference");
  for (const problem of validatePlan(all, { implicitOrder: "previous" })) {
    if (
      problem.code === "unknown_dependency" ||
      problem.code === "self_dependency" ||
      (problem.code === "cycle" && !referenceProblem)
    ) {
      issues.push({
        code: "structure",
        ...(problem.stepId !== undefined ? { stepId: problem.stepId } : {}),
        message: problem.message,
      });
    }
  }
  return issues;
}

function checkReferences(
  step: ExecutionStep,
  index: number,
  where: string,
  tool: RegisteredTool | undefined,
  all: readonly ExecutionStep[],
  indexById: ReadonlyMap<string, number>,
  kept: NonNullable<PlanValidationContext["kept"]>,
  ctx: PlanValidationContext,
  issues: PlanIssue[],
): void {
  const inputProps = properties(tool?.inputSchema);
  const visit = (value: unknown, path: string, topKey: string | undefined): void => {
    if (typeof value === "string") {
      if (!value.includes("{{")) return;
      const parsed = parseString(value);
      for (const part of parsed.parts) {
        if (typeof part === "string") continue;
        const text = `${path} uses ${part.raw}`;
        if (part.kind === "invalid") {
          issues.push({
            code: "invalid_reference",
            stepId: step.id,
            message: `${where}: ${text}, which is not a placeholder form (${part.problem}). Use {{step_N_output.path}} or {{steps.ID.output.path}}.`,
          });
          continue;
        }
        if (part.kind === "input") {
          if (!ctx.hasInput)
            issues.push({
              code: "missing_input",
              stepId: step.id,
              message: `${where}: ${text}, but this run has no input.`,
            });
          continue;
        }
        const target =
          part.kind === "position" ? part.position - 1 : (indexById.get(part.stepId) ?? -1);
        const label = part.kind === "position" ? `step ${part.position}` : `step '${part.stepId}'`;
        if (target < 0 || target >= all.length) {
          issues.push({
            code: "unknown_step_reference",
            stepId: step.id,
            message: `${where}: ${text}, but the plan has no ${label}.`,
          });
          continue;
        }
        if (target >= index) {
          issues.push({
            code: "later_step_reference",
            stepId: step.id,
            message: `${where}: ${text}, but ${label} does not run before step ${index + 1}; a step may only use the outputs of earlier steps.`,
          });
          continue;
        }
        const source = all[target]!;
        const keptEntry = target < kept.length ? kept[target] : undefined;
        if (keptEntry !== undefined && !keptEntry.succeeded) {
          issues.push({
            code: "unknown_step_reference",
            stepId: step.id,
            message: `${where}: ${text}, but ${label} ('${source.id}') failed and has no output.`,
          });
          continue;
        }
        const found =
          keptEntry !== undefined
            ? valueAt(keptEntry.output, part.path)
            : outputAt(source, ctx.tools, part.path);
        if (found.kind === "missing") {
          issues.push({
            code: "missing_output_path",
            stepId: step.id,
            message: `${where}: ${text}, but the output of ${label} (${describe(source)}) has no '${formatPath(found.at)}'${found.available.length > 0 ? `; it has: ${found.available.slice(0, 20).join(", ")}` : ""}.`,
          });
          continue;
        }
        // Type: a lone placeholder keeps the value's type; inside text it becomes text.
        const expected =
          topKey !== undefined && path === `params.${topKey}` ? inputProps?.[topKey] : undefined;
        const expectedTypes = typesOf(expected);
        if (expectedTypes === undefined) continue;
        const actual: ReadonlySet<string> | undefined =
          parsed.lone !== undefined ? found.types : STRING;
        if (actual !== undefined && !compatible(actual, expectedTypes)) {
          issues.push({
            code: "incompatible_type",
            stepId: step.id,
            message: `${where}: ${text}; parameter '${topKey}' of tool '${tool?.id}' expects ${[...expectedTypes].join(" or ")}, but that output is ${[...actual].join(" or ")}.`,
          });
        }
      }
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        visit(item, `${path}[${i}]`, undefined);
      });
      return;
    }
    if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`, undefined);
    }
  };
  for (const [key, value] of Object.entries(step.params)) visit(value, `params.${key}`, key);
  if (step.prompt !== undefined) visit(step.prompt, "prompt", undefined);
}

type Found =
  | { kind: "found"; types: ReadonlySet<string> | undefined }
  | { kind: "missing"; at: PathSegment[]; available: string[] };

const STRING: ReadonlySet<string> = new Set(["string"]);
const UNKNOWN: Found = { kind: "found", types: undefined };

/** What a step's output looks like at a path, from the tool's outputSchema (or known shapes). */
function outputAt(step: ExecutionStep, tools: ToolRegistry, path: readonly PathSegment[]): Found {
  if (step.type === "reasoning") {
    if (path.length === 0) return { kind: "found", types: STRING };
    return { kind: "missing", at: [path[0]!], available: [] };
  }
  if (step.type !== "tool" || step.tool === undefined) return UNKNOWN;
  const tool = resolveQuietly(tools, step.tool);
  if (tool?.outputSchema === undefined) return UNKNOWN;
  return schemaAt(tool.outputSchema, path, 0);
}

/** Walks a JSON Schema along a path; unknown where the schema does not say. */
export function schemaAt(schema: unknown, path: readonly PathSegment[], depth: number): Found {
  if (schema === null || typeof schema !== "object" || depth > 32) return UNKNOWN;
  const node = schema as JsonSchema;
  for (const combiner of ["allOf", "anyOf", "oneOf"] as const) {
    const branches = node[combiner];
    if (Array.isArray(branches) && branches.length > 0) {
      let missing: Found | undefined;
      for (const branch of branches) {
        const found = schemaAt(branch, path, depth + 1);
        if (found.kind === "found") return found;
        missing ??= found;
      }
      if (node.properties === undefined && node.items === undefined) return missing!;
    }
  }
  if (typeof node.$ref === "string") return UNKNOWN;
  if (path.length === 0) return { kind: "found", types: typesOf(node) };
  const [head, ...rest] = path;
  const types = typesOf(node);
  const numeric = typeof head === "number" || /^\d+$/.test(String(head));
  if (numeric && (node.items !== undefined || types?.has("array"))) {
    const items = node.items;
    if (Array.isArray(items)) {
      const item = items[Number(head)];
      return item === undefined
        ? { kind: "missing", at: [head!], available: [] }
        : schemaAt(item, rest, depth + 1);
    }
    return items === undefined ? UNKNOWN : schemaAt(items, rest, depth + 1);
  }
  const props = properties(node);
  if (props !== undefined) {
    const key = String(head);
    if (Object.hasOwn(props, key)) {
      const child = schemaAt(props[key], rest, depth + 1);
      return child.kind === "missing" ? { ...child, at: [head!, ...child.at] } : child;
    }
    const extra = node.additionalProperties;
    if (extra !== null && typeof extra === "object") return schemaAt(extra, rest, depth + 1);
    return { kind: "missing", at: [head!], available: Object.keys(props) };
  }
  if (types !== undefined && !types.has("object") && !types.has("array")) {
    return { kind: "missing", at: [head!], available: [] };
  }
  return UNKNOWN;
}

/** Walks a real value (a kept step's output) along a path. */
function valueAt(value: unknown, path: readonly PathSegment[]): Found {
  let current = value;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (Array.isArray(current)) {
      const n = typeof segment === "number" ? segment : Number(segment);
      if (!Number.isInteger(n) || n < 0 || n >= current.length)
        return { kind: "missing", at: path.slice(0, i + 1), available: [] };
      current = current[n];
    } else if (current !== null && typeof current === "object") {
      const key = String(segment);
      if (!Object.hasOwn(current, key))
        return { kind: "missing", at: path.slice(0, i + 1), available: Object.keys(current) };
      current = (current as Record<string, unknown>)[key];
    } else {
      return { kind: "missing", at: path.slice(0, i + 1), available: [] };
    }
  }
  return { kind: "found", types: new Set([jsonType(current)]) };
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function typesOf(schema: unknown): ReadonlySet<string> | undefined {
  if (schema === null || typeof schema !== "object") return undefined;
  const type = (schema as JsonSchema).type;
  if (typeof type === "string") return new Set([type]);
  if (Array.isArray(type) && type.every((t) => typeof t === "string"))
    return new Set(type as string[]);
  const values = (schema as JsonSchema).enum;
  if (Array.isArray(values) && values.length > 0) return new Set(values.map(jsonType));
  return undefined;
}

function compatible(actual: ReadonlySet<string>, expected: ReadonlySet<string>): boolean {
  for (const type of actual) {
    if (expected.has(type)) return true;
    if (type === "integer" && expected.has("number")) return true;
    if (type === "number" && expected.has("integer")) return true;
  }
  return false;
}

function properties(schema: unknown): Record<string, unknown> | undefined {
  if (schema === null || typeof schema !== "object") return undefined;
  const props = (schema as JsonSchema).properties;
  return props !== null && typeof props === "object"
    ? (props as Record<string, unknown>)
    : undefined;
}

function requiredKeys(schema: JsonSchema): string[] {
  const required = schema.required;
  return Array.isArray(required) ? required.filter((k): k is string => typeof k === "string") : [];
}

function resolveQuietly(tools: ToolRegistry, name: string): RegisteredTool | undefined {
  try {
    return tools.resolve(name);
  } catch {
    return undefined;
  }
}

function describe(step: ExecutionStep): string {
  if (step.type === "tool") return `tool '${step.tool}'`;
  return `a ${step.type} step`;
}
