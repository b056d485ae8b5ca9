import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  createRegistries,
  isLoopbackHost,
  McpClientManager,
  type McpServerConfig,
  mcpToolId,
  parseMcpToolId,
  ToolRegistry,
} from "@aria/registry";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { caught, context, removeDir, tempDir, writeBundle } from "./fixtures.ts";
import { createFixtureServer, type ObservedCall } from "./mcp-server.fixture.ts";

const FIXTURE = join(import.meta.dirname, "mcp-server.fixture.ts");

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A stdio fixture server config whose calls are logged to a file the test reads. */
async function stdioServer(
  name = "fx",
  extra: Partial<McpServerConfig> = {},
): Promise<{ config: McpServerConfig; calls: () => ObservedCall[] }> {
  const dir = await tempDir("aria-mcp-");
  cleanups.push(() => removeDir(dir));
  const log = join(dir, "calls.jsonl");
  return {
    config: {
      name,
      command: [process.execPath, FIXTURE, "stdio"],
      env: { MCP_CALL_LOG: log },
      ...extra,
    },
    calls: () => {
      try {
        return readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ObservedCall);
      } catch {
        return [];
      }
    },
  };
}

function manager(
  tools: ToolRegistry,
  options: Partial<ConstructorParameters<typeof McpClientManager>[0]> = {},
) {
  const mcp = new McpClientManager({
    tools,
    restart: { initialDelayMs: 50, maxDelayMs: 200 },
    ...options,
  });
  cleanups.push(() => mcp.close());
  return mcp;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A streamable HTTP MCP endpoint on 127.0.0.1 (stateless: one fixture server per request). */
async function httpServer(
  port = 0,
): Promise<{ url: string; calls: ObservedCall[]; server: Server }> {
  const calls: ObservedCall[] = [];
  const server = createServer((req, res) => {
    const mcp = createFixtureServer((call) => calls.push(call));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    mcp
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => res.destroy());
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${address.port}/mcp`, calls, server };
}

describe("MCP tool ids", () => {
  it("are mcp:<server>/<tool>, parse back, and map one-to-one to LLM-safe names", () => {
    expect(mcpToolId("files", "read.file")).toBe("mcp:files/read.file");
    expect(parseMcpToolId("mcp:files/read.file")).toEqual({ server: "files", tool: "read.file" });
    expect(parseMcpToolId("files/read")).toBeUndefined();
    const tools = new ToolRegistry();
    for (const name of ["mcp:a/b", "mcp_a/b", "mcp:a_b"])
      tools.register({ name, description: "x", inputSchema: { type: "object" } });
    const names = ["mcp:a/b", "mcp_a/b", "mcp:a_b"].map((n) => tools.llmName(n));
    expect(new Set(names).size).toBe(3);
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(tools.llmName("mcp:a/b")).toBe("mcp_a__b");
    expect(tools.fromLlmName("mcp_a__b")).toBe("mcp:a/b");
    expect(tools.resolve("mcp_a__b").id).toBe("mcp:a/b");
  });
});

describe("loopback only", () => {
  it("accepts 127.0.0.0/8, ::1 and localhost, nothing else", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "[::1]", "::1", "localhost", "[::ffff:7f00:1]"])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["10.0.0.1", "0.0.0.0", "example.com", "127.0.0.1.nip.io", "[::2]", "::"])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it("refuses a non-loopback URL with MCP_SERVER_FORBIDDEN before any traffic", async () => {
    const mcp = manager(new ToolRegistry());
    for (const url of ["http://10.1.2.3:8080/mcp", "http://example.com/mcp", "ftp://127.0.0.1/x"]) {
      const error = await caught(mcp.connectConfigured([{ name: "remote", url }]));
      expect(error.code).toBe("MCP_SERVER_FORBIDDEN");
      expect(error.message).toContain("remote");
    }
    expect(mcp.status()).toEqual([]);
  });
});

describe("MCP client over stdio", () => {
  it("registers the server's tools with their schemas and runs them through the registry", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    const mcp = manager(tools);
    const [status] = await mcp.connectConfigured([fx.config]);
    expect(status?.state).toBe("up");
    expect(status?.transport).toBe("stdio");

    const ids = tools.list().map((t) => t.id);
    expect(ids).toEqual(
      expect.arrayContaining(["mcp:fx/echo", "mcp:fx/add", "mcp:fx/fail", "mcp:fx/hang"]),
    );
    const echo = tools.resolve("mcp:fx/echo");
    expect(echo.description).toBe("Echoes a text");
    expect(echo.inputSchema).toMatchObject({
      type: "object",
      properties: { text: { type: "string", maxLength: 100 } },
      required: ["text"],
    });
    expect(tools.resolve("mcp:fx/add").outputSchema).toMatchObject({
      properties: { sum: { type: "number" } },
    });

    expect(await tools.execute("mcp:fx/echo", { text: "hi" }, context())).toBe("echo:hi");
    expect(await tools.execute("mcp:fx/add", { a: 2, b: 3 }, context())).toEqual({ sum: 5 });
    // The LLM-safe name reaches the same tool.
    expect(await tools.execute("mcp_fx__echo", { text: "llm" }, context())).toBe("echo:llm");
    expect(fx.calls().map(({ tool, args }) => ({ tool, args }))).toEqual([
      { tool: "echo", args: { text: "hi" } },
      { tool: "add", args: { a: 2, b: 3 } },
      { tool: "echo", args: { text: "llm" } },
    ]);
    expect(tools.statsOf("mcp:fx/echo")?.calls).toBe(2);
  });

  it("refuses bad input with VALIDATION_FAILED before the server is called", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    await manager(tools).connectConfigured([fx.config]);
    const error = await caught(tools.execute("mcp:fx/echo", { text: 5 }, context()));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/text" })]),
    );
    const long = await caught(tools.execute("mcp:fx/echo", { text: "x".repeat(101) }, context()));
    expect(long.code).toBe("VALIDATION_FAILED");
    expect(fx.calls()).toEqual([]);
  });

  it("turns an isError result into a failed tool result carrying the server's text", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    await manager(tools).connectConfigured([fx.config]);
    const error = await caught(tools.execute("mcp:fx/fail", { reason: "disk full" }, context()));
    expect(error.code).toBe("MCP_TOOL_FAILED");
    expect(error.message).toContain("boom: disk full");
    expect(error.context.tool).toBe("mcp:fx/fail");
    const result = await tools.invoke("mcp:fx/fail", { reason: "again" }, context());
    expect(result.success).toBe(false);
    expect(result.error?.code).toBe("MCP_TOOL_FAILED");
    expect(result.error?.message).toContain("boom: again");
    expect(fx.calls().map((c) => c.tool)).toEqual(["fail", "fail"]);
  });

  it("times out a hung tool with TOOL_TIMEOUT, and the server still answers afterwards", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer("fx", { timeoutMs: 300 });
    await manager(tools).connectConfigured([fx.config]);
    expect(tools.resolve("mcp:fx/hang").resources?.timeoutMs).toBe(300);
    const error = await caught(tools.execute("mcp:fx/hang", {}, context()));
    expect(error.code).toBe("TOOL_TIMEOUT");
    expect(error.context.tool).toBe("mcp:fx/hang");
    expect(await tools.execute("mcp:fx/echo", { text: "still here" }, context())).toBe(
      "echo:still here",
    );
    expect(fx.calls().map((c) => c.tool)).toEqual(["hang", "echo"]);
  });

  it("a cancelled run cancels the call", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    await manager(tools).connectConfigured([fx.config]);
    const controller = new AbortController();
    const pending = caught(
      tools.execute("mcp:fx/hang", {}, context({ signal: controller.signal })),
    );
    await vi.waitFor(() => expect(fx.calls().map((c) => c.tool)).toEqual(["hang"]));
    controller.abort(new Error("cancelled by the test"));
    expect((await pending).code).toBe("RUN_CANCELLED");
  });

  it("restarts a server whose process dies, and answers MCP_SERVER_UNAVAILABLE once it gives up", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    const states: string[] = [];
    const mcp = manager(tools, {
      restart: { initialDelayMs: 50, maxDelayMs: 100, maxRestarts: 1 },
      onState: (_server, state) => states.push(state),
    });
    await mcp.connectConfigured([fx.config]);
    const first = (await tools.execute("mcp:fx/pid", {}, context())) as { pid: number };
    expect(mcp.status()[0]?.pid).toBe(first.pid);

    process.kill(first.pid, "SIGKILL");
    await vi.waitFor(() => expect(mcp.status()[0]).toMatchObject({ state: "up", restarts: 1 }), {
      timeout: 10_000,
    });
    const second = (await tools.execute("mcp:fx/pid", {}, context())) as { pid: number };
    expect(second.pid).not.toBe(first.pid);
    expect(alive(first.pid)).toBe(false);
    expect(mcp.status()[0]?.restarts).toBe(1);
    // The tools stayed registered throughout.
    expect(tools.has("mcp:fx/echo")).toBe(true);

    // The restart budget (1) is spent: the next death is final, and calls fail at once.
    process.kill(second.pid, "SIGKILL");
    await vi.waitFor(() => expect(mcp.status()[0]?.state).toBe("failed"), { timeout: 10_000 });
    const error = await caught(tools.execute("mcp:fx/echo", { text: "x" }, context()));
    expect(error.code).toBe("MCP_SERVER_UNAVAILABLE");
    expect(error.message).toContain("given up after 1 restarts");
    expect(error.details.server).toBe("fx");
    expect(states).toEqual(["up", "down", "connecting", "up", "failed"]);
  });

  it("re-syncs the registry when the server's tool list changes", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    await manager(tools).connectConfigured([fx.config]);
    expect(tools.has("mcp:fx/late")).toBe(false);
    await tools.execute("mcp:fx/addTool", {}, context());
    await vi.waitFor(() => expect(tools.has("mcp:fx/late")).toBe(true), { timeout: 5_000 });
    expect(await tools.execute("mcp:fx/late", { n: 21 }, context())).toBe("42");
    expect(tools.resolve("mcp:fx/late").inputSchema).toMatchObject({
      properties: { n: { type: "integer" } },
    });
  });

  it("close ends the stdio process and unregisters the tools", async () => {
    const tools = new ToolRegistry();
    const fx = await stdioServer();
    const mcp = manager(tools);
    await mcp.connectConfigured([fx.config]);
    const { pid } = (await tools.execute("mcp:fx/pid", {}, context())) as { pid: number };
    expect(alive(pid)).toBe(true);
    await mcp.close();
    await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 5_000 });
    expect(tools.list().filter((t) => t.id.startsWith("mcp:"))).toEqual([]);
  });

  it("a configured server that cannot start is reported and retried in the background", async () => {
    const tools = new ToolRegistry();
    const mcp = manager(tools, { restart: { initialDelayMs: 20, maxDelayMs: 40, maxRestarts: 2 } });
    const [status] = await mcp.connectConfigured([
      { name: "missing", command: ["/nonexistent/aria-mcp-server"] },
    ]);
    expect(["down", "connecting"]).toContain(status?.state);
    await vi.waitFor(() => expect(mcp.status()[0]?.state).toBe("failed"), { timeout: 5_000 });
    expect(mcp.status()[0]?.lastError).toMatch(/ENOENT|spawn/);
  });
});

describe("MCP client over streamable HTTP on 127.0.0.1", () => {
  it("lists and calls the tools; a refusing server is reported and reconnected", async () => {
    const tools = new ToolRegistry();
    const http = await httpServer();
    const mcp = manager(tools, {
      restart: { initialDelayMs: 50, maxDelayMs: 100, maxRestarts: 50 },
    });
    const [status] = await mcp.connectConfigured([{ name: "web", url: http.url }]);
    expect(status).toMatchObject({ state: "up", transport: "http" });
    expect(await tools.execute("mcp:web/add", { a: 1, b: 41 }, context())).toEqual({ sum: 42 });
    expect(http.calls.map(({ tool, args }) => ({ tool, args }))).toEqual([
      { tool: "add", args: { a: 1, b: 41 } },
    ]);

    // The server goes away: the call fails clearly and the manager keeps trying.
    const port = Number(new URL(http.url).port);
    http.server.closeAllConnections();
    await new Promise<void>((resolve) => http.server.close(() => resolve()));
    const error = await caught(tools.execute("mcp:web/echo", { text: "x" }, context()));
    expect(error.code).toBe("MCP_SERVER_UNAVAILABLE");
    expect(error.details.server).toBe("web");
    expect(mcp.status()[0]?.state).not.toBe("up");

    const again = await httpServer(port);
    await vi.waitFor(() => expect(mcp.status()[0]?.state).toBe("up"), { timeout: 10_000 });
    expect(await tools.execute("mcp:web/echo", { text: "back" }, context())).toBe("echo:back");
    expect(again.calls.map((c) => c.tool)).toEqual(["echo"]);
  });
});

describe("MCP client over streamable HTTP: noticing a server that went away", () => {
  it("pings an idle HTTP server, so /ready sees it down without waiting for a call", async () => {
    const tools = new ToolRegistry();
    const http = await httpServer();
    const mcp = manager(tools, {
      pingIntervalMs: 50,
      restart: { initialDelayMs: 50, maxDelayMs: 100, maxRestarts: 100 },
    });
    await mcp.connectConfigured([{ name: "idle", url: http.url }]);
    expect(mcp.status()[0]?.state).toBe("up");
    http.server.closeAllConnections();
    await new Promise<void>((resolve) => http.server.close(() => resolve()));
    await vi.waitFor(() => expect(mcp.status()[0]?.state).not.toBe("up"), { timeout: 5_000 });
    expect(mcp.status()[0]?.lastError).toMatch(/ping failed|fetch failed|ECONNREFUSED/);
    expect(http.calls).toEqual([]);
  });
});

describe("MCP servers of bundles and agents", () => {
  async function bundleWithServers(root: string, fx: McpServerConfig, name = "mcp-user") {
    const { installed, dir } = await writeBundle(root, {
      name,
      version: "1.0.0",
      agents: [
        {
          name: "explicit",
          description: "names an MCP tool",
          systemPrompt: "You echo.",
          tools: ["mcp:fx/echo"],
        },
        {
          name: "whole-server",
          description: "takes a server's tools",
          systemPrompt: "You add.",
          mcpServers: [{ name: "fx" }],
        },
      ],
    });
    const spec = { name: "fx", command: fx.command!, ...(fx.env ? { env: fx.env } : {}) };
    return {
      installed: { ...installed, manifest: { ...installed.manifest, mcpServers: [spec] } },
      dir,
    };
  }

  it("refuses a bundle's stdio command unless mcp.allowBundleCommands allows the bundle", async () => {
    const root = await tempDir();
    cleanups.push(() => removeDir(root));
    const fx = await stdioServer();
    const { installed, dir } = await bundleWithServers(root, fx.config);
    const registries = createRegistries({ builtins: false });
    cleanups.push(() => registries.close());
    const error = await caught(registries.registerBundle(installed, dir));
    expect(error.code).toBe("MCP_SERVER_FORBIDDEN");
    expect(error.message).toContain("mcp.allowBundleCommands");
    expect(registries.agents.listAgents()).toEqual([]);
    expect(registries.mcp.status()).toEqual([]);
  });

  it("connects an allowed bundle's servers, gives agents their tools, and releases them on removal", async () => {
    const root = await tempDir();
    cleanups.push(() => removeDir(root));
    const fx = await stdioServer();
    const { installed, dir } = await bundleWithServers(root, fx.config);
    const registries = createRegistries({
      builtins: false,
      mcp: { allowBundleCommands: ["mcp-user"] },
    });
    cleanups.push(() => registries.close());
    const registered = await registries.registerBundle(installed, dir);
    expect(registered.agents).toEqual(["mcp-user/explicit", "mcp-user/whole-server"]);
    expect(registries.agents.getAgent("mcp-user/explicit").tools).toEqual(["mcp:fx/echo"]);
    expect(registries.agents.getAgent("mcp-user/whole-server").tools).toEqual(
      expect.arrayContaining(["mcp:fx/echo", "mcp:fx/add", "mcp:fx/pid"]),
    );
    const [status] = registries.mcp.status();
    expect(status).toMatchObject({ name: "fx", state: "up", owners: ["bundle:mcp-user@1.0.0"] });
    expect(await registries.tools.execute("mcp:fx/echo", { text: "b" }, context())).toBe("echo:b");
    const { pid } = (await registries.tools.execute("mcp:fx/pid", {}, context())) as {
      pid: number;
    };
    // The server runs in the bundle's directory.
    expect(fx.calls().at(-1)?.tool).toBe("pid");

    registries.unregisterBundle("mcp-user");
    await vi.waitFor(() => expect(alive(pid)).toBe(false), { timeout: 5_000 });
    expect(registries.tools.has("mcp:fx/echo")).toBe(false);
    expect(registries.mcp.status()).toEqual([]);
  });

  it("refuses a bundle that names an MCP server nobody declared", async () => {
    const root = await tempDir();
    cleanups.push(() => removeDir(root));
    const { installed, dir } = await writeBundle(root, {
      name: "lonely",
      version: "1.0.0",
      agents: [
        {
          name: "a",
          description: "d",
          systemPrompt: "s",
          mcpServers: [{ name: "nowhere" }],
        },
      ],
    });
    const registries = createRegistries({ builtins: false });
    cleanups.push(() => registries.close());
    const error = await caught(registries.registerBundle(installed, dir));
    expect(error.code).toBe("MCP_SERVER_UNAVAILABLE");
    expect(error.details.reason).toBe("unknown_server");
  });

  it("lets a bundle use a configured server by name, and refuses redefining it", async () => {
    const root = await tempDir();
    cleanups.push(() => removeDir(root));
    const fx = await stdioServer();
    const registries = createRegistries({ builtins: false });
    cleanups.push(() => registries.close());
    await registries.mcp.connectConfigured([fx.config]);
    const { installed, dir } = await writeBundle(root, {
      name: "user",
      version: "1.0.0",
      agents: [{ name: "a", description: "d", systemPrompt: "s", mcpServers: [{ name: "fx" }] }],
    });
    await registries.registerBundle(installed, dir);
    expect(registries.agents.getAgent("user/a").tools).toContain("mcp:fx/add");

    const http = await httpServer();
    const other = await writeBundle(root, { name: "other", version: "1.0.0" });
    const redefining = {
      ...other.installed,
      manifest: { ...other.installed.manifest, mcpServers: [{ name: "fx", url: http.url }] },
    };
    const error = await caught(registries.registerBundle(redefining, other.dir));
    expect(error.code).toBe("BUNDLE_CONFLICT");
    // A reference by name does not own the server; the configuration does.
    expect(registries.mcp.status()[0]?.owners).toEqual(["config"]);
    expect(registries.agents.listAgents().map((a) => a.id)).toEqual(["user/a"]);
  });
});
