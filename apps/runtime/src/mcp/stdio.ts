import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { UsageError } from "../cli/args.ts";
import type { ApiClient } from "../cli/client.ts";
import { createHttpBackend } from "./http-backend.ts";
import { createMcpServer } from "./server.ts";

const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };

type Out = { write(s: string): unknown };

/** Runs `fn` with a client of a reachable runtime (or one started in this process): cli.ts's `withClient`. */
export type WithClient = <T>(
  server: string | undefined,
  fn: (client: ApiClient) => Promise<T>,
) => Promise<T>;

/** Streams the stdio server talks over (tests pass their own). */
export interface StdioStreams {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
}

/**
 * `aria mcp [--server URL] [--poll-ms N]`: an MCP server on stdin/stdout that exposes a runtime's
 * tools, agents, teams and pipelines, talking to the runtime over its public HTTP API (a running
 * one, or one started in this process). Stdout carries nothing but JSON-RPC: `console.log` and
 * friends are sent to stderr while it runs, and logs go to stderr. It sends
 * `notifications/tools/list_changed` when the runtime's lists change (polled every `--poll-ms`,
 * default 5000), and ends with status 0 when the client closes stdin.
 */
export async function mcpCommand(
  argv: string[],
  err: Out,
  withClient: WithClient,
  streams: StdioStreams = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { server: { type: "string" }, "poll-ms": { type: "string" } },
  });
  const pollMs = values["poll-ms"] === undefined ? 5000 : Number(values["poll-ms"]);
  if (!Number.isInteger(pollMs) || pollMs < 0)
    throw new UsageError("--poll-ms is a whole number of milliseconds (0: do not poll)");
  // Stdout is the protocol: a stray console.log from any library would corrupt it.
  const toStderr = (...args: unknown[]) => console.error(...args);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  return withClient(values.server, async (client) => {
    const backend = createHttpBackend(client, {
      pollMs,
      onError: (error) =>
        err.write(`aria mcp: cannot read the runtime's lists: ${(error as Error).message}\n`),
    });
    const server = createMcpServer({ backend, actor: "cli", version: pkg.version });
    const closed = new Promise<void>((resolve) => {
      server.onclose = resolve;
    });
    server.onerror = (error) => err.write(`aria mcp: ${error.message}\n`);
    const transport = new StdioServerTransport(
      streams.stdin as ConstructorParameters<typeof StdioServerTransport>[0],
      streams.stdout as ConstructorParameters<typeof StdioServerTransport>[1],
    );
    await server.connect(transport);
    const end = () => void server.close().catch(() => undefined);
    streams.stdin.once("end", end);
    streams.stdin.once("close", end);
    const unsubscribe = backend.subscribe?.(() => {
      server.sendToolListChanged().catch(() => undefined);
    });
    err.write(`aria mcp: serving ${client.baseUrl} over stdio\n`);
    await closed;
    unsubscribe?.();
    return 0;
  });
}
