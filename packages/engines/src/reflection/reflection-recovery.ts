import type { AgentRegistry, ExecutionStep, ToolRegistry } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { Budget, UsageLedger } from "../agents/budget.ts";
import type { PlanningAgent, PlanningEngine } from "../planning/planning-engine.ts";
import type { Reflection, ReflectionEngine } from "./reflection-engine.ts";
import type {
  RecoveryAnswer,
  RecoveryDecision,
  ReplanAnswer,
  ReplanRequest,
  RunRecovery,
  StepFailure,
  StepSuccess,
} from "./run-recovery.ts";

/** Plan ids the task runner gives plans it makes for an agent: `task:<agent>:<uuid>`. */
export const TASK_PLAN_PREFIX = "task:";

/** Collaborators of {@link createReflectionRecovery}. */
export interface ReflectionRecoveryDeps {
  reflection: ReflectionEngine;
  planning: PlanningEngine;
  tools: ToolRegistry;
  /** Finds the agent of a task plan (`task:<agent>:...` plan ids) when `agent` is not given. */
  agents?: AgentRegistry;
  /** The agent whose plan this is (its tools bound switches and replans). */
  agent?: PlanningAgent;
  /** Charges reflection and replanning to the run's budget. */
  ledger?: UsageLedger;
  /** Reflect on successful steps too (recorded, not acted on; costs an LLM call per step). */
  reflectOnSuccess?: boolean;
}

/**
 * The coordinator's {@link RunRecovery} built on reflection: after a failed step it asks the
 * ReflectionEngine and turns its one action into a decision the coordinator carries out:
 * `retry` → rerun as it is; `retry_with_changes` → rerun with the corrected parameters (merged over
 * the old ones); `use_different_tool` → rerun the step with another of the agent's tools (a tool
 * the agent does not have becomes a replan); `replan` → the PlanningEngine rewrites the rest of the
 * plan, keeping finished steps; `skip` → go on without the step; `abort` → stop the run.
 */
export function createReflectionRecovery(deps: ReflectionRecoveryDeps): RunRecovery {
  const agentFor = (planId: string, steps: readonly ExecutionStep[]): PlanningAgent => {
    if (deps.agent !== undefined) return deps.agent;
    if (planId.startsWith(TASK_PLAN_PREFIX) && deps.agents !== undefined) {
      const rest = planId.slice(TASK_PLAN_PREFIX.length);
      const name = rest.slice(0, rest.lastIndexOf(":"));
      try {
        const agent = deps.agents.getAgent(name);
        return {
          name: agent.id,
          tools: agent.tools,
          ...(agent.llm !== undefined ? { llm: agent.llm } : {}),
        };
      } catch {
        // fall through: the plan's own tools
      }
    }
    const tools = [...new Set(steps.flatMap((s) => (s.type === "tool" && s.tool ? [s.tool] : [])))];
    return { name: "plan", tools };
  };
  const budgets = (runId: string): Budget[] =>
    deps.ledger !== undefined ? [deps.ledger.get(runId)] : [];

  const record = (reflection: Reflection): Record<string, unknown> => ({
    reflectionId: reflection.id,
    source: reflection.source,
    assessment: reflection.assessment,
    reasoning: reflection.reasoning,
    confidence: reflection.confidence,
    action: reflection.action,
    ...(reflection.insights.length > 0 ? { insights: reflection.insights } : {}),
  });

  const usageOf = (reflection: Reflection) =>
    reflection.usage.calls > 0
      ? {
          inputTokens: reflection.usage.inputTokens,
          outputTokens: reflection.usage.outputTokens,
          costUsd: reflection.usage.costUsd,
        }
      : undefined;

  const recovery: RunRecovery = {
    async onStepFailed(failure: StepFailure): Promise<RecoveryAnswer> {
      const agent = agentFor(failure.plan.id, failure.plan.steps);
      const reflection = await deps.reflection.reflect({
        runId: failure.runId,
        step: failure.step,
        ...(failure.resolvedParams !== undefined ? { resolvedParams: failure.resolvedParams } : {}),
        succeeded: false,
        error: failure.error,
        objective: failure.plan.objective,
        plan: failure.plan.steps,
        history: failure.finished,
        availableTools: agent.tools,
        agent: agent.name,
        round: failure.round,
        ...(failure.sessionId !== undefined ? { sessionId: failure.sessionId } : {}),
        signal: failure.signal,
        budgets: budgets(failure.runId),
      });
      const decision = decide(reflection, failure, agent, deps.tools);
      const usage = usageOf(reflection);
      const insight =
        reflection.insights[0] ?? (reflection.confidence >= 0.5 ? reflection.reasoning : undefined);
      return {
        decision,
        reflection: record(reflection),
        ...(insight !== undefined
          ? { insight: { text: insight, confidence: reflection.confidence } }
          : {}),
        ...(usage !== undefined ? { usage } : {}),
      };
    },

    async replan(request: ReplanRequest): Promise<ReplanAnswer> {
      const agent = agentFor(request.plan.id, request.plan.steps);
      const reflection = request.cause?.reflection;
      const adapted = await deps.planning.adaptPlan({
        objective: request.objective || request.task || "",
        agent,
        plan: request.plan,
        kept: request.kept,
        ...(request.cause !== undefined
          ? {
              reason: {
                stepId: request.cause.stepId,
                ...(request.cause.error !== undefined
                  ? {
                      error: {
                        code: request.cause.error.code,
                        message: request.cause.error.message,
                      },
                    }
                  : {}),
                ...(typeof reflection?.reasoning === "string"
                  ? { reflection: reflection.reasoning }
                  : {}),
                ...(request.cause.guidance !== undefined
                  ? { guidance: request.cause.guidance }
                  : {}),
              },
            }
          : {}),
        ...(request.input !== undefined ? { input: request.input } : {}),
        runId: request.runId,
        ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
        signal: request.signal,
        budgets: budgets(request.runId),
      });
      return {
        steps: adapted.steps,
        ...(adapted.reasoning !== undefined ? { reasoning: adapted.reasoning } : {}),
        usage: {
          inputTokens: adapted.usage.inputTokens,
          outputTokens: adapted.usage.outputTokens,
          costUsd: adapted.usage.costUsd,
        },
      };
    },
  };
  if (deps.reflectOnSuccess === true) {
    recovery.onStepSucceeded = async (success: StepSuccess): Promise<RecoveryAnswer> => {
      const agent = agentFor(success.plan.id, success.plan.steps);
      const reflection = await deps.reflection.reflect({
        runId: success.runId,
        step: success.step,
        succeeded: true,
        output: success.output,
        objective: success.plan.objective,
        plan: success.plan.steps,
        availableTools: agent.tools,
        agent: agent.name,
        ...(success.sessionId !== undefined ? { sessionId: success.sessionId } : {}),
        signal: success.signal,
        budgets: budgets(success.runId),
      });
      const usage = usageOf(reflection);
      return {
        decision: { action: "continue" },
        reflection: record(reflection),
        ...(reflection.insights[0] !== undefined
          ? { insight: { text: reflection.insights[0], confidence: reflection.confidence } }
          : {}),
        ...(usage !== undefined ? { usage } : {}),
      };
    };
  }
  return recovery;
}

/** Turns the reflection's action into what the coordinator does. */
function decide(
  reflection: Reflection,
  failure: StepFailure,
  agent: PlanningAgent,
  tools: ToolRegistry,
): RecoveryDecision {
  const action = reflection.action;
  const step = failure.step;
  switch (action.type) {
    case "retry":
      return { action: "retry" };
    case "retry_with_changes":
      return {
        action: "retry",
        step: {
          ...step,
          params: { ...step.params, ...(action.params as ExecutionStep["params"]) },
        },
      };
    case "use_different_tool": {
      const tool = agentTool(action.tool, agent, tools);
      if (tool === undefined) {
        return {
          action: "replan",
          guidance: `Reflection suggested tool '${action.tool}', which is not one of the agent's tools; use one of: ${agent.tools.join(", ")}.`,
        };
      }
      const { tool: _old, prompt: _prompt, ...rest } = step;
      return {
        action: "retry",
        step: { ...rest, type: "tool", tool, params: action.params as ExecutionStep["params"] },
      };
    }
    case "replan":
      return action.guidance !== undefined
        ? { action: "replan", guidance: action.guidance }
        : { action: "replan" };
    case "skip":
    case "continue":
      return { action: "skip" };
    case "abort":
      return {
        action: "abort",
        error: new AriaError("STEP_FAILED", {
          message: `Step '${failure.stepId}' failed (${failure.error.message}) and reflection stopped the run: ${action.reason ?? reflection.reasoning}`,
          context: { runId: failure.runId, stepId: failure.stepId },
          details: {
            stepId: failure.stepId,
            cause: { code: failure.error.code, message: failure.error.message },
            reflection: {
              source: reflection.source,
              reasoning: reflection.reasoning,
              confidence: reflection.confidence,
            },
          },
        }),
      };
  }
}

/** The agent's tool id for a name a model gave (the id, its bare name, or its LLM-safe form). */
function agentTool(name: string, agent: PlanningAgent, tools: ToolRegistry): string | undefined {
  if (agent.tools.includes(name)) return name;
  const bare = agent.tools.filter((id) => id.slice(id.lastIndexOf("/") + 1) === name);
  if (bare.length === 1) return bare[0];
  const safe = agent.tools.filter(
    (id) => id.replaceAll("/", "__").replace(/[^a-zA-Z0-9_-]/g, "_") === name,
  );
  if (safe.length === 1) return safe[0];
  try {
    const id = tools.resolve(name).id;
    return agent.tools.includes(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
