import type { JsonSchema, JsonValue, PipelineStepSpecInput } from "@aria/core-types";
import type { z } from "zod";
import type { AgentDefinition, TeamDefinition } from "./define-agent.ts";
import { type AnyToolDefinition, toJsonSchema } from "./define-tool.ts";
import { checkName, checkText, DEFINITION_MARKER } from "./marker.ts";

/**
 * One step of a pipeline: the manifest step shape (contracts §2), where `tool`, `agent`, `team` and
 * `pipeline` may also be definitions instead of names. Parameters may use placeholders such as
 * `{{input.radius}}`, `{{step_1_output.area}}` or `{{steps.area.output}}`.
 */
export type PipelineStepConfig = Omit<
  PipelineStepSpecInput,
  "tool" | "agent" | "team" | "pipeline"
> & {
  tool?: string | AnyToolDefinition;
  agent?: string | AgentDefinition;
  team?: string | TeamDefinition;
  pipeline?: string | PipelineDefinition;
};

/** The options of `definePipeline`. */
export interface PipelineConfig<I extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  /** The pipeline's input schema (becomes `inputSchema`). */
  input?: I;
  steps: PipelineStepConfig[];
  /** What the pipeline returns, usually a placeholder such as `{{steps.report.output}}`. */
  output?: JsonValue;
  maxParallel?: number;
}

/** A manifest step (names only). */
export type PipelineStepEntry = Omit<PipelineStepConfig, "tool" | "agent" | "team" | "pipeline"> & {
  tool?: string;
  agent?: string;
  team?: string;
  pipeline?: string;
};

/** The manifest entry of a pipeline. */
export interface PipelineManifestEntry {
  name: string;
  description: string;
  inputSchema?: JsonSchema;
  steps: PipelineStepEntry[];
  output?: JsonValue;
  maxParallel?: number;
}

/** A pipeline made by `definePipeline`. */
export interface PipelineDefinition<I extends z.ZodType = z.ZodType> {
  readonly [DEFINITION_MARKER]: "pipeline";
  readonly kind: "pipeline";
  readonly name: string;
  readonly description: string;
  readonly input: I | undefined;
  readonly steps: PipelineStepEntry[];
  readonly output: JsonValue | undefined;
  readonly maxParallel: number | undefined;
  toManifest(): PipelineManifestEntry;
}

function normaliseStep(step: PipelineStepConfig): PipelineStepEntry {
  const { tool, agent, team, pipeline, ...rest } = step;
  const name = (value: string | { name: string } | undefined) =>
    value === undefined ? undefined : typeof value === "string" ? value : value.name;
  const refs = { tool: name(tool), agent: name(agent), team: name(team), pipeline: name(pipeline) };
  const out: PipelineStepEntry = { ...rest };
  for (const [key, value] of Object.entries(refs)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/**
 * Defines a pipeline: a fixed plan of steps (tools, agents, teams, containers, other pipelines or
 * reasoning calls) whose parameters refer to the input and to earlier steps' outputs.
 */
export function definePipeline<I extends z.ZodType = z.ZodType>(
  config: PipelineConfig<I>,
): PipelineDefinition<I> {
  checkName("pipeline", config.name);
  checkText("pipeline", config.name, "description", config.description);
  if (!Array.isArray(config.steps) || config.steps.length === 0) {
    throw new TypeError(`pipeline '${config.name}' needs at least one step`);
  }
  const steps = config.steps.map(normaliseStep);
  const ids = new Set<string>();
  for (const step of steps) {
    if (ids.has(step.id))
      throw new TypeError(`pipeline '${config.name}' has two steps with id '${step.id}'`);
    ids.add(step.id);
  }
  return Object.freeze({
    [DEFINITION_MARKER]: "pipeline" as const,
    kind: "pipeline" as const,
    name: config.name,
    description: config.description,
    input: config.input,
    steps,
    output: config.output,
    maxParallel: config.maxParallel,
    toManifest(): PipelineManifestEntry {
      return {
        name: config.name,
        description: config.description,
        ...(config.input !== undefined ? { inputSchema: toJsonSchema(config.input, "input") } : {}),
        steps: steps.map((step) => structuredClone(step)),
        ...(config.output !== undefined ? { output: config.output } : {}),
        ...(config.maxParallel !== undefined ? { maxParallel: config.maxParallel } : {}),
      };
    },
  });
}
