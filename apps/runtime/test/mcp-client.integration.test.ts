import { once } from "node:events";
import fs from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { composeRuntime, createLogger } from "@aria/runtime";
import { type RecordedRequest, reply, startFakeOpenAI } from "@aria/testkit";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotesServer, type ObservedCall } from "./fixtures/mcp-server/server.ts";

const SERVER_SCRIPT = path.join(import.meta.dirname, "fixtures/mcp-server/server.ts");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
type Json = Record<string, unknown>;

interface ChatMessage {
  role: string;
  content?: string | null;
}

/**
 * The fake model: it answers the task analysis, then calls the stdio server's `lookup`, then the
 * HTTP server's `add`, then answers with the tool results it was given.
 */
function script(request: RecordedRequest) {
  const messages = (request.body?.messages ?? []) as ChatMessage[];
  if (String(messages[0]?.content ?? "").startsWith("You judge how an AI agent")) {
    return reply.text(
      JSON.stringify({
        complexity: "simple",
        needsPlanning: false,
        needsContainers: false,
        estimatedSteps: 2,
        reasoning: "two tool calls",
      }),
    );
  }
  const results = messages.filter((m) => m.role === "tool").map((m) => String(m.content));
  if (results.length === 0) return reply.toolCall("mcp_notes__lookup", { word: "aria" });
  if (results.length === 1) return reply.toolCall("mcp_web__add", { a: 2, b: 40 });
  return reply.text(`Results: ${results.join(" || ")}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("MCP client: an agent calls a stdio and a streamable HTTP MCP server's tools", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "aria-mcp-client-"));
  const callLog = path.join(root, "stdio-calls.jsonl");
  const httpCalls: ObservedCall[] = [];
  const web = createServer((req, res) => {
    // Stateless streamable HTTP: one MCP server instance per request.
    const server = createNotesServer((call) => httpCalls.push(call));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    server
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => res.destroy());
  });
  let webUrl = "";
  let llm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let runtime: Awaited<ReturnType<typeof composeRuntime>>;

  const stdioCalls = (): ObservedCall[] =>
    fs.existsSync(callLog)
      ? fs
          .readFileSync(callLog, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ObservedCall)
      : [];

  /** A bundle source folder: `aria.mcpServers` in package.json, an agent in src/index.ts. */
  function writeBundle(name: string, mcpServers: unknown[], agentSource: string): string {
    const dir = path.join(root, name);
    fs.mkdirSync(path.join(dir, "src"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({
        name,
        version: "1.0.0",
        private: true,
        type: "module",
        aria: { mcpServers },
      }),
    );
    fs.writeFileSync(path.join(dir, "src/index.ts"), agentSource);
    fs.symlinkSync(
      path.resolve(import.meta.dirname, "../node_modules"),
      path.join(dir, "node_modules"),
    );
    return dir;
  }

  const request = async (url: string, init?: RequestInit) => {
    const res = await runtime.app.request(url, init);
    return { status: res.status, body: (await res.json()) as Json };
  };

  beforeAll(async () => {
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/mcp`;
    llm = await startFakeOpenAI(script);
    runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        dataDir: path.join(root, "data"),
        features: { containers: false, planning: false, reflection: false },
        llm: {
          providers: ["openai"],
          openai: { apiKey: "sk-mcp-0123456789", baseURL: llm.baseURL, model: "fake-gpt" },
        },
        // A trusted stdio server from the configuration.
        mcp: {
          servers: [
            {
              name: "notes",
              command: [process.execPath, SERVER_SCRIPT, "stdio"],
              env: { MCP_CALL_LOG: callLog },
            },
          ],
          toolTimeoutMs: 20_000,
        },
      }),
      silent,
    );
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await llm?.close();
    web.closeAllConnections();
    await new Promise<void>((resolve) => web.close(() => resolve()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("runs an agent whose tools are MCP tools, over stdio and HTTP, through the agent loop", async () => {
    // The bundle declares the HTTP server; its agent names a stdio tool and takes the HTTP server whole.
    const dir = writeBundle(
      "mcp-agents",
      [{ name: "web", url: webUrl }],
      `import { defineAgent } from "@aria/sdk";
export const researcher = defineAgent({
  name: "researcher",
  description: "Looks things up and adds numbers with MCP tools",
  systemPrompt: "You use your tools, then answer with their results.",
  tools: ["mcp:notes/lookup"],
  mcpServers: [{ name: "web" }],
});
`,
    );
    const packed = await packBundle(dir, { write: false });
    expect(packed.manifest.mcpServers).toEqual([{ name: "web", url: webUrl }]);
    const installed = await request("/v1/bundles", { method: "POST", body: packed.bytes });
    expect(installed.status).toBe(201);

    const tools = await request("/v1/tools");
    const ids = (tools.body.tools as Array<{ id: string }>).map((t) => t.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        "mcp:notes/lookup",
        "mcp:notes/add",
        "mcp:web/lookup",
        "mcp:web/add",
      ]),
    );
    const agents = await request("/v1/agents");
    const researcher = (agents.body.agents as Array<{ id: string; tools: string[] }>).find(
      (a) => a.id === "mcp-agents/researcher",
    );
    expect(researcher?.tools).toEqual(
      expect.arrayContaining([
        "mcp:notes/lookup",
        "mcp:web/lookup",
        "mcp:web/add",
        "mcp:web/broken",
      ]),
    );
    expect(researcher?.tools).not.toContain("mcp:notes/add");

    const run = await request("/v1/runs?wait=true", {
      method: "POST",
      body: JSON.stringify({ agent: "mcp-agents/researcher", task: "What is aria, and 2 + 40?" }),
    });
    expect(run.status).toBeLessThan(300);
    expect(run.body.status).toBe("succeeded");

    // The servers really ran the calls, with the model's arguments.
    expect(stdioCalls()).toEqual([{ tool: "lookup", args: { word: "aria" } }]);
    expect(httpCalls).toEqual([{ tool: "add", args: { a: 2, b: 40 } }]);

    // The model saw the MCP tools under LLM-safe names with their schemas, and got their outputs.
    const agentRequests = llm.calls.filter((c) => Array.isArray(c.body?.tools));
    const offered = (agentRequests[0]?.body?.tools ?? []) as Array<{
      function: { name: string; parameters: Json };
    }>;
    const lookup = offered.find((t) => t.function.name === "mcp_notes__lookup");
    expect(lookup?.function.parameters).toMatchObject({
      type: "object",
      properties: { word: { type: "string" } },
      required: ["word"],
    });
    expect(offered.map((t) => t.function.name)).toEqual(
      expect.arrayContaining(["mcp_web__add", "mcp_web__lookup"]),
    );
    const text = JSON.stringify(run.body);
    expect(text).toMatch(/note about aria: pid \d+/);
    expect(text).toContain('\\"sum\\":42');

    // The run's events show both tool steps completed.
    const events = await runtime.store.readEvents(String(run.body.id));
    const completed = events
      .filter((e) => e.type === "step.completed" && e.data?.type === "tool")
      .map((e) => e.data?.tool);
    expect(completed).toEqual(["mcp:notes/lookup", "mcp:web/add"]);

    // Accounting: calls per MCP server, like bundles.
    const usage = await request("/v1/usage");
    expect(usage.body.bundles).toMatchObject({
      "mcp:notes": { toolCalls: 1, failures: 0 },
      "mcp:web": { toolCalls: 1, failures: 0 },
    });
  }, 120_000);

  it("reports MCP servers in /ready and refuses a bundle's host command by default", async () => {
    const ready = await runtime.app.request("/ready");
    const body = (await ready.json()) as { dependencies: Json };
    const mcp = body.dependencies.mcp as {
      status: string;
      servers: Array<{ name: string; state: string; transport: string }>;
    };
    expect(mcp.status).toBe("up");
    expect(mcp.servers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "notes", state: "up", transport: "stdio" }),
        expect.objectContaining({ name: "web", state: "up", transport: "http" }),
      ]),
    );

    const dir = writeBundle(
      "host-commands",
      [{ name: "shell", command: [process.execPath, SERVER_SCRIPT, "stdio"] }],
      `import { defineAgent } from "@aria/sdk";
export const runner = defineAgent({
  name: "runner",
  description: "Would run a host command",
  systemPrompt: "You run things.",
  mcpServers: [{ name: "shell" }],
});
`,
    );
    const packed = await packBundle(dir, { write: false });
    const refused = await request("/v1/bundles", { method: "POST", body: packed.bytes });
    expect(refused.status).toBe(403);
    expect((refused.body.error as Json).code).toBe("MCP_SERVER_FORBIDDEN");
    const agents = await request("/v1/agents");
    expect((agents.body.agents as Array<{ id: string }>).map((a) => a.id)).not.toContain(
      "host-commands/runner",
    );
  }, 60_000);

  it("answers an MCP isError result as a failed tool call with the server's text", async () => {
    const result = await request(`/v1/tools/${encodeURIComponent("mcp:web/broken")}/invoke`, {
      method: "POST",
      body: JSON.stringify({ input: {} }),
    });
    expect(result.status).toBe(200);
    expect(result.body.success).toBe(false);
    expect(result.body.error).toMatchObject({ code: "MCP_TOOL_FAILED" });
    expect((result.body.error as Json).message).toContain("the notes are on fire");
    expect(httpCalls.at(-1)).toEqual({ tool: "broken", args: {} });
  });

  it("ends the stdio server's process on shutdown", async () => {
    const output = (await runtime.registries.tools.execute(
      "mcp:notes/lookup",
      { word: "pid" },
      {
        runId: "direct",
        stepId: "direct",
        attempt: 1,
        idempotencyKey: "direct",
        signal: new AbortController().signal,
      },
    )) as string;
    const pid = Number(/pid (\d+)/.exec(output)?.[1]);
    expect(alive(pid)).toBe(true);
    await runtime.close();
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
  }, 30_000);
});
