import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import {
  composeRuntime,
  createLogger,
  type RunningServer,
  type Runtime,
  startServer,
} from "@aria/runtime";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type CallToolResult,
  type Progress,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { expect } from "vitest";
import type { McpBackend } from "../../src/mcp/backend.ts";
import { createRuntimeBackend } from "../../src/mcp/runtime-backend.ts";

/** Shared setup of the MCP server tests (stdio, Streamable HTTP, in-process, Redis replicas). */

/** A logger that writes nothing. */
export const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

/** The repository's example bundles. */
export const examplesDir = path.resolve(import.meta.dirname, "../../../../examples");

/** A bundle folder under `test/fixtures`. */
export function fixture(name: string): string {
  return path.resolve(import.meta.dirname, "../fixtures", name);
}

/** A new empty folder under the OS temp dir. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A runtime on a free loopback port with the examples, these API keys and no containers. */
export function startTestServer(dirPrefix: string, apiKeys: string[]): Promise<RunningServer> {
  return startServer(
    RuntimeConfigSchema.parse({
      dataDir: tempDir(dirPrefix),
      examplesDir,
      host: "127.0.0.1",
      port: 0,
      apiKeys,
      features: { containers: false },
    }),
    silent,
  );
}

/** A runtime in this process (no examples, no containers, no API keys) and its data folder. */
export async function composeTestRuntime(
  dirPrefix: string,
): Promise<{ runtime: Runtime; dataDir: string }> {
  const dataDir = tempDir(dirPrefix);
  const runtime = await composeRuntime(
    RuntimeConfigSchema.parse({ dataDir, features: { containers: false } }),
    silent,
  );
  return { runtime, dataDir };
}

/** The in-process MCP backend of a runtime, with a notifier that never wakes (it polls). */
export function runtimeBackendOf(runtime: Runtime, dataDir: string): McpBackend {
  return createRuntimeBackend({
    registries: runtime.registries,
    runs: runtime.runs,
    store: runtime.store,
    notifier: { subscribe: () => () => undefined, notify: () => undefined },
    audit: runtime.audit,
    dataDir,
  });
}

/**
 * Packs a bundle folder and installs it with `POST /v1/bundles`, over HTTP at a server's URL or
 * through a Hono app's `request`; answers the response.
 */
export async function installBundle(
  target: string | { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  dir: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const { bytes } = await packBundle(dir, { write: false });
  const init: RequestInit = {
    method: "POST",
    body: bytes,
    headers: { ...headers, "content-type": "application/octet-stream" },
  };
  return typeof target === "string"
    ? fetch(`${target}/v1/bundles`, init)
    : target.request("/v1/bundles", init);
}

/**
 * Connects a new MCP client over `transport`, pushing the time of each `tools/list_changed` it
 * hears onto `changes`; `onerror` (if given) is set before it connects.
 */
export async function connectClient(
  transport: Transport,
  name: string,
  changes: number[],
  onerror?: (error: Error) => void,
): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" });
  if (onerror) client.onerror = onerror;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changes.push(Date.now());
  });
  await client.connect(transport);
  return client;
}

/** Calls a tool and collects its progress notifications (`onProgress` sees each as it comes). */
export async function callWithProgress(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  onProgress?: (progress: Progress) => void,
): Promise<{ result: CallToolResult; progress: Progress[] }> {
  const progress: Progress[] = [];
  const result = (await client.callTool({ name, arguments: args }, undefined, {
    onprogress: (p) => {
      progress.push(p);
      onProgress?.(p);
    },
  })) as CallToolResult;
  return { result, progress };
}

/** Expects a call that succeeded as a run, and answers its structured content. */
export function expectSucceededRun<T>(result: CallToolResult): {
  status: string;
  runId: string;
  result: T;
} {
  expect(result.isError).toBeFalsy();
  const structured = result.structuredContent as { status: string; runId: string; result: T };
  expect(structured.status).toBe("succeeded");
  return structured;
}
