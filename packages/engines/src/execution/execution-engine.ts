import type {
  AgentRegistry,
  Clock,
  ContainerManager,
  ContainerSpecInput,
  ExecutionStep,
  LlmClient,
  LlmMessageInput,
  Logger,
  ToolExecutionContext,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError, containerError, type ErrorCode, toAriaError } from "@aria/errors";
import type { RuntimeContext } from "../context/runtime-context.ts";
import {
  type PlaceholderScope,
  type PlaceholderSource,
  resolveValue,
  sourceFromScope,
} from "../placeholders/resolve.ts";
import { Deadlines, type Expiring } from "./deadlines.ts";
import type {
  AgentExecutor,
  InvocationRequest,
  InvocationResult,
  PipelineRunner,
  StepUsage,
  TeamExecutor,
} from "./executors.ts";
import { backoffDelay, maxAttempts, RETRY_DEFAULTS, type RetryDefaults, sleep } from "./retry.ts";

/** Collaborators of the {@link ExecutionEngine}; only `tools` is required. */
export interface ExecutionEngineDeps {
  tools: ToolRegistry;
  /** Resolves `pipeline` steps' pipelines. */
  agents?: AgentRegistry;
  /** Runs `reasoning` steps. */
  llm?: LlmClient;
  /** Runs `container` steps. */
  containers?: ContainerManager;
  /** Runs `agent` steps (provided by the intelligence layer). */
  agentExecutor?: AgentExecutor;
  /** Runs `team` steps (provided by the intelligence layer). */
  teamExecutor?: TeamExecutor;
  /** Runs `pipeline` steps (the coordinator passes itself). */
  pipelineRunner?: PipelineRunner;
  clock?: Clock;
  logger?: Logger;
  config?: ExecutionEngineConfig;
}

/** Tunables of the {@link ExecutionEngine}. */
export interface ExecutionEngineConfig {
  /** Timeout of one attempt when the step has no `timeoutMs` (default 300 000 ms). */
  stepTimeoutMs?: number;
  /** Retry defaults (first delay, cap, jitter). */
  retry?: Partial<RetryDefaults>;
  /** How deep pipelines may nest (default 8). */
  maxPipelineDepth?: number;
}

/** Called before each retry; awaited, so the caller can record it first. */
export interface RetryNotice {
  stepId: string;
  failedAttempt: number;
  nextAttempt: number;
  delayMs: number;
  error: AriaError;
}

/** How to run one step. */
export interface StepRunOptions {
  runId: string;
  /** Aborting it cancels the step; the running tool sees it as `context.signal`. */
  signal?: AbortSignal;
  sessionId?: string;
  /** Defaults to `<runId>:<stepId>`. */
  idempotencyKey?: string;
  /**
   * When given, the step's templated fields (`params`, and `command`/`env`/`prompt`) are resolved
   * against it first; a failed resolution fails the step with PLACEHOLDER_UNRESOLVED (no retry).
   * Without it the step is run as it is.
   */
  scope?: PlaceholderScope | PlaceholderSource;
  context?: RuntimeContext;
  /** Overrides the step's own `timeoutMs` and the engine default. */
  timeoutMs?: number;
  /** Nesting depth of pipelines (0 at the top). */
  depth?: number;
  workspaceDir?: string;
  onRetry?: (notice: RetryNotice) => void | Promise<void>;
}

/** What running a step produced. Step failures are results, never thrown. */
export interface StepOutcome {
  stepId: string;
  status: "succeeded" | "failed" | "cancelled";
  output?: unknown;
  error?: AriaError;
  attempts: number;
  retries: number;
  /** Clock milliseconds. */
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  usage?: StepUsage;
  containerId?: string;
}

interface Invoked {
  output: unknown;
  usage?: StepUsage | undefined;
  containerId?: string | undefined;
}

interface AttemptContext {
  runId: string;
  stepId: string;
  attempt: number;
  idempotencyKey: string;
  signal: AbortSignal;
  sessionId: string | undefined;
  workspaceDir: string | undefined;
  context: RuntimeContext | undefined;
  depth: number;
  timeoutMs: number;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * Runs single steps: dispatches on the step `type` (tool, agent, team, pipeline, container,
 * reasoning) and applies the per-step timeout, the retry policy with exponential backoff and
 * cancellation through an AbortSignal that reaches the running tool.
 */
export class ExecutionEngine {
  private readonly deps: ExecutionEngineDeps;
  private readonly clock: Clock;
  private readonly stepTimeoutMs: number;
  private readonly retryDefaults: RetryDefaults;
  readonly maxPipelineDepth: number;
  private readonly deadlines = new Deadlines();

  constructor(deps: ExecutionEngineDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.stepTimeoutMs = deps.config?.stepTimeoutMs ?? 300_000;
    this.retryDefaults = { ...RETRY_DEFAULTS, ...deps.config?.retry };
    this.maxPipelineDepth = deps.config?.maxPipelineDepth ?? 8;
  }

  /**
   * Runs one step to a final outcome: `succeeded`, `failed` (after its retries) or `cancelled`.
   * `continueOnError` is the caller's concern (the graph runner reads it from the step).
   */
  async executeStep(step: ExecutionStep, options: StepRunOptions): Promise<StepOutcome> {
    const startedAt = this.clock.now();
    const signal = options.signal;
    let resolved = step;
    if (options.scope !== undefined) {
      try {
        resolved = resolveStep(step, options.scope);
      } catch (error) {
        return this.outcome(step.id, "failed", startedAt, 0, 0, {
          error: toAriaError(error, "PLACEHOLDER_UNRESOLVED", {
            stepId: step.id,
            runId: options.runId,
          }),
        });
      }
    }
    const attempts = maxAttempts(step.retry);
    const base: Omit<AttemptContext, "attempt" | "signal"> = {
      runId: options.runId,
      stepId: step.id,
      idempotencyKey: options.idempotencyKey ?? `${options.runId}:${step.id}`,
      sessionId: options.sessionId,
      workspaceDir: options.workspaceDir,
      context: options.context,
      depth: options.depth ?? 0,
      timeoutMs: options.timeoutMs ?? step.timeoutMs ?? this.stepTimeoutMs,
    };
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) {
        return this.outcome(step.id, "cancelled", startedAt, attempt - 1, retries, {
          error: abortError(signal),
        });
      }
      try {
        const invoked = await this.runAttempt(resolved, base, attempt, signal);
        return this.outcome(step.id, "succeeded", startedAt, attempt, retries, invoked);
      } catch (thrown) {
        if (signal?.aborted) {
          return this.outcome(step.id, "cancelled", startedAt, attempt, retries, {
            error: abortError(signal),
          });
        }
        const error = toAriaError(thrown, fallbackCode(step), {
          stepId: step.id,
          runId: options.runId,
        });
        if (attempt >= attempts || !error.retryable) {
          return this.outcome(step.id, "failed", startedAt, attempt, retries, { error });
        }
        const delayMs = backoffDelay(step.retry, attempt, this.retryDefaults);
        retries++;
        await options.onRetry?.({
          stepId: step.id,
          failedAttempt: attempt,
          nextAttempt: attempt + 1,
          delayMs,
          error,
        });
        try {
          await sleep(delayMs, signal);
        } catch {
          return this.outcome(step.id, "cancelled", startedAt, attempt, retries, {
            error: abortError(signal!),
          });
        }
      }
    }
  }

  private outcome(
    stepId: string,
    status: StepOutcome["status"],
    startedAt: number,
    attempts: number,
    retries: number,
    extra: {
      output?: unknown;
      error?: AriaError;
      usage?: StepUsage | undefined;
      containerId?: string | undefined;
    },
  ): StepOutcome {
    const finishedAt = this.clock.now();
    const out: StepOutcome = {
      stepId,
      status,
      attempts,
      retries,
      startedAt,
      finishedAt,
      durationMs: Math.max(0, finishedAt - startedAt),
    };
    if (status === "succeeded") out.output = extra.output;
    if (extra.error !== undefined) out.error = extra.error;
    if (extra.usage !== undefined) out.usage = extra.usage;
    if (extra.containerId !== undefined) out.containerId = extra.containerId;
    return out;
  }

  /** One attempt, raced against its timeout and the caller's signal. */
  private runAttempt(
    step: ExecutionStep,
    base: Omit<AttemptContext, "attempt" | "signal">,
    attempt: number,
    parent: AbortSignal | undefined,
  ): Promise<Invoked> {
    const guard = new AttemptGuard(step, base.timeoutMs, parent, this.deadlines);
    const context: AttemptContext = {
      runId: base.runId,
      stepId: base.stepId,
      attempt,
      idempotencyKey: base.idempotencyKey,
      signal: guard.controller.signal,
      sessionId: base.sessionId,
      workspaceDir: base.workspaceDir,
      context: base.context,
      depth: base.depth,
      timeoutMs: base.timeoutMs,
    };
    let work: Promise<Invoked>;
    try {
      work = this.invoke(step, context);
    } catch (error) {
      work = Promise.reject(error);
    }
    return guard.watch(work);
  }

  private invoke(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    switch (step.type) {
      case "tool":
        return this.invokeTool(step, context);
      case "agent":
        return this.invokeAgent(step, context);
      case "team":
        return this.invokeTeam(step, context);
      case "pipeline":
        return this.invokePipeline(step, context);
      case "container":
        return this.invokeContainer(step, context);
      case "reasoning":
        return this.invokeReasoning(step, context);
      default:
        throw new AriaError("VALIDATION_FAILED", {
          message: `Unknown step type '${String((step as { type?: unknown }).type)}'`,
          context: { stepId: (step as { id?: string }).id },
        });
    }
  }

  private async invokeTool(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    if (step.tool === undefined) throw missingField(step, "tool");
    const toolContext: ToolExecutionContext = {
      runId: context.runId,
      stepId: context.stepId,
      attempt: context.attempt,
      idempotencyKey: context.idempotencyKey,
      signal: context.signal,
    };
    if (context.sessionId !== undefined) toolContext.sessionId = context.sessionId;
    if (context.workspaceDir !== undefined) toolContext.workspaceDir = context.workspaceDir;
    return { output: await this.deps.tools.execute(step.tool, step.params ?? {}, toolContext) };
  }

  private request(step: ExecutionStep, context: AttemptContext): InvocationRequest {
    const input = step.params ?? {};
    const task = typeof input.task === "string" ? input.task : (step.description ?? "");
    return {
      task,
      input,
      runId: context.runId,
      stepId: context.stepId,
      ...(context.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
      idempotencyKey: context.idempotencyKey,
      attempt: context.attempt,
      signal: context.signal,
      ...(context.context !== undefined ? { context: context.context } : {}),
      depth: context.depth,
    };
  }

  private async invokeAgent(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    if (step.agent === undefined) throw missingField(step, "agent");
    const executor = this.deps.agentExecutor;
    if (executor === undefined) throw notWired("agent", "an AgentExecutor");
    return fromInvocation(
      await executor.executeAgent({ ...this.request(step, context), agent: step.agent }),
    );
  }

  private async invokeTeam(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    if (step.team === undefined) throw missingField(step, "team");
    const executor = this.deps.teamExecutor;
    if (executor === undefined) throw notWired("team", "a TeamExecutor");
    return fromInvocation(
      await executor.executeTeam({ ...this.request(step, context), team: step.team }),
    );
  }

  private async invokePipeline(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    if (step.pipeline === undefined) throw missingField(step, "pipeline");
    const runner = this.deps.pipelineRunner;
    const registry = this.deps.agents;
    if (runner === undefined || registry === undefined)
      throw notWired("pipeline", "an AgentRegistry and a PipelineRunner");
    if (context.depth + 1 > this.maxPipelineDepth) {
      throw new AriaError("PLAN_INVALID", {
        message: `Pipelines nest deeper than ${this.maxPipelineDepth} levels at step '${step.id}' (a pipeline that runs itself?)`,
        details: {
          problems: [
            { code: "nesting_too_deep", stepId: step.id, message: "pipeline nesting too deep" },
          ],
        },
      });
    }
    const pipeline = registry.getPipeline(step.pipeline);
    return fromInvocation(
      await runner.runNestedPipeline(pipeline, step.params ?? {}, {
        runId: context.runId,
        stepId: context.stepId,
        keyPrefix: `${context.idempotencyKey}/`,
        ...(context.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
        signal: context.signal,
        depth: context.depth + 1,
      }),
    );
  }

  private async invokeContainer(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    if (step.image === undefined) throw missingField(step, "image");
    if (step.command === undefined || step.command.length === 0)
      throw missingField(step, "command");
    const containers = this.deps.containers;
    if (containers === undefined) {
      throw containerError.unavailable(
        "no container manager is configured (features.containers off?)",
        {
          context: { stepId: step.id },
        },
      );
    }
    const params = step.params ?? {};
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(step.env ?? {})) env[key] = asText(value);
    const spec: ContainerSpecInput = {
      image: step.image,
      command: step.command.map(asText),
      env,
      network: step.network ?? false,
      timeoutMs: step.resources?.timeoutMs ?? context.timeoutMs,
      runId: context.runId,
      stepId: context.stepId,
      labels: { "aria.run": context.runId, "aria.step": context.stepId },
      ...(step.resources?.cpus !== undefined ? { cpus: step.resources.cpus } : {}),
      ...(step.resources?.memoryMb !== undefined ? { memoryMb: step.resources.memoryMb } : {}),
      ...(step.resources?.pids !== undefined ? { pids: step.resources.pids } : {}),
      // The step's parameters reach the workload on stdin as JSON.
      ...(Object.keys(params).length > 0 ? { stdin: JSON.stringify(params) } : {}),
    };
    const result = await containers.run(spec, { signal: context.signal });
    const extra = { context: { stepId: step.id, containerId: result.containerId } };
    if (result.timedOut) throw containerError.timeout(spec.timeoutMs ?? context.timeoutMs, extra);
    if (result.oomKilled) throw containerError.oom(spec.memoryMb ?? 256, extra);
    if (result.exitCode !== 0)
      throw containerError.execFailed(result.exitCode, result.stderr, extra);
    return {
      output: {
        exitCode: result.exitCode,
        stdout: result.stdout,
        stderr: result.stderr,
        durationMs: result.durationMs,
        containerId: result.containerId,
      },
      containerId: result.containerId,
    };
  }

  private async invokeReasoning(step: ExecutionStep, context: AttemptContext): Promise<Invoked> {
    const llm = this.deps.llm;
    if (llm === undefined) {
      throw new AriaError("LLM_NOT_CONFIGURED", {
        message: `Step '${step.id}' is a reasoning step and no LLM is configured`,
        context: { stepId: step.id },
      });
    }
    const {
      prompt: paramPrompt,
      system,
      model,
      temperature,
      maxTokens,
      ...inputs
    } = step.params ?? {};
    const prompt = step.prompt ?? (typeof paramPrompt === "string" ? paramPrompt : undefined);
    if (prompt === undefined) throw missingField(step, "prompt");
    const messages: LlmMessageInput[] = [
      {
        role: "system",
        content:
          typeof system === "string"
            ? system
            : "You carry out one reasoning step of a larger task. Answer with the result of this step only.",
      },
      {
        role: "user",
        content:
          Object.keys(inputs).length > 0
            ? `${prompt}\n\nInputs (JSON):\n${JSON.stringify(inputs)}`
            : prompt,
      },
    ];
    const response = await llm.complete(
      {
        messages,
        runId: context.runId,
        ...(context.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
        ...(typeof model === "string" ? { model } : {}),
        ...(typeof temperature === "number" ? { temperature } : {}),
        ...(typeof maxTokens === "number" ? { maxTokens } : {}),
      },
      { signal: context.signal },
    );
    return {
      output: response.content ?? "",
      usage: {
        inputTokens: response.usage.inputTokens,
        outputTokens: response.usage.outputTokens,
        costUsd: response.costUsd ?? 0,
      },
    };
  }
}

/**
 * Settles an attempt with the first of: its work, its timeout (which also aborts the work's
 * signal), or the caller's abort. One object per attempt, no per-attempt closures beyond the
 * promise's own.
 */
class AttemptGuard implements Expiring {
  readonly controller = new AbortController();
  readonly deadline: number;
  private readonly step: ExecutionStep;
  private readonly timeoutMs: number;
  private readonly parent: AbortSignal | undefined;
  private readonly deadlines: Deadlines;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private resolve!: (value: Invoked) => void;
  private reject!: (error: unknown) => void;
  private settled = false;

  constructor(
    step: ExecutionStep,
    timeoutMs: number,
    parent: AbortSignal | undefined,
    deadlines: Deadlines,
  ) {
    this.step = step;
    this.timeoutMs = timeoutMs;
    this.parent = parent;
    this.deadlines = deadlines;
    this.deadline = performance.now() + timeoutMs;
  }

  watch(work: Promise<Invoked>): Promise<Invoked> {
    const promise = new Promise<Invoked>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = this.deadlines.add(this, this.timeoutMs);
    if (this.parent !== undefined) watchAbort(this.parent, this);
    work.then(
      (value) => this.finish(value, undefined, true),
      (error: unknown) => this.finish(undefined, error, false),
    );
    return promise;
  }

  /** The parent signal aborted. */
  parentAborted(): void {
    const parent = this.parent!;
    this.controller.abort(parent.reason);
    this.finish(undefined, abortError(parent), false);
  }

  expire(): void {
    const error = timeoutError(this.step, this.timeoutMs);
    this.controller.abort(error);
    this.finish(undefined, error, false);
  }

  private finish(value: Invoked | undefined, error: unknown, ok: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.deadlines.remove(this, this.timer);
    if (this.parent !== undefined) unwatchAbort(this.parent, this);
    if (ok) this.resolve(value!);
    else this.reject(error);
  }
}

/**
 * One abort listener per signal however many attempts run under it: attempts join and leave a set
 * (a run's steps share the run's signal, and adding and removing DOM-style listeners per attempt
 * costs more than the rest of a no-op step's bookkeeping).
 */
const watchers = new WeakMap<AbortSignal, Set<AttemptGuard>>();

function watchAbort(signal: AbortSignal, guard: AttemptGuard): void {
  let set = watchers.get(signal);
  if (set === undefined) {
    const created = new Set<AttemptGuard>();
    set = created;
    watchers.set(signal, created);
    signal.addEventListener(
      "abort",
      () => {
        for (const watcher of [...created]) watcher.parentAborted();
        created.clear();
      },
      { once: true },
    );
  }
  set.add(guard);
}

function unwatchAbort(signal: AbortSignal, guard: AttemptGuard): void {
  watchers.get(signal)?.delete(guard);
}

/** Resolves a step's templated fields against a scope or source. */
export function resolveStep(
  step: ExecutionStep,
  scope: PlaceholderScope | PlaceholderSource,
): ExecutionStep {
  const source = "stepAt" in scope ? scope : sourceFromScope(scope);
  const out: ExecutionStep = {
    ...step,
    params: resolveValue(step.params ?? {}, source) as ExecutionStep["params"],
  };
  if (step.command !== undefined) out.command = resolveValue(step.command, source) as string[];
  if (step.env !== undefined) out.env = resolveValue(step.env, source) as Record<string, string>;
  if (step.prompt !== undefined) out.prompt = resolveValue(step.prompt, source) as string;
  return out;
}

function fromInvocation(result: InvocationResult): Invoked {
  return { output: result.output, usage: result.usage };
}

function fallbackCode(step: ExecutionStep): ErrorCode {
  switch (step.type) {
    case "tool":
      return "TOOL_EXECUTION_FAILED";
    case "container":
      return "CONTAINER_EXEC_FAILED";
    default:
      return "STEP_FAILED";
  }
}

function timeoutError(step: ExecutionStep, timeoutMs: number): AriaError {
  if (step.type === "container")
    return containerError.timeout(timeoutMs, { context: { stepId: step.id } });
  return new AriaError("TOOL_TIMEOUT", {
    message: `Step '${step.id}' did not finish within ${timeoutMs} ms`,
    context: { stepId: step.id },
    details: { timeoutMs },
  });
}

/** The error a cancelled step carries: the signal's reason when it is an AriaError, else RUN_CANCELLED. */
export function abortError(signal: AbortSignal): AriaError {
  const reason = signal.reason;
  if (AriaError.is(reason)) return reason;
  return new AriaError("RUN_CANCELLED", {
    message:
      reason instanceof Error && reason.message
        ? `Cancelled: ${reason.message}`
        : "The step was cancelled",
    ...(reason !== undefined ? { cause: reason } : {}),
  });
}

function missingField(step: ExecutionStep, field: string): AriaError {
  return new AriaError("VALIDATION_FAILED", {
    message: `A '${step.type}' step needs '${field}' (step '${step.id}')`,
    context: { stepId: step.id },
  });
}

function notWired(kind: string, what: string): AriaError {
  return new AriaError("CONFIG_INVALID", {
    message: `'${kind}' steps need ${what}; none is wired into this engine`,
    userGuidance: `The runtime's composition root must pass ${what} to the engine before '${kind}' steps can run.`,
  });
}

function asText(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}
