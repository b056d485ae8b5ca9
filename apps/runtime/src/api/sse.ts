import type { RunEvent, StateStore } from "@aria/core-types";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";

/** Live notifications of appended run events (in-process, or Redis pub/sub across replicas). */
export interface EventNotifier {
  /** Calls `listener` whenever events are appended to `runId`; returns an unsubscribe function. */
  subscribe(runId: string, listener: () => void): () => void;
  notify(runId: string): void;
}

/** In-process notifier. */
export class LocalEventNotifier implements EventNotifier {
  private readonly listeners = new Map<string, Set<() => void>>();

  subscribe(runId: string, listener: () => void): () => void {
    let set = this.listeners.get(runId);
    if (!set) {
      set = new Set();
      this.listeners.set(runId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  notify(runId: string): void {
    for (const listener of this.listeners.get(runId) ?? []) listener();
  }
}

const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);

/**
 * Streams a run's events as Server-Sent Events: first what the log already holds after
 * `Last-Event-ID` (or `?after=`), then live events until a terminal one. The SSE `id` is the event's
 * sequence number, so a client that reconnects with `Last-Event-ID` misses nothing and sees nothing twice.
 */
export function streamRunEvents(
  c: Context,
  deps: {
    store: StateStore;
    notifier: EventNotifier;
    runId: string;
    heartbeatMs?: number;
    /** Aborted when the server shuts down: the stream ends (clients resume with Last-Event-ID). */
    shutdown?: AbortSignal;
  },
) {
  const header = c.req.header("last-event-id") ?? c.req.query("after") ?? "0";
  let after = Number.parseInt(header, 10);
  if (!Number.isFinite(after) || after < 0) after = 0;
  return streamSSE(c, async (stream) => {
    let wake: (() => void) | undefined;
    let pending = true;
    const unsubscribe = deps.notifier.subscribe(deps.runId, () => {
      pending = true;
      wake?.();
    });
    const heartbeat = setInterval(() => {
      void stream.write(": keep-alive\n\n");
    }, deps.heartbeatMs ?? 15_000);
    stream.onAbort(() => {
      wake?.();
    });
    const onShutdown = () => wake?.();
    deps.shutdown?.addEventListener("abort", onShutdown, { once: true });
    try {
      let done = false;
      while (!done && !stream.aborted && deps.shutdown?.aborted !== true) {
        if (!pending) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            // Polling fallback: a notification can be lost between replicas.
            setTimeout(resolve, 1000);
          });
          wake = undefined;
        }
        pending = false;
        const events: RunEvent[] = await deps.store.readEvents(deps.runId, after);
        for (const event of events) {
          await stream.writeSSE({
            id: String(event.seq),
            event: event.type,
            data: JSON.stringify(event),
          });
          after = event.seq;
          if (TERMINAL.has(event.type)) done = true;
        }
      }
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
      deps.shutdown?.removeEventListener("abort", onShutdown);
    }
  });
}
