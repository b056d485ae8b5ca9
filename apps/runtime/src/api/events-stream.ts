import type { RunState, StateStore } from "@aria/core-types";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../app.ts";

/** One row of the runs list, as `GET /v1/runs` answers it. */
export function runSummary(r: RunState) {
  return {
    id: r.id,
    status: r.status,
    target: r.target,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    durationMs: r.metrics.durationMs,
    cost: r.cost,
  };
}

export interface EventsStreamDeps {
  store: StateStore;
  /** How often the run list is re-read for changes (default 1000 ms). */
  pollMs?: number;
  heartbeatMs?: number;
  /** Aborted when the server shuts down: the stream ends so the connection can close. */
  shutdown?: AbortSignal;
}

/**
 * `GET /v1/events`: the whole runtime's run changes as Server-Sent Events, for live lists (the
 * console's runs page). It first sends `runs.snapshot` (`{runs}`, the latest `limit` runs, as
 * `GET /v1/runs`), then `run.updated` (one run's summary) whenever a run appears or its status or
 * `updatedAt` changes. Changes are found by re-reading the list every `pollMs`, so the stream works
 * the same with in-memory state and with Redis shared by several replicas. A run's own detailed
 * events stay at `GET /v1/runs/:id/events`.
 */
export function createEventsStream(deps: EventsStreamDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/events", (c) => {
    const limit = Math.min(500, Math.max(1, Number(c.req.query("limit") ?? 50) || 50));
    return streamSSE(c, async (stream) => {
      const seen = new Map<string, string>();
      const key = (r: RunState) => `${r.status}|${r.updatedAt}`;
      const heartbeat = setInterval(() => {
        void stream.write(": keep-alive\n\n");
      }, deps.heartbeatMs ?? 15_000);
      let id = 0;
      try {
        const first = await deps.store.listRuns({ limit });
        for (const r of first) seen.set(r.id, key(r));
        await stream.writeSSE({
          id: String(++id),
          event: "runs.snapshot",
          data: JSON.stringify({ runs: first.map(runSummary) }),
        });
        while (!stream.aborted && deps.shutdown?.aborted !== true) {
          await stream.sleep(deps.pollMs ?? 1000);
          if (stream.aborted) break;
          const runs = await deps.store.listRuns({ limit });
          // Oldest change first, so a client applying them in order ends with the newest state.
          for (const r of [...runs].reverse()) {
            const k = key(r);
            if (seen.get(r.id) === k) continue;
            seen.set(r.id, k);
            await stream.writeSSE({
              id: String(++id),
              event: "run.updated",
              data: JSON.stringify(runSummary(r)),
            });
          }
          if (seen.size > limit * 4) {
            const keep = new Set(runs.map((r) => r.id));
            for (const known of seen.keys()) if (!keep.has(known)) seen.delete(known);
          }
        }
      } finally {
        clearInterval(heartbeat);
      }
    });
  });
  return app;
}
