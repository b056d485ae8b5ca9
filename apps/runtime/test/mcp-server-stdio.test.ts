import path from "node:path";
import type { RunningServer } from "@aria/runtime";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callWithProgress,
  connectClient,
  examplesDir,
  expectSucceededRun,
  fixture,
  installBundle,
  startTestServer,
  tempDir,
} from "./helpers/mcp.ts";

/**
 * `aria mcp` as a child process (stdio), driven by the official MCP client, against a runtime
 * started here with the example bundles (no Docker: their tools run in process).
 */
const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
const API_KEY = "mcp-stdio-test-key-0123456789";
const auth = { authorization: `Bearer ${API_KEY}` };

let server: RunningServer;
let client: Client;
let transport: StdioClientTransport;
let stderr = "";
const transportErrors: Error[] = [];
const listChanged: number[] = [];

/** `aria mcp ARGS` as a child process (TypeScript source through tsx), stderr piped. */
function ariaMcp(args: string[], env: Record<string, string>): StdioClientTransport {
  return new StdioClientTransport({
    command: process.execPath,
    args: ["--conditions=@aria/source", "--import", "tsx", cli, "mcp", ...args],
    env: { ...(process.env as Record<string, string>), ...env },
    stderr: "pipe",
  });
}

beforeAll(async () => {
  server = await startTestServer("aria-mcp-stdio-", [API_KEY]);
  transport = ariaMcp(["--server", server.url, "--poll-ms", "250"], {
    ARIA_API_KEY: API_KEY,
    LOG_LEVEL: "warn",
  });
  transport.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  client = await connectClient(transport, "aria-test", listChanged, (error) =>
    transportErrors.push(error),
  );
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe("aria mcp (stdio)", () => {
  it("identifies itself and offers tools with list-change notifications", () => {
    expect(client.getServerVersion()?.name).toBe("aria-runtime");
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    expect(stderr).toContain(`aria mcp: serving ${server.url} over stdio`);
  });

  it("lists tools, agents, teams and pipelines under MCP names, with their schemas", async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const t of tools) expect(t.name).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);

    const pipeline = byName.get("pipeline.text-tools__text-report");
    expect(pipeline?.description).toContain("Counts words");
    expect(pipeline?.inputSchema).toMatchObject({
      type: "object",
      properties: { text: { type: "string", minLength: 1 }, title: { type: "string" } },
      required: ["text"],
    });
    expect(pipeline?._meta).toEqual({
      "aria/kind": "pipeline",
      "aria/id": "text-tools/text-report",
    });

    expect(byName.get("tool.text-tools__wordCount")?.inputSchema).toMatchObject({
      properties: { text: { type: "string" } },
    });
    // A built-in tool keeps its bare name.
    expect(byName.has("tool.calculator")).toBe(true);
    for (const name of ["agent.text-tools__analyst", "team.text-tools__review-team"]) {
      expect(byName.get(name)?.inputSchema).toEqual({
        type: "object",
        properties: { task: expect.objectContaining({ type: "string" }) },
        required: ["task"],
        additionalProperties: false,
      });
    }
  });

  it("calls a pipeline: a run of the runtime, with progress, answering its real output", async () => {
    const { result, progress } = await callWithProgress(
      client,
      "pipeline.text-tools__text-report",
      { text: "Hello world. Hello again!", title: "Greeting" },
    );

    const structured = expectSucceededRun<{ report: string; lines: number }>(result);
    expect(structured.runId).toMatch(/^run_/);
    expect(structured.result.report).toContain("Greeting");
    expect(structured.result.report).toMatch(/words\D+4/);
    expect(result.content[0]).toMatchObject({ type: "text" });
    expect((result.content[0] as { text: string }).text).toContain("Greeting");

    // The run's events arrived as progress: always increasing, the last step finishing 4 of 4.
    expect(progress.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    expect(progress.some((p) => p.progress === 4 && p.total === 4)).toBe(true);
    expect(progress.map((p) => p.message).join("\n")).toContain("step 'report' completed");

    // The run is the runtime's own: visible over /v1 like any other.
    const res = await fetch(`${server.url}/v1/runs/${structured.runId}`, { headers: auth });
    expect(((await res.json()) as { status: string }).status).toBe("succeeded");
  }, 60_000);

  it("invokes a single tool", async () => {
    const result = (await client.callTool({
      name: "tool.text-tools__wordCount",
      arguments: { text: "one two three. four" },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: "succeeded",
      result: { words: 4, sentences: 2 },
    });
  });

  it("answers a failed run with isError and the AriaError's code, message and guidance", async () => {
    // No LLM provider is configured: the agent's run fails with a clear error.
    const result = (await client.callTool({
      name: "agent.text-tools__analyst",
      arguments: { task: "Count the words of 'a b c'" },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    const structured = result.structuredContent as {
      status: string;
      runId: string;
      error: { code: string; message: string; userGuidance: string };
    };
    expect(structured.status).toBe("failed");
    expect(structured.runId).toMatch(/^run_/);
    // The run's error, as GET /v1/runs/:id shows it, with its cause in the details.
    expect(structured.error.code).toBe("STEP_FAILED");
    expect(structured.error.message).toContain("No LLM provider is configured");
    expect(structured.error.userGuidance).toContain("A step failed");
    expect(structured).toMatchObject({
      error: { details: { cause: { code: "LLM_NOT_CONFIGURED" } } },
    });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(/^STEP_FAILED: Step 'agent' failed/);
    expect(text).toContain("A step failed");
  }, 60_000);

  it("answers a failing tool with isError and its error code", async () => {
    const result = (await client.callTool({
      name: "tool.calculator-tools__add",
      arguments: { numbers: [1e308, 1e308] },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      status: "failed",
      error: { code: "TOOL_EXECUTION_FAILED" },
    });
    expect((result.content[0] as { text: string }).text).toContain("not a finite number");
  });

  it("tells the client when a bundle is installed, and serves its pipeline", async () => {
    const before = listChanged.length;
    const res = await installBundle(server.url, fixture("counting-bundle"), auth);
    expect(res.status).toBe(201);
    await expect.poll(() => listChanged.length, { timeout: 10_000 }).toBeGreaterThan(before);

    const { tools } = await client.listTools();
    const chain = tools.find((t) => t.name === "pipeline.counting-tools__count-chain");
    expect(chain?.inputSchema).toMatchObject({ properties: { start: { type: "number" } } });
    const { result, progress } = await callWithProgress(
      client,
      "pipeline.counting-tools__count-chain",
      { start: 1 },
    );
    expect(result.structuredContent).toMatchObject({ status: "succeeded", result: { n: 6 } });
    expect(progress.filter((p) => Number.isInteger(p.progress) && p.total === 5)).toHaveLength(5);
  }, 60_000);

  it("cancels the run when the client cancels the call", async () => {
    // A pipeline whose second step waits for a person: the call is cancelled while it waits.
    const res = await installBundle(server.url, fixture("approval-bundle"), auth);
    expect(res.status).toBe(201);
    let runId: string | undefined;
    const controller = new AbortController();
    const call = client.callTool(
      { name: "pipeline.approval-tools__payout", arguments: { item: "boat", payee: "eve" } },
      undefined,
      {
        signal: controller.signal,
        onprogress: (p) => {
          const waiting = /aria approve (run_\S+) transfer/.exec(p.message ?? "");
          if (waiting) {
            runId = waiting[1];
            controller.abort();
          }
        },
      },
    );
    await expect(call).rejects.toThrow(/abort/i);
    expect(runId).toBeDefined();
    const status = async () =>
      (
        (await (await fetch(`${server.url}/v1/runs/${runId}`, { headers: auth })).json()) as {
          status: string;
        }
      ).status;
    await expect.poll(status, { timeout: 10_000 }).toBe("cancelled");
  }, 60_000);

  it("kept stdout pure JSON-RPC (no transport errors)", () => {
    // A progress notification already on its way when the call was cancelled is not an error of
    // the stream; anything else (a stray line on stdout) would be.
    const errors = transportErrors.filter(
      (e) => !e.message.startsWith("Received a progress notification for an unknown token"),
    );
    expect(errors).toEqual([]);
    expect(stderr).not.toContain("cannot read the runtime's lists");
  });
});

describe("aria mcp (stdio) with no runtime running", () => {
  it("starts one in-process and still keeps stdout for JSON-RPC only", async () => {
    const dataDir = tempDir("aria-mcp-local-");
    const local = ariaMcp(["--poll-ms", "0"], {
      // Nothing listens on port 1: the CLI starts a runtime in its own process.
      ARIA_PORT: "1",
      ARIA_DATA_DIR: dataDir,
      ARIA_EXAMPLES_DIR: examplesDir,
      ARIA_FEATURE_CONTAINERS: "false",
      LOG_LEVEL: "info",
    });
    const errors: Error[] = [];
    const c = new Client({ name: "aria-test-local", version: "1.0.0" });
    c.onerror = (error) => errors.push(error);
    await c.connect(local);
    try {
      const result = (await c.callTool({
        name: "pipeline.text-tools__text-report",
        arguments: { text: "one two three" },
      })) as CallToolResult;
      expect(result.structuredContent).toMatchObject({
        status: "succeeded",
        result: { report: expect.stringContaining("Text report") },
      });
      expect(errors).toEqual([]);
    } finally {
      await c.close();
    }
  }, 120_000);
});
