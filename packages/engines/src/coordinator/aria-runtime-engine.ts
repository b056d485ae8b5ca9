import { randomUUID } from "node:crypto";
import type {
  AgentRegistry,
  ApprovalRecord,
  Clock,
  ContainerManager,
  ErrorBody,
  EventSink,
  ExecutionPlan,
  ExecutionStep,
  JsonSchema,
  Lease,
  LlmClient,
  Logger,
  PipelineManifest,
  RunEvent,
  RunEventType,
  RunOptions,
  RunState,
  RunStatus,
  RunTarget,
  StateStore,
  StepCheckpoint,
  StepResult,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import {
  CONTEXT_DEFAULTS,
  RuntimeContext,
  type RuntimeContextOptions,
} from "../context/runtime-context.ts";
import {
  abortError,
  ExecutionEngine,
  type ExecutionEngineConfig,
} from "../execution/execution-engine.ts";
import type {
  AgentExecutor,
  InvocationResult,
  PipelineRunner,
  StepUsage,
  TeamExecutor,
} from "../execution/executors.ts";
import {
  buildPlanGraph,
  type ImplicitOrder,
  type PlanGraph,
  type PlanProblem,
  validatePlan,
} from "../graph/plan-graph.ts";
import { copyValue } from "../placeholders/resolve.ts";
import type { RecoveryAnswer, RunRecovery } from "../reflection/run-recovery.ts";
import { CHECKPOINT_SCHEMA_VERSION, foldCheckpoints } from "../state/checkpoints.ts";
import { runLeaseKey } from "../state/memory-state-store.ts";
import { normaliseErrorBody, readRunView } from "../state/run-view.ts";
import { isoTime } from "../util/time.ts";
import {
  ApprovalBook,
  type ApprovalInput,
  ApprovalPolicyCheck,
  type ApprovalSettings,
  approvalFingerprint,
  targetOf,
} from "./approvals.ts";
import {
  type FailurePolicy,
  type ApprovalAnswer as GraphApprovalAnswer,
  type GraphRecovery,
  GraphRun,
  type GraphRunHooks,
  type GraphStepFailure,
  type StepRecord,
} from "./graph-run.ts";
import { EngineMetrics, type EngineMetricsSnapshot, emptyExecutionMetrics } from "./metrics.ts";

/** Tunables of the coordinator (everything has a default). */
export interface AriaRuntimeEngineConfig extends ExecutionEngineConfig {
  /** Lease owner name of this engine (default `engine-<uuid>`). */
  instanceId?: string;
  /** Steps running at once in one run (default 8; 1 turns parallel steps off). */
  maxParallel?: number;
  /** Largest plan accepted (default 10 000; a run's `options.maxSteps` lowers it). */
  maxSteps?: number;
  failurePolicy?: FailurePolicy;
  /** Ordering of steps without `dependsOn` (default `previous`). */
  implicitOrder?: ImplicitOrder;
  /** Working-memory limit per run in bytes (default 64 MiB). */
  memoryLimitBytes?: number;
  /** Cleanup ratios and caps of each run's context. */
  context?: Pick<
    RuntimeContextOptions,
    "evictAboveRatio" | "evictToRatio" | "maxHistory" | "maxInsights" | "maxErrors"
  >;
  /** Lease on a run while this engine advances it (default 30 s), renewed every `leaseRenewMs` (default ttl/3). */
  leaseTtlMs?: number;
  leaseRenewMs?: number;
  /** Check before running that tools, agents, teams and pipelines named by steps exist (default true). */
  validateTargets?: boolean;
  /** Reflection rounds (recovery answers) per run at most (default 3, `limits.maxReflectionRounds`). */
  maxReflectionRounds?: number;
  /** Plan revisions (replans) per run at most (default 3, `limits.maxPlanRevisions`). */
  maxPlanRevisions?: number;
  /** Approval defaults (timeout, timeout decision) and policy rules. */
  approvals?: ApprovalSettings;
}

/** Collaborators of the coordinator, by constructor injection (interfaces from core-types). */
export interface AriaRuntimeEngineDeps {
  tools: ToolRegistry;
  store: StateStore;
  agents?: AgentRegistry;
  llm?: LlmClient;
  containers?: ContainerManager;
  agentExecutor?: AgentExecutor;
  teamExecutor?: TeamExecutor;
  events?: EventSink;
  logger?: Logger;
  clock?: Clock;
  /**
   * Validates a pipeline's input against its `inputSchema` (throw VALIDATION_FAILED to refuse).
   * The runtime passes its JSON Schema validator; without one, `inputSchema` is not checked here.
   */
  validateInput?: (schema: JsonSchema, input: unknown, pipeline: string) => void;
  /**
   * Reflection for runs whose `options.reflection` is true (a request's own `recovery` wins): asked
   * after every failed step, its decision carried out within the run's bounds. Resume uses it too.
   */
  recovery?: RunRecovery;
  config?: AriaRuntimeEngineConfig;
}

/** Per-run request options. */
export interface RunRequest {
  /** The run id (default: a new UUID). */
  runId?: string;
  sessionId?: string;
  task?: string;
  /** Stored with the run: `maxSteps`, `maxParallel`, `timeoutMs`, budgets... */
  options?: RunOptions;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
  /** A directory private to the run, handed to tools. */
  workspaceDir?: string;
  /** Reflection for this run (see `AriaRuntimeEngineDeps.recovery`). */
  recovery?: RunRecovery;
  /** What the run already spent before its first step (e.g. planning), counted in its budget and cost. */
  spent?: StepUsage;
  /**
   * What the run is for, as stored and listed (`runPlan` default: `{kind: "plan"}`): an agent's
   * task or a team's run is a plan underneath, but listed by its agent or team.
   */
  target?: RunTarget;
}

/** A plan as `runPlan` accepts it. */
export interface PlanInput {
  id?: string;
  objective?: string;
  steps: readonly unknown[];
  output?: unknown;
}

/** The end of a run: its stored state and its context. */
export interface RunResult {
  run: RunState;
  context: RuntimeContext;
}

type AbortKind = "cancel" | "timeout" | "lost" | "shutdown";

interface ActiveRun {
  runId: string;
  run: RunState;
  graph: PlanGraph;
  context: RuntimeContext;
  controller: AbortController;
  abortKind: AbortKind | undefined;
  lease: Lease;
  version: number;
  startedAtMs: number;
  /** Time the run spent paused for approvals (not counted against its timeout). */
  pausedMs: number;
  writes: Promise<void>;
  usage: StepUsage;
  hasContainers: boolean;
  done: Promise<RunResult>;
  recovery: RunRecovery | undefined;
  /** Reflection rounds and plan revisions used, and recoveries per step id. */
  reflections: number;
  revisions: number;
  stepRecoveries: Map<string, number>;
  /** Set by a `replan` decision, read by the adaptation. */
  replanCause:
    | { stepId: string; error?: ErrorBody; reflection?: Record<string, unknown>; guidance?: string }
    | undefined;
}

const systemClock: Clock = { now: () => Date.now() };
const TERMINAL: readonly RunStatus[] = ["succeeded", "failed", "cancelled"];

/**
 * The coordinator: runs pipelines and plans as dependency graphs, emits run events (to the
 * EventSink and the store's event log), keeps metrics, checkpoints incrementally after every step
 * under a fenced lease, and resumes interrupted runs without re-running finished steps.
 */
export class AriaRuntimeEngine implements PipelineRunner {
  /** The single-step engine (the intelligence layer may run steps through it directly). */
  readonly executionEngine: ExecutionEngine;
  readonly instanceId: string;
  private readonly deps: AriaRuntimeEngineDeps;
  private readonly clock: Clock;
  private readonly metricsData = new EngineMetrics();
  private readonly active = new Map<string, ActiveRun>();
  private readonly maxParallel: number;
  private readonly maxSteps: number;
  private readonly failurePolicy: FailurePolicy;
  private readonly implicitOrder: ImplicitOrder;
  private readonly leaseTtlMs: number;
  private readonly leaseRenewMs: number;
  private readonly maxReflectionRounds: number;
  private readonly maxPlanRevisions: number;
  private closed = false;
  /** Approvals of runs, kept in the state store. */
  readonly approvals: ApprovalBook;
  private readonly approvalPolicy: ApprovalPolicyCheck;

  constructor(deps: AriaRuntimeEngineDeps) {
    this.deps = deps;
    const config = deps.config ?? {};
    this.clock = deps.clock ?? systemClock;
    this.instanceId = config.instanceId ?? `engine-${randomUUID()}`;
    this.maxParallel = config.maxParallel ?? 8;
    this.maxSteps = config.maxSteps ?? 10_000;
    this.failurePolicy = config.failurePolicy ?? "skip-dependants";
    this.implicitOrder = config.implicitOrder ?? "previous";
    this.leaseTtlMs = config.leaseTtlMs ?? 30_000;
    this.leaseRenewMs = config.leaseRenewMs ?? Math.max(1, Math.floor(this.leaseTtlMs / 3));
    this.maxReflectionRounds = config.maxReflectionRounds ?? 3;
    this.maxPlanRevisions = config.maxPlanRevisions ?? 3;
    this.approvals = new ApprovalBook({ store: deps.store, clock: this.clock });
    this.approvalPolicy = new ApprovalPolicyCheck({
      tools: deps.tools,
      ...(deps.agents !== undefined ? { agents: deps.agents } : {}),
      ...(config.approvals !== undefined ? { settings: config.approvals } : {}),
    });
    this.executionEngine = new ExecutionEngine({
      tools: deps.tools,
      ...(deps.agents !== undefined ? { agents: deps.agents } : {}),
      ...(deps.llm !== undefined ? { llm: deps.llm } : {}),
      ...(deps.containers !== undefined ? { containers: deps.containers } : {}),
      ...(deps.agentExecutor !== undefined ? { agentExecutor: deps.agentExecutor } : {}),
      ...(deps.teamExecutor !== undefined ? { teamExecutor: deps.teamExecutor } : {}),
      pipelineRunner: this,
      clock: this.clock,
      ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
      config,
    });
  }

  // ------------------------------------------------------------------ public API

  /** Runs an installed pipeline (by name, through the AgentRegistry) or a pipeline manifest. */
  async runPipeline(
    pipeline: string | PipelineManifest,
    input?: unknown,
    request: RunRequest = {},
  ): Promise<RunResult> {
    const manifest = typeof pipeline === "string" ? this.pipelineByName(pipeline) : pipeline;
    this.checkInput(manifest, input);
    const graph = this.graphFor(manifest.steps, manifest.output, request.options?.maxSteps);
    return this.startRun(
      { kind: "pipeline", name: manifest.name },
      {
        id: manifest.name,
        objective: manifest.description,
        ...(manifest.output !== undefined
          ? { output: manifest.output as ExecutionPlan["output"] }
          : {}),
      },
      graph,
      input,
      {
        ...request,
        options: {
          ...(manifest.maxParallel !== undefined ? { maxParallel: manifest.maxParallel } : {}),
          ...request.options,
        },
      },
    );
  }

  /** Runs a plan (steps in the pipeline step shape, e.g. written by the planner). */
  async runPlan(plan: PlanInput, input?: unknown, request: RunRequest = {}): Promise<RunResult> {
    const graph = this.graphFor(plan.steps, plan.output, request.options?.maxSteps);
    return this.startRun(
      request.target ?? { kind: "plan" },
      {
        id: plan.id ?? randomUUID(),
        objective: plan.objective ?? request.task ?? "",
        ...(plan.output !== undefined ? { output: plan.output as ExecutionPlan["output"] } : {}),
      },
      graph,
      input,
      request,
    );
  }

  /** Lists what is wrong with a pipeline or plan without running it (empty when it is valid). */
  validate(
    plan: { steps: readonly unknown[]; output?: unknown },
    options: { maxSteps?: number } = {},
  ): PlanProblem[] {
    return validatePlan(plan.steps, this.graphOptions(plan.output, options.maxSteps));
  }

  /**
   * Continues an interrupted run from its checkpoints, in this engine instance: finished steps are
   * not run again; steps that were running when the run stopped run again with the same
   * idempotency key. A run that already ended is returned as it is.
   */
  async resume(
    runId: string,
    request: Pick<RunRequest, "signal" | "workspaceDir" | "recovery"> = {},
  ): Promise<RunResult> {
    this.open();
    const stored = await this.deps.store.getRun(runId);
    if (stored === undefined)
      throw new AriaError("RUN_NOT_FOUND", {
        message: `No run with id ${runId}`,
        context: { runId },
      });
    if (this.active.has(runId)) return this.active.get(runId)!.done;
    if (stored.plan === undefined) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `Run ${runId} has no plan to resume`,
        context: { runId },
      });
    }
    const folded = foldCheckpoints(await this.deps.store.readCheckpoints(runId));
    const graph = buildPlanGraph(stored.plan.steps, {
      ...(stored.plan.output !== undefined ? { output: stored.plan.output } : {}),
      implicitOrder: this.implicitOrder,
    });
    const context = this.newContext(runId, stored.sessionId, stored.task);
    const initial: StepRecord[] = [];
    const usage: StepUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    for (const checkpoint of folded.steps.values()) {
      const index = graph.indexById.get(checkpoint.stepId);
      // Only final outcomes count; skipped and cancelled steps are decided again.
      if (
        index === undefined ||
        (checkpoint.status !== "succeeded" && checkpoint.status !== "failed")
      )
        continue;
      initial.push(recordFromCheckpoint(checkpoint, index, graph));
      if (checkpoint.status === "succeeded")
        context.restore(
          RuntimeContext.stepKey(checkpoint.stepId),
          checkpoint.output,
          checkpoint.stepId,
        );
      if (checkpoint.usage !== undefined) addUsage(usage, checkpoint.usage);
    }
    for (const [key, value] of folded.memory) context.restore(key, value);
    // Replay evictions, except outputs that steps still to run (or the output mapping) reference.
    const needed = new Set<string>();
    const finished = new Set(initial.map((r) => r.index));
    for (let i = 0; i < graph.steps.length; i++) {
      if (finished.has(i)) continue;
      for (const j of graph.referencedSteps[i]!) needed.add(RuntimeContext.stepKey(graph.ids[j]!));
    }
    for (const j of graph.outputSteps) needed.add(RuntimeContext.stepKey(graph.ids[j]!));
    context.evictKeys([...folded.evicted].filter((key) => !needed.has(key)));

    if (TERMINAL.includes(stored.status)) {
      return { run: (await readRunView(this.deps.store, runId)) ?? stored, context };
    }

    const lease = await this.deps.store.acquireLease(
      runLeaseKey(runId),
      this.instanceId,
      this.leaseTtlMs,
    );
    if (lease === undefined) {
      throw new AriaError("RUN_CONFLICT", {
        message: `Run ${runId} is being advanced by another worker (its lease has not expired)`,
        context: { runId },
      });
    }
    const now = this.clock.now();
    const run: RunState = { ...stored, status: "running", updatedAt: iso(now) };
    try {
      const claimed = await this.deps.store.compareAndSetRun(
        run,
        stored.version,
        lease.fencingToken,
      );
      if (!claimed)
        throw new AriaError("RUN_CONFLICT", {
          message: `Run ${runId} changed while resuming`,
          context: { runId },
        });
      await this.deps.store.appendCheckpoint(
        runId,
        {
          schemaVersion: CHECKPOINT_SCHEMA_VERSION,
          kind: "run.resumed",
          at: iso(now),
          owner: this.instanceId,
          fencingToken: lease.fencingToken,
        },
        lease.fencingToken,
      );
    } catch (error) {
      await this.deps.store.releaseLease(lease).catch(() => {});
      throw error;
    }
    this.metricsData.increment("runsResumed");
    const startedAtMs =
      stored.metrics.startedAt !== undefined ? Date.parse(stored.metrics.startedAt) : now;
    return this.execute(
      {
        runId,
        run,
        graph,
        context,
        lease,
        version: stored.version + 1,
        startedAtMs,
        usage,
        // Plan revisions used before the interruption still count against the bound.
        revisions: stored.plan.revision,
        pausedMs:
          folded.pausedMs +
          (folded.pausedAt !== undefined ? Math.max(0, now - folded.pausedAt) : 0),
      },
      initial,
      {
        ...request,
        ...(stored.sessionId !== undefined ? { sessionId: stored.sessionId } : {}),
        options: stored.options,
      },
      true,
    );
  }

  /**
   * Records a person's decision about a paused step (`approval.resolved` event). The run itself
   * continues when it is resumed (the runtime dispatches it again); see {@link ApprovalBook.decide}
   * for the errors.
   */
  async decideApproval(runId: string, stepId: string, input: ApprovalInput) {
    const record = await this.approvals.decide(runId, stepId, input);
    await this.emit(runId, "approval.resolved", stepId, {
      decision: input.decision,
      status: record.status,
      by: input.by,
      ...(record.editedParams !== undefined ? { params: record.editedParams } : {}),
      ...(input.comment !== undefined ? { reason: input.comment } : {}),
      ...(input.timedOut === true ? { timedOut: true } : {}),
    });
    return record;
  }

  /**
   * Cancels a run that is `paused` (waiting for approvals; no worker advances it): it ends
   * `cancelled` with `run.cancelled`. False when the run is not paused (or changed meanwhile).
   */
  async cancelPaused(runId: string, reason = "cancelled by request"): Promise<boolean> {
    const store = this.deps.store;
    const stored = await store.getRun(runId);
    if (stored?.status !== "paused") return false;
    // Its own lease owner: a resumption in this process holds the lease under `instanceId`, and
    // re-acquiring that would share (then release) the resumption's lease.
    const lease = await store.acquireLease(
      runLeaseKey(runId),
      `${this.instanceId}:cancel:${randomUUID()}`,
      this.leaseTtlMs,
    );
    if (lease === undefined) return false;
    try {
      const now = this.clock.now();
      const error = new AriaError("RUN_CANCELLED", {
        message: `Run ${runId} was ${reason} while it waited for an approval`,
        context: { runId },
      });
      const steps = stored.steps.map((step) =>
        step.status === "waiting"
          ? { ...step, status: "cancelled" as const, error: error.toBody() }
          : step,
      );
      const written = await store.compareAndSetRun(
        {
          ...stored,
          status: "cancelled",
          steps,
          error: error.toBody(),
          metrics: { ...stored.metrics, finishedAt: iso(now) },
          updatedAt: iso(now),
          version: stored.version,
        },
        stored.version,
        lease.fencingToken,
      );
      if (!written) return false;
      await store.appendCheckpoint(
        runId,
        {
          schemaVersion: CHECKPOINT_SCHEMA_VERSION,
          kind: "run.finished",
          at: iso(now),
          status: "cancelled",
        },
        lease.fencingToken,
      );
      this.metricsData.increment("runsCancelled");
      await this.emit(runId, "run.cancelled", undefined, { reason });
      return true;
    } finally {
      await store.releaseLease(lease).catch(() => {});
    }
  }

  /** Why a step would need a person's approval (see {@link ApprovalPolicyCheck}), if it would. */
  approvalReason(step: ExecutionStep): string | undefined {
    return this.approvalPolicy.reason(step);
  }

  /**
   * Why a call of this tool outside a run's steps (a direct invocation, MCP, ICC) would need a
   * person's approval, if it would: such calls cannot wait for one, so callers refuse them.
   */
  toolApprovalReason(toolId: string): string | undefined {
    return this.approvalPolicy.reason({
      id: "call",
      type: "tool",
      tool: toolId,
      params: {},
      continueOnError: false,
    });
  }

  /**
   * Decides a pending approval past its `expiresAt` by its timeout policy (`timedOut`, by
   * `timeout`). Answers the record as it then stands, and whether this call decided it (someone
   * else may have decided first).
   */
  async expireApproval(
    record: ApprovalRecord,
  ): Promise<{ record: ApprovalRecord; decided: boolean }> {
    try {
      const decided = await this.decideApproval(record.runId, record.stepId, {
        decision: record.onTimeout,
        by: "timeout",
        comment: `No decision before ${record.expiresAt}`,
        timedOut: true,
      });
      return { record: decided, decided: true };
    } catch (error) {
      if (!AriaError.is(error) || error.code !== "APPROVAL_ALREADY_DECIDED") throw error;
      const current = (await this.approvals.get(record.runId, record.stepId)) ?? record;
      return { record: current, decided: false };
    }
  }

  /** Cancels a run this engine is advancing; false when it is not running here. */
  cancel(runId: string, reason = "cancelled by request"): boolean {
    const active = this.active.get(runId);
    if (active === undefined) return false;
    this.abort(
      active,
      "cancel",
      new AriaError("RUN_CANCELLED", {
        message: `Run ${runId} was cancelled: ${reason}`,
        context: { runId },
      }),
    );
    return true;
  }

  /** Ids of the runs this engine is advancing. */
  activeRuns(): string[] {
    return [...this.active.keys()];
  }

  /** The live context of a run this engine is advancing (ICC `GET/POST /context` use it). */
  getContext(runId: string): RuntimeContext | undefined {
    return this.active.get(runId)?.context;
  }

  /**
   * Writes a value into a running run's working memory and checkpoints it (ICC `POST /context`).
   * Throws RUN_NOT_FOUND when the run is not advancing in this engine.
   */
  async setContextValue(runId: string, key: string, value: unknown): Promise<void> {
    const active = this.active.get(runId);
    if (active === undefined)
      throw new AriaError("RUN_NOT_FOUND", {
        message: `Run ${runId} is not running here`,
        context: { runId },
      });
    active.context.set(key, value);
    await this.checkpoint(active, {
      schemaVersion: CHECKPOINT_SCHEMA_VERSION,
      kind: "memory.set",
      at: iso(this.clock.now()),
      key,
      value,
    });
  }

  /**
   * A run with its step results (what `GET /v1/runs/:id` shows): the run record plus the steps
   * from its checkpoints, also while it is still running. See {@link readRunView}.
   */
  inspectRun(runId: string): Promise<RunState | undefined> {
    return readRunView(this.deps.store, runId);
  }

  /**
   * Records an event of a run the way the engine's own are recorded: to the EventSink and the
   * store's event log (for the intelligence layer's `plan.created`, `reflection`, `plan.adapted`,
   * `llm.usage`, approvals...).
   */
  publish(
    runId: string,
    type: RunEventType,
    data: Record<string, unknown> = {},
    stepId?: string,
  ): Promise<void> {
    return this.emit(runId, type, stepId, data);
  }

  /** Counters and durations of this engine. */
  metrics(): EngineMetricsSnapshot {
    const snapshot = this.metricsData.snapshot();
    snapshot.runsActive = this.active.size;
    return snapshot;
  }

  /**
   * Stops advancing runs and releases their leases without marking them finished, so another
   * worker (or this one, later) can resume them. New runs are refused afterwards.
   */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.active.values()].map((active) => {
      this.abort(
        active,
        "shutdown",
        new AriaError("RUN_CANCELLED", {
          message: "The engine is shutting down",
          context: { runId: active.runId },
        }),
      );
      return active.done.catch(() => undefined);
    });
    await Promise.all(pending);
  }

  /** Runs a pipeline nested inside a `pipeline` step (PipelineRunner). */
  async runNestedPipeline(
    pipeline: PipelineManifest,
    input: unknown,
    parent: Parameters<PipelineRunner["runNestedPipeline"]>[2],
  ): Promise<InvocationResult> {
    this.checkInput(pipeline, input);
    const graph = this.graphFor(pipeline.steps, pipeline.output, undefined);
    const context = this.newContext(parent.runId, parent.sessionId, undefined);
    const prefix = `${parent.stepId}/`;
    const usage: StepUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    const hooks: GraphRunHooks = {
      stepStarted: (i) =>
        this.emit(parent.runId, "step.started", prefix + graph.ids[i]!, {
          index: i,
          type: graph.steps[i]!.type,
          pipeline: pipeline.name,
        }),
      stepRetrying: (i, notice) => this.emitRetry(parent.runId, prefix + graph.ids[i]!, notice),
      stepFinished: async (record) => {
        if (record.usage !== undefined) addUsage(usage, record.usage);
        await this.emitStepEnd(parent.runId, { ...record, stepId: prefix + record.stepId }, graph);
      },
      stepSettled: () => {},
    };
    const run = new GraphRun({
      runId: parent.runId,
      graph,
      context,
      engine: this.executionEngine,
      input,
      hasInput: input !== undefined,
      signal: parent.signal,
      maxParallel: pipeline.maxParallel ?? this.maxParallel,
      failurePolicy: this.failurePolicy,
      keyPrefix: parent.keyPrefix,
      depth: parent.depth,
      clock: this.clock,
      ...(parent.sessionId !== undefined ? { sessionId: parent.sessionId } : {}),
      hooks,
    });
    const result = await run.run();
    if (result.stopped !== undefined) throw result.stopped.reason;
    const failure = result.records.find(
      (r) => r.status === "failed" && graph.steps[r.index]!.continueOnError !== true,
    );
    if (failure !== undefined) {
      throw new AriaError("STEP_FAILED", {
        message: `Pipeline '${pipeline.name}' failed at step '${failure.stepId}': ${failure.error?.message ?? "failed"}`,
        details: { pipeline: pipeline.name, stepId: failure.stepId, cause: failure.error },
      });
    }
    return { output: this.outputOf(graph, run, result.records), usage };
  }

  // ------------------------------------------------------------------ running

  private async startRun(
    target: RunTarget,
    plan: { id: string; objective: string; output?: ExecutionPlan["output"] },
    graph: PlanGraph,
    input: unknown,
    request: RunRequest,
  ): Promise<RunResult> {
    this.open();
    if (graph.usesInput && input === undefined) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `'${plan.id}' reads {{input}} but the run was given no input`,
        details: { issues: [{ path: "input", message: "required" }] },
      });
    }
    const runId = request.runId ?? randomUUID();
    const store = this.deps.store;
    const lease = await store.acquireLease(runLeaseKey(runId), this.instanceId, this.leaseTtlMs);
    if (lease === undefined)
      throw new AriaError("RUN_CONFLICT", {
        message: `Run ${runId} is already held by another worker`,
        context: { runId },
      });
    const now = this.clock.now();
    const run: RunState = {
      id: runId,
      status: "running",
      target,
      ...(request.task !== undefined ? { task: request.task } : {}),
      ...(input !== undefined ? { input } : {}),
      ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
      options: request.options ?? {},
      plan: {
        id: plan.id,
        objective: plan.objective,
        steps: graph.steps as ExecutionStep[],
        revision: 0,
        ...(plan.output !== undefined ? { output: plan.output } : {}),
      },
      steps: [],
      metrics: { ...emptyExecutionMetrics(), startedAt: iso(now), stepsTotal: graph.steps.length },
      cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
      createdAt: iso(now),
      updatedAt: iso(now),
      version: 0,
    };
    let created: boolean;
    try {
      created = await store.compareAndSetRun(run, -1, lease.fencingToken);
    } catch (error) {
      await store.releaseLease(lease).catch(() => {});
      throw toAriaError(error, "STORE_UNAVAILABLE", { runId });
    }
    if (!created) {
      await store.releaseLease(lease).catch(() => {});
      throw new AriaError("RUN_CONFLICT", {
        message: `A run with id ${runId} already exists`,
        context: { runId },
      });
    }
    const context = this.newContext(runId, request.sessionId, request.task);
    return this.execute(
      {
        runId,
        run,
        graph,
        context,
        lease,
        version: 0,
        startedAtMs: now,
        usage: {
          inputTokens: request.spent?.inputTokens ?? 0,
          outputTokens: request.spent?.outputTokens ?? 0,
          costUsd: request.spent?.costUsd ?? 0,
        },
      },
      [],
      request,
      false,
    );
  }

  private execute(
    base: Pick<
      ActiveRun,
      "runId" | "run" | "graph" | "context" | "lease" | "version" | "startedAtMs" | "usage"
    > & { revisions?: number; pausedMs?: number },
    initial: StepRecord[],
    request: RunRequest,
    resumed: boolean,
  ): Promise<RunResult> {
    const active = base as ActiveRun;
    active.recovery =
      request.recovery ?? (request.options?.reflection === true ? this.deps.recovery : undefined);
    active.reflections = 0;
    active.revisions = base.revisions ?? 0;
    active.pausedMs = base.pausedMs ?? 0;
    active.stepRecoveries = new Map();
    active.replanCause = undefined;
    active.controller = new AbortController();
    active.abortKind = undefined;
    active.writes = Promise.resolve();
    active.hasContainers = base.graph.steps.some((s) => s.type === "container");
    active.done = this.drive(active, initial, request, resumed);
    this.active.set(active.runId, active);
    return active.done;
  }

  private async drive(
    active: ActiveRun,
    initial: StepRecord[],
    request: RunRequest,
    resumed: boolean,
  ): Promise<RunResult> {
    const { runId, graph, context } = active;
    const options = request.options ?? {};
    this.metricsData.increment("runsStarted");
    const cleanups: Array<() => void> = [];
    try {
      await this.emit(runId, "run.started", undefined, {
        target: active.run.target,
        steps: graph.steps.length,
        ...(resumed ? { resumed: true, finishedSteps: initial.length } : {}),
      });

      const renew = setInterval(() => void this.renew(active), this.leaseRenewMs);
      renew.unref?.();
      cleanups.push(() => clearInterval(renew));
      if (options.timeoutMs !== undefined) {
        // Time spent waiting for a person does not count against the run's timeout.
        const remaining = Math.max(
          0,
          active.startedAtMs + active.pausedMs + options.timeoutMs - this.clock.now(),
        );
        const timer = setTimeout(
          () =>
            this.abort(
              active,
              "timeout",
              new AriaError("RUN_TIMEOUT", {
                message: `Run ${runId} exceeded its ${options.timeoutMs} ms timeout`,
                context: { runId },
              }),
            ),
          remaining,
        );
        timer.unref?.();
        cleanups.push(() => clearTimeout(timer));
      }
      const external = request.signal;
      if (external !== undefined) {
        const onAbort = () =>
          this.abort(
            active,
            "cancel",
            AriaError.is(external.reason)
              ? external.reason
              : new AriaError("RUN_CANCELLED", {
                  message: `Run ${runId} was cancelled`,
                  context: { runId },
                }),
          );
        if (external.aborted) onAbort();
        else {
          external.addEventListener("abort", onAbort, { once: true });
          cleanups.push(() => external.removeEventListener("abort", onAbort));
        }
      }
      context.onEvict((eviction) => {
        this.metricsData.increment("memoryEvictions", eviction.keys.length);
        const at = iso(this.clock.now());
        this.checkpoint(active, {
          schemaVersion: CHECKPOINT_SCHEMA_VERSION,
          kind: "memory.evicted",
          at,
          keys: eviction.keys,
        }).catch((error) =>
          this.abort(active, "lost", toAriaError(error, "STORE_UNAVAILABLE", { runId })),
        );
        void this.emit(runId, "memory.evicted", undefined, { ...eviction });
      });

      const graphRunFor = (current: PlanGraph, done: StepRecord[]) =>
        new GraphRun({
          runId,
          graph: current,
          context,
          engine: this.executionEngine,
          input: active.run.input,
          hasInput: active.run.input !== undefined,
          signal: active.controller.signal,
          maxParallel: options.maxParallel ?? this.maxParallel,
          failurePolicy: this.failurePolicy,
          keyPrefix: `${runId}:`,
          depth: 0,
          initial: done,
          clock: this.clock,
          ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
          ...(request.workspaceDir !== undefined ? { workspaceDir: request.workspaceDir } : {}),
          hooks: this.hooksFor(active, options),
        });
      let graphRun = graphRunFor(graph, initial);
      let result = await graphRun.run();
      let stopReason = result.stopped?.reason;
      // Reflection asked to replan: replace the unfinished rest of the plan and go on.
      while (result.stopped?.kind === "adapt" && active.abortKind === undefined) {
        let next: { graph: PlanGraph; initial: StepRecord[] };
        try {
          await active.writes;
          next = await this.adaptRun(active, graphRun, result.records);
        } catch (error) {
          stopReason = toAriaError(error, "PLAN_INVALID", { runId });
          break;
        }
        graphRun = graphRunFor(next.graph, next.initial);
        result = await graphRun.run();
        stopReason = result.stopped?.reason;
      }
      // Cancelled (or timed out) while the plan was being revised: the run ends for that reason.
      if (result.stopped?.kind === "adapt" && active.controller.signal.aborted)
        stopReason = abortError(active.controller.signal);
      await active.writes;
      if (result.paused !== undefined && stopReason === undefined && active.abortKind === undefined)
        return await this.pause(active, graphRun, result.records, result.paused);
      return await this.finish(active, graphRun, result.records, stopReason);
    } finally {
      for (const cleanup of cleanups) cleanup();
      context.onEvict(undefined);
      this.active.delete(runId);
    }
  }

  private hooksFor(active: ActiveRun, options: RunOptions): GraphRunHooks {
    const { runId, graph, context } = active;
    const recovery = active.recovery;
    const maxTokens = options.maxTokens;
    const maxCostUsd = options.maxCostUsd;
    return {
      // Events are appended in call order (the store assigns sequence numbers as it is called), so
      // step events need not be awaited; checkpoints are.
      stepStarted: (i) => {
        // Budgets: once the run has spent its tokens or money, the next step is refused, not run.
        if (maxTokens !== undefined || maxCostUsd !== undefined) {
          const used = active.usage;
          const tokens = used.inputTokens + used.outputTokens;
          if (
            (maxTokens !== undefined && tokens >= maxTokens) ||
            (maxCostUsd !== undefined && used.costUsd >= maxCostUsd)
          ) {
            throw new AriaError("BUDGET_EXCEEDED", {
              message: `Run ${runId} spent its budget (${tokens} tokens, $${used.costUsd.toFixed(4)}); step '${graph.ids[i]}' was not started`,
              context: { runId, stepId: graph.ids[i]! },
              // (Keys avoid the word "token": error details redact such keys as secrets.)
              details: {
                spent: { total: tokens, usd: used.costUsd },
                budget: { total: maxTokens, usd: maxCostUsd },
              },
            });
          }
        }
        this.metricsData.increment("stepsStarted");
        void this.emit(runId, "step.started", graph.ids[i]!, {
          index: i,
          type: graph.steps[i]!.type,
        });
      },
      stepRetrying: (i, notice) => {
        this.metricsData.increment("stepRetries");
        return this.emitRetry(runId, graph.ids[i]!, notice);
      },
      stepFinished: async (record, output) => {
        if (record.status === "succeeded" && recovery?.onStepSucceeded !== undefined)
          await this.reflectOnSuccess(active, record, output, recovery);
        const checkpoint: StepCheckpoint = {
          schemaVersion: 2,
          kind: "step",
          at: iso(record.finishedAt ?? this.clock.now()),
          stepId: record.stepId,
          index: record.index,
          status: record.status,
          attempts: record.attempts,
          retries: record.retries,
          durationMs: record.durationMs,
          idempotencyKey: record.idempotencyKey,
        };
        if (record.status === "succeeded") checkpoint.output = output;
        if (record.error !== undefined) checkpoint.error = record.error;
        if (record.startedAt !== undefined) checkpoint.startedAt = iso(record.startedAt);
        if (record.finishedAt !== undefined) checkpoint.finishedAt = checkpoint.at;
        if (record.containerId !== undefined) checkpoint.containerId = record.containerId;
        if (record.tolerated === true) checkpoint.tolerated = true;
        if (record.resolvedParams !== undefined) checkpoint.resolvedParams = record.resolvedParams;
        if (record.usage !== undefined) {
          checkpoint.usage = record.usage;
          addUsage(active.usage, record.usage);
        }
        await this.checkpoint(active, checkpoint);
        this.observeStep(record, context);
        void this.emitStepEnd(runId, record, graph);
      },
      stepSettled: (record) => this.observeStep(record, context),
      approval: (i, rendered, gateOptions) => {
        const reason = this.approvalPolicy.reason(rendered);
        if (reason === undefined) return undefined;
        // A run that spent its budget is not held for a person: the step is refused at its start.
        if (
          (maxTokens !== undefined &&
            active.usage.inputTokens + active.usage.outputTokens >= maxTokens) ||
          (maxCostUsd !== undefined && active.usage.costUsd >= maxCostUsd)
        )
          return undefined;
        return this.approvalGate(active, i, rendered, reason, gateOptions?.rerun === true);
      },
      ...(recovery !== undefined
        ? {
            stepFailed: (index: number, failure: GraphStepFailure) =>
              this.recoverStep(active, index, failure, recovery),
          }
        : {}),
    };
  }

  // ------------------------------------------------------------------ reflection and adaptation

  /**
   * A step failed: asks the run's recovery (reflection) what to do and turns the answer into a
   * graph decision, within the run's bounds: reflection rounds, plan revisions, tokens and cost.
   * Each answer is recorded (`reflection` event, history, insight).
   */
  private async recoverStep(
    active: ActiveRun,
    index: number,
    failure: GraphStepFailure,
    recovery: RunRecovery,
  ): Promise<GraphRecovery | undefined> {
    const { runId, context } = active;
    const graph = active.graph;
    const stepId = graph.ids[index]!;
    const options = active.run.options;
    if (this.maxReflectionRounds === 0 || active.abortKind !== undefined) return undefined;
    // A spent budget is not a failure reflection can fix: the run stops with it.
    if (failure.error.code === "BUDGET_EXCEEDED") return { kind: "abort", error: failure.error };
    if (active.reflections >= this.maxReflectionRounds) {
      return {
        kind: "abort",
        error: this.budgetError(
          active,
          stepId,
          "reflection rounds",
          {
            reflectionRounds: active.reflections,
          },
          { reflectionRounds: this.maxReflectionRounds },
          failure.error,
        ),
      };
    }
    const spentTokens = active.usage.inputTokens + active.usage.outputTokens;
    if (
      (options.maxTokens !== undefined && spentTokens >= options.maxTokens) ||
      (options.maxCostUsd !== undefined && active.usage.costUsd >= options.maxCostUsd)
    ) {
      return {
        kind: "abort",
        error: this.budgetError(
          active,
          stepId,
          "tokens and cost",
          { tokens: spentTokens, usd: active.usage.costUsd },
          { tokens: options.maxTokens, usd: options.maxCostUsd },
          failure.error,
        ),
      };
    }
    active.reflections++;
    const round = active.reflections;
    const stepRecoveries = active.stepRecoveries.get(stepId) ?? 0;
    active.stepRecoveries.set(stepId, stepRecoveries + 1);
    const plan = active.run.plan!;
    let answer: RecoveryAnswer;
    try {
      answer = await recovery.onStepFailed({
        runId,
        stepId,
        index,
        step: failure.step,
        ...(failure.rendered !== undefined ? { resolvedParams: failure.rendered.params } : {}),
        error: failure.error.toBody(),
        round,
        stepRecoveries,
        plan: {
          id: plan.id,
          objective: plan.objective,
          steps: graph.steps,
          revision: plan.revision,
        },
        finished: this.finishedSummary(active),
        ...(active.run.task !== undefined ? { task: active.run.task } : {}),
        ...(active.run.sessionId !== undefined ? { sessionId: active.run.sessionId } : {}),
        spent: { ...active.usage },
        signal: active.controller.signal,
      });
    } catch (thrown) {
      const error = toAriaError(thrown, "INTERNAL_ERROR", { runId, stepId });
      return { kind: "abort", error };
    }
    const decision = answer.decision;
    let result: GraphRecovery | undefined;
    switch (decision.action) {
      case "retry":
        result = { kind: "rerun", step: { ...(decision.step ?? failure.step), id: stepId } };
        break;
      case "skip":
        result = { kind: "tolerate" };
        break;
      case "replan":
        if (active.revisions >= this.maxPlanRevisions) {
          result = {
            kind: "abort",
            error: this.budgetError(
              active,
              stepId,
              "plan revisions",
              { planRevisions: active.revisions },
              { planRevisions: this.maxPlanRevisions },
              failure.error,
            ),
          };
        } else {
          active.replanCause = {
            stepId,
            error: failure.error.toBody(),
            ...(answer.reflection !== undefined ? { reflection: answer.reflection } : {}),
            ...(decision.guidance !== undefined ? { guidance: decision.guidance } : {}),
          };
          result = {
            kind: "adapt",
            reason: new AriaError("STEP_FAILED", {
              message: `Step '${stepId}' failed and the plan is being revised: ${failure.error.message}`,
              context: { runId, stepId },
            }),
          };
        }
        break;
      case "abort":
        result = {
          kind: "abort",
          error:
            decision.error ??
            new AriaError("STEP_FAILED", {
              message: `Step '${stepId}' failed and reflection stopped the run: ${failure.error.message}`,
              context: { runId, stepId },
              details: { stepId, cause: failure.error.toBody(), reflection: answer.reflection },
            }),
        };
        break;
      default:
        result = { kind: "fail" };
    }
    if (answer.usage !== undefined) result.usage = answer.usage;
    const data = {
      round,
      decision: decision.action,
      carriedOut: result.kind,
      error: { code: failure.error.code, message: failure.error.message },
      ...(answer.reflection ?? {}),
    };
    void this.emit(runId, "reflection", stepId, data);
    context.addHistory({
      stepId,
      kind: "reflection",
      summary: `reflection on ${stepId}: ${decision.action}`,
      data,
    });
    if (answer.insight !== undefined)
      context.addInsight({
        source: "reflection",
        text: answer.insight.text,
        ...(answer.insight.confidence !== undefined
          ? { confidence: answer.insight.confidence }
          : {}),
      });
    return result;
  }

  /** Reflection on a successful step: recorded (event, history, insight, usage), not acted on. */
  private async reflectOnSuccess(
    active: ActiveRun,
    record: StepRecord,
    output: unknown,
    recovery: RunRecovery,
  ): Promise<void> {
    const plan = active.run.plan!;
    let answer: RecoveryAnswer | undefined;
    try {
      answer = await recovery.onStepSucceeded!({
        runId: active.runId,
        stepId: record.stepId,
        index: record.index,
        step: active.graph.steps[record.index]!,
        output,
        plan: {
          id: plan.id,
          objective: plan.objective,
          steps: active.graph.steps,
          revision: plan.revision,
        },
        ...(active.run.sessionId !== undefined ? { sessionId: active.run.sessionId } : {}),
        signal: active.controller.signal,
      });
    } catch (thrown) {
      this.deps.logger?.warn(
        { runId: active.runId, stepId: record.stepId, err: String(thrown) },
        "reflection on a successful step failed",
      );
      return;
    }
    if (answer === undefined) return;
    if (answer.usage !== undefined) {
      record.usage ??= { inputTokens: 0, outputTokens: 0, costUsd: 0 };
      addUsage(record.usage, answer.usage);
    }
    const data = {
      decision: answer.decision.action,
      succeeded: true,
      ...(answer.reflection ?? {}),
    };
    void this.emit(active.runId, "reflection", record.stepId, data);
    active.context.addHistory({
      stepId: record.stepId,
      kind: "reflection",
      summary: `reflection on ${record.stepId}: ${answer.decision.action}`,
      data,
    });
    if (answer.insight !== undefined)
      active.context.addInsight({
        source: "reflection",
        text: answer.insight.text,
        ...(answer.insight.confidence !== undefined
          ? { confidence: answer.insight.confidence }
          : {}),
      });
  }

  /**
   * Replaces the unfinished rest of the plan: finished steps (succeeded, and failed ones the run
   * continues past) are kept in order as the new plan's first steps, the recovery writes the rest,
   * the new plan is validated, written (a new revision of the run record) and announced
   * (`plan.adapted`). Kept steps whose position changed get a checkpoint with their new index.
   */
  private async adaptRun(
    active: ActiveRun,
    graphRun: GraphRun,
    records: StepRecord[],
  ): Promise<{ graph: PlanGraph; initial: StepRecord[] }> {
    const { runId, context } = active;
    const recovery = active.recovery!;
    const graph = active.graph;
    const plan = active.run.plan!;
    const kept = records
      .filter((r) => r.status === "succeeded" || (r.status === "failed" && r.tolerated === true))
      .sort((a, b) => a.index - b.index);
    const keptSteps = kept.map((r) => graph.steps[r.index]!);
    const cause = active.replanCause;
    active.replanCause = undefined;
    const answer = await recovery.replan({
      runId,
      objective: plan.objective,
      ...(active.run.task !== undefined ? { task: active.run.task } : {}),
      ...(active.run.input !== undefined ? { input: active.run.input } : {}),
      ...(active.run.sessionId !== undefined ? { sessionId: active.run.sessionId } : {}),
      plan: { id: plan.id, steps: graph.steps, revision: plan.revision },
      kept: kept.map((r) => ({
        step: graph.steps[r.index]!,
        succeeded: r.status === "succeeded",
        ...(r.status === "succeeded"
          ? { output: copyValue(graphRun.stepById(r.stepId)?.output) }
          : {
              error: {
                code: r.error?.code ?? "STEP_FAILED",
                message: r.error?.message ?? "failed",
              },
            }),
      })),
      ...(cause !== undefined ? { cause } : {}),
      spent: { ...active.usage },
      signal: active.controller.signal,
    });
    if (answer.usage !== undefined) addUsage(active.usage, answer.usage);
    const steps = [...keptSteps, ...answer.steps];
    const next = buildPlanGraph(steps, this.graphOptions(plan.output, active.run.options.maxSteps));
    active.revisions++;
    const revision = plan.revision + 1;

    // Kept steps now sit at new positions: one checkpoint each for those that moved.
    const initial: StepRecord[] = [];
    for (let position = 0; position < kept.length; position++) {
      const record = kept[position]!;
      const moved: StepRecord = { ...record, index: position };
      initial.push(moved);
      if (record.index === position) continue;
      const checkpoint: StepCheckpoint = {
        schemaVersion: 2,
        kind: "step",
        at: iso(this.clock.now()),
        stepId: record.stepId,
        index: position,
        status: record.status as "succeeded" | "failed",
        attempts: record.attempts,
        retries: record.retries,
        durationMs: record.durationMs,
        idempotencyKey: record.idempotencyKey,
      };
      if (record.status === "succeeded")
        checkpoint.output = context.get(RuntimeContext.stepKey(record.stepId));
      if (record.error !== undefined) checkpoint.error = record.error;
      if (record.startedAt !== undefined) checkpoint.startedAt = iso(record.startedAt);
      if (record.finishedAt !== undefined) checkpoint.finishedAt = iso(record.finishedAt);
      if (record.containerId !== undefined) checkpoint.containerId = record.containerId;
      if (record.tolerated === true) checkpoint.tolerated = true;
      if (record.resolvedParams !== undefined) checkpoint.resolvedParams = record.resolvedParams;
      // (Usage is not repeated: it was counted with the step's first checkpoint... on resume the
      // last record of a step wins, so it must carry it again.)
      if (record.usage !== undefined) checkpoint.usage = record.usage;
      await this.checkpoint(active, checkpoint);
    }

    const now = this.clock.now();
    const revised: RunState = {
      ...active.run,
      plan: {
        ...plan,
        steps: next.steps as ExecutionStep[],
        revision,
        ...(answer.reasoning !== undefined ? { reasoning: answer.reasoning } : {}),
      },
      metrics: { ...active.run.metrics, stepsTotal: next.steps.length },
      updatedAt: iso(now),
    };
    const written = await this.deps.store.compareAndSetRun(
      recordForStore(revised),
      active.version,
      active.lease.fencingToken,
    );
    if (!written) {
      throw new AriaError("RUN_CONFLICT", {
        message: `Run ${runId} changed under this worker while its plan was revised`,
        context: { runId },
      });
    }
    active.version++;
    active.run = revised;
    active.graph = next;
    active.hasContainers = active.hasContainers || next.steps.some((st) => st.type === "container");
    const keptIds = new Set(kept.map((r) => r.stepId));
    const data = {
      revision,
      kept: kept.map((r) => r.stepId),
      dropped: graph.ids.filter((id) => !keptIds.has(id)),
      added: next.ids.slice(kept.length),
      ...(answer.reasoning !== undefined ? { reasoning: answer.reasoning } : {}),
      ...(cause !== undefined
        ? {
            cause: { stepId: cause.stepId, code: cause.error?.code, message: cause.error?.message },
          }
        : {}),
    };
    void this.emit(runId, "plan.adapted", undefined, data);
    context.addHistory({ kind: "plan.adapted", summary: `plan revision ${revision}`, data });
    return { graph: next, initial };
  }

  private finishedSummary(
    active: ActiveRun,
  ): Array<{ stepId: string; status: string; error?: string }> {
    const out: Array<{ stepId: string; status: string; error?: string }> = [];
    for (const entry of active.context.history()) {
      if (entry.stepId === undefined || !entry.kind.startsWith("step.")) continue;
      const data = entry.data as { errorCode?: string } | undefined;
      out.push({
        stepId: entry.stepId,
        status: entry.kind.slice(5),
        ...(data?.errorCode !== undefined ? { error: data.errorCode } : {}),
      });
    }
    return out;
  }

  private budgetError(
    active: ActiveRun,
    stepId: string,
    what: string,
    spent: Record<string, number | undefined>,
    limit: Record<string, number | undefined>,
    cause: AriaError,
  ): AriaError {
    return new AriaError("BUDGET_EXCEEDED", {
      message: `Run ${active.runId} spent its ${what} budget; step '${stepId}' failed (${cause.message}) and was not recovered`,
      context: { runId: active.runId, stepId },
      details: { budget: what, spent, limit, cause: { code: cause.code, message: cause.message } },
    });
  }

  private observeStep(record: StepRecord, context: RuntimeContext): void {
    switch (record.status) {
      case "succeeded":
        this.metricsData.increment("stepsSucceeded");
        break;
      case "failed":
        this.metricsData.increment("stepsFailed");
        if (record.error !== undefined)
          context.addError({ ...record.error, stepId: record.stepId });
        break;
      case "skipped":
        this.metricsData.increment("stepsSkipped");
        break;
      case "cancelled":
        this.metricsData.increment("stepsCancelled");
        break;
    }
    if (record.startedAt !== undefined)
      this.metricsData.observeStep(record.type, record.durationMs);
    context.recordStep({
      stepId: record.stepId,
      status: record.status,
      durationMs: record.durationMs,
      attempts: record.attempts,
      ...(record.error !== undefined ? { errorCode: record.error.code } : {}),
    });
  }

  /**
   * Whether step `i`, which needs approval for `reason`, may run: reads its approval record
   * (requesting one, with `approval.requested`, the first time). A pending approval past its time
   * is decided by its timeout policy here.
   */
  private async approvalGate(
    active: ActiveRun,
    i: number,
    rendered: ExecutionStep,
    reason: string,
    rerun: boolean,
  ): Promise<GraphApprovalAnswer> {
    const { runId } = active;
    const stepId = active.graph.ids[i]!;
    const fingerprint = approvalFingerprint(rendered);
    let record = await this.approvals.get(runId, stepId);
    // An approval covers exactly what was shown: the same kind, target and parameters.
    const matches = record?.fingerprint === undefined || record.fingerprint === fingerprint;
    if (rerun) {
      // A rerun proposed by reflection runs only under an approval given for exactly it.
      if (record?.status === "approved" && matches)
        return record.editedParams !== undefined
          ? {
              kind: "run",
              step: { ...rendered, params: record.editedParams as ExecutionStep["params"] },
            }
          : { kind: "run" };
      return { kind: "wait" };
    }
    const superseded = record !== undefined && !matches;
    if (record === undefined || superseded) {
      const policy = this.approvalPolicy.policyFor(rendered);
      const now = this.clock.now();
      record = {
        runId,
        stepId,
        kind: rendered.type,
        target: targetOf(rendered),
        params: (rendered.params ?? {}) as Record<string, unknown>,
        reason,
        requestedAt: iso(now),
        expiresAt: iso(now + policy.timeoutMs),
        onTimeout: policy.onTimeout,
        status: "pending",
        fingerprint,
      };
      // A step that changed since it was asked about (a plan revision reusing its id) is asked
      // about again; the earlier decision does not carry over.
      if (superseded) await this.approvals.replace(record);
      else await this.approvals.request(record);
      this.metricsData.increment("approvalsRequested");
      await this.emit(runId, "approval.requested", stepId, {
        kind: record.kind,
        target: record.target,
        params: record.params,
        reason,
        ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
        onTimeout: record.onTimeout,
        ...(superseded ? { supersedes: true } : {}),
      });
      return { kind: "wait" };
    }
    if (record.status === "pending") {
      if (record.expiresAt === undefined || Date.parse(record.expiresAt) > this.clock.now())
        return { kind: "wait" };
      record = (await this.expireApproval(record)).record;
      if (record.status === "pending") return { kind: "wait" };
    }
    if (record.status === "rejected")
      return {
        kind: "reject",
        error: new AriaError("APPROVAL_REJECTED", {
          message: `Step '${stepId}' was rejected${record.timedOut ? " (its approval timed out)" : ""} by ${record.decidedBy ?? "an approver"}${record.comment ? `: ${record.comment}` : ""}`,
          context: { runId, stepId },
          details: {
            decidedBy: record.decidedBy ?? "unknown",
            ...(record.timedOut ? { timedOut: true } : {}),
          },
        }),
      };
    return record.editedParams !== undefined
      ? {
          kind: "run",
          step: { ...rendered, params: record.editedParams as ExecutionStep["params"] },
        }
      : { kind: "run" };
  }

  /**
   * Nothing else can run and some steps wait for approval: the run is stored as `paused` (its
   * finished steps are checkpointed already), its lease released. Resuming it after a decision
   * runs the approved steps and what depends on them.
   */
  private async pause(
    active: ActiveRun,
    graphRun: GraphRun,
    records: StepRecord[],
    waiting: string[],
  ): Promise<RunResult> {
    const { runId, context } = active;
    const store = this.deps.store;
    const now = this.clock.now();
    const run = this.finalState(active, graphRun, records, "paused", undefined, undefined, now);
    delete run.metrics.finishedAt;
    run.metrics.stepsTotal = active.graph.steps.length;
    // Unlike a finished run, a paused one must be stored as paused: otherwise nothing would ever
    // resume it. A failed write throws, so the run stays `running` and a worker takes it over.
    await this.checkpoint(active, {
      schemaVersion: CHECKPOINT_SCHEMA_VERSION,
      kind: "run.paused",
      at: iso(now),
      waiting,
    });
    const written = await store.compareAndSetRun(
      recordForStore(run),
      active.version,
      active.lease.fencingToken,
    );
    if (!written)
      throw new AriaError("RUN_CONFLICT", {
        message: `Run ${runId} changed under this worker while pausing`,
        context: { runId },
      });
    run.version = active.version + 1;
    this.metricsData.increment("runsPaused");
    await store.releaseLease(active.lease).catch(() => {});
    if (active.hasContainers && this.deps.containers !== undefined) {
      await this.deps.containers.cleanupRun(runId).catch(() => {});
    }
    return { run, context };
  }

  private async finish(
    active: ActiveRun,
    graphRun: GraphRun,
    records: StepRecord[],
    stopReason: AriaError | undefined,
  ): Promise<RunResult> {
    const { runId, graph, context } = active;
    const store = this.deps.store;
    if (active.abortKind === undefined && stopReason?.code === "RUN_CONFLICT")
      active.abortKind = "lost";
    if (active.abortKind === "lost" || active.abortKind === "shutdown") {
      // Not ours to finish: the run stays `running` for the worker that resumes it.
      if (active.abortKind === "shutdown") await store.releaseLease(active.lease).catch(() => {});
      throw (
        stopReason ??
        new AriaError("RUN_CONFLICT", {
          message: `Run ${runId} stopped on this worker`,
          context: { runId },
        })
      );
    }

    let status: RunStatus;
    let error: AriaError | undefined;
    let output: unknown;
    if (stopReason !== undefined) {
      status = active.abortKind === "cancel" ? "cancelled" : "failed";
      error = stopReason;
    } else {
      const failures = records.filter(
        (r) =>
          r.status === "failed" &&
          r.tolerated !== true &&
          graph.steps[r.index]!.continueOnError !== true,
      );
      if (failures.length > 0) {
        const first = failures[0]!;
        status = "failed";
        error = new AriaError("STEP_FAILED", {
          message: `Step '${first.stepId}' failed: ${first.error?.message ?? "unknown error"}`,
          context: { runId, stepId: first.stepId },
          details: {
            failedSteps: failures.map((r) => r.stepId),
            skippedSteps: records.filter((r) => r.status === "skipped").map((r) => r.stepId),
            cause: first.error,
          },
        });
      } else {
        try {
          output = this.outputOf(graph, graphRun, records);
          status = "succeeded";
        } catch (thrown) {
          status = "failed";
          error = toAriaError(thrown, "PLACEHOLDER_UNRESOLVED", { runId });
        }
      }
    }

    const now = this.clock.now();
    const run = this.finalState(active, graphRun, records, status, output, error, now);
    let written = false;
    try {
      await this.checkpoint(active, {
        schemaVersion: CHECKPOINT_SCHEMA_VERSION,
        kind: "run.finished",
        at: iso(now),
        status,
      });
      written = await store.compareAndSetRun(
        recordForStore(run),
        active.version,
        active.lease.fencingToken,
      );
      if (!written)
        this.deps.logger?.warn(
          { runId },
          "final run record not written: the run changed under this worker",
        );
    } catch (thrown) {
      this.deps.logger?.error(
        { runId, err: toAriaError(thrown).toBody() },
        "could not write the final run record",
      );
    }
    if (written) run.version = active.version + 1;

    const counts = {
      succeeded: run.metrics.stepsSucceeded,
      failed: run.metrics.stepsFailed,
      skipped: run.metrics.stepsSkipped,
    };
    if (status === "succeeded") {
      this.metricsData.increment("runsSucceeded");
      await this.emit(runId, "run.completed", undefined, {
        durationMs: run.metrics.durationMs,
        steps: counts,
      });
    } else if (status === "cancelled") {
      this.metricsData.increment("runsCancelled");
      await this.emit(runId, "run.cancelled", undefined, { reason: error?.message, steps: counts });
    } else {
      this.metricsData.increment("runsFailed");
      await this.emit(runId, "run.failed", undefined, {
        error: { code: error?.code, message: error?.message },
        steps: counts,
      });
    }
    this.metricsData.observeRun(run.metrics.durationMs);
    await store.releaseLease(active.lease).catch(() => {});
    if (active.hasContainers && this.deps.containers !== undefined) {
      await this.deps.containers
        .cleanupRun(runId)
        .catch((thrown: unknown) =>
          this.deps.logger?.warn(
            { runId, err: toAriaError(thrown).toBody() },
            "container cleanup failed",
          ),
        );
    }
    return { run, context };
  }

  private finalState(
    active: ActiveRun,
    graphRun: GraphRun,
    records: StepRecord[],
    status: RunStatus,
    output: unknown,
    error: AriaError | undefined,
    now: number,
  ): RunState {
    const { context } = active;
    const metrics = {
      ...emptyExecutionMetrics(),
      startedAt: iso(active.startedAtMs),
      finishedAt: iso(now),
      durationMs: Math.max(0, now - active.startedAtMs),
      stepsTotal: records.length,
    };
    const steps: StepResult[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      metrics.attempts += record.attempts;
      metrics.retries += record.retries;
      if (record.status === "succeeded") metrics.stepsSucceeded++;
      else if (record.status === "failed") metrics.stepsFailed++;
      else if (record.status === "skipped") metrics.stepsSkipped++;
      const result: StepResult = {
        stepId: record.stepId,
        index: record.index,
        type: record.type,
        status: record.status,
        success: record.status === "succeeded",
        idempotencyKey: record.idempotencyKey,
        metrics: {
          ...emptyExecutionMetrics(),
          durationMs: record.durationMs,
          attempts: record.attempts,
          retries: record.retries,
          ...(record.startedAt !== undefined ? { startedAt: iso(record.startedAt) } : {}),
          ...(record.finishedAt !== undefined ? { finishedAt: iso(record.finishedAt) } : {}),
          ...(record.usage !== undefined
            ? {
                inputTokens: record.usage.inputTokens,
                outputTokens: record.usage.outputTokens,
                costUsd: record.usage.costUsd,
              }
            : {}),
        },
      };
      if (record.status === "succeeded") {
        const key = graphRun.outputKey(record.index);
        if (context.has(key)) result.output = context.get(key);
      }
      if (record.error !== undefined) result.error = record.error;
      if (record.containerId !== undefined) result.containerId = record.containerId;
      if (record.resolvedParams !== undefined) result.resolvedParams = record.resolvedParams;
      steps[i] = result;
    }
    metrics.inputTokens = active.usage.inputTokens;
    metrics.outputTokens = active.usage.outputTokens;
    metrics.costUsd = active.usage.costUsd;
    const run: RunState = {
      ...active.run,
      status,
      steps,
      metrics,
      cost: {
        usd: active.usage.costUsd,
        inputTokens: active.usage.inputTokens,
        outputTokens: active.usage.outputTokens,
      },
      updatedAt: iso(now),
      version: active.version,
    };
    if (output !== undefined) run.result = output;
    else delete run.result;
    if (error !== undefined) run.error = error.toBody();
    else delete run.error;
    return run;
  }

  /** The run's output: the `output` mapping resolved, else the last declared step's output. */
  private outputOf(graph: PlanGraph, source: GraphRun, records: StepRecord[]): unknown {
    if (graph.output !== undefined) return graph.output.render(source);
    const last = records[records.length - 1];
    if (last === undefined || last.status !== "succeeded") return undefined;
    return copyValue(source.stepById(last.stepId)?.output);
  }

  // ------------------------------------------------------------------ persistence and events

  /** Appends a checkpoint after the run's earlier writes (one ordered chain per run, fenced). */
  private checkpoint(active: ActiveRun, record: unknown): Promise<void> {
    // Writes are issued in order and stores apply them in the order issued (one connection), so
    // no chaining is needed; `writes` tracks the latest for the flush at the end of the run.
    let write: Promise<void>;
    try {
      write = this.deps.store.appendCheckpoint(active.runId, record, active.lease.fencingToken);
    } catch (error) {
      write = Promise.reject(error);
    }
    active.writes = write.catch(ignore);
    this.metricsData.increment("checkpointsWritten");
    return write;
  }

  private async renew(active: ActiveRun): Promise<void> {
    if (active.abortKind !== undefined) return;
    try {
      const renewed = await this.deps.store.renewLease(active.lease, this.leaseTtlMs);
      if (renewed === undefined) {
        this.abort(
          active,
          "lost",
          new AriaError("RUN_CONFLICT", {
            message: `Run ${active.runId}: the lease was lost to another worker`,
            context: { runId: active.runId },
          }),
        );
      } else {
        active.lease = renewed;
      }
    } catch (error) {
      if (this.clock.now() >= active.lease.expiresAt) {
        this.abort(
          active,
          "lost",
          toAriaError(error, "STORE_UNAVAILABLE", { runId: active.runId }),
        );
      }
    }
  }

  private abort(active: ActiveRun, kind: AbortKind, reason: AriaError): void {
    if (active.abortKind !== undefined || active.controller.signal.aborted) return;
    active.abortKind = kind;
    active.controller.abort(reason);
  }

  private emitRetry(
    runId: string,
    stepId: string,
    notice: { failedAttempt: number; nextAttempt: number; delayMs: number; error: AriaError },
  ): Promise<void> {
    return this.emit(runId, "step.retrying", stepId, {
      attempt: notice.failedAttempt,
      nextAttempt: notice.nextAttempt,
      delayMs: notice.delayMs,
      error: { code: notice.error.code, message: notice.error.message },
    });
  }

  private emitStepEnd(runId: string, record: StepRecord, graph: PlanGraph): Promise<void> {
    if (record.status === "succeeded") {
      return this.emit(runId, "step.completed", record.stepId, {
        index: record.index,
        type: record.type,
        durationMs: record.durationMs,
        attempts: record.attempts,
      });
    }
    return this.emit(runId, "step.failed", record.stepId, {
      index: record.index,
      type: record.type,
      durationMs: record.durationMs,
      attempts: record.attempts,
      error: { code: record.error?.code, message: record.error?.message },
      continueOnError: graph.steps[record.index]?.continueOnError === true,
    });
  }

  /** Sends an event to the sink (not awaited) and appends it to the run's event log. */
  private async emit(
    runId: string,
    type: RunEventType,
    stepId: string | undefined,
    data: Record<string, unknown>,
  ): Promise<void> {
    const sink = this.deps.events;
    if (sink !== undefined) {
      try {
        const pending = sink.emit(runId, type, data, stepId);
        if (pending !== undefined)
          pending.catch((error: unknown) =>
            this.deps.logger?.warn({ runId, type, err: String(error) }, "event sink failed"),
          );
      } catch (error) {
        this.deps.logger?.warn({ runId, type, err: String(error) }, "event sink failed");
      }
    }
    try {
      // `stepId` may be undefined: JSON leaves it out (no spread of a temporary object per event).
      await this.deps.store.appendEvent(runId, {
        runId,
        type,
        at: iso(this.clock.now()),
        stepId,
        data,
      } as Omit<RunEvent, "seq">);
    } catch (error) {
      this.deps.logger?.warn(
        { runId, type, err: String(error) },
        "could not append the event to the run's log",
      );
    }
  }

  // ------------------------------------------------------------------ helpers

  private graphFor(
    steps: readonly unknown[],
    output: unknown,
    maxSteps: number | undefined,
  ): PlanGraph {
    return buildPlanGraph(steps, this.graphOptions(output, maxSteps));
  }

  private graphOptions(output: unknown, maxSteps: number | undefined) {
    const validate = this.deps.config?.validateTargets !== false;
    return {
      ...(output !== undefined ? { output } : {}),
      ...(validate ? { tools: this.deps.tools } : {}),
      ...(validate && this.deps.agents !== undefined ? { agents: this.deps.agents } : {}),
      implicitOrder: this.implicitOrder,
      maxSteps: Math.min(maxSteps ?? this.maxSteps, this.maxSteps),
    };
  }

  private pipelineByName(name: string): PipelineManifest {
    if (this.deps.agents === undefined) {
      throw new AriaError("PIPELINE_NOT_FOUND", {
        message: `No pipeline registry is configured (looking for '${name}')`,
      });
    }
    return this.deps.agents.getPipeline(name);
  }

  private checkInput(pipeline: PipelineManifest, input: unknown): void {
    if (pipeline.inputSchema !== undefined && this.deps.validateInput !== undefined) {
      this.deps.validateInput(pipeline.inputSchema, input, pipeline.name);
    }
  }

  private newContext(
    runId: string,
    sessionId: string | undefined,
    task: string | undefined,
  ): RuntimeContext {
    return new RuntimeContext({
      ...this.deps.config?.context,
      runId,
      ...(sessionId !== undefined ? { sessionId } : {}),
      ...(task !== undefined ? { task } : {}),
      memoryLimitBytes: this.deps.config?.memoryLimitBytes ?? CONTEXT_DEFAULTS.memoryLimitBytes,
      clock: this.clock,
    });
  }

  private open(): void {
    if (this.closed) throw new AriaError("STORE_UNAVAILABLE", { message: "The engine is closed" });
  }
}

const iso = isoTime;

/**
 * The run as written to the store at its end: step results that have a checkpoint (succeeded and
 * failed steps) are left out, since the checkpoints hold them and `readRunView` merges them back;
 * only skipped and cancelled steps, which are never checkpointed, are kept. The final write then
 * stays small however long the run was.
 */
function recordForStore(run: RunState): RunState {
  const steps: StepResult[] = [];
  for (const step of run.steps) {
    if (step.status === "skipped" || step.status === "cancelled" || step.status === "waiting")
      steps.push(step);
  }
  return { ...run, steps };
}

function ignore(): void {}

function addUsage(
  target: StepUsage,
  usage: { inputTokens?: number; outputTokens?: number; costUsd?: number },
): void {
  target.inputTokens += usage.inputTokens ?? 0;
  target.outputTokens += usage.outputTokens ?? 0;
  target.costUsd += usage.costUsd ?? 0;
}

function recordFromCheckpoint(
  checkpoint: StepCheckpoint,
  index: number,
  graph: PlanGraph,
): StepRecord {
  const record: StepRecord = {
    index,
    stepId: checkpoint.stepId,
    type: graph.steps[index]!.type,
    status: checkpoint.status as "succeeded" | "failed",
    attempts: checkpoint.attempts,
    retries: checkpoint.retries,
    durationMs: checkpoint.durationMs,
    idempotencyKey: checkpoint.idempotencyKey ?? "",
  };
  if (checkpoint.error !== undefined) record.error = normaliseErrorBody(checkpoint.error);
  if (checkpoint.startedAt !== undefined) record.startedAt = Date.parse(checkpoint.startedAt);
  if (checkpoint.finishedAt !== undefined) record.finishedAt = Date.parse(checkpoint.finishedAt);
  if (checkpoint.usage !== undefined) record.usage = checkpoint.usage;
  if (checkpoint.containerId !== undefined) record.containerId = checkpoint.containerId;
  if (checkpoint.tolerated === true) record.tolerated = true;
  if (checkpoint.resolvedParams !== undefined) record.resolvedParams = checkpoint.resolvedParams;
  return record;
}
