/**
 * A real MCP server for the registry's MCP client tests, written with the official SDK's `McpServer`.
 * Imported in process (`createFixtureServer`, served over streamable HTTP by the test) or run as a
 * stdio server: `node test/mcp-server.fixture.ts stdio` (Node 24 strips the types). Every call is
 * reported to `onCall`, and in stdio mode appended as a JSON line to `$MCP_CALL_LOG`.
 */
import fs from "node:fs";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

/** One call the server observed. */
export interface ObservedCall {
  tool: string;
  args: Record<string, unknown>;
  pid: number;
}

/** Builds the fixture server; `onCall` sees every call before it is answered. */
export function createFixtureServer(onCall: (call: ObservedCall) => void): McpServer {
  const server = new McpServer({ name: "aria-fixture", version: "1.0.0" });
  const seen = (tool: string, args: Record<string, unknown>) =>
    onCall({ tool, args, pid: process.pid });

  server.registerTool(
    "echo",
    { description: "Echoes a text", inputSchema: { text: z.string().max(100) } },
    async ({ text }) => {
      seen("echo", { text });
      return { content: [{ type: "text", text: `echo:${text}` }] };
    },
  );
  server.registerTool(
    "add",
    {
      description: "Adds two numbers",
      inputSchema: { a: z.number(), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    async ({ a, b }) => {
      seen("add", { a, b });
      return {
        content: [{ type: "text", text: JSON.stringify({ sum: a + b }) }],
        structuredContent: { sum: a + b },
      };
    },
  );
  server.registerTool(
    "fail",
    { description: "Always fails", inputSchema: { reason: z.string() } },
    async ({ reason }) => {
      seen("fail", { reason });
      return { isError: true, content: [{ type: "text", text: `boom: ${reason}` }] };
    },
  );
  server.registerTool(
    "hang",
    { description: "Never answers", inputSchema: {} },
    async (_args, extra) => {
      seen("hang", {});
      await new Promise<void>((resolve) => extra.signal.addEventListener("abort", () => resolve()));
      return { content: [{ type: "text", text: "cancelled" }] };
    },
  );
  server.registerTool(
    "pid",
    { description: "The server's process id", inputSchema: {} },
    async () => {
      seen("pid", {});
      return { content: [{ type: "text", text: JSON.stringify({ pid: process.pid }) }] };
    },
  );
  server.registerTool(
    "addTool",
    { description: "Registers the tool 'late' (the server then sends tools/list_changed)" },
    async () => {
      seen("addTool", {});
      server.registerTool(
        "late",
        { description: "A tool added at run time", inputSchema: { n: z.number().int() } },
        async ({ n }) => {
          seen("late", { n });
          return { content: [{ type: "text", text: String(n * 2) }] };
        },
      );
      return { content: [{ type: "text", text: "added" }] };
    },
  );
  return server;
}

if (process.argv[2] === "stdio") {
  const log = process.env.MCP_CALL_LOG;
  const server = createFixtureServer((call) => {
    if (log) fs.appendFileSync(log, `${JSON.stringify(call)}\n`);
  });
  process.stderr.write(`fixture MCP server ${process.pid} starting\n`);
  await server.connect(new StdioServerTransport());
}
