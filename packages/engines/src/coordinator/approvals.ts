import { createHash, randomUUID } from "node:crypto";
import {
  type AgentRegistry,
  type ApprovalDecision,
  type ApprovalPolicy,
  type ApprovalRecord,
  ApprovalRecordSchema,
  type Clock,
  type ExecutionStep,
  type StateStore,
  type ToolRegistry,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

/** State-store namespace of approval records (`<runId>/<stepId>` → JSON). */
export const APPROVALS_NAMESPACE = "approvals";
/** State-store namespace of each run's approval step ids (`<runId>` → JSON array). */
export const APPROVALS_INDEX_NAMESPACE = "approvals-index";

/** Defaults and extra rules for approvals (runtime configuration). */
export interface ApprovalSettings {
  /** How long an approval waits when its step sets no `approval.timeoutMs` (default 24 h). */
  timeoutMs?: number;
  /** What a timeout decides when its step does not say (default `reject`). */
  onTimeout?: "reject" | "approve";
  /**
   * Policy rules: a step matching one needs approval even when its manifest does not ask. Each
   * pattern is `tool:NAME`, `agent:NAME`, `team:NAME`, `pipeline:NAME` or `type:KIND`; `*` matches
   * any run of characters (`tool:payments/*`).
   */
  rules?: readonly string[];
}

/** A decision as a person (or a timeout) gives it. */
export interface ApprovalInput {
  decision: ApprovalDecision;
  /** Edited parameters: the step runs with these instead of the ones it asked about. */
  params?: Record<string, unknown>;
  comment?: string;
  by: string;
  timedOut?: boolean;
}

const DAY_MS = 86_400_000;

/**
 * The approvals of runs, kept in the state store so a paused run survives restarts and any
 * replica can take a decision. One record per run and step; deciding takes a short lease on the
 * record, so two concurrent decisions cannot both win (the second gets 409).
 */
export class ApprovalBook {
  private readonly store: StateStore;
  private readonly clock: Clock;
  /** Index updates of one run, in order (parallel steps of a run may park at the same time). */
  private readonly indexWrites = new Map<string, Promise<void>>();

  constructor(deps: { store: StateStore; clock?: Clock }) {
    this.store = deps.store;
    this.clock = deps.clock ?? { now: () => Date.now() };
  }

  async get(runId: string, stepId: string): Promise<ApprovalRecord | undefined> {
    const json = await this.store.getValue(APPROVALS_NAMESPACE, recordKey(runId, stepId));
    return json === undefined ? undefined : ApprovalRecordSchema.parse(JSON.parse(json));
  }

  /** Every approval of a run (pending and decided), in the order they were requested. */
  async listForRun(runId: string): Promise<ApprovalRecord[]> {
    const json = await this.store.getValue(APPROVALS_INDEX_NAMESPACE, runId);
    if (json === undefined) return [];
    const records: ApprovalRecord[] = [];
    for (const stepId of JSON.parse(json) as string[]) {
      const record = await this.get(runId, stepId);
      if (record !== undefined) records.push(record);
    }
    return records;
  }

  /** Records a new pending approval (called by the engine that holds the run's lease). */
  async request(record: ApprovalRecord): Promise<void> {
    // The index first: a crash in between leaves an index entry without a record (skipped when
    // read, and the record is written again when the step's turn comes), never a hidden record.
    const previous = this.indexWrites.get(record.runId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const json = await this.store.getValue(APPROVALS_INDEX_NAMESPACE, record.runId);
      const ids = json === undefined ? [] : (JSON.parse(json) as string[]);
      if (!ids.includes(record.stepId)) ids.push(record.stepId);
      await this.store.setValue(APPROVALS_INDEX_NAMESPACE, record.runId, JSON.stringify(ids));
    });
    const chained = next.catch(() => {});
    this.indexWrites.set(record.runId, chained);
    try {
      await next;
    } finally {
      // The chain is only needed while writes are in flight: no entry per run kept forever.
      if (this.indexWrites.get(record.runId) === chained) this.indexWrites.delete(record.runId);
    }
    await this.write(record);
  }

  /** Replaces a record (a superseded request: the step changed since it was asked about). */
  async replace(record: ApprovalRecord): Promise<void> {
    await this.write(record);
  }

  /**
   * Approves or rejects a pending approval. Throws `APPROVAL_NOT_FOUND` when there is none and
   * `APPROVAL_ALREADY_DECIDED` when it was decided before (by a person or its timeout).
   */
  async decide(runId: string, stepId: string, input: ApprovalInput): Promise<ApprovalRecord> {
    const lockKey = `approval:${runId}/${stepId}`;
    // A unique owner per call: the same person deciding twice at once must not win twice.
    const lease = await this.store.acquireLease(
      lockKey,
      `decide-${input.by}-${randomUUID()}`,
      10_000,
    );
    if (lease === undefined)
      throw new AriaError("APPROVAL_ALREADY_DECIDED", {
        message: `The approval of step '${stepId}' of run ${runId} is being decided right now`,
        context: { runId, stepId },
      });
    try {
      const record = await this.get(runId, stepId);
      if (record === undefined)
        throw new AriaError("APPROVAL_NOT_FOUND", {
          message: `Run ${runId} has no approval for step '${stepId}'`,
          context: { runId, stepId },
        });
      if (record.status !== "pending")
        throw new AriaError("APPROVAL_ALREADY_DECIDED", {
          message: `Step '${stepId}' of run ${runId} was already ${record.status}${record.timedOut ? " (timed out)" : ""}`,
          context: { runId, stepId },
          details: { status: record.status, decidedBy: record.decidedBy ?? "unknown" },
        });
      const decided: ApprovalRecord = {
        ...record,
        status: input.decision === "approve" ? "approved" : "rejected",
        decidedAt: new Date(this.clock.now()).toISOString(),
        decidedBy: input.by,
        ...(input.comment !== undefined ? { comment: input.comment } : {}),
        ...(input.params !== undefined && input.decision === "approve"
          ? { editedParams: input.params }
          : {}),
        ...(input.timedOut === true ? { timedOut: true } : {}),
      };
      await this.write(decided);
      return decided;
    } finally {
      await this.store.releaseLease(lease).catch(() => {});
    }
  }

  /** Pending approvals of a run whose time is up (`now` ≥ `expiresAt`). */
  async expired(runId: string): Promise<ApprovalRecord[]> {
    const now = this.clock.now();
    return (await this.listForRun(runId)).filter(
      (r) => r.status === "pending" && r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now,
    );
  }

  private write(record: ApprovalRecord): Promise<void> {
    return this.store.setValue(
      APPROVALS_NAMESPACE,
      recordKey(record.runId, record.stepId),
      JSON.stringify(record),
    );
  }
}

/** The fingerprint of what an approver is asked about (kind, target, resolved parameters). */
export function approvalFingerprint(step: ExecutionStep): string {
  return createHash("sha256")
    .update(JSON.stringify([step.type, targetOf(step), step.params ?? {}]))
    .digest("hex")
    .slice(0, 32);
}

function recordKey(runId: string, stepId: string): string {
  return `${runId}/${stepId}`;
}

/** Turns a policy pattern (`tool:payments/*`) into a matcher. */
function compileRule(pattern: string): (subject: string) => boolean {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  const regex = new RegExp(`^${escaped}$`);
  return (subject) => regex.test(subject);
}

/**
 * Decides whether a step needs a person's approval before it runs, and why: the step's own
 * `needsApproval`, its tool's, agent's or team's `needsApproval`, a tool an agent may call that
 * needs approval (the agent's step is approved as a whole: its tool-calling loop cannot pause in
 * the middle), a nested pipeline containing such a step, or a policy rule.
 */
export class ApprovalPolicyCheck {
  private readonly tools: ToolRegistry;
  private readonly agents: AgentRegistry | undefined;
  private readonly rules: Array<{ pattern: string; test: (subject: string) => boolean }>;
  readonly timeoutMs: number;
  readonly onTimeout: "reject" | "approve";

  constructor(deps: { tools: ToolRegistry; agents?: AgentRegistry; settings?: ApprovalSettings }) {
    this.tools = deps.tools;
    this.agents = deps.agents;
    const settings = deps.settings ?? {};
    this.rules = (settings.rules ?? []).map((pattern) => ({ pattern, test: compileRule(pattern) }));
    this.timeoutMs = settings.timeoutMs ?? DAY_MS;
    this.onTimeout = settings.onTimeout ?? "reject";
  }

  /** The reason a step needs approval, or undefined when it may run. */
  reason(step: ExecutionStep): string | undefined {
    if (step.needsApproval === true) return "step";
    if (step.needsApproval === false) return this.ruleFor(step);
    return this.targetReason(step, new Set()) ?? this.ruleFor(step);
  }

  /** Timeout and timeout decision for a step's approval. */
  policyFor(step: ExecutionStep): Required<ApprovalPolicy> {
    const policy = (step as { approval?: ApprovalPolicy }).approval ?? {};
    return {
      timeoutMs: policy.timeoutMs ?? this.timeoutMs,
      onTimeout: policy.onTimeout ?? this.onTimeout,
    };
  }

  private ruleFor(step: ExecutionStep): string | undefined {
    if (this.rules.length === 0) return undefined;
    const subjects = [`type:${step.type}`];
    const target = targetOf(step);
    if (step.type !== "reasoning" && step.type !== "container")
      subjects.push(`${step.type}:${target}`);
    for (const rule of this.rules)
      if (subjects.some((s) => rule.test(s))) return `rule:${rule.pattern}`;
    return undefined;
  }

  private targetReason(step: ExecutionStep, seen: Set<string>): string | undefined {
    try {
      switch (step.type) {
        case "tool":
          return this.toolNeeds(step.tool!) ? "tool" : undefined;
        case "agent":
          return this.agentReason(step.agent!, seen);
        case "team": {
          // A team needs approval through its members (agents, or the tools they may call).
          if (this.agents === undefined) return undefined;
          const team = this.agents.getTeam(step.team!);
          for (const member of team.members) {
            const why = this.agentReason(member, seen);
            if (why !== undefined) return `member:${member}:${why}`;
          }
          return undefined;
        }
        case "pipeline": {
          if (this.agents === undefined || seen.has(`pipeline:${step.pipeline}`)) return undefined;
          seen.add(`pipeline:${step.pipeline}`);
          const pipeline = this.agents.getPipeline(step.pipeline!);
          for (const inner of pipeline.steps) {
            const nested = inner as ExecutionStep;
            const why =
              nested.needsApproval === true
                ? "step"
                : nested.needsApproval === false
                  ? this.ruleFor(nested)
                  : (this.targetReason(nested, seen) ?? this.ruleFor(nested));
            if (why !== undefined) return `nested:${inner.id}:${why}`;
          }
          return undefined;
        }
        default:
          return undefined;
      }
    } catch {
      // An unknown target fails when the step runs, with its own error.
      return undefined;
    }
  }

  private agentReason(name: string, seen: Set<string>): string | undefined {
    if (this.agents === undefined || seen.has(`agent:${name}`)) return undefined;
    seen.add(`agent:${name}`);
    const agent = this.agents.getAgent(name);
    if (agent.needsApproval === true) return "agent";
    for (const tool of agent.tools ?? []) {
      const qualified =
        agent.bundle !== undefined && !tool.includes("/") && !tool.includes(":")
          ? `${agent.bundle}/${tool}`
          : tool;
      if (this.toolNeeds(qualified) || (qualified !== tool && this.toolNeeds(tool)))
        return `tool:${tool}`;
      // A policy rule on a tool gates the agents that may call it, too.
      const rule =
        this.toolRule(qualified) ?? (qualified !== tool ? this.toolRule(tool) : undefined);
      if (rule !== undefined) return `tool:${tool}:${rule}`;
    }
    return undefined;
  }

  private toolRule(name: string): string | undefined {
    for (const rule of this.rules) if (rule.test(`tool:${name}`)) return `rule:${rule.pattern}`;
    return undefined;
  }

  private toolNeeds(name: string): boolean {
    try {
      return this.tools.resolve(name).needsApproval === true;
    } catch {
      return false;
    }
  }
}

/** What a step runs, for the approver and the rules. */
export function targetOf(step: ExecutionStep): string {
  switch (step.type) {
    case "tool":
      return step.tool ?? step.id;
    case "agent":
      return step.agent ?? step.id;
    case "team":
      return step.team ?? step.id;
    case "pipeline":
      return step.pipeline ?? step.id;
    case "container":
      return step.image ?? step.id;
    default:
      return step.id;
  }
}
