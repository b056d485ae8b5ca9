import type { RunningServer } from "@aria/runtime";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callWithProgress,
  connectClient,
  expectSucceededRun,
  fixture,
  installBundle,
  startTestServer,
} from "./helpers/mcp.ts";

/**
 * The runtime's `/mcp` route (Streamable HTTP) driven by the official MCP client: behind the API
 * key, rate limit and audit of `/v1`, with sessions kept as ids in the state store.
 */
const API_KEY = "mcp-http-test-key-0123456789";
const OTHER_KEY = "mcp-http-other-key-0123456789";
const auth = { authorization: `Bearer ${API_KEY}` };

let server: RunningServer;
let client: Client;
let transport: StreamableHTTPClientTransport;
const listChanged: number[] = [];

async function connect(headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: "aria-http-test", version: "1.0.0" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } }),
  );
  return c;
}

/** A raw JSON-RPC POST to `/mcp`, with the content types the transport requires. */
function postMcp(headers: Record<string, string>, message: unknown): Promise<Response> {
  return fetch(`${server.url}/mcp`, {
    method: "POST",
    headers: {
      ...headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify(message),
  });
}

beforeAll(async () => {
  server = await startTestServer("aria-mcp-http-", [API_KEY, OTHER_KEY]);
  transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
    requestInit: { headers: auth },
  });
  client = await connectClient(transport, "aria-http-test", listChanged);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe("/mcp (Streamable HTTP)", () => {
  it("refuses a client without the API key (401, the contract's envelope)", async () => {
    await expect(connect({})).rejects.toThrow(/401|UNAUTHORIZED|Missing Authorization/);
    const res = await postMcp(
      { authorization: "Bearer not-the-key-at-all-000000" },
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
  });

  it("is rate limited like /v1 (RateLimit headers on its answers)", async () => {
    const res = await postMcp(auth, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("ratelimit-limit"))).toBeGreaterThan(0);
    expect(res.headers.get("ratelimit-remaining")).not.toBeNull();
    await res.body?.cancel();
  });

  it("answers GET and DELETE without a session with 405", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${server.url}/mcp`, {
        method,
        headers: { ...auth, accept: "text/event-stream" },
      });
      expect(res.status).toBe(405);
    }
  });

  it("gives the client a session whose stream tells it when a bundle is installed", async () => {
    const sessionId = transport.sessionId;
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const before = listChanged.length;
    const res = await installBundle(server.url, fixture("counting-bundle"), auth);
    expect(res.status).toBe(201);
    await expect.poll(() => listChanged.length, { timeout: 10_000 }).toBeGreaterThan(before);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("pipeline.counting-tools__count-chain");
  });

  it("tells a client that resumes from an older list about the change at once", async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/mcp`, {
      headers: {
        ...auth,
        accept: "text/event-stream",
        "mcp-session-id": transport.sessionId ?? "",
        "mcp-protocol-version": "2025-06-18",
        "last-event-id": "0000000000000000",
      },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("notifications/tools/list_changed")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    controller.abort();
    expect(text).toMatch(/^retry: 250\nid: [0-9a-f]{16}\n/);
    expect(text).toContain('"method":"notifications/tools/list_changed"');
  });

  it("refuses a session id it did not give, or gave to another key, with 404", async () => {
    const init = (headers: Record<string, string>) =>
      postMcp(
        { ...headers, "mcp-protocol-version": "2025-06-18" },
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
      );
    const unknown = await init({ ...auth, "mcp-session-id": "no-such-session" });
    expect(unknown.status).toBe(404);
    const other = await init({
      authorization: `Bearer ${OTHER_KEY}`,
      "mcp-session-id": transport.sessionId ?? "",
    });
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { message: string } }).error.message).toBe(
      "Session not found",
    );
  });

  it("ends a session on DELETE", async () => {
    const extra = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: auth },
    });
    const c = new Client({ name: "short-lived", version: "1.0.0" });
    await c.connect(extra);
    const id = extra.sessionId;
    expect(id).toBeDefined();
    await extra.terminateSession();
    const res = await postMcp(
      { ...auth, "mcp-session-id": id ?? "", "mcp-protocol-version": "2025-06-18" },
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
    );
    expect(res.status).toBe(404);
    await c.close();
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
    const { result, progress } = await callWithProgress(
      client,
      "pipeline.text-tools__text-report",
      { text: "The cat sat. The cat ran away quickly!", title: "Cats" },
    );
    const structured = expectSucceededRun<{ report: string }>(result);
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

  it("waits while a step waits for approval, tells the client how to approve, then answers", async () => {
    const installed = await installBundle(server.url, fixture("approval-bundle"), auth);
    expect(installed.status).toBe(201);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === "tool.approval-tools__transfer")?.description).toContain(
      "needs a human's approval",
    );

    let approved: Promise<Response> | undefined;
    const { result, progress } = await callWithProgress(
      client,
      "pipeline.approval-tools__payout",
      { item: "book", payee: "alice" },
      (p) => {
        const command = /aria approve (run_\S+) transfer/.exec(p.message ?? "");
        // A person approves, with an edited amount.
        if (command && !approved)
          approved = fetch(`${server.url}/v1/runs/${command[1]}/approvals/transfer`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify({ decision: "approve", params: { amount: 1, payee: "alice" } }),
          });
      },
    );
    expect((await approved)?.status).toBe(200);
    expect(progress.map((p) => p.message).join("\n")).toContain(
      "step 'transfer' waits for a human's approval",
    );
    expect(result.structuredContent).toMatchObject({
      status: "succeeded",
      result: { text: "paid 1 to alice" },
    });
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
