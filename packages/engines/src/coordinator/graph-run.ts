import type { Clock, ErrorBody, ExecutionStep, StepKind, StepStatus } from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import { RuntimeContext } from "../context/runtime-context.ts";
import {
  abortError,
  type ExecutionEngine,
  type RetryNotice,
  resolveStep,
  type StepOutcome,
  type StepRunOptions,
} from "../execution/execution-engine.ts";
import type { StepUsage } from "../execution/executors.ts";
import type { PlanGraph } from "../graph/plan-graph.ts";
import type { PlaceholderSource, PlaceholderStep } from "../placeholders/resolve.ts";

/**
 * What happens to the rest of a run when a step fails (and is not `continueOnError`):
 * - `skip-dependants` (default): the steps that depend on it, directly or not, are skipped;
 *   independent branches run to the end; the run then fails.
 * - `fail-fast`: running steps are cancelled and nothing else starts; the run fails.
 */
export type FailurePolicy = "skip-dependants" | "fail-fast";

/** A step that reached a final state (its output, if any, lives in the run's context). */
export interface StepRecord {
  index: number;
  stepId: string;
  type: StepKind;
  status: Exclude<StepStatus, "pending" | "running">;
  error?: ErrorBody;
  attempts: number;
  retries: number;
  /** Clock milliseconds (absent for steps that never started). */
  startedAt?: number;
  finishedAt?: number;
  durationMs: number;
  usage?: StepUsage;
  containerId?: string;
  idempotencyKey: string;
  /** The parameters the step ran with (placeholders resolved, an approver's edits applied). */
  resolvedParams?: Record<string, unknown>;
  /**
   * A failure the run continues past (recovery skipped the step, or a plan revision replaced it):
   * its dependants may run, and it does not fail the run.
   */
  tolerated?: boolean;
}

/**
 * What the coordinator's recovery (reflection) decided about a failed step:
 * `rerun` runs `step` (placeholders resolved against this run) in the same slot; `tolerate` lets
 * the run continue past the failure; `adapt` also tolerates it and stops starting steps so the
 * coordinator can replace the rest of the plan; `abort` stops the run with `error`; `fail` keeps
 * the failure. `usage` (the reflection's LLM cost) is added to the step's usage.
 */
export type GraphRecovery =
  | { kind: "rerun"; step: ExecutionStep; usage?: StepUsage }
  | { kind: "tolerate"; usage?: StepUsage }
  | { kind: "adapt"; reason: AriaError; usage?: StepUsage }
  | { kind: "abort"; error: AriaError; usage?: StepUsage }
  | { kind: "fail"; usage?: StepUsage };

/**
 * Whether a step may run now (approvals): `run` it (with `step` instead of the rendered one when
 * an approver edited its parameters), `reject` it (it fails with `error`, without recovery), or
 * `wait`: the step parks, its dependants do not start, and once nothing else can run the graph
 * ends `paused` so the coordinator can persist the run and resume it after the decision.
 */
export type ApprovalAnswer =
  | { kind: "run"; step?: ExecutionStep }
  | { kind: "reject"; error: AriaError }
  | { kind: "wait" };

/** Callbacks through which the coordinator persists and reports a run. */
export interface GraphRunHooks {
  /** Before a step runs (awaited: `step.started` is recorded before the step can finish). */
  stepStarted(index: number): void | Promise<void>;
  stepRetrying(index: number, notice: RetryNotice): void | Promise<void>;
  /**
   * A step succeeded or failed (awaited before its dependants start: this is where the checkpoint
   * is written). Throwing stops the run (for example when a fenced write is refused).
   */
  stepFinished(record: StepRecord, output: unknown): void | Promise<void>;
  /**
   * Optional: asked with the rendered step before it starts; see {@link ApprovalAnswer}.
   * `undefined` (synchronously) means the step needs no approval: most steps, so no await is
   * spent on them. Throwing stops the run.
   */
  approval?(
    index: number,
    rendered: ExecutionStep,
    options?: { rerun?: boolean },
  ): Promise<ApprovalAnswer> | undefined;
  /** A step was skipped or cancelled without running to its end (not checkpointed). */
  stepSettled(record: StepRecord): void;
  /**
   * Optional: a step failed (after its own retries); the answer says how to recover. Called again
   * after a failed rerun. Throwing stops the run.
   */
  stepFailed?(index: number, failure: GraphStepFailure): Promise<GraphRecovery | undefined>;
}

/** A failed step as recovery is asked about it (the declared and the rendered step). */
export interface GraphStepFailure {
  step: ExecutionStep;
  rendered: ExecutionStep | undefined;
  error: AriaError;
  recoveries: number;
}

export interface GraphRunConfig {
  runId: string;
  graph: PlanGraph;
  context: RuntimeContext;
  engine: ExecutionEngine;
  input: unknown;
  hasInput: boolean;
  /** Aborting it cancels the run (its reason becomes the steps' error). */
  signal?: AbortSignal;
  maxParallel: number;
  failurePolicy: FailurePolicy;
  /** Idempotency keys are `keyPrefix + stepId`. */
  keyPrefix: string;
  sessionId?: string;
  workspaceDir?: string;
  depth: number;
  /** Steps that already reached a final state (resume). */
  initial?: readonly StepRecord[];
  hooks: GraphRunHooks;
  clock?: Clock;
}

/** How a run stopped early, if it did. */
export interface GraphRunStop {
  /** `adapt`: recovery asked for a plan revision (running steps finish, nothing new starts). */
  kind: "cancelled" | "failed-fast" | "fatal" | "adapt";
  reason: AriaError;
}

export interface GraphRunResult {
  /** Final records; when `paused`, only the steps that reached a state (waiting ones included). */
  records: StepRecord[];
  stopped: GraphRunStop | undefined;
  /** Steps parked for an approval, when the graph stopped because nothing else could run. */
  paused?: string[];
}

const PENDING = 0;
const QUEUED = 1;
const RUNNING = 2;
const DONE = 3;
const PARKED = 4;

/**
 * Runs a validated plan graph: steps start as soon as their dependencies are satisfied, up to
 * `maxParallel` at a time; a failed step skips its dependants or stops the run per policy; every
 * finished step goes through the hooks before its dependants may start.
 */
export class GraphRun implements PlaceholderSource {
  private readonly config: GraphRunConfig;
  private readonly graph: PlanGraph;
  private readonly n: number;
  private readonly state: Uint8Array;
  private readonly blockers: Int32Array;
  /** Not-yet-finished steps whose placeholders reference each step (retention against eviction). */
  private readonly pendingRefs: Int32Array;
  private readonly records: Array<StepRecord | undefined>;
  /** Failed steps the run continues past (recovery's `tolerate` and `adapt`). */
  private readonly tolerated = new Set<number>();
  private readonly queue: number[] = [];
  private head = 0;
  private running = 0;
  private done = 0;
  /** Steps waiting for an approval. */
  private readonly parked: number[] = [];
  private readonly controller = new AbortController();
  private stopped: GraphRunStop | undefined;
  private resolveRun: ((result: GraphRunResult) => void) | undefined;
  private finished = false;
  private removeAbortListener: (() => void) | undefined;
  /** Working-memory keys of the steps' outputs, computed once. */
  private readonly outputKeys: string[];
  private readonly onRetry: (notice: RetryNotice) => void | Promise<void>;
  readonly stepCount: number;
  readonly hasInput: boolean;
  readonly input: unknown;

  constructor(config: GraphRunConfig) {
    this.config = config;
    this.graph = config.graph;
    this.n = this.graph.steps.length;
    this.stepCount = this.n;
    this.hasInput = config.hasInput;
    this.input = config.input;
    this.state = new Uint8Array(this.n);
    this.blockers = new Int32Array(this.n);
    this.pendingRefs = new Int32Array(this.n);
    this.records = new Array(this.n);
    this.outputKeys = this.graph.ids.map((id) => RuntimeContext.stepKey(id));
    const hooks = config.hooks;
    const indexById = this.graph.indexById;
    this.onRetry = (notice) => hooks.stepRetrying(indexById.get(notice.stepId)!, notice);
  }

  /** Runs the graph to the end (never rejects: failures are in the records). */
  run(): Promise<GraphRunResult> {
    return new Promise((resolve) => {
      this.resolveRun = resolve;
      this.start();
    });
  }

  // ------------------------------------------------------------- PlaceholderSource

  stepAt(position: number): PlaceholderStep | undefined {
    const i = position - 1;
    return i >= 0 && i < this.n ? this.view(i) : undefined;
  }

  stepById(id: string): PlaceholderStep | undefined {
    const i = this.graph.indexById.get(id);
    return i === undefined ? undefined : this.view(i);
  }

  private view(i: number): PlaceholderStep {
    const id = this.graph.ids[i]!;
    const record = this.records[i];
    if (record === undefined) {
      return {
        id,
        success: false,
        output: undefined,
        status: this.state[i] === RUNNING ? "running" : "pending",
      };
    }
    if (record.status !== "succeeded")
      return { id, success: false, output: undefined, status: record.status };
    const context = this.config.context;
    const key = this.outputKeys[i]!;
    if (!context.has(key)) return { id, success: false, output: undefined, status: "evicted" };
    return { id, success: true, output: context.get(key) };
  }

  // ------------------------------------------------------------- scheduling

  private start(): void {
    const { graph, context } = this.config;
    const signal = this.config.signal;
    for (const record of this.config.initial ?? []) {
      if (this.records[record.index] !== undefined) continue;
      this.records[record.index] = record;
      this.state[record.index] = DONE;
      this.done++;
    }
    for (let i = 0; i < this.n; i++) {
      if (this.state[i] === DONE) continue;
      for (const j of graph.referencedSteps[i]!) this.pendingRefs[j]!++;
    }
    for (const j of graph.outputSteps) this.pendingRefs[j]!++;
    context.setRetention((stepId) => {
      const i = graph.indexById.get(stepId);
      return i !== undefined && this.pendingRefs[i]! > 0;
    });

    const toSkip: Array<[number, number]> = [];
    let failed: number | undefined;
    for (let i = 0; i < this.n; i++) {
      if (this.state[i] === DONE) {
        if (failed === undefined && this.isHardFailure(this.records[i]!)) failed = i;
        continue;
      }
      let blockers = 0;
      for (const j of graph.dependencies[i]!) {
        if (this.state[j] !== DONE) blockers++;
        else if (!this.satisfied(this.records[j]!)) toSkip.push([i, j]);
      }
      this.blockers[i] = blockers;
    }
    if (signal !== undefined) {
      if (signal.aborted) this.stop("cancelled", abortError(signal));
      else {
        const onAbort = () => this.stop("cancelled", abortError(signal));
        signal.addEventListener("abort", onAbort, { once: true });
        this.removeAbortListener = () => signal.removeEventListener("abort", onAbort);
      }
    }
    if (failed !== undefined && this.config.failurePolicy === "fail-fast") {
      this.stop("failed-fast", this.failureError(this.records[failed]!));
    }
    for (const [i, cause] of toSkip) this.skipFrom(i, cause);
    for (let i = 0; i < this.n; i++)
      if (this.state[i] === PENDING && this.blockers[i] === 0) this.enqueue(i);
    this.pump();
  }

  private enqueue(i: number): void {
    this.state[i] = QUEUED;
    this.queue.push(i);
  }

  private pump(): void {
    const max = this.config.maxParallel;
    while (this.stopped === undefined && this.running < max && this.head < this.queue.length) {
      const i = this.queue[this.head++]!;
      if (this.state[i] !== QUEUED) continue;
      this.state[i] = RUNNING;
      this.running++;
      void this.runStep(i);
    }
    if (this.stopped !== undefined && this.running === 0) this.settleRemaining();
    if (this.done === this.n) this.finish();
    else if (
      this.stopped === undefined &&
      this.running === 0 &&
      this.head >= this.queue.length &&
      this.parked.length > 0
    )
      this.finishPaused();
  }

  private async runStep(i: number): Promise<void> {
    const { graph, engine, context, hooks } = this.config;
    const stepId = graph.ids[i]!;
    const step = graph.steps[i]!;
    const idempotencyKey = this.config.keyPrefix + stepId;
    let outcome: StepOutcome;
    let rejected = false;
    let resolvedParams: Record<string, unknown> | undefined;
    try {
      let rendered: ExecutionStep | undefined;
      let renderError: AriaError | undefined;
      try {
        rendered = graph.compiled[i]!.render(this);
      } catch (error) {
        renderError = toAriaError(error, "PLACEHOLDER_UNRESOLVED", {
          stepId,
          runId: this.config.runId,
        });
      }
      let rejection: AriaError | undefined;
      if (rendered !== undefined && hooks.approval !== undefined && this.stopped === undefined) {
        const pending = hooks.approval(i, rendered);
        if (pending !== undefined) {
          const answer = await pending;
          if (answer.kind === "wait") {
            this.park(i);
            return;
          }
          if (answer.kind === "reject") rejection = answer.error;
          else if (answer.step !== undefined) rendered = answer.step;
        }
      }
      if (rendered !== undefined) resolvedParams = rendered.params as Record<string, unknown>;
      const started = hooks.stepStarted(i);
      if (started !== undefined) await started;
      const runOptions: StepRunOptions = {
        runId: this.config.runId,
        signal: this.controller.signal,
        idempotencyKey,
        context,
        depth: this.config.depth,
        ...(this.config.sessionId !== undefined ? { sessionId: this.config.sessionId } : {}),
        ...(this.config.workspaceDir !== undefined
          ? { workspaceDir: this.config.workspaceDir }
          : {}),
        onRetry: this.onRetry,
      };
      if (rendered === undefined) {
        outcome = failedOutcome(stepId, renderError!, this.now());
      } else if (rejection !== undefined) {
        outcome = failedOutcome(stepId, rejection, this.now());
        rejected = true;
      } else if (this.stopped !== undefined) {
        outcome = failedOutcome(stepId, this.stopped.reason, this.now(), "cancelled");
      } else {
        outcome = await engine.executeStep(rendered, runOptions);
      }
      // A person's rejection is final: reflection does not rerun the step.
      if (outcome.status === "failed" && hooks.stepFailed !== undefined && !rejected)
        outcome = await this.recover(i, step, rendered, outcome, runOptions);
    } catch (error) {
      // Only a hook can get here (the engine never throws for a step failure).
      outcome = failedOutcome(
        stepId,
        toAriaError(error, "INTERNAL_ERROR"),
        this.now(),
        "cancelled",
      );
      this.stop("fatal", toAriaError(error, "INTERNAL_ERROR"));
    }

    const record: StepRecord = {
      index: i,
      stepId,
      type: step.type,
      status: outcome.status,
      attempts: outcome.attempts,
      retries: outcome.retries,
      startedAt: outcome.startedAt,
      finishedAt: outcome.finishedAt,
      durationMs: outcome.durationMs,
      idempotencyKey,
    };
    if (outcome.error !== undefined) record.error = outcome.error.toBody();
    if (outcome.usage !== undefined) record.usage = outcome.usage;
    if (outcome.containerId !== undefined) record.containerId = outcome.containerId;
    if (outcome.status === "failed" && this.tolerated.has(i)) record.tolerated = true;
    if (resolvedParams !== undefined) record.resolvedParams = resolvedParams;

    this.releaseReferences(i);
    this.records[i] = record;
    if (record.status === "succeeded") {
      try {
        context.setStepOutput(stepId, outcome.output, this.outputKeys[i]!);
      } catch (error) {
        // An output JSON cannot hold (a cycle, a BigInt) fails the step instead of the run.
        record.status = "failed";
        record.error = new AriaError("TOOL_OUTPUT_INVALID", {
          message: `Step '${stepId}' returned an output that cannot be stored: ${(error as Error).message}`,
          context: { stepId },
        }).toBody();
      }
    }
    if (record.status === "cancelled") {
      hooks.stepSettled(record);
    } else {
      try {
        const finished = hooks.stepFinished(record, outcome.output);
        if (finished !== undefined) await finished;
      } catch (error) {
        this.stop(
          "fatal",
          toAriaError(error, "STORE_UNAVAILABLE", { runId: this.config.runId, stepId }),
        );
      }
    }
    this.running--;
    this.complete(i);
  }

  /**
   * Recovery of a failed step (reflection): asks the hook, carries out its answer (rerun in the
   * same slot, tolerate, adapt, abort) and asks again after a failed rerun. Attempts, retries and
   * usage add up over the reruns; the hook bounds how often it answers with a rerun.
   */
  private async recover(
    i: number,
    declared: ExecutionStep,
    rendered: ExecutionStep | undefined,
    first: StepOutcome,
    runOptions: StepRunOptions,
  ): Promise<StepOutcome> {
    const hooks = this.config.hooks;
    const stepId = this.config.graph.ids[i]!;
    let outcome = first;
    let template = declared;
    let ran = rendered;
    let attempts = first.attempts;
    let retries = first.retries;
    let usage: StepUsage | undefined = first.usage !== undefined ? { ...first.usage } : undefined;
    const addUsage = (more: StepUsage | undefined) => {
      if (more === undefined) return;
      usage ??= { inputTokens: 0, outputTokens: 0, costUsd: 0 };
      usage.inputTokens += more.inputTokens;
      usage.outputTokens += more.outputTokens;
      usage.costUsd += more.costUsd;
    };
    for (
      let recoveries = 0;
      outcome.status === "failed" && this.stopped === undefined;
      recoveries++
    ) {
      let answer: GraphRecovery | undefined;
      try {
        answer = await hooks.stepFailed!(i, {
          step: template,
          rendered: ran,
          error: outcome.error!,
          recoveries,
        });
      } catch (error) {
        this.stop(
          "fatal",
          toAriaError(error, "INTERNAL_ERROR", { runId: this.config.runId, stepId }),
        );
        break;
      }
      if (answer === undefined) break;
      addUsage(answer.usage);
      if (answer.kind === "rerun") {
        template = answer.step;
        const error = outcome.error!;
        await hooks.stepRetrying(i, {
          stepId,
          failedAttempt: attempts,
          nextAttempt: attempts + 1,
          delayMs: 0,
          error,
        });
        retries++;
        try {
          ran = resolveStep(template, this);
        } catch (thrown) {
          ran = undefined;
          outcome = failedOutcome(
            stepId,
            toAriaError(thrown, "PLACEHOLDER_UNRESOLVED", { stepId, runId: this.config.runId }),
            this.now(),
          );
          continue;
        }
        if (this.stopped !== undefined) break;
        // A rerun reflection proposes is a new action: if it needs a person's approval that was
        // not given for exactly this, it does not run (the step fails; a replan may propose it).
        if (hooks.approval !== undefined) {
          const pending = hooks.approval(i, { ...ran, id: stepId }, { rerun: true });
          const gate: ApprovalAnswer = pending === undefined ? { kind: "run" } : await pending;
          if (gate.kind !== "run") {
            outcome = failedOutcome(
              stepId,
              gate.kind === "reject"
                ? gate.error
                : new AriaError("APPROVAL_REQUIRED", {
                    message: `Reflection proposed to run step '${stepId}' again in a form that needs a person's approval; it was not run`,
                    context: { runId: this.config.runId, stepId },
                  }),
              this.now(),
            );
            break;
          }
          if (gate.step !== undefined) ran = gate.step;
        }
        const next = await this.config.engine.executeStep({ ...ran, id: stepId }, runOptions);
        attempts += next.attempts;
        retries += next.retries;
        addUsage(next.usage);
        outcome = next;
        continue;
      }
      if (answer.kind === "tolerate") this.tolerated.add(i);
      else if (answer.kind === "adapt") {
        this.tolerated.add(i);
        this.stop("adapt", answer.reason);
      } else if (answer.kind === "abort") this.stop("fatal", answer.error);
      break;
    }
    const merged: StepOutcome = {
      ...outcome,
      attempts,
      retries,
      startedAt: first.startedAt,
      durationMs: Math.max(0, outcome.finishedAt - first.startedAt),
    };
    if (usage !== undefined) merged.usage = usage;
    else delete merged.usage;
    return merged;
  }

  /** Parks step `i` until its approval is decided (the run pauses once nothing else runs). */
  private park(i: number): void {
    this.state[i] = PARKED;
    this.parked.push(i);
    this.running--;
    this.pump();
  }

  /** Ends the graph as `paused`: the waiting steps get `waiting` records; blocked ones none. */
  private finishPaused(): void {
    if (this.finished) return;
    const records: StepRecord[] = [];
    for (let i = 0; i < this.n; i++) {
      const record = this.records[i];
      if (record !== undefined) records.push(record);
      else if (this.state[i] === PARKED) {
        const graph = this.config.graph;
        records.push({
          index: i,
          stepId: graph.ids[i]!,
          type: graph.steps[i]!.type,
          status: "waiting",
          attempts: 0,
          retries: 0,
          durationMs: 0,
          idempotencyKey: this.config.keyPrefix + graph.ids[i]!,
        });
      }
    }
    this.finished = true;
    this.removeAbortListener?.();
    this.resolveRun?.({
      records,
      stopped: undefined,
      paused: this.parked.map((i) => this.config.graph.ids[i]!),
    });
  }

  private complete(i: number): void {
    const record = this.records[i]!;
    this.state[i] = DONE;
    this.done++;
    const ok = this.satisfied(record);
    for (const d of this.config.graph.dependants[i]!) {
      if (this.state[d] === DONE) continue;
      if (ok) {
        if (--this.blockers[d]! === 0 && this.state[d] === PENDING) this.enqueue(d);
      } else if (record.status !== "cancelled") {
        this.skipFrom(d, i);
      }
    }
    if (this.isHardFailure(record) && this.config.failurePolicy === "fail-fast") {
      this.stop("failed-fast", this.failureError(record));
    }
    this.pump();
  }

  /** Skips `start` and everything that depends on it (iteratively: chains can be long). */
  private skipFrom(start: number, cause: number): void {
    const work: Array<[number, number]> = [[start, cause]];
    while (work.length > 0) {
      const [d, because] = work.pop()!;
      if (this.state[d] === DONE || this.state[d] === RUNNING) continue;
      const id = this.config.graph.ids[d]!;
      const record = this.settled(d, "skipped", this.skipError(id, because));
      this.state[d] = DONE;
      this.done++;
      this.releaseReferences(d);
      this.records[d] = record;
      this.config.hooks.stepSettled(record);
      for (const next of this.config.graph.dependants[d]!) work.push([next, d]);
    }
  }

  private stop(kind: GraphRunStop["kind"], reason: AriaError): void {
    if (this.finished) return;
    // A fatal stop overrides an adaptation in progress; otherwise the first stop wins.
    if (this.stopped !== undefined && !(this.stopped.kind === "adapt" && kind !== "adapt")) return;
    this.stopped = { kind, reason };
    // An adaptation lets running steps finish (their results are kept); the others cancel them.
    if (kind !== "adapt") this.controller.abort(reason);
    queueMicrotask(() => this.pump());
  }

  /** After a stop, once nothing runs: every step that did not finish is skipped or cancelled. */
  private settleRemaining(): void {
    const stop = this.stopped!;
    const status = stop.kind === "failed-fast" || stop.kind === "adapt" ? "skipped" : "cancelled";
    for (let i = 0; i < this.n; i++) {
      if (this.state[i] === DONE) continue;
      const record = this.settled(i, status, stop.reason.toBody());
      this.state[i] = DONE;
      this.done++;
      this.records[i] = record;
      this.config.hooks.stepSettled(record);
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.removeAbortListener?.();
    this.resolveRun?.({ records: this.records as StepRecord[], stopped: this.stopped });
  }

  private settled(i: number, status: "skipped" | "cancelled", error: ErrorBody): StepRecord {
    const graph = this.config.graph;
    return {
      index: i,
      stepId: graph.ids[i]!,
      type: graph.steps[i]!.type,
      status,
      error,
      attempts: 0,
      retries: 0,
      durationMs: 0,
      idempotencyKey: this.config.keyPrefix + graph.ids[i]!,
    };
  }

  /** The working-memory key of step `i`'s output (precomputed). */
  outputKey(i: number): string {
    return this.outputKeys[i]!;
  }

  private now(): number {
    return this.config.clock?.now() ?? Date.now();
  }

  private releaseReferences(i: number): void {
    for (const j of this.config.graph.referencedSteps[i]!) this.pendingRefs[j]!--;
  }

  /** Whether dependants may run after this step: it succeeded, or failed with `continueOnError`. */
  private satisfied(record: StepRecord): boolean {
    if (record.status === "succeeded") return true;
    return (
      record.status === "failed" &&
      (record.tolerated === true || this.config.graph.steps[record.index]!.continueOnError === true)
    );
  }

  private isHardFailure(record: StepRecord): boolean {
    return (
      record.status === "failed" &&
      record.tolerated !== true &&
      this.config.graph.steps[record.index]!.continueOnError !== true
    );
  }

  private failureError(record: StepRecord): AriaError {
    return new AriaError("STEP_FAILED", {
      message: `Step '${record.stepId}' failed${record.error ? `: ${record.error.message}` : ""}`,
      context: { runId: this.config.runId, stepId: record.stepId },
      details: {
        stepId: record.stepId,
        ...(record.error
          ? { cause: { code: record.error.code, message: record.error.message } }
          : {}),
      },
    });
  }

  private skipError(stepId: string, because: number): ErrorBody {
    const cause = this.records[because];
    const causeId = this.config.graph.ids[because]!;
    return new AriaError("STEP_FAILED", {
      message: `Step '${stepId}' was skipped because step '${causeId}' ${cause?.status === "skipped" ? "was skipped" : "failed"}`,
      context: { runId: this.config.runId, stepId },
      details: { skippedBecause: causeId },
    }).toBody();
  }
}

function failedOutcome(
  stepId: string,
  error: AriaError,
  now: number,
  status: "failed" | "cancelled" = "failed",
): StepOutcome {
  return {
    stepId,
    status,
    error,
    attempts: 0,
    retries: 0,
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
  };
}
