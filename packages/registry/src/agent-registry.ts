import {
  type AgentManifest,
  AgentManifestSchema,
  type AgentRegistry as AgentRegistryContract,
  type InstalledBundle,
  type Logger,
  type PipelineManifest,
  PipelineManifestSchema,
  type TeamManifest,
  TeamManifestSchema,
} from "@aria/core-types";
import { AriaError, bundleError } from "@aria/errors";
import type { z } from "zod";
import { type BundleRef, ChangeHub, type RegistryListener } from "./events.ts";
import { parseQualifiedName, qualifiedName } from "./names.ts";
import { BundleVersions } from "./versions.ts";

/** An agent, team or pipeline as the registry returns it: the manifest with its id and bundle. */
export type Registered<T> = T & { id: string; bundle?: string; bundleVersion?: string };
export type RegisteredAgent = Registered<AgentManifest>;
export type RegisteredTeam = Registered<TeamManifest>;
export type RegisteredPipeline = Registered<PipelineManifest>;

/** What the agent registry needs from the tool registry: whether a tool name resolves, and its changes. */
export interface ToolLookup {
  has(name: string): boolean;
  subscribe?(listener: RegistryListener): () => void;
}

/** Collaborators of an `AgentRegistry`. */
export interface AgentRegistryDeps {
  /** The tool registry agents' tools and pipelines' tool steps must resolve in. */
  tools?: ToolLookup;
  logger?: Logger;
  /** Name in change events (default `agents`). */
  name?: string;
}

interface Definitions {
  installed?: InstalledBundle;
  agents: Map<string, RegisteredAgent>;
  teams: Map<string, RegisteredTeam>;
  pipelines: Map<string, RegisteredPipeline>;
}

type Kind = "agents" | "teams" | "pipelines";
const NOT_FOUND = {
  agents: "AGENT_NOT_FOUND",
  teams: "TEAM_NOT_FOUND",
  pipelines: "PIPELINE_NOT_FOUND",
} as const;
const SINGULAR = { agents: "agent", teams: "team", pipelines: "pipeline" } as const;

const emptyDefinitions = (): Definitions => ({
  agents: new Map(),
  teams: new Map(),
  pipelines: new Map(),
});

/**
 * The agent registry: agents, teams and pipelines, from bundles (`BUNDLE/NAME`, and bare when
 * unambiguous) or registered directly. References inside a bundle are qualified when registered
 * (`wordCount` in bundle `text-tools` becomes `text-tools/wordCount`), so engines resolve them
 * without ambiguity; every reference must resolve (tools in the tool registry, members and steps
 * here) or the bundle is refused. It follows the tool registry's changes and reports agents whose
 * tools went away (`checkDependencies`, `dependencies.changed` events).
 */
export class AgentRegistry implements AgentRegistryContract {
  private readonly deps: AgentRegistryDeps;
  private readonly standalone = emptyDefinitions();
  private readonly bundles = new BundleVersions<Definitions>();
  private readonly hub: ChangeHub;
  private lastProblems = "";
  private recheckScheduled = false;
  /** Open `batch` calls; while any is open, re-checks wait for the last one to finish. */
  private batches = 0;
  private recheckPending = false;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(deps: AgentRegistryDeps = {}) {
    this.deps = deps;
    this.hub = new ChangeHub(deps.name ?? "agents", (error) =>
      deps.logger?.warn({ error: String(error) }, "registry listener failed"),
    );
    this.unsubscribe = deps.tools?.subscribe?.((event) => {
      if (event.type !== "dependencies.changed") this.scheduleRecheck();
    });
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  subscribe(listener: RegistryListener): () => void {
    return this.hub.subscribe(listener);
  }

  /** Stops following the tool registry. */
  close(): void {
    this.unsubscribe?.();
  }

  // ---- registration ---------------------------------------------------------------------------

  /** Registers an agent by its bare name. Its tools must resolve in the tool registry. */
  registerAgent(agent: z.input<typeof AgentManifestSchema>): RegisteredAgent {
    const parsed = parse(AgentManifestSchema, agent, "agent");
    const entry: RegisteredAgent = { ...parsed, id: parsed.name };
    this.refuseUnresolved(
      this.problemsOf({ ...emptyDefinitions(), agents: new Map([[entry.name, entry]]) }),
      `agent '${entry.name}'`,
    );
    this.standalone.agents.set(entry.name, entry);
    this.scheduleRecheck();
    return entry;
  }

  /** Registers a team by its bare name. Its members must be registered agents. */
  registerTeam(team: z.input<typeof TeamManifestSchema>): RegisteredTeam {
    const parsed = parse(TeamManifestSchema, team, "team");
    const entry: RegisteredTeam = { ...parsed, id: parsed.name };
    this.refuseUnresolved(
      this.problemsOf({ ...emptyDefinitions(), teams: new Map([[entry.name, entry]]) }),
      `team '${entry.name}'`,
    );
    this.standalone.teams.set(entry.name, entry);
    this.scheduleRecheck();
    return entry;
  }

  /** Registers a pipeline by its bare name. Its steps must name registered tools, agents, teams and pipelines. */
  registerPipeline(pipeline: z.input<typeof PipelineManifestSchema>): RegisteredPipeline {
    const parsed = parse(PipelineManifestSchema, pipeline, "pipeline");
    const entry: RegisteredPipeline = { ...parsed, id: parsed.name };
    const staged = { ...emptyDefinitions(), pipelines: new Map([[entry.name, entry]]) };
    this.refuseUnresolved(this.problemsOf(staged, staged), `pipeline '${entry.name}'`);
    this.standalone.pipelines.set(entry.name, entry);
    this.scheduleRecheck();
    return entry;
  }

  /**
   * Registers the agents, teams and pipelines of an installed bundle (register its tools in the
   * tool registry first). References are qualified and must all resolve, else `BUNDLE_DEPENDENCY`
   * (reason `unresolved_reference`) and nothing is registered. The version becomes active unless
   * `activate: false`.
   */
  registerBundle(installed: InstalledBundle, options: { activate?: boolean } = {}): Definitions {
    const { manifest } = installed;
    const local = {
      agents: new Set(manifest.agents.map((a) => a.name)),
      teams: new Set(manifest.teams.map((t) => t.name)),
      pipelines: new Set(manifest.pipelines.map((p) => p.name)),
      tools: new Set(manifest.tools.map((t) => t.name)),
    };
    const qualify = (kind: keyof typeof local, ref: string) => {
      const { bundle } = parseQualifiedName(ref);
      return bundle === undefined && local[kind].has(ref)
        ? qualifiedName(installed.name, ref)
        : ref;
    };
    const meta = { bundle: installed.name, bundleVersion: installed.version };
    const staged: Definitions = {
      installed,
      agents: new Map(),
      teams: new Map(),
      pipelines: new Map(),
    };
    for (const agent of manifest.agents) {
      staged.agents.set(agent.name, {
        ...agent,
        tools: agent.tools.map((t) => qualify("tools", t)),
        id: qualifiedName(installed.name, agent.name),
        ...meta,
      });
    }
    for (const team of manifest.teams) {
      staged.teams.set(team.name, {
        ...team,
        members: team.members.map((m) => qualify("agents", m)),
        id: qualifiedName(installed.name, team.name),
        ...meta,
      });
    }
    for (const pipeline of manifest.pipelines) {
      const steps = pipeline.steps.map((step) => ({
        ...step,
        ...(step.tool !== undefined ? { tool: qualify("tools", step.tool) } : {}),
        ...(step.agent !== undefined ? { agent: qualify("agents", step.agent) } : {}),
        ...(step.team !== undefined ? { team: qualify("teams", step.team) } : {}),
        ...(step.pipeline !== undefined ? { pipeline: qualify("pipelines", step.pipeline) } : {}),
      }));
      staged.pipelines.set(pipeline.name, {
        ...pipeline,
        steps,
        id: qualifiedName(installed.name, pipeline.name),
        ...meta,
      });
    }
    const problems = this.problemsOf(staged, staged, installed.name);
    if (problems.length > 0) {
      throw bundleError.dependency(
        `${installed.name}@${installed.version} has unresolved references: ${problems.slice(0, 3).join("; ")}`,
        {
          details: { reason: "unresolved_reference", problems },
        },
      );
    }
    const { previous, activated } = this.bundles.set(
      installed.name,
      { version: installed.version, digest: installed.digest, items: staged },
      options.activate !== false,
    );
    const ref: BundleRef = {
      name: installed.name,
      version: installed.version,
      digest: installed.digest,
    };
    this.hub.emit({
      type: "bundle.registered",
      bundle: ref,
      installed,
      dir: "",
      active: this.bundles.active(installed.name)?.version === installed.version,
    });
    if (activated)
      this.hub.emit({ type: "bundle.activated", bundle: ref, ...(previous ? { previous } : {}) });
    this.scheduleRecheck();
    return staged;
  }

  /** Makes a registered version of a bundle active. */
  activate(bundle: string, version: string): void {
    const result = this.bundles.activate(bundle, version);
    if (!result)
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `${bundle}@${version} is not registered`,
        details: { bundle, version },
      });
    if (result.activated) this.emitActivated(bundle, version, result.previous);
  }

  /** Goes back to the version that was active before the current one. */
  rollback(bundle: string): string {
    const result = this.bundles.rollback(bundle);
    if (!result)
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `${bundle} has no earlier version to roll back to`,
        details: { bundle },
      });
    this.emitActivated(bundle, result.to, result.from);
    return result.to;
  }

  private emitActivated(bundle: string, version: string, previous?: string): void {
    const entry = this.bundles.get(bundle, version);
    if (entry?.items.installed) {
      const { installed } = entry.items;
      this.hub.emit({
        type: "bundle.activated",
        bundle: { name: installed.name, version: installed.version, digest: installed.digest },
        ...(previous ? { previous } : {}),
      });
    }
    this.scheduleRecheck();
  }

  /** Removes a bundle's definitions (one version, or all). */
  unregisterBundle(bundle: string, version?: string): void {
    const versions = version === undefined ? this.bundles.versions(bundle).versions : [version];
    const refs = versions.flatMap((v) => {
      const installed = this.bundles.get(bundle, v)?.items.installed;
      return installed
        ? [{ name: installed.name, version: installed.version, digest: installed.digest }]
        : [];
    });
    const { removed } = this.bundles.remove(bundle, version);
    if (removed.length === 0) return;
    for (const ref of refs) this.hub.emit({ type: "bundle.unregistered", bundle: ref });
    this.scheduleRecheck();
  }

  /** The versions of a bundle and the active one. */
  versions(bundle: string): { versions: string[]; active?: string } {
    return this.bundles.versions(bundle);
  }

  // ---- lookup ---------------------------------------------------------------------------------

  private find<K extends Kind>(
    kind: K,
    name: string,
    staged?: Definitions,
    stagedBundle?: string,
  ): Definitions[K] extends Map<string, infer V> ? V : never {
    type V = Definitions[K] extends Map<string, infer X> ? X : never;
    const { bundle, version, name: bare } = parseQualifiedName(name);
    if (bundle !== undefined) {
      const defs =
        staged && bundle === stagedBundle && version === undefined
          ? staged
          : version === undefined
            ? this.bundles.active(bundle)?.items
            : this.bundles.get(bundle, version)?.items;
      const found = defs?.[kind].get(bare) as V | undefined;
      if (found) return found;
      throw this.notFound(kind, name);
    }
    const standalone =
      (staged && stagedBundle === undefined ? staged[kind].get(bare) : undefined) ??
      this.standalone[kind].get(bare);
    if (standalone) return standalone as V;
    const matches: V[] = [];
    for (const [owner, entry] of this.bundles.activeEntries()) {
      if (staged && owner === stagedBundle) continue;
      const found = entry.items[kind].get(bare) as V | undefined;
      if (found) matches.push(found);
    }
    const stagedMatch =
      staged && stagedBundle !== undefined ? (staged[kind].get(bare) as V | undefined) : undefined;
    if (stagedMatch) matches.push(stagedMatch);
    if (matches.length === 1) return matches[0] as V;
    if (matches.length > 1) {
      const candidates = matches.map((m) => (m as { id: string }).id);
      throw new AriaError("VALIDATION_FAILED", {
        message: `'${name}' names ${matches.length} ${kind}: use one of ${candidates.join(", ")}`,
        details: {
          name,
          candidates,
          issues: [{ path: "/name", message: "ambiguous; use BUNDLE/NAME" }],
        },
      });
    }
    throw this.notFound(kind, name);
  }

  private notFound(kind: Kind, name: string): AriaError {
    return new AriaError(NOT_FOUND[kind], {
      message: `no ${SINGULAR[kind]} '${name}' is registered`,
      details: { name },
    });
  }

  getAgent(name: string): RegisteredAgent {
    return this.find("agents", name);
  }

  getTeam(name: string): RegisteredTeam {
    return this.find("teams", name);
  }

  getPipeline(name: string): RegisteredPipeline {
    return this.find("pipelines", name);
  }

  private listOf<K extends Kind>(
    kind: K,
  ): Array<Definitions[K] extends Map<string, infer V> ? V : never> {
    type V = Definitions[K] extends Map<string, infer X> ? X : never;
    const out = [...this.standalone[kind].values()] as V[];
    for (const [, entry] of this.bundles.activeEntries())
      out.push(...(entry.items[kind].values() as Iterable<V>));
    return out.sort((a, b) => ((a as { id: string }).id < (b as { id: string }).id ? -1 : 1));
  }

  listAgents(): RegisteredAgent[] {
    return this.listOf("agents");
  }

  listTeams(): RegisteredTeam[] {
    return this.listOf("teams");
  }

  listPipelines(): RegisteredPipeline[] {
    return this.listOf("pipelines");
  }

  // ---- dependency checks ----------------------------------------------------------------------

  private resolves(
    kind: Kind | "tools",
    ref: string,
    staged?: Definitions,
    stagedBundle?: string,
  ): boolean {
    if (kind === "tools") return this.deps.tools ? this.deps.tools.has(ref) : true;
    try {
      this.find(kind, ref, staged, stagedBundle);
      return true;
    } catch {
      return false;
    }
  }

  /** The unresolved references of some definitions (checked against the registries, `staged` included). */
  private problemsOf(defs: Definitions, staged?: Definitions, stagedBundle?: string): string[] {
    const problems: string[] = [];
    const check = (kind: Kind | "tools", ref: string, where: string) => {
      if (!this.resolves(kind, ref, staged, stagedBundle))
        problems.push(
          `${where}: ${kind === "tools" ? "tool" : SINGULAR[kind]} '${ref}' does not resolve`,
        );
    };
    for (const agent of defs.agents.values())
      for (const tool of agent.tools) check("tools", tool, `agent '${agent.id}'`);
    for (const team of defs.teams.values())
      for (const member of team.members) check("agents", member, `team '${team.id}'`);
    for (const pipeline of defs.pipelines.values()) {
      for (const step of pipeline.steps) {
        const where = `pipeline '${pipeline.id}' step '${step.id}'`;
        if (step.type === "tool" && step.tool) check("tools", step.tool, where);
        if (step.type === "agent" && step.agent) check("agents", step.agent, where);
        if (step.type === "team" && step.team) check("teams", step.team, where);
        if (step.type === "pipeline" && step.pipeline) check("pipelines", step.pipeline, where);
      }
    }
    return problems;
  }

  private refuseUnresolved(problems: string[], what: string): void {
    if (problems.length > 0) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `${what} has unresolved references: ${problems.slice(0, 3).join("; ")}`,
        details: { problems, issues: problems.map((p) => ({ path: "", message: p })) },
      });
    }
  }

  /**
   * Every unresolved reference among the visible agents, teams and pipelines, e.g. after a tool's
   * bundle was unregistered. Empty when everything resolves.
   */
  checkDependencies(): string[] {
    const all: Definitions = { agents: new Map(), teams: new Map(), pipelines: new Map() };
    for (const defs of [this.standalone, ...this.bundles.activeEntries().map(([, e]) => e.items)]) {
      for (const a of defs.agents.values()) all.agents.set(a.id, a);
      for (const t of defs.teams.values()) all.teams.set(t.id, t);
      for (const p of defs.pipelines.values()) all.pipelines.set(p.id, p);
    }
    return this.problemsOf(all);
  }

  /**
   * Re-checks the references after the current synchronous work: a burst of changes (a bundle's
   * tools, then its agents, then its activation) costs one check and one `dependencies.changed`.
   */
  private scheduleRecheck(): void {
    if (this.batches > 0) {
      this.recheckPending = true;
      return;
    }
    if (this.recheckScheduled) return;
    this.recheckScheduled = true;
    queueMicrotask(() => {
      this.recheckScheduled = false;
      this.recheck();
    });
  }

  /**
   * Runs `work` (many registrations, e.g. every installed bundle at start) with one dependency
   * re-check at the end instead of one per change.
   */
  async batch<T>(work: () => Promise<T>): Promise<T> {
    this.batches += 1;
    try {
      return await work();
    } finally {
      this.batches -= 1;
      if (this.batches === 0 && this.recheckPending) {
        this.recheckPending = false;
        this.scheduleRecheck();
      }
    }
  }

  private recheck(): void {
    const problems = this.checkDependencies();
    const key = problems.join("\n");
    if (key === this.lastProblems) return;
    this.lastProblems = key;
    if (problems.length > 0)
      this.deps.logger?.warn({ problems }, "agent registry: unresolved references");
    this.hub.emit({ type: "dependencies.changed", problems });
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({
      path: `/${i.path.map(String).join("/")}`,
      message: i.message,
    }));
    throw new AriaError("VALIDATION_FAILED", {
      message: `invalid ${what}: ${issues[0]?.path} ${issues[0]?.message}`,
      details: { issues },
    });
  }
  return result.data;
}
