import type { Logger, McpConfig } from "@aria/core-types";
import type { McpClientManager, RegistriesDeps } from "@aria/registry";
import { Gauge, type Registry } from "prom-client";
import type { ReadinessCheck } from "./readiness.ts";

/**
 * The MCP client's settings for `createRegistries` from the runtime configuration (`mcp`): the
 * bundle command policy, timeouts and the restart policy.
 */
export function mcpClientOptions(
  config: McpConfig,
  logger: Logger,
): NonNullable<RegistriesDeps["mcp"]> {
  return {
    allowBundleCommands: config.allowBundleCommands,
    toolTimeoutMs: config.toolTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    restart: {
      maxRestarts: config.maxRestarts,
      initialDelayMs: config.restartDelayMs,
      maxDelayMs: config.restartMaxDelayMs,
    },
    onState: (server, state, detail) => {
      if (state === "down" || state === "failed")
        logger.warn({ server, state, detail }, "MCP server is not available");
    },
  };
}

/**
 * `/ready` entry `mcp`: every MCP server with its state (not required: a server that is down only
 * fails its own tools). Up when all are up, degraded when some are not, disabled when there are none.
 */
export function mcpReadinessCheck(mcp: McpClientManager): ReadinessCheck {
  return {
    name: "mcp",
    required: false,
    check: async () => {
      const servers = mcp.status();
      if (servers.length === 0) return { status: "disabled", detail: "no MCP servers" };
      const down = servers.filter((s) => s.state !== "up");
      return {
        status: down.length === 0 ? "up" : "degraded",
        servers: servers.map((s) => ({
          name: s.name,
          transport: s.transport,
          state: s.state,
          tools: s.tools.length,
          restarts: s.restarts,
          ...(s.lastError ? { lastError: s.lastError } : {}),
        })),
        ...(down.length > 0
          ? {
              detail: `MCP servers not up: ${down.map((s) => `${s.name} (${s.state})`).join(", ")}`,
            }
          : {}),
      };
    },
  };
}

/** `aria_mcp_server_up{server}` (1 up, 0 otherwise) and restarts, read at scrape time. */
export function registerMcpMetrics(registry: Registry, mcp: McpClientManager): void {
  new Gauge({
    name: "aria_mcp_server_up",
    help: "Whether each MCP server is connected (1) or not (0)",
    labelNames: ["server", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of mcp.status())
        this.set({ server: s.name, state: s.state }, s.state === "up" ? 1 : 0);
    },
  });
  new Gauge({
    name: "aria_mcp_server_restarts",
    help: "Restarts of each MCP server since it was last stable",
    labelNames: ["server"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of mcp.status()) this.set({ server: s.name }, s.restarts);
    },
  });
}
