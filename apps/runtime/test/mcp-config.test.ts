import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AriaError } from "@aria/errors";
import { describeConfig, loadConfig } from "@aria/runtime";
import { describe, expect, it } from "vitest";

const cwd = () => fs.mkdtempSync(path.join(os.tmpdir(), "aria-mcp-config-"));

function configError(env: Record<string, string>): AriaError {
  try {
    loadConfig({ env, cwd: cwd() });
  } catch (error) {
    if (AriaError.is(error)) return error;
    throw error;
  }
  throw new Error("expected CONFIG_INVALID");
}

describe("mcp configuration", () => {
  it("defaults to no servers and no bundle commands", () => {
    const config = loadConfig({ env: {}, cwd: cwd() });
    expect(config.mcp).toMatchObject({
      servers: [],
      allowBundleCommands: false,
      toolTimeoutMs: 60_000,
      maxRestarts: 5,
    });
  });

  it("reads ARIA_MCP_SERVERS as JSON and ARIA_MCP_ALLOW_BUNDLE_COMMANDS as a flag or a list", () => {
    const servers = [
      { name: "notes", command: ["node", "server.js"], env: { DIR: "/srv" }, timeoutMs: 5000 },
      { name: "web", url: "http://127.0.0.1:3001/mcp" },
    ];
    const config = loadConfig({
      env: {
        ARIA_MCP_SERVERS: JSON.stringify(servers),
        ARIA_MCP_ALLOW_BUNDLE_COMMANDS: "tools-a, tools-b",
        ARIA_MCP_TOOL_TIMEOUT_MS: "1500",
      },
      cwd: cwd(),
    });
    expect(config.mcp.servers).toEqual(servers);
    expect(config.mcp.allowBundleCommands).toEqual(["tools-a", "tools-b"]);
    expect(config.mcp.toolTimeoutMs).toBe(1500);
    expect(
      loadConfig({ env: { ARIA_MCP_ALLOW_BUNDLE_COMMANDS: "true" }, cwd: cwd() }).mcp
        .allowBundleCommands,
    ).toBe(true);
    // Names and transports are logged at start, never the servers' environment.
    expect(describeConfig(config).mcp).toEqual({
      servers: [
        { name: "notes", transport: "stdio" },
        { name: "web", transport: "http" },
      ],
      allowBundleCommands: ["tools-a", "tools-b"],
    });
  });

  it("refuses bad server lists with CONFIG_INVALID naming the variable", () => {
    const notJson = configError({ ARIA_MCP_SERVERS: "[{name: notes}" });
    expect(notJson.code).toBe("CONFIG_INVALID");
    expect(notJson.message).toContain("ARIA_MCP_SERVERS");
    const both = configError({
      ARIA_MCP_SERVERS: JSON.stringify([{ name: "x", command: ["a"], url: "http://127.0.0.1/" }]),
    });
    expect(both.message).toContain("exactly one of command");
    const neither = configError({ ARIA_MCP_SERVERS: JSON.stringify([{ name: "x" }]) });
    expect(neither.code).toBe("CONFIG_INVALID");
    const twice = configError({
      ARIA_MCP_SERVERS: JSON.stringify([
        { name: "x", command: ["a"] },
        { name: "x", command: ["b"] },
      ]),
    });
    expect(twice.message).toContain("same name");
  });
});
