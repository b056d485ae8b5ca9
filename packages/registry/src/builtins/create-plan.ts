import {
  type ExecutionStep,
  ExecutionStepSchema,
  PIPELINE_STEP_KEYS,
  type ToolExecutionContext,
} from "@aria/core-types";
import { z } from "zod";
import type { ToolRegistration } from "../tool-registry.ts";
import { completeJson, type LlmToolOptions, zodProblems } from "./llm-json.ts";

/** What `createPlan` returns: validated steps in the manifest step shape (contracts §2). */
export interface CreatePlanResult {
  objective: string;
  steps: ExecutionStep[];
  reasoning?: string;
  confidence?: number;
}

const ReplySchema = z.object({
  steps: z.array(z.unknown()).min(1),
  reasoning: z.string().optional(),
  confidence: z.number().min(0).max(1).optional(),
});

const SYSTEM = `You are a planner. Break the objective into the fewest steps that achieve it.
Answer with one JSON object and nothing else: {"steps": [...], "reasoning": "...", "confidence": 0..1}.
Each step is an object with:
- "id": short unique id (letters, digits, '_' or '-')
- "type": "tool" (call one available tool) or "reasoning" (think or write without a tool)
- "tool": the tool's exact name (for type "tool")
- "prompt": what to think about (for type "reasoning")
- "description": what the step does
- "params": the tool's parameters, with every required one filled in
- "dependsOn": ids of earlier steps it needs (optional)
Pass data between steps with placeholders: "{{step_1_output}}", "{{step_2_output.area}}" (1-based, in
declared order) or "{{steps.ID.output.field}}". A string that is exactly one placeholder keeps the
value's type. Only use the tools listed.`;

/** The shape a model might return, normalised: the step array wherever it is, ids filled in. */
function locateSteps(value: unknown): unknown {
  if (Array.isArray(value)) return { steps: value };
  if (value && typeof value === "object") {
    const object = value as Record<string, unknown>;
    if (Array.isArray(object.steps)) return object;
    const plan = object.plan as Record<string, unknown> | unknown[] | undefined;
    if (Array.isArray(plan)) return { ...object, steps: plan };
    if (plan && typeof plan === "object" && Array.isArray((plan as Record<string, unknown>).steps))
      return { ...object, steps: (plan as Record<string, unknown>).steps };
    const first = Object.values(object).find(Array.isArray);
    if (first) return { ...object, steps: first };
  }
  return value;
}

const STEP_KEYS = new Set<string>(PIPELINE_STEP_KEYS);

function normaliseStep(step: unknown, index: number): unknown {
  if (!step || typeof step !== "object") return step;
  const s = { ...(step as Record<string, unknown>) };
  if (s.id === undefined || s.id === null || s.id === "") s.id = `step_${index + 1}`;
  if (typeof s.id === "number") s.id = `step_${s.id}`;
  // The original contract's `tool: "none"` is a reasoning step.
  if (s.tool === "none" || s.type === undefined) {
    if (s.tool === "none" || s.tool === undefined) {
      s.type = "reasoning";
      delete s.tool;
      if (s.prompt === undefined) s.prompt = s.description ?? "";
    } else s.type = "tool";
  }
  if (s.params === undefined && s.parameters !== undefined) s.params = s.parameters;
  // Models add keys of their own (`step`, `useTool`, ...); keep the step shape's keys only.
  return Object.fromEntries(Object.entries(s).filter(([key]) => STEP_KEYS.has(key)));
}

const PLACEHOLDER = /\{\{\s*(step_(\d+)_output|steps\.([a-zA-Z0-9_-]+)\.output)[^}]*\}\}/g;

function planProblems(
  steps: ExecutionStep[],
  tools: Set<string> | undefined,
  maxSteps: number,
): string[] {
  const problems: string[] = [];
  if (steps.length > maxSteps)
    problems.push(`the plan has ${steps.length} steps, more than the ${maxSteps} allowed`);
  const seen = new Map<string, number>();
  steps.forEach((step, index) => {
    if (seen.has(step.id)) problems.push(`two steps have the id '${step.id}'`);
    seen.set(step.id, index);
    if (step.type === "tool" && tools && step.tool && !tools.has(step.tool)) {
      problems.push(
        `step '${step.id}' uses tool '${step.tool}', which is not available (available: ${[...tools].join(", ")})`,
      );
    }
    for (const dep of step.dependsOn ?? []) {
      const at = seen.get(dep);
      if (at === undefined || at >= index)
        problems.push(`step '${step.id}' depends on '${dep}', which is not an earlier step`);
    }
    for (const match of JSON.stringify(step.params).matchAll(PLACEHOLDER)) {
      if (match[2] !== undefined) {
        const n = Number(match[2]);
        if (n < 1 || n > index)
          problems.push(`step '${step.id}' refers to step ${n}, which does not run before it`);
      } else if (match[3] !== undefined) {
        const at = seen.get(match[3]);
        if (at === undefined || at >= index)
          problems.push(
            `step '${step.id}' refers to step '${match[3]}', which does not run before it`,
          );
      }
    }
  });
  return problems;
}

/**
 * The built-in `createPlan`: asks the LLM for an execution plan for an objective and validates it:
 * each step against the step schema (zod), tools against the available ones, `dependsOn` and
 * placeholders against earlier steps, the step count against `maxSteps`. A bad plan gets one repair
 * round; after that the tool fails with PLAN_INVALID listing the problems.
 */
export function createPlanTool(options: LlmToolOptions): ToolRegistration {
  return {
    name: "createPlan",
    description:
      "Creates a step-by-step execution plan for an objective using the available tools, with data passed between steps through {{step_N_output}} placeholders.",
    inputSchema: {
      type: "object",
      properties: {
        objective: { type: "string", minLength: 1, maxLength: 20000 },
        availableTools: {
          type: "array",
          items: {
            type: "object",
            properties: {
              name: { type: "string" },
              description: { type: "string" },
              parameters: { type: "object" },
            },
            required: ["name"],
          },
        },
        context: { description: "anything the planner should know" },
        maxSteps: { type: "integer", minimum: 1, maximum: 100, default: 10 },
      },
      required: ["objective"],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      properties: {
        objective: { type: "string" },
        steps: { type: "array", minItems: 1, items: { type: "object", required: ["id", "type"] } },
        reasoning: { type: "string" },
        confidence: { type: "number" },
      },
      required: ["objective", "steps"],
    },
    securityLevel: "safe",
    handler: async (raw, context: ToolExecutionContext) => {
      const input = raw as {
        objective: string;
        availableTools?: Array<{ name: string; description?: string; parameters?: unknown }>;
        context?: unknown;
        maxSteps?: number;
      };
      const maxSteps = input.maxSteps ?? 10;
      const tools = input.availableTools
        ? new Set(input.availableTools.map((t) => t.name))
        : undefined;
      const user = [
        `Objective: ${input.objective}`,
        `Available tools (JSON): ${JSON.stringify(input.availableTools ?? [])}`,
        `At most ${maxSteps} steps.`,
        ...(input.context !== undefined
          ? [`Context (JSON): ${JSON.stringify(input.context).slice(0, 40_000)}`]
          : []),
      ].join("\n\n");
      const { value } = await completeJson<CreatePlanResult>({
        options,
        context,
        tool: "createPlan",
        messages: [
          { role: "system", content: SYSTEM },
          { role: "user", content: user },
        ],
        temperature: 0.1,
        failureCode: "PLAN_INVALID",
        validate: (candidate) => {
          const reply = ReplySchema.safeParse(locateSteps(candidate));
          if (!reply.success) return { ok: false, problems: zodProblems(reply.error) };
          const steps: ExecutionStep[] = [];
          const problems: string[] = [];
          reply.data.steps.forEach((rawStep, index) => {
            const parsed = ExecutionStepSchema.safeParse(normaliseStep(rawStep, index));
            if (parsed.success) steps.push(parsed.data);
            else problems.push(...zodProblems(parsed.error).map((p) => `step ${index + 1}: ${p}`));
          });
          if (problems.length === 0) problems.push(...planProblems(steps, tools, maxSteps));
          if (problems.length > 0) return { ok: false, problems };
          return {
            ok: true,
            value: {
              objective: input.objective,
              steps,
              ...(reply.data.reasoning !== undefined ? { reasoning: reply.data.reasoning } : {}),
              ...(reply.data.confidence !== undefined ? { confidence: reply.data.confidence } : {}),
            },
          };
        },
      });
      return value;
    },
  };
}
