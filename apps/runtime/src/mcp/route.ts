import { createHash, randomUUID } from "node:crypto";
import type { Logger, StateStore } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../app.ts";
import type { AuditLog } from "../audit.ts";
import { readBody } from "../http/body.ts";
import type { McpBackend } from "./backend.ts";
import { createMcpServer } from "./server.ts";

/** What the `/mcp` route needs. */
export interface McpRouteDeps {
  backend: McpBackend;
  version: string;
  audit: AuditLog;
  /** Where session ids are kept (the runtime's state store: Redis is shared by the replicas). */
  store: Pick<StateStore, "getValue" | "setValue" | "deleteValue">;
  logger?: Logger;
  /** Largest accepted JSON-RPC body in bytes (the runtime's `requestBodyBytes`; default 1 MiB). */
  maxBodyBytes?: number;
  /** A session unused for this long is forgotten (ms; default 30 minutes). */
  sessionIdleMs?: number;
  /** Keep-alive comments on the notification stream (ms; default 15 s). */
  keepAliveMs?: number;
  /**
   * A notification stream ends after this long (ms; default 20 s) and the client reconnects at once
   * (`retry:`), resuming from its last event id, so nothing is missed. Bounded streams keep a
   * graceful shutdown, which waits for open connections, short.
   */
  streamMaxMs?: number;
}

const SESSIONS = "mcp-sessions";
const SESSION_HEADER = "mcp-session-id";

/** A JSON-RPC error answer outside any request (no id), as the transport itself writes them. */
function rpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * The Streamable HTTP MCP endpoint (mounted at `/mcp` by the composition root, after the app's
 * API-key auth, rate limit and metrics, like `/v1`).
 *
 * Every POST is handled by a fresh MCP server on the SDK's web-standard transport (it takes a web
 * `Request` and returns a `Response`, which is what hono hands over), so no MCP state lives in a
 * process and any replica can answer any request. A call's progress notifications stream on the
 * POST's own SSE answer. Sessions are only an id: `initialize` answers with `Mcp-Session-Id`, kept
 * in the state store with the caller's key id (sliding expiry), and a `GET` with that id opens a
 * stream that carries `notifications/tools/list_changed` when bundles are installed or removed on
 * the replica holding the stream. The stream's event ids are fingerprints of the list: it ends after
 * `streamMaxMs` and the client reconnects with `Last-Event-ID`, and is told at once if the list
 * changed meanwhile. An unknown or expired id answers 404 (the client starts a new session),
 * `DELETE` ends one; requests without an id are served statelessly.
 */
export function createMcpRoute(deps: McpRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const idleMs = deps.sessionIdleMs ?? 30 * 60_000;
  const maxBodyBytes = deps.maxBodyBytes ?? 1_048_576;

  /** The state of the list a client has seen: the event id of the notification stream. */
  const fingerprint = async () => {
    const targets = await deps.backend.list();
    return createHash("sha256").update(JSON.stringify(targets)).digest("hex").slice(0, 16);
  };

  /** The session named by the request, if any: `undefined` (none given), or whether it is valid. */
  const session = async (c: Context<AppEnv>, actor: string) => {
    const id = c.req.header(SESSION_HEADER);
    if (id === undefined) return undefined;
    const owner = await deps.store.getValue(SESSIONS, id);
    // Another key's session is as unknown as an expired one.
    if (owner !== actor) return { id, valid: false };
    await deps.store.setValue(SESSIONS, id, actor, idleMs);
    return { id, valid: true };
  };

  app.post("/", async (c) => {
    const actor = c.get("principal") ?? "anonymous";
    const given = await session(c, actor);
    if (given && !given.valid) return rpcError(404, -32001, "Session not found");
    const text = new TextDecoder().decode(await readBody(c, maxBodyBytes));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return rpcError(400, -32700, `Parse error: ${(error as Error).message}`);
    }
    const initialize =
      !Array.isArray(body) && (body as { method?: unknown } | null)?.method === "initialize";

    const transport = new WebStandardStreamableHTTPServerTransport({});
    const server = createMcpServer({
      backend: deps.backend,
      actor,
      version: deps.version,
      ...(deps.logger ? { logger: deps.logger } : {}),
      // Every call is an audited operation (its run or tool invocation adds its own entries).
      onCall: (call) => {
        void deps.audit
          .record({
            actor,
            action: "mcp.call",
            target: call.name,
            outcome: call.ok ? "success" : "failure",
            durationMs: call.durationMs,
            details: {
              transport: "http",
              ...(call.code ? { code: call.code } : {}),
              ...(call.runId ? { runId: call.runId } : {}),
            },
          })
          .catch(() => undefined);
      },
    });
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      server.close().catch(() => undefined);
    };
    // A client that goes away ends its calls (their runs are cancelled).
    c.req.raw.signal.addEventListener("abort", close, { once: true });
    server.onerror = (error) => deps.logger?.debug?.({ err: error }, "mcp protocol error");
    await server.connect(transport);
    const response = await transport.handleRequest(c.req.raw, { parsedBody: body });
    const headers = new Headers(response.headers);
    if (initialize && response.ok) {
      const id = randomUUID();
      await deps.store.setValue(SESSIONS, id, actor, idleMs);
      headers.set(SESSION_HEADER, id);
    } else if (given) headers.set(SESSION_HEADER, given.id);
    if (!response.body) {
      close();
      return new Response(null, { status: response.status, headers });
    }
    // Close the per-request server once its answer (JSON or an SSE stream) has been sent.
    const out = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        flush: close,
        cancel: close,
      } as ConstructorParameters<typeof TransformStream<Uint8Array, Uint8Array>>[0]),
    );
    return new Response(out, { status: response.status, headers });
  });

  app.get("/", async (c) => {
    const actor = c.get("principal") ?? "anonymous";
    const given = await session(c, actor);
    if (!given) {
      throw new AriaError("NOT_FOUND", {
        message:
          "GET /mcp opens a session's notification stream: initialize a session first (send its Mcp-Session-Id)",
        httpStatus: 405,
        context: { component: "mcp", operation: "stream" },
      });
    }
    if (!given.valid) return rpcError(404, -32001, "Session not found");
    if (!(c.req.header("accept") ?? "").includes("text/event-stream"))
      return rpcError(406, -32000, "Not Acceptable: Client must accept text/event-stream");
    const encoder = new TextEncoder();
    const seen = c.req.header("last-event-id");
    let current = await fingerprint();
    const listChanged = (id: string) =>
      `id: ${id}\nevent: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/tools/list_changed" })}\n\n`;
    let stop: (() => void) | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const write = (chunk: string) => {
          try {
            controller.enqueue(encoder.encode(chunk));
          } catch {
            stop?.();
          }
        };
        const end = () => {
          stop?.();
          try {
            controller.close();
          } catch {
            // already closed
          }
        };
        const unsubscribe = deps.backend.subscribe?.(() => {
          fingerprint().then(
            (next) => {
              if (next === current) return;
              current = next;
              write(listChanged(next));
            },
            () => undefined,
          );
        });
        // Keep proxies from closing an idle stream, and the session alive while it is open.
        const keepAlive = setInterval(() => {
          write(": keep-alive\n\n");
          deps.store.setValue(SESSIONS, given.id, actor, idleMs).catch(() => undefined);
        }, deps.keepAliveMs ?? 15_000);
        keepAlive.unref?.();
        const lifetime = setTimeout(end, deps.streamMaxMs ?? 20_000);
        lifetime.unref?.();
        stop = () => {
          clearInterval(keepAlive);
          clearTimeout(lifetime);
          unsubscribe?.();
          stop = undefined;
        };
        c.req.raw.signal.addEventListener("abort", end, { once: true });
        // The current list's id first (the client resumes from it), with a short reconnect delay;
        // a client that saw an older list is told at once.
        write(`retry: 250\nid: ${current}\ndata: \n\n`);
        if (seen !== undefined && seen !== current) write(listChanged(current));
      },
      cancel() {
        stop?.();
      },
    });
    return new Response(stream, {
      status: 200,
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        [SESSION_HEADER]: given.id,
      },
    });
  });

  app.delete("/", async (c) => {
    const actor = c.get("principal") ?? "anonymous";
    const given = await session(c, actor);
    if (!given) {
      throw new AriaError("NOT_FOUND", {
        message: "DELETE /mcp ends a session: send its Mcp-Session-Id",
        httpStatus: 405,
        context: { component: "mcp", operation: "end-session" },
      });
    }
    if (!given.valid) return rpcError(404, -32001, "Session not found");
    await deps.store.deleteValue(SESSIONS, given.id);
    return new Response(null, { status: 200 });
  });

  return app;
}
