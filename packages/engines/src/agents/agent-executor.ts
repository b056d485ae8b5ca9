import type {
  AgentManifest,
  AgentRegistry,
  ErrorBody,
  EventSink,
  LlmClient,
  LlmMessageInput,
  Logger,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import type { AgentExecutor, InvocationRequest, InvocationResult } from "../execution/executors.ts";
import {
  type AgentDefinition,
  AgentLoop,
  type AgentLoopConfig,
  type AgentRunResult,
  type AgentToolCallRecord,
  type ToolCallMode,
} from "./agent-loop.ts";
import { Budget, type BudgetLimits, type UsageLedger, type UsageTotals } from "./budget.ts";

/** Collaborators of {@link createAgentExecutor}. */
/**
 * Input and output checks on agents (guardrails), injected by the runtime: `check` returns the
 * value to continue with (redacted) or throws (blocked). Never given credentials.
 */
export interface AgentGuard {
  /** Whether the agent has any check (lets the executor skip work). */
  has(agent: string): boolean;
  check(
    agent: string,
    on: "input" | "output",
    value: unknown,
    context: { runId: string; stepId: string },
  ): Promise<unknown>;
}

export interface AgentExecutorDeps {
  agents: AgentRegistry;
  /** Guardrails on every agent run: steps, team members, sessions and ICC calls alike. */
  guard?: AgentGuard;
  tools: ToolRegistry;
  llm: LlmClient;
  events?: EventSink;
  logger?: Logger;
  /** Shared spending per run (planning, reflection and agents charge the same run budget). */
  ledger?: UsageLedger;
  config?: AgentLoopConfig & {
    /** Tool transport per agent name (overrides `toolMode`). */
    toolModes?: Record<string, ToolCallMode>;
  };
}

/** What `invokeAgent` / `invoke` take (the ICC `/agents/:name` body plus the caller's ids). */
export interface AgentInvocationOptions {
  /** Data for the agent (ICC `context`, recalled memory): sent as data, never as instructions. */
  context?: unknown;
  /** Tool-calling turns allowed (ICC `maxTurns`); defaults to the agent's `maxSteps`. */
  maxTurns?: number;
  /** Earlier turns (sessions). */
  history?: readonly LlmMessageInput[];
  /** The run this invocation belongs to (accounting, events, tool context); ICC passes the container's run. */
  parentRunId?: string;
  stepId?: string;
  sessionId?: string;
  idempotencyKey?: string;
  signal?: AbortSignal;
  workspaceDir?: string;
  /** Limits for this invocation alone, on top of the run's budget. */
  budget?: BudgetLimits;
  /** Further budgets to check and charge as they are (e.g. a session's). */
  budgets?: readonly Budget[];
  toolMode?: ToolCallMode;
}

/** Token usage in the ICC answer's shape (`LlmUsage` fields only, so the ICC schema accepts it). */
export interface AgentInvocationUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** The outcome of an invocation (the ICC `/agents/:name` answer, plus details). */
export interface AgentInvocationResult {
  success: boolean;
  /** The final answer, or the error's message when it failed. */
  response: string;
  /** Model calls made. */
  turns: number;
  usage: AgentInvocationUsage;
  /** Money spent (from `LlmResponse.costUsd`) and model calls made. */
  costUsd: number;
  calls: number;
  toolCalls: Array<{ tool: string | undefined; name: string; success: boolean; turn: number }>;
  /** The conversation after this call (sessions keep it). */
  messages: LlmMessageInput[];
  error?: ErrorBody;
  /** The message as the agent saw it, when input guardrails changed it (sessions keep that). */
  input?: string;
}

/** The ICC server's view of agents: `invoke(agent, {message, ...})` → `{success, response, turns, usage}`. */
export interface AgentInvoker {
  invoke(
    agent: string,
    request: AgentInvocationOptions & { message: string },
  ): Promise<AgentInvocationResult>;
}

/** The output of an `agent` step (`{{steps.ID.output.text}}` reads the answer). */
export interface AgentStepOutput {
  agent: string;
  /** The final answer. */
  text: string;
  /** The same answer (the ICC field name). */
  response: string;
  turns: number;
  toolCalls: Array<{ tool: string | undefined; success: boolean; turn: number }>;
}

/** An `AgentExecutor` for the coordinator that is also the runtime's and ICC's agent invoker. */
export interface IntelligentAgentExecutor extends AgentExecutor, AgentInvoker {
  /** The loop itself (for callers that already hold an agent definition). */
  readonly loop: AgentLoop;
  /**
   * Runs an installed agent on one message. Throws for what is wrong before the agent runs
   * (`AGENT_NOT_FOUND`, cancellation); failures of the run itself (`MAX_STEPS_EXCEEDED`,
   * `BUDGET_EXCEEDED`, LLM errors) come back as `success: false` with `error`.
   */
  invokeAgent(
    agent: string,
    message: string,
    options?: AgentInvocationOptions,
  ): Promise<AgentInvocationResult>;
  /** The same, throwing on failure and returning the loop's full result. */
  runAgent(
    agent: string | AgentDefinition,
    message: string,
    options?: AgentInvocationOptions,
  ): Promise<AgentRunResult>;
}

/**
 * Creates the agent executor: `agent` steps of pipelines and plans (`executeAgent`), the ICC
 * `/agents/:name` route (`invoke`) and conversation sessions (`invokeAgent` with `history`) all run
 * through one {@link AgentLoop}. Usage is charged to the run's budget in the ledger.
 */
export function createAgentExecutor(deps: AgentExecutorDeps): IntelligentAgentExecutor {
  const loop = new AgentLoop(
    {
      llm: deps.llm,
      tools: deps.tools,
      ...(deps.events !== undefined ? { events: deps.events } : {}),
      ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
    },
    deps.config ?? {},
  );
  const toolModes = deps.config?.toolModes;

  const definition = (agent: string | AgentDefinition): AgentDefinition =>
    typeof agent === "string" ? toDefinition(deps.agents.getAgent(agent)) : agent;

  const runAgent = async (
    agent: string | AgentDefinition,
    message: string,
    options: AgentInvocationOptions = {},
  ): Promise<AgentRunResult> => {
    const guard = deps.guard;
    const name = typeof agent === "string" ? agent : agent.name;
    if (guard === undefined || !guardable(guard, name)) return runLoop(agent, message, options);
    const where = {
      runId: options.parentRunId ?? options.sessionId ?? "direct",
      stepId: options.stepId ?? "agent",
    };
    // The task and its context are checked together; what comes back is what the agent sees.
    const checked = (await guard.check(
      name,
      "input",
      { ...(options.context ?? {}), task: message },
      where,
    )) as Record<string, unknown>;
    const { task, ...context } = checked;
    const seen = typeof task === "string" ? task : message;
    const result = await runLoop(agent, seen, {
      ...options,
      ...(options.context !== undefined ? { context } : {}),
    });
    const checkedResponse = await guard.check(name, "output", result.response, where);
    const response =
      typeof checkedResponse === "string" ? checkedResponse : JSON.stringify(checkedResponse);
    // The conversation handed back (sessions, ICC callers) carries the checked answer too.
    const messages = result.messages.map((m) =>
      m.role === "assistant" && m.content === result.response ? { ...m, content: response } : m,
    );
    return {
      ...result,
      response,
      messages,
      ...(seen !== message ? { input: seen } : {}),
    };
  };

  const runLoop = (
    agent: string | AgentDefinition,
    message: string,
    options: AgentInvocationOptions,
  ): Promise<AgentRunResult> => {
    const def = definition(agent);
    const budgets: Budget[] = [];
    if (options.parentRunId !== undefined && deps.ledger !== undefined)
      budgets.push(deps.ledger.get(options.parentRunId));
    if (options.budget !== undefined) budgets.push(new Budget(options.budget));
    if (options.budgets !== undefined) budgets.push(...options.budgets);
    const mode = options.toolMode ?? toolModes?.[def.name];
    return loop.run(def, {
      message,
      ...(options.history !== undefined ? { history: options.history } : {}),
      ...(options.context !== undefined ? { context: options.context } : {}),
      ...(options.maxTurns !== undefined ? { maxSteps: options.maxTurns } : {}),
      ...(mode !== undefined ? { toolMode: mode } : {}),
      ...(options.parentRunId !== undefined ? { runId: options.parentRunId } : {}),
      ...(options.sessionId !== undefined ? { sessionId: options.sessionId } : {}),
      ...(options.stepId !== undefined ? { stepId: options.stepId } : {}),
      ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.workspaceDir !== undefined ? { workspaceDir: options.workspaceDir } : {}),
      budgets,
    });
  };

  const invokeAgent = async (
    agent: string,
    message: string,
    options: AgentInvocationOptions = {},
  ): Promise<AgentInvocationResult> => {
    const def = definition(agent); // AGENT_NOT_FOUND is thrown, not returned
    try {
      return toInvocation(await runAgent(def, message, options));
    } catch (thrown) {
      const error = toAriaError(thrown, "STEP_FAILED", { agent: def.name });
      if (options.signal?.aborted || error.code === "RUN_CANCELLED") throw error;
      const spent = (error.details.spent ?? {}) as Record<string, number>;
      return {
        success: false,
        response: error.message,
        turns: typeof error.details.turns === "number" ? error.details.turns : 0,
        usage: {
          inputTokens: spent.inputTokens ?? 0,
          outputTokens: spent.outputTokens ?? 0,
          totalTokens: (spent.inputTokens ?? 0) + (spent.outputTokens ?? 0),
        },
        costUsd: spent.usd ?? 0,
        calls: spent.calls ?? 0,
        toolCalls: [],
        messages: [],
        error: error.toBody(),
      };
    }
  };

  return {
    loop,
    runAgent,
    invokeAgent,
    invoke(agent, request) {
      const { message, ...options } = request;
      return invokeAgent(agent, message, options);
    },
    async executeAgent(request: InvocationRequest & { agent: string }): Promise<InvocationResult> {
      const def = definition(request.agent);
      const { task: _task, maxSteps: _maxSteps, ...rest } = request.input;
      const message =
        request.task !== ""
          ? request.task
          : Object.keys(rest).length > 0
            ? "Carry out the task described by the input below."
            : "";
      if (message === "") {
        throw new AriaError("VALIDATION_FAILED", {
          message: `Agent step '${request.stepId}' has no task (params.task or a description)`,
          context: { runId: request.runId, stepId: request.stepId, agent: def.name },
        });
      }
      const result = await runAgent(def, message, {
        ...(Object.keys(rest).length > 0 ? { context: rest } : {}),
        parentRunId: request.runId,
        stepId: request.stepId,
        idempotencyKey: request.idempotencyKey,
        signal: request.signal,
        ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
        ...(typeof request.input.maxSteps === "number" ? { maxTurns: request.input.maxSteps } : {}),
      });
      const output: AgentStepOutput = {
        agent: def.name,
        text: result.response,
        response: result.response,
        turns: result.turns,
        toolCalls: result.toolCalls.map((c) => ({
          tool: c.tool,
          success: c.success,
          turn: c.turn,
        })),
      };
      return {
        output,
        usage: {
          inputTokens: result.usage.inputTokens,
          outputTokens: result.usage.outputTokens,
          costUsd: result.usage.costUsd,
        },
      };
    },
  };
}

/** An installed agent as the loop's definition. */
export function toDefinition(agent: AgentManifest & { id?: string }): AgentDefinition {
  return {
    name: agent.id ?? agent.name,
    systemPrompt: agent.systemPrompt,
    tools: agent.tools,
    description: agent.description,
    ...(agent.llm !== undefined ? { llm: agent.llm } : {}),
    maxSteps: agent.maxSteps,
  };
}

function toInvocation(result: AgentRunResult): AgentInvocationResult {
  return {
    success: true,
    response: result.response,
    turns: result.turns,
    usage: usageOf(result.usage),
    costUsd: result.usage.costUsd,
    calls: result.usage.calls,
    toolCalls: result.toolCalls.map((c: AgentToolCallRecord) => ({
      tool: c.tool,
      name: c.name,
      success: c.success,
      turn: c.turn,
    })),
    messages: result.messages,
    ...(result.input !== undefined ? { input: result.input } : {}),
  };
}

function usageOf(usage: UsageTotals): AgentInvocationUsage {
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    totalTokens: usage.inputTokens + usage.outputTokens,
  };
}

/** Whether a guard applies to an agent (an unknown agent fails later, where it is run). */
function guardable(guard: AgentGuard, agent: string): boolean {
  try {
    return guard.has(agent);
  } catch {
    return false;
  }
}
