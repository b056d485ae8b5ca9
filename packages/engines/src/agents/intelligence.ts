import type {
  AgentRegistry,
  Clock,
  EventSink,
  FeatureFlags,
  Limits,
  LlmClient,
  Logger,
  RunEventType,
  StateStore,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { SessionManager, type SessionManagerDeps } from "../conversation/session-manager.ts";
import type { AriaRuntimeEngine } from "../coordinator/aria-runtime-engine.ts";
import type { TeamExecutor } from "../execution/executors.ts";
import { type PlanningConfig, PlanningEngine } from "../planning/planning-engine.ts";
import {
  createTaskRunner,
  type TaskRequest,
  type TaskResult,
  type TaskRunner,
} from "../planning/task-runner.ts";
import { ReflectionEngine, type ReflectionEngineDeps } from "../reflection/reflection-engine.ts";
import { createReflectionRecovery } from "../reflection/reflection-recovery.ts";
import type { RunRecovery } from "../reflection/run-recovery.ts";
import { createTeamExecutor, type TeamExecutorDeps } from "../teams/team-executor.ts";
import {
  type AgentExecutorDeps,
  type AgentGuard,
  createAgentExecutor,
  type IntelligentAgentExecutor,
} from "./agent-executor.ts";
import { UsageLedger } from "./budget.ts";

/** Configuration of the intelligence layer (all optional; the runtime passes `RuntimeConfig` parts). */
export interface IntelligenceConfig {
  /** `planning` and `reflection` feature flags (contracts §7). */
  features?: Partial<Pick<FeatureFlags, "planning" | "reflection">>;
  /** `maxSteps`, `maxPlanRevisions`, `maxReflectionRounds`, `maxTokensPerRun`, `maxCostPerRunUsd`. */
  limits?: Partial<
    Pick<
      Limits,
      | "maxSteps"
      | "maxPlanRevisions"
      | "maxReflectionRounds"
      | "maxTokensPerRun"
      | "maxCostPerRunUsd"
    >
  >;
  agentLoop?: AgentExecutorDeps["config"];
  planning?: PlanningConfig;
  reflection?: ReflectionEngineDeps["config"] & { reflectOnSuccess?: boolean };
  teams?: TeamExecutorDeps["config"];
  sessions?: SessionManagerDeps["config"];
}

/** Collaborators of {@link createIntelligence} (interfaces from core-types). */
export interface IntelligenceDeps {
  agents: AgentRegistry;
  tools: ToolRegistry;
  llm: LlmClient;
  /** Sessions live in it (namespace `sessions`). Without it there are no sessions. */
  store?: StateStore;
  /** Agents' guardrails, applied to every agent run (steps, team members, sessions, ICC). */
  guard?: AgentGuard;
  /** Where `llm.usage` and agent tool events go; default: the attached engine's `publish`. */
  events?: EventSink;
  logger?: Logger;
  clock?: Clock;
  config?: IntelligenceConfig;
}

/** The intelligence layer, wired. */
export interface Intelligence {
  /** Spending per run, shared by agents, planning, reflection and summaries. */
  readonly ledger: UsageLedger;
  /** `AgentExecutor` for the engine, and the ICC server's `AgentInvoker` (`invoke`). */
  readonly agentExecutor: IntelligentAgentExecutor;
  /** `TeamExecutor` for the engine. */
  readonly teamExecutor: TeamExecutor;
  readonly planning: PlanningEngine;
  readonly reflection: ReflectionEngine;
  /** Reflection for the engine (`AriaRuntimeEngineDeps.recovery`). */
  readonly recovery: RunRecovery;
  /** Conversation sessions (when a store was given). */
  readonly sessions: SessionManager | undefined;
  /** Spread into `AriaRuntimeEngineConfig`: the reflection and revision bounds from `limits`. */
  readonly engineConfig: { maxReflectionRounds: number; maxPlanRevisions: number };
  /** Binds the engine that runs tasks (and receives events when no sink was given). */
  attach(engine: Pick<AriaRuntimeEngine, "runPlan" | "publish">): TaskRunner;
  /** Runs a task for an agent: analyse, then plan or loop (needs `attach` first). */
  runTask(request: TaskRequest): Promise<TaskResult>;
}

/**
 * Wires the intelligence layer from core-types interfaces: the agent loop (agent executor and ICC
 * invoker), the team executor, the planning and reflection engines, reflection-driven recovery for
 * the coordinator, sessions, and the task runner once an engine is attached. The composition root
 * passes `agentExecutor`, `teamExecutor`, `recovery` and `engineConfig` to `AriaRuntimeEngine`, then
 * calls `attach(engine)`.
 */
export function createIntelligence(deps: IntelligenceDeps): Intelligence {
  const config = deps.config ?? {};
  const limits = config.limits ?? {};
  let engine: Pick<AriaRuntimeEngine, "runPlan" | "publish"> | undefined;
  let runner: TaskRunner | undefined;
  const events: EventSink =
    deps.events ??
    ({
      emit(runId: string, type: RunEventType, data?: Record<string, unknown>, stepId?: string) {
        return engine?.publish(runId, type, data ?? {}, stepId);
      },
    } satisfies EventSink);
  const ledger = new UsageLedger({
    ...(limits.maxTokensPerRun !== undefined ? { maxTokens: limits.maxTokensPerRun } : {}),
    ...(limits.maxCostPerRunUsd !== undefined ? { maxCostUsd: limits.maxCostPerRunUsd } : {}),
  });
  const agentExecutor = createAgentExecutor({
    agents: deps.agents,
    ...(deps.guard !== undefined ? { guard: deps.guard } : {}),
    tools: deps.tools,
    llm: deps.llm,
    events,
    ledger,
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
    config: {
      ...(limits.maxSteps !== undefined ? { maxStepsCap: limits.maxSteps } : {}),
      ...config.agentLoop,
    },
  });
  const teamExecutor = createTeamExecutor({
    agents: deps.agents,
    members: agentExecutor,
    events,
    ...(config.teams !== undefined ? { config: config.teams } : {}),
  });
  const usageEvents = config.agentLoop?.usageEvents !== false;
  const planning = new PlanningEngine({
    llm: deps.llm,
    tools: deps.tools,
    ...(usageEvents ? { events } : {}),
    config: {
      ...(limits.maxSteps !== undefined ? { maxPlanSteps: Math.min(limits.maxSteps, 100) } : {}),
      ...config.planning,
    },
  });
  const { reflectOnSuccess, ...reflectionConfig } = config.reflection ?? {};
  const reflection = new ReflectionEngine({
    tools: deps.tools,
    llm: deps.llm,
    ...(usageEvents ? { events } : {}),
    ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
    config: reflectionConfig,
  });
  const recovery = createReflectionRecovery({
    reflection,
    planning,
    tools: deps.tools,
    agents: deps.agents,
    ledger,
    ...(reflectOnSuccess !== undefined ? { reflectOnSuccess } : {}),
  });
  const sessions =
    deps.store !== undefined
      ? new SessionManager({
          store: deps.store,
          agents: agentExecutor,
          llm: deps.llm,
          ledger,
          ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
          ...(config.sessions !== undefined ? { config: config.sessions } : {}),
        })
      : undefined;
  return {
    ledger,
    agentExecutor,
    teamExecutor,
    planning,
    reflection,
    recovery,
    sessions,
    engineConfig: {
      maxReflectionRounds: limits.maxReflectionRounds ?? 3,
      maxPlanRevisions: limits.maxPlanRevisions ?? 3,
    },
    attach(target) {
      engine = target;
      runner = createTaskRunner({
        engine: target,
        agents: deps.agents,
        planning,
        recovery,
        ledger,
        ...(config.features !== undefined ? { features: config.features } : {}),
        limits: {
          ...(limits.maxTokensPerRun !== undefined
            ? { maxTokensPerRun: limits.maxTokensPerRun }
            : {}),
          ...(limits.maxCostPerRunUsd !== undefined
            ? { maxCostPerRunUsd: limits.maxCostPerRunUsd }
            : {}),
          ...(limits.maxSteps !== undefined ? { maxSteps: limits.maxSteps } : {}),
        },
      });
      return runner;
    },
    runTask(request) {
      if (runner === undefined) {
        throw new AriaError("CONFIG_INVALID", {
          message: "runTask needs an engine: call intelligence.attach(engine) first",
        });
      }
      return runner.runTask(request);
    },
  };
}
