import type { InstalledBundle, Logger } from "@aria/core-types";
import semver from "semver";
import { AgentRegistry } from "./agent-registry.ts";
import { type BuiltinToolOptions, registerBuiltinTools } from "./builtins/index.ts";
import type { RegistryEvent } from "./events.ts";
import { McpClientManager, type McpClientManagerDeps } from "./mcp/client-manager.ts";
import { ToolRegistry, type ToolRegistryDeps } from "./tool-registry.ts";

/** Collaborators of `createRegistries`. */
export interface RegistriesDeps extends ToolRegistryDeps {
  /** Register the built-in tools (default true), with these options (the LLM client for ponder/createPlan). */
  builtins?: boolean | BuiltinToolOptions;
  logger?: Logger;
  /** MCP client settings (bundle command policy, timeouts, restarts); see `McpClientManager`. */
  mcp?: Omit<McpClientManagerDeps, "tools" | "logger">;
}

/** Where installed bundles come from at start (the pkg-store `BundleStore` fits). */
export interface InstalledBundleSource {
  /** Installed bundles, dependencies before dependants. */
  dependencyOrder(): InstalledBundle[];
  /** The verified unpacked directory of name@version. */
  unpackedDir(name: string, version: string): Promise<string>;
}

/** What registering a bundle registered. */
export interface RegisteredBundle {
  name: string;
  version: string;
  digest: string;
  tools: string[];
  agents: string[];
  teams: string[];
  pipelines: string[];
  active: boolean;
}

/**
 * The tool and agent registries together: a bundle's tools, agents, teams and pipelines are
 * registered, activated, rolled back and removed as one. The agent registry checks its references
 * against this tool registry and follows its changes.
 */
export class Registries {
  readonly tools: ToolRegistry;
  readonly agents: AgentRegistry;
  /** The MCP servers of the configuration, bundles and agents, whose tools are `mcp:<server>/<tool>`. */
  readonly mcp: McpClientManager;
  private readonly logger: Logger | undefined;

  constructor(deps: RegistriesDeps = {}) {
    this.logger = deps.logger;
    this.tools = new ToolRegistry(deps);
    this.agents = new AgentRegistry({
      tools: this.tools,
      ...(deps.logger ? { logger: deps.logger } : {}),
    });
    this.mcp = new McpClientManager({
      tools: this.tools,
      ...(deps.logger ? { logger: deps.logger.child({ component: "mcp" }) } : {}),
      ...deps.mcp,
    });
    if (deps.builtins !== false)
      registerBuiltinTools(this.tools, typeof deps.builtins === "object" ? deps.builtins : {});
  }

  /**
   * Registers an installed bundle from its unpacked directory: tools first (handlers bound from the
   * entry module), then agents, teams and pipelines, whose references must resolve. If the second
   * part is refused, the tools are taken back out, so a bundle is registered whole or not at all.
   * The bundle's MCP servers (and its agents') are connected first, so agents can name their tools.
   */
  async registerBundle(
    installed: InstalledBundle,
    dir: string,
    options: { activate?: boolean } = {},
  ): Promise<RegisteredBundle> {
    const previous = this.tools.versions(installed.name).active;
    const replacing = this.tools.bundleSource(installed.name, installed.version);
    const mcpHeld = this.mcp.isAttached(installed.name, installed.version);
    const withMcp = await this.mcp.attachBundle(installed, dir);
    let tools: Awaited<ReturnType<ToolRegistry["registerBundle"]>>;
    try {
      tools = await this.tools.registerBundle(installed, dir, options);
    } catch (error) {
      if (!mcpHeld) await this.mcp.detachBundle(installed.name, installed.version);
      throw error;
    }
    try {
      const defs = this.agents.registerBundle(withMcp, options);
      return {
        name: installed.name,
        version: installed.version,
        digest: installed.digest,
        tools: tools.map((t) => t.id),
        agents: [...defs.agents.values()].map((a) => a.id),
        teams: [...defs.teams.values()].map((t) => t.id),
        pipelines: [...defs.pipelines.values()].map((p) => p.id),
        active: this.tools.versions(installed.name).active === installed.version,
      };
    } catch (error) {
      if (!mcpHeld) await this.mcp.detachBundle(installed.name, installed.version);
      if (replacing && replacing.installed.digest !== installed.digest) {
        await this.tools.registerBundle(replacing.installed, replacing.dir, {
          activate: previous === installed.version,
        });
      } else if (!replacing) {
        this.tools.unregisterBundle(installed.name, installed.version);
      }
      if (
        previous !== undefined &&
        previous !== installed.version &&
        this.tools.versions(installed.name).versions.includes(previous)
      ) {
        this.tools.activate(installed.name, previous);
      }
      throw error;
    }
  }

  /**
   * Registers every installed bundle of a store, dependencies first; the highest version of each
   * name ends up active. Failures are collected, not thrown, so one bad bundle does not stop the
   * start.
   */
  async registerInstalled(source: InstalledBundleSource): Promise<{
    registered: RegisteredBundle[];
    failed: Array<{ bundle: string; error: unknown }>;
  }> {
    const order = source.dependencyOrder();
    const highest = new Map<string, InstalledBundle>();
    for (const b of order) {
      const current = highest.get(b.name);
      if (!current || semver.gt(b.version, current.version)) highest.set(b.name, b);
    }
    const registered: RegisteredBundle[] = [];
    const failed: Array<{ bundle: string; error: unknown }> = [];
    // One dependency re-check for the whole start, not one per bundle (quadratic otherwise).
    await this.agents.batch(async () => {
      for (const bundle of order) {
        try {
          const dir = await source.unpackedDir(bundle.name, bundle.version);
          registered.push(
            await this.registerBundle(bundle, dir, {
              activate: highest.get(bundle.name) === bundle,
            }),
          );
        } catch (error) {
          failed.push({ bundle: `${bundle.name}@${bundle.version}`, error });
          this.logger?.error(
            { bundle: `${bundle.name}@${bundle.version}`, error: String(error) },
            "bundle could not be registered",
          );
        }
      }
    });
    return { registered, failed };
  }

  /** Makes a registered version active in both registries. */
  activate(bundle: string, version: string): void {
    this.tools.activate(bundle, version);
    this.agents.activate(bundle, version);
  }

  /** Returns both registries to the previously active version of a bundle. */
  rollback(bundle: string): string {
    const version = this.tools.rollback(bundle);
    if (this.agents.versions(bundle).active !== version) this.agents.activate(bundle, version);
    return version;
  }

  /** Removes a bundle (one version, or all) from both registries. */
  unregisterBundle(bundle: string, version?: string): void {
    this.agents.unregisterBundle(bundle, version);
    this.tools.unregisterBundle(bundle, version);
    void this.mcp
      .detachBundle(bundle, version)
      .catch((error: unknown) =>
        this.logger?.warn({ bundle, error: String(error) }, "MCP servers not released"),
      );
    const active = this.tools.versions(bundle).active;
    if (active !== undefined && this.agents.versions(bundle).active !== active)
      this.agents.activate(bundle, active);
  }

  /** The versions of a bundle and the active one. */
  versions(bundle: string): { versions: string[]; active?: string } {
    return this.tools.versions(bundle);
  }

  /**
   * Keeps these registries in sync with `source`: its current bundles and built-in tools are
   * applied here, and so is every later change (registration, activation, rollback, removal).
   * Returns `stop()` and `idle()` (resolves once every change seen so far is applied).
   */
  follow(source: Registries): { stop(): void; idle(): Promise<void> } {
    let chain: Promise<void> = Promise.resolve();
    const enqueue = (task: () => Promise<void> | void) => {
      chain = chain
        .then(task)
        .catch((error: unknown) =>
          this.logger?.warn({ error: String(error) }, "registry follower could not apply a change"),
        );
    };
    for (const tool of source.tools.list())
      if (!tool.bundle) enqueue(() => void this.tools.register(tool, { replace: true }));
    for (const name of source.tools.bundleNames()) {
      const { versions, active } = source.tools.versions(name);
      for (const version of versions) {
        const origin = source.tools.bundleSource(name, version);
        if (origin)
          enqueue(
            async () =>
              void (await this.registerBundle(origin.installed, origin.dir, {
                activate: version === active,
              })),
          );
      }
    }
    const apply = (event: RegistryEvent) => {
      switch (event.type) {
        case "tool.registered":
          if (!event.tool.bundle)
            enqueue(() => void this.tools.register(event.tool, { replace: true }));
          break;
        case "tool.unregistered":
          enqueue(() => void this.tools.unregister(event.id));
          break;
        case "bundle.registered":
          enqueue(
            async () =>
              void (await this.registerBundle(event.installed, event.dir, {
                activate: event.active,
              })),
          );
          break;
        case "bundle.activated":
          enqueue(() => {
            if (this.versions(event.bundle.name).active !== event.bundle.version)
              this.activate(event.bundle.name, event.bundle.version);
          });
          break;
        case "bundle.unregistered":
          enqueue(() => this.unregisterBundle(event.bundle.name, event.bundle.version));
          break;
        default:
          break;
      }
    };
    const unsubscribe = source.tools.subscribe(apply);
    return {
      stop: unsubscribe,
      idle: async () => {
        let seen: Promise<void>;
        do {
          seen = chain;
          await seen;
        } while (seen !== chain);
      },
    };
  }

  /** Stops internal subscriptions and closes the MCP servers (ending stdio processes). */
  close(): Promise<void> {
    this.agents.close();
    return this.mcp.close();
  }
}

/** Creates the tool and agent registries (with the built-in tools unless `builtins: false`). */
export function createRegistries(deps: RegistriesDeps = {}): Registries {
  return new Registries(deps);
}
