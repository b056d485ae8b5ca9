import { randomUUID } from "node:crypto";
import type { AgentRegistry, ExecutionPlan, RunOptions } from "@aria/core-types";
import type { Budget, UsageLedger, UsageTotals } from "../agents/budget.ts";
import { addUsage, emptyUsage } from "../agents/budget.ts";
import type {
  AriaRuntimeEngine,
  RunRequest,
  RunResult,
} from "../coordinator/aria-runtime-engine.ts";
import { TASK_PLAN_PREFIX } from "../reflection/reflection-recovery.ts";
import type { RunRecovery } from "../reflection/run-recovery.ts";
import type { PlanningAgent, PlanningEngine, TaskAnalysis } from "./planning-engine.ts";

/** How a task is carried out: `plan` (a validated multi-step plan run as a graph) or `loop` (one agent step: the tool-calling loop). */
export type TaskMode = "plan" | "loop";

/** A task for an agent (`POST /v1/runs` with `agent` and `task`). */
export interface TaskRequest extends Omit<RunRequest, "recovery" | "spent"> {
  agent: string;
  task: string;
  input?: unknown;
  /** `auto` (default): the planner decides; `plan` or `loop` force a mode. */
  mode?: TaskMode | "auto";
}

/** The run, and how it was approached. */
export interface TaskResult extends RunResult {
  mode: TaskMode;
  analysis?: TaskAnalysis;
  plan?: ExecutionPlan;
}

/** Collaborators of {@link createTaskRunner}. */
export interface TaskRunnerDeps {
  engine: Pick<AriaRuntimeEngine, "runPlan" | "publish">;
  agents: AgentRegistry;
  planning: PlanningEngine;
  /** Reflection for task runs (null: none). */
  recovery?: RunRecovery;
  ledger?: UsageLedger;
  /** Feature flags: `planning` off always loops; `reflection` off runs without recovery. */
  features?: { planning?: boolean; reflection?: boolean };
  /** Default token and cost budget of a run (`limits.maxTokensPerRun`, `limits.maxCostPerRunUsd`). */
  limits?: { maxTokensPerRun?: number; maxCostPerRunUsd?: number; maxSteps?: number };
}

/** Runs tasks for agents: analyse, then plan or loop. */
export interface TaskRunner {
  runTask(request: TaskRequest): Promise<TaskResult>;
}

/**
 * Creates the task runner, the top of multi-tool orchestration. For a task it asks the
 * PlanningEngine whether the task needs several steps (the model's judgement with a local hint);
 * if so it creates and validates a plan (one repair round) and runs it through the coordinator as a
 * graph in which every tool result flows to later steps through placeholders, with reflection
 * carrying out its decisions and the plan adapted when reflection asks; otherwise it runs one
 * `agent` step, the tool-calling loop, in which every tool result flows into the next model turn.
 * Planning and analysis spend counts in the run's budget and cost. `plan.created` is published
 * before the run's steps start.
 */
export function createTaskRunner(deps: TaskRunnerDeps): TaskRunner {
  return {
    async runTask(request: TaskRequest): Promise<TaskResult> {
      const agent = deps.agents.getAgent(request.agent);
      const planningAgent: PlanningAgent = {
        name: agent.id,
        tools: agent.tools,
        description: agent.description,
        ...(agent.llm !== undefined ? { llm: agent.llm } : {}),
      };
      const runId = request.runId ?? randomUUID();
      const options: RunOptions = request.options ?? {};
      const reflection = deps.features?.reflection !== false && options.reflection !== false;
      const planningOn = deps.features?.planning !== false && options.planning !== false;
      const limits = {
        maxTokens: options.maxTokens ?? deps.limits?.maxTokensPerRun,
        maxCostUsd: options.maxCostUsd ?? deps.limits?.maxCostPerRunUsd,
      };
      const budget = deps.ledger?.open(runId, limits);
      const budgets: Budget[] = budget !== undefined ? [budget] : [];
      const spent: UsageTotals = emptyUsage();
      const calls = {
        runId,
        ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
        ...(request.signal !== undefined ? { signal: request.signal } : {}),
        budgets,
      };
      try {
        let mode: TaskMode =
          request.mode === "plan" || request.mode === "loop" ? request.mode : "loop";
        let analysis: TaskAnalysis | undefined;
        if ((request.mode ?? "auto") === "auto" && planningOn) {
          analysis = await deps.planning.analyzeTask(request.task, planningAgent, calls);
          addUsage(spent, analysis.usage);
          if (analysis.needsPlanning) mode = "plan";
        }
        if (!planningOn) mode = "loop";
        const runOptions: RunOptions = {
          ...options,
          ...(limits.maxTokens !== undefined ? { maxTokens: limits.maxTokens } : {}),
          ...(limits.maxCostUsd !== undefined ? { maxCostUsd: limits.maxCostUsd } : {}),
          reflection,
        };
        const base: RunRequest = {
          ...request,
          target: { kind: "agent", name: agent.id },
          runId,
          task: request.task,
          options: runOptions,
          ...(reflection && deps.recovery !== undefined ? { recovery: deps.recovery } : {}),
        };
        if (mode === "plan") {
          const created = await deps.planning.createExecutionPlan(request.task, planningAgent, {
            ...calls,
            ...(request.input !== undefined ? { input: request.input } : {}),
            ...(deps.limits?.maxSteps !== undefined || options.maxSteps !== undefined
              ? {
                  maxSteps: Math.min(
                    options.maxSteps ?? Number.POSITIVE_INFINITY,
                    deps.limits?.maxSteps ?? Number.POSITIVE_INFINITY,
                  ),
                }
              : {}),
          });
          addUsage(spent, created.usage);
          const plan: ExecutionPlan = {
            ...created.plan,
            id: `${TASK_PLAN_PREFIX}${agent.id}:${randomUUID()}`,
          };
          await deps.engine.publish(runId, "plan.created", {
            planId: plan.id,
            agent: agent.id,
            steps: plan.steps.map((s) => ({
              id: s.id,
              type: s.type,
              ...(s.tool !== undefined ? { tool: s.tool } : {}),
            })),
            attempts: created.attempts,
            ...(created.repaired.length > 0 ? { repaired: created.repaired } : {}),
            ...(plan.reasoning !== undefined ? { reasoning: plan.reasoning } : {}),
            ...(analysis !== undefined
              ? {
                  analysis: {
                    complexity: analysis.complexity,
                    estimatedSteps: analysis.estimatedSteps,
                    source: analysis.source,
                  },
                }
              : {}),
          });
          const result = await deps.engine.runPlan(
            { id: plan.id, objective: request.task, steps: plan.steps },
            request.input,
            { ...base, spent: usageOf(spent) },
          );
          return { ...result, mode, ...(analysis !== undefined ? { analysis } : {}), plan };
        }
        const result = await deps.engine.runPlan(
          {
            id: `${TASK_PLAN_PREFIX}${agent.id}:${randomUUID()}`,
            objective: request.task,
            steps: [
              {
                id: "agent",
                type: "agent",
                agent: agent.id,
                params: {
                  task: request.task,
                  ...(request.input !== undefined ? { input: request.input as never } : {}),
                  ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
                },
              },
            ],
            output: "{{steps.agent.output}}",
          },
          request.input,
          { ...base, spent: usageOf(spent) },
        );
        return { ...result, mode, ...(analysis !== undefined ? { analysis } : {}) };
      } finally {
        deps.ledger?.close(runId);
      }
    },
  };
}

function usageOf(usage: UsageTotals) {
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    costUsd: usage.costUsd,
  };
}
