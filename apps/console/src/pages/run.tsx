import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, streamEvents } from "../api/client.ts";
import {
  ACTIVE,
  type PlanStep,
  type RunDetail,
  type RunEvent,
  type StepResult,
} from "../api/types.ts";
import { ErrorPanel, JsonView, Section, StatusBadge, useTitle } from "../components/common.tsx";
import { formatCost, formatDuration, formatTime, json, shortId, targetLabel } from "../format.ts";
import { layoutPlan, NODE_HEIGHT, NODE_WIDTH } from "../graph/layout.ts";
import { previewResolved } from "../graph/placeholders.ts";
import { Link } from "../router.tsx";
import { type StepView, stepViews } from "../run-model.ts";
import { ApprovalCard } from "./approvals.tsx";
import { runDuration, useNow } from "./runs.tsx";

const TERMINAL_EVENTS = new Set(["run.completed", "run.failed", "run.cancelled"]);
const REFRESH_ON = /^(run\.|step\.|plan\.|approval\.)/;

/** The run's state and its full event log, kept live from `GET /v1/runs/:id/events`. */
function useRun(runId: string) {
  const [run, setRun] = useState<RunDetail>();
  const [error, setError] = useState<unknown>();
  const [events, setEvents] = useState<RunEvent[]>([]);
  const ended = useRef(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const refresh = useCallback(async () => {
    try {
      setRun(await api<RunDetail>("GET", `/v1/runs/${encodeURIComponent(runId)}`));
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }, [runId]);

  useEffect(() => {
    ended.current = false;
    setRun(undefined);
    setEvents([]);
    const controller = new AbortController();
    void refresh();
    const seen = new Set<number>();
    void streamEvents(`/v1/runs/${encodeURIComponent(runId)}/events`, {
      signal: controller.signal,
      done: () => ended.current,
      onEvent: (sse) => {
        let event: RunEvent;
        try {
          event = JSON.parse(sse.data) as RunEvent;
        } catch {
          return;
        }
        if (seen.has(event.seq)) return;
        seen.add(event.seq);
        setEvents((prev) => [...prev, event]);
        if (TERMINAL_EVENTS.has(event.type)) ended.current = true;
        if (REFRESH_ON.test(event.type)) {
          // Coalesce bursts of events into one read of the run.
          clearTimeout(timer.current);
          timer.current = setTimeout(() => void refresh(), 150);
        }
      },
    });
    return () => {
      controller.abort();
      clearTimeout(timer.current);
    };
  }, [runId, refresh]);
  return { run, error, events, refresh };
}

function PlanGraph(props: {
  steps: PlanStep[];
  views: Map<string, StepView>;
  onSelect: (id: string) => void;
}) {
  const layout = useMemo(() => layoutPlan(props.steps), [props.steps]);
  return (
    <figure className="graph-scroll">
      <figcaption className="visually-hidden">
        Plan: steps and their dependencies; select a step to see its details
      </figcaption>
      <svg
        className="plan-graph"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
      >
        <title>Plan graph</title>
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" className="edge-arrow" />
          </marker>
        </defs>
        {layout.edges.map((e) => (
          <path key={`${e.from}->${e.to}`} d={e.path} className="edge" markerEnd="url(#arrow)" />
        ))}
        {layout.nodes.map((n) => {
          const view = props.views.get(n.id);
          const status = view?.status ?? "pending";
          return (
            <a
              key={n.id}
              href={`#step-${n.id}`}
              className={`node node-${status}`}
              data-step-id={n.id}
              data-status={status}
              onClick={(e) => {
                e.preventDefault();
                props.onSelect(n.id);
              }}
            >
              <rect x={n.x} y={n.y} width={NODE_WIDTH} height={NODE_HEIGHT} rx={8} />
              <text x={n.x + 10} y={n.y + 20} className="node-title">
                {n.id.length > 20 ? `${n.id.slice(0, 19)}…` : n.id}
              </text>
              <text x={n.x + 10} y={n.y + 38} className="node-sub">
                {`${status} · ${view?.type ?? "step"}`}
              </text>
            </a>
          );
        })}
      </svg>
    </figure>
  );
}

function Timeline(props: { views: StepView[]; runStart: number; now: number }) {
  const rows = props.views.filter((v) => v.startedAt);
  if (rows.length === 0) return <p className="muted">No step has started yet.</p>;
  const start = Math.min(props.runStart, ...rows.map((v) => Date.parse(v.startedAt!)));
  const end = Math.max(
    start + 1,
    ...rows.map((v) => (v.finishedAt ? Date.parse(v.finishedAt) : props.now)),
  );
  const span = end - start;
  return (
    <ol className="timeline">
      {rows.map((v) => {
        const s = Date.parse(v.startedAt!);
        const f = v.finishedAt ? Date.parse(v.finishedAt) : props.now;
        const left = ((s - start) / span) * 100;
        const width = Math.max(0.5, ((f - s) / span) * 100);
        return (
          <li key={v.id} className="timeline-row">
            <span className="timeline-label">
              <code>{v.id}</code> <StatusBadge status={v.status} />
            </span>
            <span className="timeline-track" aria-hidden="true">
              <span
                className={`timeline-bar bar-${v.status}`}
                style={{ left: `${left}%`, width: `${width}%` }}
              />
            </span>
            <span className="timeline-duration">
              {formatDuration(v.durationMs ?? (v.finishedAt ? f - s : props.now - s))}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function EventList(props: {
  events: RunEvent[];
  empty?: string;
  render: (e: RunEvent) => React.ReactNode;
}) {
  if (props.events.length === 0) return props.empty ? <p className="muted">{props.empty}</p> : null;
  return (
    <ul className="event-list">
      {props.events.map((e) => (
        <li key={e.seq}>
          <span className="muted">{formatTime(e.at)}</span> {props.render(e)}
        </li>
      ))}
    </ul>
  );
}

function LlmCalls(props: { events: RunEvent[]; withStep?: boolean }) {
  const calls = props.events.filter((e) => e.type === "llm.usage");
  if (calls.length === 0) return null;
  const input = calls.reduce((a, c) => a + Number(c.data.inputTokens ?? 0), 0);
  const output = calls.reduce((a, c) => a + Number(c.data.outputTokens ?? 0), 0);
  const cost = calls.reduce((a, c) => a + Number(c.data.costUsd ?? 0), 0);
  const Heading = props.withStep ? "h3" : "h4";
  return (
    <div className="subsection">
      <Heading>LLM calls ({calls.length})</Heading>
      <p className="muted">
        {input} tokens in, {output} out · {formatCost(cost)}
      </p>
      <table className="table compact">
        <thead>
          <tr>
            {props.withStep ? <th scope="col">Step</th> : null}
            <th scope="col">Model</th>
            <th scope="col">Source</th>
            <th scope="col">Tokens in / out</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((c) => (
            <tr key={c.seq}>
              {props.withStep ? (
                <td data-label="Step">{c.stepId ? <code>{c.stepId}</code> : "(run)"}</td>
              ) : null}
              <td data-label="Model">
                {String(c.data.provider ?? "")} {String(c.data.model ?? "")}
                {c.data.cached ? " (cached)" : ""}
              </td>
              <td data-label="Source">{String(c.data.source ?? "–")}</td>
              <td data-label="Tokens">
                {String(c.data.inputTokens ?? 0)} / {String(c.data.outputTokens ?? 0)}
              </td>
              <td data-label="Cost">{formatCost(Number(c.data.costUsd ?? 0))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Reflections(props: { events: RunEvent[] }) {
  const list = props.events.filter((e) => e.type === "reflection");
  if (list.length === 0) return null;
  return (
    <div className="subsection">
      <h4>Reflections ({list.length})</h4>
      <EventList
        events={list}
        render={(e) => (
          <>
            round {String(e.data.round ?? "?")}:{" "}
            <strong>{String(e.data.decision ?? e.data.action ?? "?")}</strong>
            {e.data.carriedOut ? ` (carried out: ${String(e.data.carriedOut)})` : ""}
            {typeof e.data.reasoning === "string" ? (
              <span className="block">{e.data.reasoning}</span>
            ) : null}
            {e.data.assessment !== undefined ? (
              <JsonView value={e.data.assessment} label="Assessment" />
            ) : null}
          </>
        )}
      />
    </div>
  );
}

function StepDetails(props: {
  view: StepView;
  run: RunDetail;
  open: boolean;
  onToggle: (open: boolean) => void;
}) {
  const { view } = props;
  const r = view.result;
  const retries = view.events.filter((e) => e.type === "step.retrying");
  const approvals = view.events.filter((e) => e.type.startsWith("approval."));
  const guardrails = view.events.filter((e) => e.type === "guardrail.tripped");
  const output = r?.output as Record<string, unknown> | undefined;
  const hasLogs =
    output && typeof output === "object" && ("stdout" in output || "stderr" in output);
  const stderr = typeof r?.error?.details?.stderr === "string" ? r.error.details.stderr : undefined;
  // The runtime's own record of the resolved input when it has one; otherwise the plan's
  // parameters resolved here against the run's input and the earlier steps' outputs.
  const preview = useMemo(() => {
    if (r?.resolvedParams || !view.plan?.params) return undefined;
    const results = new Map(props.run.steps.map((s) => [s.stepId, s]));
    return previewResolved(view.plan.params, {
      input: props.run.input,
      steps: (props.run.plan?.steps ?? []).map((s) => {
        const res = results.get(s.id);
        return { id: s.id, output: res?.output, hasOutput: res?.status === "succeeded" };
      }),
    });
  }, [r, view.plan, props.run]);
  return (
    <details
      className={`step step-${view.status}`}
      id={`step-${view.id}`}
      data-step-id={view.id}
      data-status={view.status}
      open={props.open}
      onToggle={(e) => props.onToggle((e.target as HTMLDetailsElement).open)}
    >
      <summary>
        <code className="step-id">{view.id}</code>
        <span className="muted">
          {view.type}
          {view.target !== view.id ? ` · ${view.target}` : ""}
        </span>
        <StatusBadge status={view.status} />
        <span className="muted">{formatDuration(view.durationMs)}</span>
        {r && r.metrics.attempts > 1 ? (
          <span className="muted">{r.metrics.attempts} attempts</span>
        ) : null}
      </summary>
      <div className="step-body">
        {r?.error ? <ErrorPanel error={r.error} title={`Step ${view.id} failed`} /> : null}
        <div className="two-col">
          <div>
            <h4>Input</h4>
            <JsonView
              value={r?.resolvedParams ?? preview?.value ?? view.plan?.params ?? {}}
              label={`Input of step ${view.id}`}
            />
            {preview && preview.unresolved > 0 ? (
              <p className="muted">
                {preview.unresolved} placeholder{preview.unresolved === 1 ? "" : "s"} not resolved
                yet.
              </p>
            ) : null}
          </div>
          <div>
            <h4>Output</h4>
            {r && r.output !== undefined ? (
              <JsonView value={r.output} label={`Output of step ${view.id}`} />
            ) : (
              <p className="muted">No output yet.</p>
            )}
          </div>
        </div>
        <dl className="facts">
          <dt>Started</dt>
          <dd>{formatTime(view.startedAt)}</dd>
          <dt>Finished</dt>
          <dd>{formatTime(view.finishedAt)}</dd>
          <dt>Attempts</dt>
          <dd>{r?.metrics.attempts ?? "–"}</dd>
          {r && r.metrics.inputTokens + r.metrics.outputTokens > 0 ? (
            <>
              <dt>Tokens</dt>
              <dd>
                {r.metrics.inputTokens} in / {r.metrics.outputTokens} out ·{" "}
                {formatCost(r.metrics.costUsd)}
              </dd>
            </>
          ) : null}
          {r?.containerId ? (
            <>
              <dt>Container</dt>
              <dd>
                <code>{r.containerId.slice(0, 12)}</code>
                {r.metrics.containerCpuMs !== undefined
                  ? ` · CPU ${formatDuration(r.metrics.containerCpuMs)}`
                  : ""}
                {r.metrics.containerMemoryPeakBytes !== undefined
                  ? ` · peak memory ${(r.metrics.containerMemoryPeakBytes / 1048576).toFixed(1)} MiB`
                  : ""}
              </dd>
            </>
          ) : null}
        </dl>
        {hasLogs || stderr ? (
          <div className="subsection">
            <h4>Container logs</h4>
            {hasLogs ? (
              <JsonView
                value={{ stdout: output?.stdout, stderr: output?.stderr }}
                label={`Container logs of step ${view.id}`}
              />
            ) : (
              <JsonView value={{ stderr }} label={`Container logs of step ${view.id}`} />
            )}
          </div>
        ) : null}
        {retries.length > 0 ? (
          <div className="subsection">
            <h4>Retries ({retries.length})</h4>
            <EventList
              events={retries}
              render={(e) => {
                const err = e.data.error as { code?: string; message?: string } | undefined;
                return (
                  <>
                    attempt {String(e.data.attempt)} failed ({err?.code}: {err?.message}); attempt{" "}
                    {String(e.data.nextAttempt)} after {formatDuration(Number(e.data.delayMs ?? 0))}
                  </>
                );
              }}
            />
          </div>
        ) : null}
        <Reflections events={view.events} />
        <LlmCalls events={view.events} />
        {approvals.length > 0 ? (
          <div className="subsection">
            <h4>Approval</h4>
            <EventList
              events={approvals}
              render={(e) =>
                e.type === "approval.requested" ? (
                  <>
                    approval requested
                    {e.data.expiresAt ? ` (expires ${formatTime(String(e.data.expiresAt))})` : ""}
                  </>
                ) : (
                  <>
                    <strong>{String(e.data.decision)}</strong>
                    {e.data.timedOut ? " (timed out)" : ""}
                    {e.data.reason ? `: ${String(e.data.reason)}` : ""}
                  </>
                )
              }
            />
          </div>
        ) : null}
        {guardrails.length > 0 ? (
          <div className="subsection">
            <h4>Guardrails</h4>
            <EventList events={guardrails} render={(e) => <code>{json(e.data)}</code>} />
          </div>
        ) : null}
      </div>
    </details>
  );
}

export function RunPage(props: { runId: string }) {
  const { run, error, events, refresh } = useRun(props.runId);
  useTitle(`Run ${shortId(props.runId)}`);
  const views = useMemo(() => stepViews(run, events), [run, events]);
  const byId = useMemo(() => new Map(views.map((v) => [v.id, v])), [views]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [cancelling, setCancelling] = useState(false);
  const [actionError, setActionError] = useState<unknown>();
  const active = run ? ACTIVE.has(run.status) : true;
  const now = useNow(active);

  const select = (id: string) => {
    setOpen((prev) => new Set(prev).add(id));
    requestAnimationFrame(() => {
      const el = document.getElementById(`step-${id}`);
      el?.scrollIntoView({ block: "start" });
      el?.querySelector("summary")?.focus();
    });
  };

  const cancel = async () => {
    setCancelling(true);
    setActionError(undefined);
    try {
      await api("POST", `/v1/runs/${encodeURIComponent(props.runId)}/cancel`);
      await refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setCancelling(false);
    }
  };

  if (!run) {
    return (
      <div className="page">
        <h1>Run {shortId(props.runId)}</h1>
        {error ? (
          <ErrorPanel error={error as Error} title="The run could not be read" />
        ) : (
          <p>Loading…</p>
        )}
      </div>
    );
  }
  const runLevel = events.filter((e) => !e.stepId);
  const adaptations = events.filter((e) => e.type === "plan.adapted");
  const pendingApprovals = run.approvals ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          Run <code>{shortId(run.id)}</code>
        </h1>
        <StatusBadge status={run.status} />
        {active ? (
          <button
            type="button"
            className="danger"
            onClick={() => void cancel()}
            disabled={cancelling}
          >
            {cancelling ? "Cancelling…" : "Cancel run"}
          </button>
        ) : null}
      </div>
      <p className="visually-hidden" aria-live="polite">
        Run status: {run.status}
      </p>
      <dl className="facts run-facts">
        <dt>Target</dt>
        <dd>{targetLabel(run.target)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(run.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(runDuration({ ...run, durationMs: run.metrics.durationMs }, now))}</dd>
        <dt>Cost</dt>
        <dd>
          {formatCost(run.cost.usd)} · {run.cost.inputTokens} in / {run.cost.outputTokens} out
          tokens
        </dd>
        <dt>Steps</dt>
        <dd>
          {run.metrics.stepsSucceeded ?? 0} succeeded, {run.metrics.stepsFailed ?? 0} failed of{" "}
          {run.metrics.stepsTotal || views.length}
        </dd>
        <dt>Id</dt>
        <dd>
          <code>{run.id}</code>
        </dd>
      </dl>
      {run.task ? (
        <p>
          <strong>Task:</strong> {run.task}
        </p>
      ) : null}
      {run.input !== undefined ? (
        <details className="schema">
          <summary>Run input</summary>
          <JsonView value={run.input} label="Run input" />
        </details>
      ) : null}
      <ErrorPanel error={actionError as Error} title="Cancel failed" />
      {run.error ? <ErrorPanel error={run.error} title="The run failed" /> : null}
      {pendingApprovals.length > 0 ? (
        <Section title="Waiting for approval" id="run-approvals">
          {pendingApprovals.map((a) => (
            <ApprovalCard key={a.stepId} approval={a} onDone={() => void refresh()} />
          ))}
        </Section>
      ) : null}
      <Section title="Plan" id="plan">
        {run.plan && run.plan.steps.length > 0 ? (
          <>
            {run.plan.objective ? <p className="muted">{run.plan.objective}</p> : null}
            <PlanGraph steps={run.plan.steps} views={byId} onSelect={select} />
          </>
        ) : (
          <p className="muted">
            This run has no plan graph (an agent's tool-calling loop, or not started yet).
          </p>
        )}
        {adaptations.length > 0 ? (
          <div className="subsection">
            <h3>Plan adaptations</h3>
            <EventList
              events={adaptations}
              render={(e) => (
                <>
                  revision {String(e.data.revision)}: kept {json(e.data.kept)}, dropped{" "}
                  {json(e.data.dropped)}, added {json(e.data.added)}
                  {typeof e.data.reasoning === "string" ? (
                    <span className="block">{e.data.reasoning}</span>
                  ) : null}
                </>
              )}
            />
          </div>
        ) : null}
      </Section>
      <Section title="Timeline" id="timeline">
        <Timeline views={views} runStart={Date.parse(run.createdAt)} now={now} />
      </Section>
      {events.some((e) => e.type === "llm.usage") ? (
        <Section title="Model usage" id="llm">
          <LlmCalls events={events} withStep />
        </Section>
      ) : null}
      <Section title="Steps" id="steps">
        {views.length === 0 ? <p className="muted">No steps yet.</p> : null}
        {views.map((v) => (
          <StepDetails
            key={v.id}
            view={v}
            run={run}
            open={open.has(v.id)}
            onToggle={(isOpen) =>
              setOpen((prev) => {
                if (prev.has(v.id) === isOpen) return prev;
                const next = new Set(prev);
                if (isOpen) next.add(v.id);
                else next.delete(v.id);
                return next;
              })
            }
          />
        ))}
        <Reflections events={runLevel} />
      </Section>
      <Section title="Result" id="result">
        {run.result !== null && run.result !== undefined ? (
          <JsonView value={run.result} label="Run result" />
        ) : (
          <p className="muted">{active ? "Not finished yet." : "No result."}</p>
        )}
      </Section>
      <Section title="Events" id="events">
        <details>
          <summary>All {events.length} events</summary>
          <ol className="event-log">
            {events.map((e) => (
              <li key={e.seq}>
                <code>{e.seq}</code> <span className="muted">{formatTime(e.at)}</span>{" "}
                <strong>{e.type}</strong>
                {e.stepId ? ` · ${e.stepId}` : ""}
              </li>
            ))}
          </ol>
        </details>
      </Section>
      <p>
        <Link to="/">← All runs</Link>
      </p>
    </div>
  );
}
