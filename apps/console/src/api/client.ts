import { type SseEvent, SseParser } from "./sse-parser.ts";
import type { ErrorBody } from "./types.ts";

export type { ErrorBody } from "./types.ts";

const KEY = "aria.console.apiKey";

/** The API key for this tab (sessionStorage: gone when the tab closes). */
export function getApiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  authRequired = false;
  try {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the key lives until reload only
  }
  for (const l of authListeners) l();
}

const authListeners = new Set<() => void>();
let authRequired = false;

/** True once the runtime answered 401: the console then asks for a key. */
export function isAuthRequired(): boolean {
  return authRequired;
}

/** Calls `listener` when the key is needed or changes; returns an unsubscribe function. */
export function onAuthChange(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

/** An HTTP answer that was not 2xx, with the runtime's error body when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = getApiKey();
  return { ...extra, ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

async function failure(res: Response): Promise<ApiError> {
  let body: ErrorBody = { code: `HTTP_${res.status}`, message: `${res.status} ${res.statusText}` };
  try {
    const json = (await res.json()) as { error?: ErrorBody };
    if (json?.error?.message) body = json.error;
  } catch {
    // not JSON
  }
  if (res.status === 401) {
    authRequired = true;
    for (const l of authListeners) l();
  }
  return new ApiError(res.status, body);
}

/** Calls the runtime's HTTP API on this origin (JSON in, JSON out). */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { signal?: AbortSignal; raw?: BodyInit; contentType?: string } = {},
): Promise<T> {
  const init: RequestInit = {
    method,
    headers: headers({
      accept: "application/json",
      ...(options.raw !== undefined
        ? { "content-type": options.contentType ?? "application/octet-stream" }
        : body !== undefined
          ? { "content-type": "application/json" }
          : {}),
    }),
    ...(options.raw !== undefined
      ? { body: options.raw }
      : body !== undefined
        ? { body: JSON.stringify(body) }
        : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export interface StreamOptions {
  onEvent: (event: SseEvent) => void;
  /** Called when the stream is open (after each (re)connect). */
  onOpen?: () => void;
  onError?: (error: unknown) => void;
  signal: AbortSignal;
  /** Stop instead of reconnecting when this returns true after the stream ends. */
  done?: () => boolean;
}

/**
 * Reads a Server-Sent Events stream with `fetch` (EventSource cannot send the Authorization header),
 * reconnecting with `Last-Event-ID` until `signal` aborts or `done()` says the stream is complete.
 */
export async function streamEvents(path: string, options: StreamOptions): Promise<void> {
  let lastId = "";
  let delay = 1000;
  while (!options.signal.aborted) {
    try {
      const res = await fetch(path, {
        headers: headers({
          accept: "text/event-stream",
          ...(lastId ? { "last-event-id": lastId } : {}),
        }),
        signal: options.signal,
        cache: "no-store",
      });
      if (!res.ok || !res.body) throw await failure(res);
      options.onOpen?.();
      delay = 1000;
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) {
          lastId = event.id || lastId;
          options.onEvent(event);
        }
      }
      if (parser.retryMs !== undefined) delay = parser.retryMs;
    } catch (error) {
      if (options.signal.aborted) return;
      options.onError?.(error);
      if (error instanceof ApiError && (error.status === 401 || error.status === 404)) return;
      delay = Math.min(delay * 2, 15_000);
    }
    if (options.done?.()) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
