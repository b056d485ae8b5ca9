import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { createLogger, type RunningServer, startServer } from "@aria/runtime";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Progress,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The runtime's `/mcp` route (Streamable HTTP, stateless) driven by the official MCP client:
 * behind the API key, rate limit and audit of `/v1`.
 */
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const examples = path.resolve(import.meta.dirname, "../../../examples");
const API_KEY = "mcp-http-test-key-0123456789";
const auth = { authorization: `Bearer ${API_KEY}` };

let server: RunningServer;
let client: Client;

async function connect(headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: "aria-http-test", version: "1.0.0" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } }),
  );
  return c;
}

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-mcp-http-"));
  server = await startServer(
    RuntimeConfigSchema.parse({
      dataDir,
      examplesDir: examples,
      host: "127.0.0.1",
      port: 0,
      apiKeys: [API_KEY],
      features: { containers: false },
    }),
    silent,
  );
  client = await connect(auth);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe("/mcp (Streamable HTTP)", () => {
  it("refuses a client without the API key (401, the contract's envelope)", async () => {
    await expect(connect({})).rejects.toThrow(/401|UNAUTHORIZED|Missing Authorization/);
    const res = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: "Bearer not-the-key-at-all-000000",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
  });

  it("is rate limited like /v1 (RateLimit headers on its answers)", async () => {
    const res = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: {
        ...auth,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "raw", version: "1" },
        },
      }),
    });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("ratelimit-limit"))).toBeGreaterThan(0);
    expect(res.headers.get("ratelimit-remaining")).not.toBeNull();
    await res.body?.cancel();
  });

  it("answers GET (no standalone stream in stateless mode) with 405", async () => {
    const res = await fetch(`${server.url}/mcp`, {
      headers: { ...auth, accept: "text/event-stream" },
    });
    expect(res.status).toBe(405);
  });

  it("lists the pipeline with its input schema", async () => {
    const { tools } = await client.listTools();
    const pipeline = tools.find((t) => t.name === "pipeline.text-tools__text-report");
    expect(pipeline?.inputSchema).toMatchObject({
      type: "object",
      properties: { text: { type: "string" }, title: { type: "string" } },
      required: ["text"],
    });
    expect(tools.some((t) => t.name === "tool.calculator-tools__formatReport")).toBe(true);
  });

  it("calls the pipeline: its real output, progress on the POST's stream, an audit entry", async () => {
    const progress: Progress[] = [];
    const result = (await client.callTool(
      {
        name: "pipeline.text-tools__text-report",
        arguments: { text: "The cat sat. The cat ran away quickly!", title: "Cats" },
      },
      undefined,
      { onprogress: (p) => progress.push(p) },
    )) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as {
      status: string;
      runId: string;
      result: { report: string };
    };
    expect(structured.status).toBe("succeeded");
    expect(structured.result.report).toContain("Cats");
    expect(structured.result.report).toMatch(/words\D+8/);
    expect(progress.some((p) => p.progress === 4 && p.total === 4)).toBe(true);

    const audit = (await (
      await fetch(`${server.url}/v1/audit?action=mcp.call&limit=10`, { headers: auth })
    ).json()) as {
      entries: Array<{
        actor: string;
        target: string;
        outcome: string;
        details: Record<string, unknown>;
      }>;
    };
    const entry = audit.entries.find((e) => e.target === "pipeline.text-tools__text-report");
    expect(entry).toMatchObject({
      actor: expect.stringMatching(/^key_/),
      outcome: "success",
      details: { transport: "http", runId: structured.runId },
    });
    // The run itself was submitted by the same principal.
    const submits = (await (
      await fetch(`${server.url}/v1/audit?action=run.submit&limit=50`, { headers: auth })
    ).json()) as { entries: Array<{ actor: string; target: string }> };
    expect(submits.entries.find((e) => e.target === structured.runId)?.actor).toBe(entry?.actor);
  }, 60_000);

  it("rejects an unknown tool with a clear protocol error", async () => {
    const error = await client.callTool({ name: "pipeline.no-such__thing", arguments: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((error as McpError).message).toContain("Unknown tool 'pipeline.no-such__thing'");
  });

  it("rejects arguments that do not match the schema, before anything runs", async () => {
    const runsBefore = (await (
      await fetch(`${server.url}/v1/runs?limit=500`, { headers: auth })
    ).json()) as { runs: unknown[] };
    const result = (await client.callTool({
      name: "pipeline.text-tools__text-report",
      arguments: { title: "no text", text: 42 },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      status: "rejected",
      error: { code: "VALIDATION_FAILED" },
    });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(
      /^VALIDATION_FAILED: Invalid arguments for 'pipeline.text-tools__text-report'/,
    );
    expect(text).toContain("/text");

    const missing = (await client.callTool({
      name: "agent.text-tools__analyst",
      arguments: {},
    })) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect((missing.content[0] as { text: string }).text).toContain("/task");

    const runsAfter = (await (
      await fetch(`${server.url}/v1/runs?limit=500`, { headers: auth })
    ).json()) as { runs: unknown[] };
    expect(runsAfter.runs.length).toBe(runsBefore.runs.length);
  });
});
