import type {
  InstalledBundle,
  JsonSchema,
  Logger,
  McpServerSpec,
  SecurityLevel,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { ToolRegistry } from "../tool-registry.ts";
import {
  type McpConnectionStatus,
  type McpRestartOptions,
  type McpServerConfig,
  McpServerConnection,
  type McpServerState,
} from "./connection.ts";

/** The prefix of MCP tool ids: `mcp:<server>/<tool>`. */
export const MCP_TOOL_PREFIX = "mcp:";

/** The registry id of an MCP server's tool: `mcp:<server>/<tool>`. */
export function mcpToolId(server: string, tool: string): string {
  return `${MCP_TOOL_PREFIX}${server}/${tool}`;
}

/** Splits `mcp:<server>/<tool>`; undefined for any other name. */
export function parseMcpToolId(id: string): { server: string; tool: string } | undefined {
  if (!id.startsWith(MCP_TOOL_PREFIX)) return undefined;
  const rest = id.slice(MCP_TOOL_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { server: rest.slice(0, slash), tool: rest.slice(slash + 1) };
}

/** Collaborators and settings of an {@link McpClientManager}. */
export interface McpClientManagerDeps {
  /** Where the servers' tools are registered (as `mcp:<server>/<tool>`). */
  tools: Pick<ToolRegistry, "register" | "unregister">;
  logger?: Logger;
  /**
   * Whether bundles may declare stdio servers (commands run on the host, outside any container):
   * `false` (default) refuses them, `true` allows every bundle, a list allows the named bundles.
   * Loopback HTTP servers and servers from the configuration are always allowed.
   */
  allowBundleCommands?: boolean | readonly string[];
  /** Timeout of one tool call, ms (default 60 000; a server's own `timeoutMs` wins). */
  toolTimeoutMs?: number;
  /** Time for spawning/reaching a server and the MCP handshake, ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Restart policy after a server goes away. */
  restart?: McpRestartOptions;
  /** How often HTTP servers are pinged while up, ms (default 15 000; 0: never). */
  pingIntervalMs?: number;
  /** Security level of MCP tools for the policy (default `limited`). */
  securityLevel?: SecurityLevel;
  /** Told of every server state change (metrics, readiness). */
  onState?: (server: string, state: McpServerState, detail?: string) => void;
}

/** A server with the owners (configuration, bundle versions) that declared it. */
interface ServerEntry {
  key: string;
  config: McpServerConfig;
  connection: McpServerConnection;
  owners: Set<string>;
  /** Registered tool ids → a signature of what was registered (to re-register only changes). */
  tools: Map<string, string>;
  /** The servers' tool names as the server reported them, in its order. */
  toolNames: string[];
}

const CONFIG_OWNER = "config";

/** A snapshot of one server for `/ready` and the API. */
export interface McpServerStatus extends McpConnectionStatus {
  tools: string[];
  owners: string[];
}

/**
 * The MCP client side of the runtime: connects to the MCP servers that the configuration, bundles
 * and agents declare, registers each server's tools in the tool registry as `mcp:<server>/<tool>`
 * (JSON Schemas as the server gives them), so they run under the registry's policy, validation,
 * timeouts, guardrails and statistics like any other tool, keeps the registry in step with
 * `tools/list_changed`, and restarts servers that go away. Servers are shared by name and
 * reference-counted by their owners; the last owner to go closes the server.
 */
export class McpClientManager {
  private readonly deps: McpClientManagerDeps;
  private readonly servers = new Map<string, ServerEntry>();
  private closed = false;

  constructor(deps: McpClientManagerDeps) {
    this.deps = deps;
  }

  // ---- configuration --------------------------------------------------------------------------

  /**
   * Connects the servers of the runtime configuration (trusted: commands allowed). A server that
   * cannot be started now is logged and retried in the background; its tools appear once it is up.
   */
  async connectConfigured(configs: readonly McpServerConfig[]): Promise<McpServerStatus[]> {
    for (const config of configs) {
      const existing = this.servers.get(config.name);
      if (existing && existing.key !== serverKey(config)) {
        throw new AriaError("CONFIG_INVALID", {
          message: `MCP server '${config.name}' is declared twice with different settings`,
          details: { field: "mcp.servers", server: config.name },
        });
      }
    }
    await Promise.all(configs.map((config) => this.acquire(config, CONFIG_OWNER, { retry: true })));
    return configs.map((c) => this.statusOf(c.name)).filter((s) => s !== undefined);
  }

  // ---- bundles ----------------------------------------------------------------------------------

  /**
   * Connects the MCP servers an installed bundle declares (top-level `mcpServers` and its agents'),
   * registers their tools, and returns the bundle with each agent that lists `mcpServers` given
   * those servers' tools (added to its `tools`). Call it before registering the bundle's agents.
   *
   * A server entry with only a `name` refers to a server declared elsewhere (the configuration, or
   * the bundle's top-level list). Refused (nothing stays connected): a non-loopback URL or a stdio
   * command the policy does not allow (MCP_SERVER_FORBIDDEN), a name already used by a different
   * server (BUNDLE_CONFLICT), a server that cannot be started (MCP_SERVER_UNAVAILABLE).
   */
  async attachBundle(installed: InstalledBundle, dir: string): Promise<InstalledBundle> {
    const { manifest } = installed;
    const owner = bundleOwner(installed.name, installed.version);
    const declared = new Map<string, McpServerSpec>();
    const references = new Set<string>();
    const specs = [
      ...(manifest.mcpServers ?? []),
      ...manifest.agents.flatMap((a) => a.mcpServers ?? []),
    ];
    for (const spec of specs) {
      if (spec.command === undefined && spec.url === undefined) {
        references.add(spec.name);
        continue;
      }
      const previous = declared.get(spec.name);
      if (previous && serverKey(previous) !== serverKey(spec))
        throw new AriaError("BUNDLE_CONFLICT", {
          message: `${installed.name}@${installed.version} declares MCP server '${spec.name}' twice with different settings`,
          details: { bundle: installed.name, server: spec.name },
        });
      declared.set(spec.name, spec);
    }
    const held = this.ownedBy(owner);
    if (declared.size === 0 && references.size === 0 && held.length === 0) return installed;

    const configs = [...declared.values()].map((spec) => this.bundleConfig(installed, dir, spec));
    for (const name of references) {
      if (!declared.has(name) && !this.servers.has(name))
        throw new AriaError("MCP_SERVER_UNAVAILABLE", {
          message: `${installed.name}@${installed.version} refers to MCP server '${name}', which is neither declared by the bundle nor configured (mcp.servers)`,
          details: { bundle: installed.name, server: name, reason: "unknown_server" },
        });
    }
    for (const config of configs) {
      const existing = this.servers.get(config.name);
      const others = existing ? [...existing.owners].filter((o) => o !== owner) : [];
      if (existing && existing.key !== serverKey(config) && others.length > 0)
        throw new AriaError("BUNDLE_CONFLICT", {
          message: `${installed.name}@${installed.version} declares MCP server '${config.name}', which ${describeOwners(others)} already declares differently`,
          details: { bundle: installed.name, server: config.name, owners: others },
        });
    }
    const acquired: string[] = [];
    try {
      for (const config of configs) {
        const existing = this.servers.get(config.name);
        if (existing?.owners.has(owner) && existing.key === serverKey(config)) continue;
        if (existing?.owners.has(owner)) await this.release(config.name, owner);
        await this.acquire(config, owner, { retry: false });
        acquired.push(config.name);
      }
    } catch (error) {
      for (const name of acquired) await this.release(name, owner);
      throw error;
    }
    // A new version of the same registration may have dropped servers.
    for (const name of held) if (!declared.has(name)) await this.release(name, owner);

    const agents = manifest.agents.map((agent) => {
      if (!agent.mcpServers || agent.mcpServers.length === 0) return agent;
      const tools = new Set(agent.tools);
      for (const spec of agent.mcpServers)
        for (const tool of this.servers.get(spec.name)?.toolNames ?? [])
          tools.add(mcpToolId(spec.name, tool));
      return { ...agent, tools: [...tools] };
    });
    return { ...installed, manifest: { ...manifest, agents } };
  }

  /** Releases a bundle's servers (one version, or every version); the last owner closes a server. */
  async detachBundle(bundle: string, version?: string): Promise<void> {
    const prefix = version === undefined ? `bundle:${bundle}@` : bundleOwner(bundle, version);
    for (const [name, entry] of [...this.servers]) {
      for (const owner of [...entry.owners]) {
        if (version === undefined ? owner.startsWith(prefix) : owner === prefix)
          await this.release(name, owner);
      }
    }
  }

  /** Whether a bundle version holds MCP servers. */
  isAttached(bundle: string, version: string): boolean {
    return this.ownedBy(bundleOwner(bundle, version)).length > 0;
  }

  private bundleConfig(
    installed: InstalledBundle,
    dir: string,
    spec: McpServerSpec,
  ): McpServerConfig {
    if (spec.command !== undefined) {
      const allow = this.deps.allowBundleCommands ?? false;
      const allowed = allow === true || (Array.isArray(allow) && allow.includes(installed.name));
      if (!allowed)
        throw new AriaError("MCP_SERVER_FORBIDDEN", {
          message: `${installed.name}@${installed.version} declares MCP server '${spec.name}' as a command to run on the host (${spec.command.join(" ")}); bundle commands are not allowed (set mcp.allowBundleCommands to true or to a list including '${installed.name}' if you trust it, or declare the server in mcp.servers)`,
          details: { bundle: installed.name, server: spec.name, reason: "bundle_command" },
        });
    }
    return {
      name: spec.name,
      ...(spec.command ? { command: spec.command, cwd: dir } : {}),
      ...(spec.url ? { url: spec.url } : {}),
      ...(spec.env ? { env: spec.env } : {}),
    };
  }

  // ---- servers ----------------------------------------------------------------------------------

  private ownedBy(owner: string): string[] {
    return [...this.servers].filter(([, e]) => e.owners.has(owner)).map(([name]) => name);
  }

  private async acquire(
    config: McpServerConfig,
    owner: string,
    options: { retry: boolean },
  ): Promise<void> {
    if (this.closed)
      throw new AriaError("MCP_SERVER_UNAVAILABLE", {
        message: `MCP server '${config.name}': the MCP client manager is closed`,
        details: { server: config.name, reason: "closed" },
      });
    const existing = this.servers.get(config.name);
    if (existing) {
      if (existing.key !== serverKey(config))
        throw new AriaError("BUNDLE_CONFLICT", {
          message: `MCP server '${config.name}' is already declared differently by ${describeOwners([...existing.owners])}`,
          details: { server: config.name, owners: [...existing.owners] },
        });
      existing.owners.add(owner);
      return;
    }
    const entry: ServerEntry = {
      key: serverKey(config),
      config,
      owners: new Set([owner]),
      tools: new Map(),
      toolNames: [],
      connection: new McpServerConnection({
        config,
        ...(this.deps.connectTimeoutMs !== undefined
          ? { connectTimeoutMs: this.deps.connectTimeoutMs }
          : {}),
        ...(this.deps.restart ? { restart: this.deps.restart } : {}),
        ...(this.deps.pingIntervalMs !== undefined
          ? { pingIntervalMs: this.deps.pingIntervalMs }
          : {}),
        ...(this.deps.logger ? { logger: this.deps.logger } : {}),
        onTools: (tools) => this.sync(entry, tools),
        onState: (state, detail) => this.deps.onState?.(config.name, state, detail),
      }),
    };
    this.servers.set(config.name, entry);
    try {
      await entry.connection.start(options);
    } catch (error) {
      this.servers.delete(config.name);
      this.unregisterAll(entry);
      throw error;
    }
  }

  private async release(name: string, owner: string): Promise<void> {
    const entry = this.servers.get(name);
    if (!entry) return;
    entry.owners.delete(owner);
    if (entry.owners.size > 0) return;
    this.servers.delete(name);
    this.unregisterAll(entry);
    await entry.connection.close();
  }

  private unregisterAll(entry: ServerEntry): void {
    for (const id of entry.tools.keys()) this.deps.tools.unregister(id);
    entry.tools.clear();
    entry.toolNames = [];
  }

  /** Brings the registry in line with a server's current tool list. */
  private sync(entry: ServerEntry, tools: Tool[]): void {
    if (this.servers.get(entry.config.name) !== entry) return;
    const server = entry.config.name;
    const seen = new Set<string>();
    const names: string[] = [];
    for (const tool of tools) {
      const id = mcpToolId(server, tool.name);
      if (seen.has(id)) continue;
      const signature = JSON.stringify([tool.description, tool.inputSchema, tool.outputSchema]);
      seen.add(id);
      if (entry.tools.get(id) === signature) {
        names.push(tool.name);
        continue;
      }
      try {
        this.deps.tools.register(this.registration(entry, tool, id), { replace: true });
        entry.tools.set(id, signature);
        names.push(tool.name);
      } catch (error) {
        entry.tools.delete(id);
        this.deps.tools.unregister(id);
        this.deps.logger?.warn(
          { server, tool: tool.name, error: (error as Error).message },
          "MCP tool not registered",
        );
      }
    }
    for (const id of [...entry.tools.keys()]) {
      if (seen.has(id)) continue;
      entry.tools.delete(id);
      this.deps.tools.unregister(id);
    }
    entry.toolNames = names;
  }

  private registration(entry: ServerEntry, tool: Tool, id: string) {
    const server = entry.config.name;
    const timeoutMs = entry.config.timeoutMs ?? this.deps.toolTimeoutMs ?? 60_000;
    const connection = entry.connection;
    return {
      name: id,
      description:
        tool.description ?? tool.title ?? `MCP tool '${tool.name}' of server '${server}'`,
      inputSchema: tool.inputSchema as JsonSchema,
      ...(tool.outputSchema ? { outputSchema: tool.outputSchema as JsonSchema } : {}),
      execution: "inprocess" as const,
      securityLevel: this.deps.securityLevel ?? "limited",
      network: false,
      resources: { timeoutMs },
      handler: (input: unknown, context: { signal: AbortSignal }) =>
        connection.callTool(tool.name, input, { signal: context.signal, timeoutMs }),
    };
  }

  // ---- state ------------------------------------------------------------------------------------

  private statusOf(name: string): McpServerStatus | undefined {
    const entry = this.servers.get(name);
    if (!entry) return undefined;
    return {
      ...entry.connection.status(),
      tools: entry.toolNames.map((t) => mcpToolId(name, t)),
      owners: [...entry.owners],
    };
  }

  /** Every server with its state, tools and owners, by name. */
  status(): McpServerStatus[] {
    return [...this.servers.keys()]
      .sort()
      .map((name) => this.statusOf(name))
      .filter((s) => s !== undefined);
  }

  /** Closes every server (stdio processes are ended) and unregisters their tools. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.servers.values()];
    this.servers.clear();
    for (const entry of entries) this.unregisterAll(entry);
    await Promise.all(entries.map((e) => e.connection.close()));
  }
}

function bundleOwner(bundle: string, version: string): string {
  return `bundle:${bundle}@${version}`;
}

function describeOwners(owners: string[]): string {
  return owners.map((o) => (o === CONFIG_OWNER ? "the configuration" : o.slice(7))).join(", ");
}

/** What makes two declarations the same server (cwd included: two bundles' commands differ). */
function serverKey(spec: McpServerConfig | McpServerSpec): string {
  return JSON.stringify([
    spec.command ?? null,
    spec.url ?? null,
    spec.env ?? null,
    (spec as McpServerConfig).cwd ?? null,
    (spec as McpServerConfig).timeoutMs ?? null,
  ]);
}

/** Creates an {@link McpClientManager}. */
export function createMcpClientManager(deps: McpClientManagerDeps): McpClientManager {
  return new McpClientManager(deps);
}
