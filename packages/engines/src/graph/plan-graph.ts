import type { AgentRegistry, ExecutionStep, ToolRegistry } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { type CompiledStep, compileStep } from "../execution/step-template.ts";
import { type CompiledTemplate, compileTemplate } from "../placeholders/compile.ts";
import type { PlaceholderReference } from "../placeholders/parse.ts";
import { parseStep } from "./step-validation.ts";

const NONE: number[] = Object.freeze([]) as unknown as number[];

/** One thing wrong with a plan. PLAN_INVALID lists them all in `details.problems`. */
export interface PlanProblem {
  code:
    | "invalid_step"
    | "too_many_steps"
    | "duplicate_id"
    | "unknown_dependency"
    | "self_dependency"
    | "invalid_reference"
    | "unknown_reference"
    | "self_reference"
    | "cycle"
    | "unknown_tool"
    | "unknown_agent"
    | "unknown_team"
    | "unknown_pipeline";
  message: string;
  /** The step the problem is in (absent for the pipeline's `output`). */
  stepId?: string;
  /** Where: `steps[3].params`, `output`... */
  where?: string;
}

/**
 * How a step without `dependsOn` is ordered:
 * - `previous` (default): it runs after the step declared before it, as plans written by a model
 *   expect (the original ran plans strictly in order). `dependsOn: []` makes a step a root.
 * - `none`: it depends only on what its placeholders reference.
 * Placeholders always add their referenced steps as dependencies.
 */
export type ImplicitOrder = "previous" | "none";

export interface PlanGraphOptions {
  /** The pipeline's output mapping (resolved when the run ends). */
  output?: unknown;
  /** When given, tool steps must name a tool the registry has. */
  tools?: ToolRegistry;
  /** When given, agent, team and pipeline steps must name something it has. */
  agents?: AgentRegistry;
  implicitOrder?: ImplicitOrder;
  /** At most this many steps (default: no limit). */
  maxSteps?: number;
}

/** A validated plan as a dependency graph, with every step's templates pre-parsed. */
export interface PlanGraph {
  readonly steps: readonly ExecutionStep[];
  readonly compiled: readonly CompiledStep[];
  readonly ids: readonly string[];
  readonly indexById: ReadonlyMap<string, number>;
  /** Dependencies of each step (explicit, implicit order and placeholder references), no duplicates. */
  readonly dependencies: ReadonlyArray<readonly number[]>;
  readonly dependants: ReadonlyArray<readonly number[]>;
  /** The distinct steps each step's placeholders reference. */
  readonly referencedSteps: ReadonlyArray<readonly number[]>;
  readonly output: CompiledTemplate | undefined;
  /** The steps the output mapping references (or the last step when there is no mapping). */
  readonly outputSteps: readonly number[];
  /** Whether any step references `{{input}}`. */
  readonly usesInput: boolean;
}

/**
 * Validates a plan and builds its graph; throws PLAN_INVALID listing every problem found (schema
 * errors, duplicate or unknown ids, cycles, references to unknown steps or to the step itself,
 * unknown tools, agents, teams and pipelines). Nothing runs before this passes.
 */
export function buildPlanGraph(
  steps: readonly unknown[],
  options: PlanGraphOptions = {},
): PlanGraph {
  const { graph, problems } = analysePlan(steps, options);
  if (problems.length > 0 || graph === undefined) throw planInvalid(problems);
  return graph;
}

/** Like {@link buildPlanGraph} but returns the problems instead of throwing (empty when valid). */
export function validatePlan(
  steps: readonly unknown[],
  options: PlanGraphOptions = {},
): PlanProblem[] {
  return analysePlan(steps, options).problems;
}

/** The PLAN_INVALID error for a list of problems. */
export function planInvalid(problems: readonly PlanProblem[]): AriaError {
  const shown = problems.slice(0, 5).map((p) => p.message);
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : "";
  return new AriaError("PLAN_INVALID", {
    message: `The plan is invalid: ${shown.join("; ")}${more}`,
    details: { problems },
  });
}

function analysePlan(
  rawSteps: readonly unknown[],
  options: PlanGraphOptions,
): { graph?: PlanGraph; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) {
    return { problems: [{ code: "invalid_step", message: "a plan needs at least one step" }] };
  }
  if (options.maxSteps !== undefined && rawSteps.length > options.maxSteps) {
    problems.push({
      code: "too_many_steps",
      message: `the plan has ${rawSteps.length} steps, more than the limit of ${options.maxSteps}`,
    });
  }
  const n = rawSteps.length;
  const steps: ExecutionStep[] = new Array(n);
  const ids: string[] = new Array(n);
  const indexById = new Map<string, number>();
  let schemaValid = true;

  for (let i = 0; i < n; i++) {
    const raw = rawSteps[i];
    const parsed = parseStep(raw);
    const rawId = (raw as { id?: unknown } | null)?.id;
    const id = parsed.success ? parsed.data.id : typeof rawId === "string" ? rawId : `#${i + 1}`;
    ids[i] = id;
    if (parsed.success) {
      steps[i] = parsed.data;
    } else {
      schemaValid = false;
      for (const issue of parsed.issues) {
        const at = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
        problems.push({
          code: "invalid_step",
          stepId: id,
          where: `steps[${i}]${issue.path.length > 0 ? `.${issue.path.join(".")}` : ""}`,
          message: `step '${id}': ${at}${issue.message}`,
        });
      }
    }
    if (indexById.has(id)) {
      problems.push({
        code: "duplicate_id",
        stepId: id,
        where: `steps[${i}].id`,
        message: `step id '${id}' is used by steps ${indexById.get(id)! + 1} and ${i + 1}`,
      });
    } else {
      indexById.set(id, i);
    }
  }

  const implicitOrder = options.implicitOrder ?? "previous";
  const dependencies: number[][] = new Array(n);
  const referencedSteps: number[][] = new Array(n);
  const compiled: CompiledStep[] = new Array(n);
  const viaPlaceholder: Array<Set<number> | undefined> = new Array(n);
  let usesInput = false;
  // Membership marks (step i stamps i + 1): duplicate checks stay O(1) when a join step depends on
  // hundreds of others.
  const inDeps = new Int32Array(n);
  const inRefs = new Int32Array(n);

  for (let i = 0; i < n; i++) {
    const step = steps[i];
    const id = ids[i]!;
    const stamp = i + 1;
    const deps: number[] = [];
    const rawDepends =
      step?.dependsOn ?? (rawSteps[i] as { dependsOn?: unknown } | null)?.dependsOn;
    if (Array.isArray(rawDepends)) {
      for (const dep of rawDepends) {
        if (typeof dep !== "string") continue;
        const j = indexById.get(dep);
        if (dep === id) {
          problems.push({
            code: "self_dependency",
            stepId: id,
            where: `steps[${i}].dependsOn`,
            message: `step '${id}' depends on itself`,
          });
        } else if (j === undefined) {
          problems.push({
            code: "unknown_dependency",
            stepId: id,
            where: `steps[${i}].dependsOn`,
            message: `step '${id}' depends on '${dep}', which is not a step of this plan`,
          });
        } else {
          if (inDeps[j] !== stamp) {
            inDeps[j] = stamp;
            deps.push(j);
          }
        }
      }
    } else if (implicitOrder === "previous" && i > 0) {
      deps.push(i - 1);
      inDeps[i - 1] = stamp;
    }

    const refs: number[] = [];
    if (step !== undefined) {
      const c = compileStep(step);
      compiled[i] = c;
      for (const reference of c.references) {
        const j = checkReference(reference, i, id, i, ids, indexById, problems);
        if (reference.kind === "input") usesInput = true;
        if (j === undefined) continue;
        if (inRefs[j] !== stamp) {
          inRefs[j] = stamp;
          refs.push(j);
        }
        if (inDeps[j] !== stamp) {
          inDeps[j] = stamp;
          deps.push(j);
          const via = viaPlaceholder[i] ?? new Set<number>();
          via.add(j);
          viaPlaceholder[i] = via;
        }
      }
      checkTarget(step, i, options, problems);
    }
    // Long plans are mostly chains and leaves: share one empty list instead of a list per step.
    dependencies[i] = deps.length === 0 ? NONE : deps;
    referencedSteps[i] = refs.length === 0 ? NONE : refs;
  }

  let output: CompiledTemplate | undefined;
  let outputSteps: number[] = [n - 1];
  if (options.output !== undefined) {
    output = compileTemplate(options.output);
    outputSteps = [];
    for (const reference of output.references) {
      if (reference.kind === "input") usesInput = true;
      const j = checkReference(reference, -1, undefined, "output", ids, indexById, problems);
      if (j !== undefined && !outputSteps.includes(j)) outputSteps.push(j);
    }
  }

  const dependants: number[][] = new Array(n).fill(NONE);
  for (let i = 0; i < n; i++) {
    for (const j of dependencies[i]!) {
      if (dependants[j] === NONE) dependants[j] = [i];
      else dependants[j]!.push(i);
    }
  }
  findCycles(dependencies, dependants, ids, viaPlaceholder, problems);

  if (problems.length > 0 || !schemaValid) return { problems };
  return {
    problems,
    graph: {
      steps,
      compiled,
      ids,
      indexById,
      dependencies,
      dependants,
      referencedSteps,
      output,
      outputSteps,
      usesInput,
    },
  };
}

/** Checks one reference; returns the index of the step it names (undefined for input or a problem). */
function checkReference(
  reference: PlaceholderReference,
  self: number,
  selfId: string | undefined,
  /** `steps[i]` for a step, `output` for the output mapping (only built when there is a problem). */
  where: number | "output",
  ids: readonly string[],
  indexById: ReadonlyMap<string, number>,
  problems: PlanProblem[],
): number | undefined {
  switch (reference.kind) {
    case "input":
      return undefined;
    case "invalid":
      problems.push({
        code: "invalid_reference",
        ...locate(selfId, where),
        message: `${ownerName(selfId)}: ${reference.raw} is ${reference.problem}`,
      });
      return undefined;
    case "position": {
      const j = reference.position - 1;
      if (j >= ids.length) {
        problems.push({
          code: "unknown_reference",
          ...locate(selfId, where),
          message: `${ownerName(selfId)} references ${reference.raw}, but the plan has only ${ids.length} step${ids.length === 1 ? "" : "s"}`,
        });
        return undefined;
      }
      if (j === self) {
        problems.push({
          code: "self_reference",
          ...locate(selfId, where),
          message: `${ownerName(selfId)} references its own output (${reference.raw})`,
        });
        return undefined;
      }
      return j;
    }
    case "id": {
      const j = indexById.get(reference.stepId);
      if (j === undefined) {
        problems.push({
          code: "unknown_reference",
          ...locate(selfId, where),
          message: `${ownerName(selfId)} references ${reference.raw}, but no step has id '${reference.stepId}'`,
        });
        return undefined;
      }
      if (j === self) {
        problems.push({
          code: "self_reference",
          ...locate(selfId, where),
          message: `${ownerName(selfId)} references its own output (${reference.raw})`,
        });
        return undefined;
      }
      return j;
    }
  }
}

function ownerName(selfId: string | undefined): string {
  return selfId === undefined ? "the output mapping" : `step '${selfId}'`;
}

function locate(
  selfId: string | undefined,
  where: number | "output",
): { stepId?: string; where: string } {
  const at = where === "output" ? "output" : `steps[${where}]`;
  return selfId === undefined ? { where: at } : { stepId: selfId, where: at };
}

function checkTarget(
  step: ExecutionStep,
  i: number,
  options: PlanGraphOptions,
  problems: PlanProblem[],
): void {
  const where = `steps[${i}]`;
  if (
    step.type === "tool" &&
    step.tool !== undefined &&
    options.tools !== undefined &&
    !options.tools.has(step.tool)
  ) {
    problems.push({
      code: "unknown_tool",
      stepId: step.id,
      where: `${where}.tool`,
      message: `step '${step.id}' uses tool '${step.tool}', which is not installed`,
    });
    return;
  }
  const agents = options.agents;
  if (agents === undefined) return;
  const probe = (
    kind: "agent" | "team" | "pipeline",
    name: string | undefined,
    get: (name: string) => unknown,
  ) => {
    if (name === undefined) return;
    try {
      get(name);
    } catch {
      problems.push({
        code: `unknown_${kind}`,
        stepId: step.id,
        where: `${where}.${kind}`,
        message: `step '${step.id}' uses ${kind} '${name}', which is not installed`,
      });
    }
  };
  if (step.type === "agent") probe("agent", step.agent, (name) => agents.getAgent(name));
  else if (step.type === "team") probe("team", step.team, (name) => agents.getTeam(name));
  else if (step.type === "pipeline")
    probe("pipeline", step.pipeline, (name) => agents.getPipeline(name));
}

/** Kahn's algorithm; whatever cannot be ordered lies on or behind a cycle, reported with its path. */
function findCycles(
  dependencies: ReadonlyArray<readonly number[]>,
  dependants: ReadonlyArray<readonly number[]>,
  ids: readonly string[],
  viaPlaceholder: ReadonlyArray<Set<number> | undefined>,
  problems: PlanProblem[],
): void {
  const n = dependencies.length;
  const blockers = new Int32Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) {
    blockers[i] = dependencies[i]!.length;
    if (blockers[i] === 0) queue.push(i);
  }
  let ordered = 0;
  for (let head = 0; head < queue.length; head++) {
    ordered++;
    for (const d of dependants[queue[head]!]!) if (--blockers[d]! === 0) queue.push(d);
  }
  if (ordered === n) return;

  // Walk dependencies among the unordered nodes until a node repeats: that stretch is a cycle.
  const reported = new Uint8Array(n);
  for (let start = 0; start < n; start++) {
    if (blockers[start] === 0 || reported[start]) continue;
    const seenAt = new Map<number, number>();
    const path: number[] = [];
    let node = start;
    while (!seenAt.has(node) && !reported[node]) {
      seenAt.set(node, path.length);
      path.push(node);
      const next = dependencies[node]!.find((d) => blockers[d]! > 0);
      if (next === undefined) break;
      node = next;
    }
    if (!seenAt.has(node)) {
      for (const p of path) reported[p] = 1;
      continue;
    }
    const cycle = path.slice(seenAt.get(node)!);
    for (const p of path) reported[p] = 1;
    // `cycle` follows dependencies (a needs b needs c...); show it in execution order.
    const order = [...cycle].reverse();
    const names = [...order, order[0]!].map((k) => `'${ids[k]}'`);
    const viaRefs = cycle.some(
      (k, idx) => viaPlaceholder[k]?.has(cycle[(idx + 1) % cycle.length]!) === true,
    );
    problems.push({
      code: "cycle",
      stepId: ids[cycle[0]!]!,
      message: `steps form a cycle: ${names.join(" → ")}${viaRefs ? " (placeholders reference steps that cannot run before them)" : ""}`,
    });
  }
}
