import { ErrorEnvelopeSchema, RunStateSchema } from "@aria/core-types";
import { z } from "zod";
import {
  ApprovalSchema,
  RunSubmitSchema,
  SessionCreateSchema,
  SessionMessageSchema,
  ToolInvokeSchema,
} from "./schemas.ts";

const schema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;

type Op = {
  summary: string;
  body?: z.ZodType | "octet-stream";
  ok: number;
  answer?: string;
  auth?: boolean;
  params?: string[];
  query?: string[];
};

const ROUTES: Record<string, Record<string, Op>> = {
  "/health": { get: { summary: "Liveness (no auth)", ok: 200, auth: false } },
  "/ready": {
    get: {
      summary: "Readiness of each dependency (store, container engine, LLM providers)",
      ok: 200,
    },
  },
  "/metrics": {
    get: { summary: "Prometheus metrics (text format)", ok: 200, answer: "text/plain" },
  },
  "/openapi.json": { get: { summary: "This document", ok: 200, auth: false } },
  "/v1/bundles": {
    post: {
      summary: "Install a .aria bundle (the archive's bytes)",
      body: "octet-stream",
      ok: 201,
    },
    get: { summary: "Installed bundles and versions", ok: 200 },
  },
  "/v1/bundles/{name}": {
    get: { summary: "One bundle's installed versions", ok: 200, params: ["name"] },
  },
  "/v1/bundles/{name}/{version}": {
    delete: { summary: "Uninstall a bundle version", ok: 200, params: ["name", "version"] },
  },
  "/v1/tools": { get: { summary: "Installed tools with their schemas", ok: 200 } },
  "/v1/tools/{name}/invoke": {
    post: {
      summary: "Invoke a tool (BUNDLE%2FTOOL or a bare name)",
      body: ToolInvokeSchema,
      ok: 200,
      params: ["name"],
    },
  },
  "/v1/agents": { get: { summary: "Installed agents", ok: 200 } },
  "/v1/teams": { get: { summary: "Installed teams", ok: 200 } },
  "/v1/pipelines": { get: { summary: "Installed pipelines", ok: 200 } },
  "/v1/runs": {
    post: {
      summary: "Submit a run (agent, pipeline or team); ?wait=true answers when it ends",
      body: RunSubmitSchema,
      ok: 202,
      query: ["wait"],
    },
    get: { summary: "Recent runs", ok: 200, query: ["limit", "status"] },
  },
  "/v1/runs/{id}": {
    get: {
      summary: "A run: status, plan, steps, result, error, metrics, cost",
      ok: 200,
      params: ["id"],
    },
  },
  "/v1/events": {
    get: {
      summary:
        "Every run's changes as Server-Sent Events: runs.snapshot ({runs}) first, then run.updated (one run's summary) per change",
      ok: 200,
      query: ["limit"],
      answer: "text/event-stream",
    },
  },
  "/console": {
    get: {
      summary: "The web console (HTML; its assets under /console/ need no key, its API calls do)",
      ok: 200,
      auth: false,
      answer: "text/html",
    },
  },
  "/v1/runs/{id}/events": {
    get: {
      summary: "The run's events as Server-Sent Events (Last-Event-ID resumes)",
      ok: 200,
      params: ["id"],
      answer: "text/event-stream",
    },
  },
  "/v1/runs/{id}/cancel": {
    post: { summary: "Cancel a run; its containers are stopped", ok: 200, params: ["id"] },
  },
  "/v1/runs/{id}/approvals/{stepId}": {
    post: {
      summary: "Approve or reject a paused step",
      body: ApprovalSchema,
      ok: 200,
      params: ["id", "stepId"],
    },
  },
  "/v1/approvals": {
    get: { summary: "Pending approvals across paused runs (an inbox)", ok: 200 },
  },
  "/v1/sessions": {
    post: { summary: "Create a conversation session", body: SessionCreateSchema, ok: 201 },
  },
  "/v1/sessions/{id}": {
    get: { summary: "A session: turns, state, context snapshot", ok: 200, params: ["id"] },
  },
  "/v1/sessions/{id}/messages": {
    post: {
      summary: "Send a message; answers with the assistant's turn",
      body: SessionMessageSchema,
      ok: 200,
      params: ["id"],
    },
  },
  "/v1/usage": {
    get: {
      summary: "Usage per run, agent, bundle and provider (tokens, cost, wall time, container CPU)",
      ok: 200,
      query: ["limit"],
    },
  },
  "/v1/audit": {
    get: { summary: "The audit log, newest first", ok: 200, query: ["limit", "action", "actor"] },
  },
  "/mcp": {
    post: {
      summary:
        "Model Context Protocol over Streamable HTTP (a JSON-RPC message; answers JSON or an SSE stream): the tools, agents, teams and pipelines as MCP tools (docs/mcp.md)",
      ok: 200,
    },
    get: {
      summary: "An MCP session's notification stream (SSE; needs Mcp-Session-Id)",
      ok: 200,
      answer: "text/event-stream",
    },
    delete: { summary: "End an MCP session (Mcp-Session-Id)", ok: 200 },
  },
};

/** The OpenAPI 3.1 document of the public API, generated from the same zod schemas that validate it. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [route, ops] of Object.entries(ROUTES)) {
    paths[route] = {};
    for (const [method, op] of Object.entries(ops)) {
      paths[route]![method] = {
        summary: op.summary,
        ...(op.auth === false ? { security: [] } : {}),
        parameters: [
          ...(op.params ?? []).map((name) => ({
            name,
            in: "path",
            required: true,
            schema: { type: "string" },
          })),
          ...(op.query ?? []).map((name) => ({
            name,
            in: "query",
            required: false,
            schema: { type: "string" },
          })),
        ],
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content:
                  op.body === "octet-stream"
                    ? {
                        "application/octet-stream": {
                          schema: { type: "string", format: "binary" },
                        },
                      }
                    : { "application/json": { schema: schema(op.body) } },
              },
            }
          : {}),
        responses: {
          [String(op.ok)]: {
            description: "Success",
            content: {
              [op.answer ?? "application/json"]:
                route === "/v1/runs/{id}" ? { schema: { $ref: "#/components/schemas/Run" } } : {},
            },
          },
          default: {
            description: "An error",
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        },
      };
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Aria Runtime API",
      version,
      description: "Run AI agents, tools, teams and pipelines shipped as .aria bundles.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "A key from ARIA_API_KEYS (when set)",
        },
      },
      schemas: { Error: schema(ErrorEnvelopeSchema), Run: schema(RunStateSchema) },
    },
  };
}
