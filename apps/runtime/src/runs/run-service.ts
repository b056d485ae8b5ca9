import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type {
  AgentRegistry,
  ApprovalDecision,
  ApprovalRecord,
  Logger,
  RunOptions,
  RunState,
  StateStore,
} from "@aria/core-types";
import type { AriaRuntimeEngine, Intelligence } from "@aria/engines";
import { emptyExecutionMetrics, readRunView } from "@aria/engines";
import { AriaError, toAriaError } from "@aria/errors";
import type { EventNotifier } from "../api/sse.ts";
import type { AuditLog } from "../audit.ts";
import type { Metrics } from "../metrics.ts";

/** What a client submits (`POST /v1/runs`), after validation. */
export interface RunSubmission {
  runId: string;
  target: { kind: "agent" | "pipeline" | "team"; name: string };
  task?: string;
  input?: unknown;
  sessionId?: string;
  options?: RunOptions;
  submittedAt: string;
  submittedBy: string;
  /** Set when the run was cancelled before a worker started it. */
  cancelled?: boolean;
}

/** Hands submitted runs to whatever executes them: in-process, or a Redis queue with workers. */
export interface RunDispatcher {
  /**
   * Hands a run to a worker. `resume` names a later dispatch of the same run (after an approval
   * decision); queues use it to tell the jobs apart.
   */
  dispatch(submission: RunSubmission, resume?: string): Promise<void>;
  /** Runs waiting for a worker. */
  depth(): Promise<number>;
  /** Age in ms of the oldest waiting run (0 when none). */
  oldestAgeMs(): Promise<number>;
  close(): Promise<void>;
}

const SUBMISSIONS = "submissions";
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export interface RunServiceDeps {
  store: StateStore;
  engine: AriaRuntimeEngine;
  intelligence: Intelligence;
  agents: AgentRegistry;
  notifier: EventNotifier;
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
  dataDir: string;
  /** Fills an input's JSON Schema defaults (a copy), before validation. */
  applyDefaults?: (schema: Record<string, unknown>, value: unknown) => unknown;
}

/**
 * Submits, executes, reads and cancels runs. A submission is persisted (as a `queued` record)
 * before anything executes and before the answer acknowledges it; the engine creates the run's
 * state when a worker starts it, and a run found already started is resumed from its checkpoints.
 */
export class RunService {
  private readonly deps: RunServiceDeps;
  private dispatcher: RunDispatcher | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(deps: RunServiceDeps) {
    this.deps = deps;
  }

  setDispatcher(dispatcher: RunDispatcher): void {
    this.dispatcher = dispatcher;
  }

  /** Validates the target, persists the submission and dispatches it. */
  async submit(request: Omit<RunSubmission, "runId" | "submittedAt">): Promise<RunSubmission> {
    const { kind, name } = request.target;
    // Resolving now gives a 404 before anything is queued.
    if (kind === "pipeline") this.deps.agents.getPipeline(name);
    else if (kind === "agent") this.deps.agents.getAgent(name);
    else this.deps.agents.getTeam(name);
    const submission: RunSubmission = {
      ...request,
      runId: `run_${randomUUID()}`,
      submittedAt: new Date().toISOString(),
    };
    await this.deps.store.setValue(SUBMISSIONS, submission.runId, JSON.stringify(submission));
    await this.deps.audit.record({
      actor: request.submittedBy,
      action: "run.submit",
      target: submission.runId,
      outcome: "success",
      details: { target: submission.target },
    });
    if (!this.dispatcher)
      throw new AriaError("INTERNAL_ERROR", { message: "no run dispatcher configured" });
    await this.dispatcher.dispatch(submission);
    return submission;
  }

  /** Executes a submission in this process (called by the dispatcher or a queue worker). */
  async execute(runId: string, signal?: AbortSignal): Promise<RunState | undefined> {
    const submission = await this.submission(runId);
    if (!submission)
      throw new AriaError("RUN_NOT_FOUND", {
        message: `No submission for run ${runId}`,
        context: { runId },
      });
    if (submission.cancelled) return this.get(runId);
    const existing = await this.deps.store.getRun(runId);
    const workspaceDir = path.join(this.deps.dataDir, "workspaces", runId);
    await fs.mkdir(workspaceDir, { recursive: true });
    const started = Date.now();
    this.deps.metrics.runsActive.inc();
    try {
      let result: { run: RunState };
      if (existing) {
        if (TERMINAL.has(existing.status)) return this.get(runId);
        result = await this.deps.engine.resume(runId, {
          workspaceDir,
          ...(signal ? { signal } : {}),
        });
      } else {
        const request = {
          runId,
          workspaceDir,
          ...(submission.sessionId !== undefined ? { sessionId: submission.sessionId } : {}),
          ...(submission.task !== undefined ? { task: submission.task } : {}),
          ...(submission.options !== undefined ? { options: submission.options } : {}),
          ...(signal ? { signal } : {}),
        };
        const { kind, name } = submission.target;
        if (kind === "pipeline") {
          const pipeline = this.deps.agents.getPipeline(name);
          const input =
            pipeline.inputSchema && this.deps.applyDefaults
              ? this.deps.applyDefaults(pipeline.inputSchema, submission.input)
              : submission.input;
          result = await this.deps.engine.runPipeline(name, input, request);
        } else if (kind === "agent") {
          // The intelligence layer decides: an explicit plan (validated, repaired once) or the
          // agent's tool-calling loop; either way the run is checkpointed like a pipeline.
          const planning = submission.options?.planning ?? true;
          result = await this.deps.intelligence.runTask({
            ...request,
            agent: name,
            task: submission.task ?? "",
            ...(submission.input !== undefined ? { input: submission.input } : {}),
            mode: planning ? "auto" : "loop",
          });
        } else {
          const step = {
            id: "team",
            type: "team",
            team: name,
            params: {
              task: submission.task ?? "",
              ...(submission.input !== undefined ? { input: submission.input } : {}),
            },
          };
          result = await this.deps.engine.runPlan(
            {
              id: `team:${name}`,
              objective: submission.task ?? "",
              steps: [step],
              output: "{{steps.team.output}}",
            },
            submission.input,
            { ...request, target: { kind: "team", name } },
          );
        }
      }
      if (result.run.status === "paused") {
        // A decision (or a timeout) may have come while the run was still parking its steps.
        await this.resumeIfDecided(runId);
        return result.run;
      }
      this.deps.metrics.runs.inc({ kind: submission.target.kind, status: result.run.status });
      this.deps.metrics.runContainerCpuSeconds.inc((result.run.metrics.containerCpuMs ?? 0) / 1000);
      this.deps.metrics.runDuration.observe(
        { kind: submission.target.kind },
        (Date.now() - started) / 1000,
      );
      return result.run;
    } catch (error) {
      const aria = toAriaError(error, "INTERNAL_ERROR", { runId });
      this.deps.metrics.errors.inc({ code: aria.code });
      // A run that never started (bad input, conflict) still ends, visibly.
      if (!(await this.deps.store.getRun(runId)) && aria.code !== "RUN_CONFLICT") {
        await this.deps.store.appendEvent(runId, {
          runId,
          type: "run.failed",
          at: new Date().toISOString(),
          data: { error: aria.toBody() },
        });
        await this.deps.store.setValue(
          SUBMISSIONS,
          runId,
          JSON.stringify({ ...submission, failed: aria.toBody() }),
        );
        this.deps.metrics.runs.inc({ kind: submission.target.kind, status: "failed" });
      }
      if (aria.code === "RUN_CONFLICT") throw aria;
      this.deps.logger.warn({ runId, code: aria.code, message: aria.message }, "run failed");
      return this.get(runId);
    } finally {
      this.deps.metrics.runsActive.dec();
      this.deps.notifier.notify(runId);
      for (const wake of this.waiters.get(runId) ?? []) wake();
    }
  }

  private async submission(
    runId: string,
  ): Promise<(RunSubmission & { failed?: RunState["error"] }) | undefined> {
    const json = await this.deps.store.getValue(SUBMISSIONS, runId);
    return json ? (JSON.parse(json) as RunSubmission & { failed?: RunState["error"] }) : undefined;
  }

  /** The run as `GET /v1/runs/:id` shows it (queued runs come from their submission). */
  async get(runId: string): Promise<RunState | undefined> {
    const view = await readRunView(this.deps.store, runId);
    if (view) return view;
    const submission = await this.submission(runId);
    if (!submission) return undefined;
    const status = submission.cancelled ? "cancelled" : submission.failed ? "failed" : "queued";
    return {
      id: runId,
      status,
      target: submission.target,
      ...(submission.task !== undefined ? { task: submission.task } : {}),
      ...(submission.input !== undefined ? { input: submission.input } : {}),
      ...(submission.sessionId !== undefined ? { sessionId: submission.sessionId } : {}),
      options: submission.options ?? {},
      steps: [],
      ...(submission.failed ? { error: submission.failed } : {}),
      metrics: emptyExecutionMetrics(),
      cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
      createdAt: submission.submittedAt,
      updatedAt: submission.submittedAt,
      version: 0,
    };
  }

  async list(options: { limit?: number; status?: string } = {}): Promise<RunState[]> {
    return this.deps.store.listRuns(options);
  }

  /** Resolves with the run once it has ended (or after `timeoutMs`, with its current state). */
  async waitFor(runId: string, timeoutMs: number): Promise<RunState | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await this.get(runId);
      if (!run || TERMINAL.has(run.status) || Date.now() >= deadline) return run;
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(runId) ?? new Set();
        this.waiters.set(runId, set);
        const wake = () => {
          set.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(500, Math.max(1, deadline - Date.now())));
        set.add(wake);
        const unsubscribe = this.deps.notifier.subscribe(runId, () => {
          unsubscribe();
          wake();
        });
      });
    }
  }

  // ------------------------------------------------------------------ approvals

  /** Why a direct call of the tool would need a person's approval, if it would. */
  approvalReasonForTool(toolId: string): string | undefined {
    return this.deps.engine.toolApprovalReason(toolId);
  }

  /** Every approval of a run, pending and decided. */
  approvals(runId: string): Promise<ApprovalRecord[]> {
    return this.deps.engine.approvals.listForRun(runId);
  }

  /**
   * Pending approvals, for inboxes: those of paused runs, and of running runs whose other
   * branches are still busy (a step parks before its run pauses).
   */
  async pendingApprovals(limit = 200): Promise<ApprovalRecord[]> {
    const runs = [
      ...(await this.deps.store.listRuns({ status: "paused", limit })),
      ...(await this.deps.store.listRuns({ status: "running", limit })),
    ];
    const pending: ApprovalRecord[] = [];
    for (const run of runs)
      for (const record of await this.approvals(run.id))
        if (record.status === "pending") pending.push(record);
    return pending;
  }

  /**
   * Approves or rejects a paused step (`POST /v1/runs/:id/approvals/:stepId`), audits it and
   * dispatches the run again so a worker resumes it from its checkpoints.
   */
  async decide(
    runId: string,
    stepId: string,
    input: {
      decision: ApprovalDecision;
      params?: Record<string, unknown>;
      reason?: string;
      actor: string;
    },
  ): Promise<{ runId: string; stepId: string; decision: ApprovalDecision; status: string }> {
    const run = await this.get(runId);
    if (!run)
      throw new AriaError("RUN_NOT_FOUND", {
        message: `No run with id ${runId}`,
        context: { runId },
      });
    if (TERMINAL.has(run.status))
      throw new AriaError("APPROVAL_ALREADY_DECIDED", {
        message: `Run ${runId} already ended (${run.status}); its approvals can no longer change`,
        context: { runId, stepId },
      });
    const record = await this.deps.engine.decideApproval(runId, stepId, {
      decision: input.decision,
      by: input.actor,
      ...(input.params !== undefined ? { params: input.params } : {}),
      ...(input.reason !== undefined ? { comment: input.reason } : {}),
    });
    await this.deps.audit.record({
      actor: input.actor,
      action: input.decision === "approve" ? "run.approve" : "run.reject",
      target: `${runId}/${stepId}`,
      outcome: "success",
      details: { edited: input.params !== undefined },
    });
    this.deps.notifier.notify(runId);
    // The decision is recorded; if the run cannot be dispatched now, the approval sweeper does it.
    await this.resumeIfDecided(runId).catch((error: unknown) =>
      this.deps.logger.warn({ runId, err: String(error) }, "could not dispatch the approved run"),
    );
    return { runId, stepId, decision: input.decision, status: record.status };
  }

  /**
   * Dispatches a paused run again once one of its waiting steps is decided (or its approval has
   * expired). `known` saves reading again what the caller already read.
   */
  private async resumeIfDecided(
    runId: string,
    known?: { run: RunState; records: ApprovalRecord[] },
  ): Promise<void> {
    const run = known?.run ?? (await this.deps.store.getRun(runId));
    if (run?.status !== "paused") return;
    const all = known?.records ?? (await this.approvals(runId));
    const waiting = new Set(run.steps.filter((s) => s.status === "waiting").map((s) => s.stepId));
    const now = Date.now();
    const ready = all.some(
      (r) =>
        waiting.has(r.stepId) &&
        (r.status !== "pending" || (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now)),
    );
    if (!ready) return;
    const submission = await this.submission(runId);
    if (!submission || !this.dispatcher) return;
    // One resumption per set of decisions: the same key again (a sweep while the job waits for
    // a worker) is the same queue job, not a second one.
    const decided = all.filter((r) => r.status !== "pending").length;
    const expired = all.filter((r) => waiting.has(r.stepId) && r.status === "pending").length;
    await this.dispatcher.dispatch(submission, `resume-${decided}-${expired}`);
  }

  /**
   * Applies approval timeouts: every `intervalMs`, paused runs with an approval past its
   * `expiresAt` are decided by their timeout policy and resumed. Durable: the deadline is in the
   * record, so a restart only delays the decision until the next sweep.
   */
  startApprovalSweeper(intervalMs: number): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => {
      void this.sweepApprovals().catch((error: unknown) =>
        this.deps.logger.warn({ err: String(error) }, "approval sweep failed"),
      );
    }, intervalMs);
    this.sweeper.unref?.();
  }

  stopApprovalSweeper(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * One pass of the sweeper: for each paused run, its approvals are read once; expired ones are
   * decided by their timeout policy (audited), and the run is dispatched again if anything it
   * waits for is decided (also what a failed dispatch after a decision left behind).
   */
  async sweepApprovals(): Promise<number> {
    let decided = 0;
    const now = Date.now();
    for (const run of await this.deps.store.listRuns({ status: "paused", limit: 10_000 })) {
      const records = await this.approvals(run.id);
      for (const [index, record] of records.entries()) {
        if (
          record.status !== "pending" ||
          record.expiresAt === undefined ||
          Date.parse(record.expiresAt) > now
        )
          continue;
        const expired = await this.deps.engine.expireApproval(record);
        records[index] = expired.record;
        if (!expired.decided) continue;
        const after = expired.record;
        decided++;
        await this.deps.audit.record({
          actor: "runtime",
          action: after.status === "approved" ? "run.approve" : "run.reject",
          target: `${run.id}/${record.stepId}`,
          outcome: "success",
          details: { timedOut: true },
        });
      }
      await this.resumeIfDecided(run.id, { run, records });
    }
    return decided;
  }

  /** Cancels a queued or running run; its containers are stopped by the engine. */
  async cancel(runId: string, actor: string): Promise<RunState> {
    const run = await this.get(runId);
    if (!run)
      throw new AriaError("RUN_NOT_FOUND", {
        message: `No run with id ${runId}`,
        context: { runId },
      });
    if (TERMINAL.has(run.status)) {
      throw new AriaError("RUN_CANCELLED", {
        message: `Run ${runId} already ended (${run.status}); nothing to cancel`,
        httpStatus: 409,
        context: { runId },
      });
    }
    if (run.status === "queued") {
      const submission = await this.submission(runId);
      if (submission)
        await this.deps.store.setValue(
          SUBMISSIONS,
          runId,
          JSON.stringify({ ...submission, cancelled: true }),
        );
      await this.deps.store.appendEvent(runId, {
        runId,
        type: "run.cancelled",
        at: new Date().toISOString(),
        data: { reason: "cancelled before it started" },
      });
    }
    // Nobody advances a paused run: it ends here. If it was resumed meanwhile (a decision), it is
    // cancelled like any running run below.
    const endedPaused =
      run.status === "paused" &&
      (await this.deps.engine.cancelPaused(runId, `cancelled by ${actor}`));
    const local = this.deps.engine.cancel(runId, `cancelled by ${actor}`);
    if (!local && run.status !== "queued" && !endedPaused)
      await this.deps.store.setValue("cancel-requests", runId, actor, 3_600_000);
    await this.deps.audit.record({
      actor,
      action: "run.cancel",
      target: runId,
      outcome: "success",
    });
    this.deps.notifier.notify(runId);
    return (await this.waitFor(runId, 10_000)) ?? run;
  }
}

/** Runs submissions in this process, at most `concurrency` at once, the rest waiting in order. */
export class LocalRunDispatcher implements RunDispatcher {
  private readonly queue: string[] = [];
  private running = 0;
  private closed = false;
  private readonly controllers = new Map<string, AbortController>();
  private readonly deps: { service: RunService; concurrency: number; logger: Logger };

  constructor(deps: { service: RunService; concurrency: number; logger: Logger }) {
    this.deps = deps;
  }

  private readonly enqueuedAt = new Map<string, number>();
  /** Runs executing now that were dispatched again meanwhile (run again once they return). */
  private readonly again = new Set<string>();

  async dispatch(submission: RunSubmission): Promise<void> {
    const runId = submission.runId;
    // One entry per run: a run already waiting is not queued twice (approval sweeps repeat), and
    // one executing now runs again when it returns (its resumption was asked for meanwhile).
    if (this.enqueuedAt.has(runId)) return;
    if (this.controllers.has(runId)) {
      this.again.add(runId);
      return;
    }
    this.queue.push(runId);
    this.enqueuedAt.set(runId, Date.now());
    this.pump();
  }

  async depth(): Promise<number> {
    return this.queue.length;
  }

  async oldestAgeMs(): Promise<number> {
    const first = this.queue[0];
    return first ? Date.now() - (this.enqueuedAt.get(first) ?? Date.now()) : 0;
  }

  private pump(): void {
    while (!this.closed && this.running < this.deps.concurrency && this.queue.length > 0) {
      const runId = this.queue.shift()!;
      this.enqueuedAt.delete(runId);
      this.running++;
      const controller = new AbortController();
      this.controllers.set(runId, controller);
      this.deps.service
        .execute(runId, controller.signal)
        .catch((error: unknown) =>
          this.deps.logger.error({ runId, err: error }, "run execution failed"),
        )
        .finally(() => {
          this.running--;
          this.controllers.delete(runId);
          if (this.again.delete(runId) && !this.closed) {
            this.queue.push(runId);
            this.enqueuedAt.set(runId, Date.now());
          }
          this.pump();
        });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
  }
}
