import { useEffect, useState } from "react";
import { streamEvents } from "../api/client.ts";
import { ACTIVE, type RunSummary } from "../api/types.ts";
import { ErrorPanel, StatusBadge, useTitle } from "../components/common.tsx";
import { formatCost, formatDuration, formatTime, shortId, targetLabel } from "../format.ts";
import { Link } from "../router.tsx";

/** Runs by id, updated from `GET /v1/events` (a snapshot, then one event per changed run). */
export function useLiveRuns(): { runs: RunSummary[]; live: boolean; error: unknown } {
  const [runs, setRuns] = useState<Map<string, RunSummary>>(new Map());
  const [live, setLive] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const controller = new AbortController();
    void streamEvents("/v1/events?limit=100", {
      signal: controller.signal,
      onOpen: () => {
        setLive(true);
        setError(undefined);
      },
      onError: (e) => {
        setLive(false);
        setError(e);
      },
      onEvent: (event) => {
        if (event.event === "runs.snapshot") {
          const { runs: list } = JSON.parse(event.data) as { runs: RunSummary[] };
          setRuns(new Map(list.map((r) => [r.id, r])));
        } else if (event.event === "run.updated") {
          const run = JSON.parse(event.data) as RunSummary;
          setRuns((prev) => new Map(prev).set(run.id, run));
        }
      },
    });
    return () => controller.abort();
  }, []);
  const list = [...runs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return { runs: list, live, error };
}

/** Ticks every second while `active` (for live durations). */
export function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function runDuration(
  run: { status: string; createdAt: string; updatedAt: string; durationMs?: number },
  now: number,
): number {
  if (ACTIVE.has(run.status)) return now - Date.parse(run.createdAt);
  if (run.durationMs) return run.durationMs;
  return Date.parse(run.updatedAt) - Date.parse(run.createdAt);
}

export function RunsPage() {
  useTitle("Runs");
  const { runs, live, error } = useLiveRuns();
  const [filter, setFilter] = useState("all");
  const now = useNow(runs.some((r) => ACTIVE.has(r.status)));
  const shown =
    filter === "all"
      ? runs
      : runs.filter((r) => (filter === "active" ? ACTIVE.has(r.status) : r.status === filter));
  return (
    <div className="page">
      <div className="page-head">
        <h1>Runs</h1>
        <p className="live-indicator" aria-live="polite">
          <span className={live ? "dot dot-live" : "dot"} aria-hidden="true" />
          {live ? "Live" : "Connecting…"}
        </p>
      </div>
      <div className="toolbar">
        <label htmlFor="run-filter">Show</label>
        <select id="run-filter" value={filter} onChange={(e) => setFilter(e.target.value)}>
          <option value="all">all runs</option>
          <option value="active">active (queued, running, paused)</option>
          <option value="succeeded">succeeded</option>
          <option value="failed">failed</option>
          <option value="cancelled">cancelled</option>
          <option value="paused">paused</option>
        </select>
        <Link to="/start" className="button primary">
          Start work
        </Link>
      </div>
      {error && !live ? (
        <ErrorPanel error={error as Error} title="The live list is not connected" />
      ) : null}
      {shown.length === 0 ? (
        <p className="empty">
          No runs yet. <Link to="/start">Start one.</Link>
        </p>
      ) : (
        <table className="table runs-table">
          <caption className="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Agent, team or pipeline</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((run) => (
              <tr key={run.id} data-run-id={run.id} data-status={run.status}>
                <td data-label="Run">
                  <Link
                    to={`/runs/${encodeURIComponent(run.id)}`}
                    aria-label={`Run ${shortId(run.id)} (${targetLabel(run.target)}, ${run.status})`}
                  >
                    <code>{shortId(run.id)}</code>
                  </Link>
                </td>
                <td data-label="Status">
                  <StatusBadge status={run.status} />
                </td>
                <td data-label="Target">{targetLabel(run.target)}</td>
                <td data-label="Started">{formatTime(run.createdAt)}</td>
                <td data-label="Duration">{formatDuration(runDuration(run, now))}</td>
                <td data-label="Cost">
                  {formatCost(run.cost.usd)}
                  {run.cost.inputTokens + run.cost.outputTokens > 0 ? (
                    <span className="muted">
                      {" "}
                      · {run.cost.inputTokens + run.cost.outputTokens} tokens
                    </span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
