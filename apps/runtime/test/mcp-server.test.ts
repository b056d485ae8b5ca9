import path from "node:path";
import type { AppEnv, Runtime } from "@aria/runtime";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeId,
  encodeId,
  MCP_NAME_MAX,
  mcpToolName,
  parseMcpToolName,
} from "../src/mcp/names.ts";
import { createMcpRoute } from "../src/mcp/route.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import {
  composeTestRuntime,
  connectClient,
  examplesDir,
  installBundle,
  runtimeBackendOf,
} from "./helpers/mcp.ts";

describe("MCP tool names", () => {
  const ids = [
    "text-tools/wordCount",
    "calculator",
    "file.read",
    "my_bundle/do_it",
    "a_/b",
    "a/_b",
    "a__b",
    "a/b/c",
    "mcp:docs/search",
    "x@1.2.3/tool",
    "ünïcode/名前",
    "emoji/🙂",
  ];

  it("encodes ids into MCP-legal names and decodes them back", () => {
    for (const id of ids) {
      const encoded = encodeId(id);
      expect(encoded).toMatch(/^[A-Za-z0-9_.-]+$/);
      expect(decodeId(encoded)).toBe(id);
      for (const kind of ["tool", "agent", "team", "pipeline"] as const)
        expect(parseMcpToolName(mcpToolName(kind, id))).toEqual({ kind, id });
    }
    expect(mcpToolName("tool", "text-tools/wordCount")).toBe("tool.text-tools__wordCount");
    expect(mcpToolName("pipeline", "my_bundle/do_it")).toBe("pipeline.my_-bundle__do_-it");
    expect(mcpToolName("tool", "mcp:docs/search")).toBe("tool.mcp_x003adocs__search");
  });

  it("is one-to-one, also across kinds and for ids that look alike", () => {
    const names = new Set<string>();
    for (const kind of ["tool", "agent", "team", "pipeline"] as const)
      for (const id of ids) names.add(mcpToolName(kind, id));
    expect(names.size).toBe(ids.length * 4);
  });

  it("shortens names past 128 characters with a hash that no other id encodes to", () => {
    const long = (c: string) => `${"b".repeat(120)}/${c.repeat(100)}`;
    const a = mcpToolName("pipeline", long("x"));
    const b = mcpToolName("pipeline", long("y"));
    const escapes = mcpToolName("tool", `${"_".repeat(200)}`);
    for (const name of [a, b, escapes]) {
      expect(name.length).toBeLessThanOrEqual(MCP_NAME_MAX);
      expect(name).toMatch(/_h[0-9a-f]{8}$/);
      // Not a valid encoding: the server resolves it through its listing.
      expect(parseMcpToolName(name)).toBeUndefined();
    }
    expect(a).not.toBe(b);
  });

  it("refuses names that are not encodings", () => {
    for (const name of ["wordCount", "widget.x", "tool.", "tool.a_zb", "tool.a_x12", "tool.a b"])
      expect(parseMcpToolName(name)).toBeUndefined();
  });
});

describe("the in-process backend (what /mcp serves)", () => {
  let runtime: Runtime;
  let client: Client;
  const changes: number[] = [];

  beforeAll(async () => {
    const composed = await composeTestRuntime("aria-mcp-");
    runtime = composed.runtime;
    const backend = runtimeBackendOf(runtime, composed.dataDir);
    const server = createMcpServer({ backend, actor: "test", version: "0.0.0" });
    const unsubscribe = backend.subscribe?.(() => void server.sendToolListChanged());
    server.onclose = () => unsubscribe?.();
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    client = await connectClient(clientSide, "t", changes);
    // The examples are installed after the client connected.
    for (const name of ["calculator-tools", "text-tools"]) {
      const res = await installBundle(runtime.app, path.join(examplesDir, name));
      expect(res.status).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await runtime?.close();
  });

  it("sends tools/list_changed when bundles are installed and uninstalled", async () => {
    await expect.poll(() => changes.length).toBeGreaterThan(0);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("pipeline.text-tools__text-report");

    const seen = changes.length;
    const res = await runtime.app.request("/v1/bundles/text-tools/1.0.0", { method: "DELETE" });
    expect(res.status).toBe(200);
    await expect.poll(() => changes.length).toBeGreaterThan(seen);
    const after = await client.listTools();
    expect(after.tools.map((t) => t.name)).not.toContain("pipeline.text-tools__text-report");
    expect(after.tools.map((t) => t.name)).toContain("tool.calculator-tools__add");
  });

  it("runs a tool through the tool registry and audits it as the caller", async () => {
    const result = (await client.callTool({
      name: "tool.calculator-tools__add",
      arguments: { numbers: [1, 2, 3.5] },
    })) as CallToolResult;
    expect(result.structuredContent).toMatchObject({ status: "succeeded", result: { sum: 6.5 } });
    const entries = await runtime.audit.list({ action: "tool.invoke", actor: "test" });
    expect(entries[0]).toMatchObject({
      target: "calculator-tools/add",
      outcome: "success",
      details: { via: "mcp" },
    });
  });

  it("answers a tool that is gone with a protocol error", async () => {
    await expect(
      client.callTool({ name: "tool.text-tools__wordCount", arguments: { text: "a" } }),
    ).rejects.toThrow(/Unknown tool 'tool.text-tools__wordCount'/);
  });
});

describe("the /mcp route's notification stream", () => {
  it("ends its stream after streamMaxMs; the client reconnects and still hears of changes", async () => {
    const { runtime, dataDir } = await composeTestRuntime("aria-mcp-stream-");
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set("principal", "stream-test");
      await next();
    });
    app.route(
      "/mcp",
      createMcpRoute({
        backend: runtimeBackendOf(runtime, dataDir),
        version: "0.0.0",
        audit: runtime.audit,
        store: runtime.store,
        streamMaxMs: 100,
      }),
    );
    const gets: string[] = [];
    const changes: number[] = [];
    const client = await connectClient(
      new StreamableHTTPClientTransport(new URL("http://aria.invalid/mcp"), {
        fetch: async (url, init) => {
          if (init?.method === "GET")
            gets.push(new Headers(init.headers).get("last-event-id") ?? "");
          return app.fetch(new Request(url, init));
        },
      }),
      "reconnecting",
      changes,
    );
    try {
      // Several streams in a row, each resumed from the list id of the one before.
      await expect.poll(() => gets.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(gets[0]).toBe("");
      expect(gets.at(-1)).toMatch(/^[0-9a-f]{16}$/);
      expect(changes).toEqual([]);

      const res = await installBundle(runtime.app, path.join(examplesDir, "calculator-tools"));
      expect(res.status).toBe(201);
      await expect.poll(() => changes.length, { timeout: 10_000 }).toBeGreaterThan(0);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("tool.calculator-tools__add");
    } finally {
      await client.close();
      await runtime.close();
    }
  }, 60_000);
});
