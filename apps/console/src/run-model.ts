/**
 * The run page's model of its steps, from the run's state and its event log (pure, unit-tested):
 * the plan's steps in declared order, then steps only the events or results know (nested pipeline
 * steps, an agent's tool calls), each with the status the newest information gives it.
 */
import {
  ACTIVE,
  type PlanStep,
  type RunDetail,
  type RunEvent,
  type StepResult,
} from "./api/types.ts";

/** What the run page shows for one step. */
export type StepView = {
  id: string;
  type: string;
  target: string;
  status: string;
  plan?: PlanStep;
  result?: StepResult;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  events: RunEvent[];
};

function stepTarget(step: PlanStep | undefined, fallback: string): string {
  if (!step) return fallback;
  return step.tool ?? step.agent ?? step.team ?? step.pipeline ?? step.image ?? step.type;
}

/** One view per step: the plan's steps in order, then steps only the events or results know (nested, agent loop). */
export function stepViews(run: RunDetail | undefined, events: RunEvent[]): StepView[] {
  const order: string[] = [];
  const views = new Map<string, StepView>();
  const get = (id: string) => {
    let v = views.get(id);
    if (!v) {
      v = { id, type: "step", target: id, status: "pending", events: [] };
      views.set(id, v);
      order.push(id);
    }
    return v;
  };
  for (const step of run?.plan?.steps ?? []) {
    const v = get(step.id);
    v.plan = step;
    v.type = step.type;
    v.target = stepTarget(step, step.id);
  }
  for (const e of events) {
    if (!e.stepId) continue;
    const v = get(e.stepId);
    v.events.push(e);
    if (typeof e.data.type === "string" && !v.plan) v.type = e.data.type;
    switch (e.type) {
      case "step.started":
        v.status = "running";
        v.startedAt ??= e.at;
        break;
      case "step.completed":
        v.status = "succeeded";
        v.finishedAt = e.at;
        if (typeof e.data.durationMs === "number") v.durationMs = e.data.durationMs;
        break;
      case "step.failed":
        v.status = "failed";
        v.finishedAt = e.at;
        if (typeof e.data.durationMs === "number") v.durationMs = e.data.durationMs;
        break;
      case "step.retrying":
        v.status = "running";
        break;
      case "approval.requested":
        v.status = "waiting";
        break;
      case "approval.resolved":
        if (v.status === "waiting") v.status = e.data.decision === "reject" ? "failed" : "running";
        break;
      default:
        break;
    }
  }
  for (const r of run?.steps ?? []) {
    const v = get(r.stepId);
    v.result = r;
    if (!v.plan) v.type = r.type;
    // The stored result wins over what the events said, except for a step still live in them.
    if (r.status !== "pending" || v.status === "pending") v.status = r.status;
    v.startedAt = r.metrics.startedAt ?? v.startedAt;
    v.finishedAt = r.metrics.finishedAt ?? v.finishedAt;
    if (r.metrics.durationMs > 0 || v.durationMs === undefined) v.durationMs = r.metrics.durationMs;
  }
  if (run && !ACTIVE.has(run.status)) {
    for (const v of views.values()) if (v.status === "pending") v.status = "skipped";
  }
  return order.map((id) => views.get(id)!);
}
