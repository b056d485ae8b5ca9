import type { Logger } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono } from "hono";
import type { AppEnv } from "../app.ts";
import type { AuditLog } from "../audit.ts";
import type { McpBackend } from "./backend.ts";
import { createMcpServer } from "./server.ts";

/** What the `/mcp` route needs. */
export interface McpRouteDeps {
  backend: McpBackend;
  version: string;
  audit: AuditLog;
  logger?: Logger;
  /** Largest accepted JSON-RPC body in bytes (the runtime's `requestBodyBytes`). */
  maxBodyBytes?: number;
}

/**
 * The Streamable HTTP MCP endpoint (mounted at `/mcp` by the composition root, so the app's API-key
 * auth, rate limit and metrics apply as to `/v1`). Stateless: every POST gets a fresh MCP server
 * and the SDK's web-standard transport, which fits Hono's Request/Response and needs no sticky
 * sessions between replicas. A call's progress notifications stream on the POST's own SSE answer.
 * GET (a standalone notification stream) and DELETE (ending a session) answer 405, as the spec
 * allows for a server without sessions, so `notifications/tools/list_changed` is not sent here:
 * HTTP clients list again when they reconnect. The stdio server (`aria mcp`) sends it.
 */
export function createMcpRoute(deps: McpRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/", async (c) => {
    const actor = c.get("principal") ?? "anonymous";
    const transport = new WebStandardStreamableHTTPServerTransport({
      ...(deps.maxBodyBytes !== undefined ? { maxRequestBodySize: deps.maxBodyBytes } : {}),
    });
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
    const response = await transport.handleRequest(c.req.raw);
    if (!response.body) {
      close();
      return response;
    }
    // Close the per-request server once its answer (JSON or an SSE stream) has been sent.
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        flush: close,
        cancel: close,
      } as ConstructorParameters<typeof TransformStream<Uint8Array, Uint8Array>>[0]),
    );
    return new Response(body, { status: response.status, headers: response.headers });
  });

  const notAllowed = () => {
    throw new AriaError("NOT_FOUND", {
      message:
        "This MCP endpoint is stateless: send JSON-RPC requests with POST (no GET stream, no sessions to delete)",
      httpStatus: 405,
      context: { component: "mcp", operation: "route" },
    });
  };
  app.get("/", notAllowed);
  app.delete("/", notAllowed);
  return app;
}
