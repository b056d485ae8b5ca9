import type {
  ContainerToolExecutor,
  ExecutionMode,
  InstalledBundle,
  JsonSchema,
  LlmToolDefinition,
  Logger,
  Permissions,
  RegisteredTool,
  ResourceRequest,
  SecurityLevel,
  ToolExecutionContext,
  ToolHandler,
  ToolManifest,
  ToolRegistry as ToolRegistryContract,
  ToolResult,
} from "@aria/core-types";
import { AriaError, bundleError, containerError } from "@aria/errors";
import {
  type BundleLoadEvent,
  BundleModuleCache,
  bindHandler,
  bundleEntryUrl,
} from "./bundle-loader.ts";
import { type BundleRef, ChangeHub, type RegistryListener } from "./events.ts";
import {
  applyGuardrails,
  type CompiledGuardrail,
  compileGuardrails,
  type GuardrailCheck,
  type GuardrailConfig,
  type GuardrailTrip,
  toGuardrailCheck,
} from "./guardrails.ts";
import { LlmNameTable, parseQualifiedName, qualifiedName } from "./names.ts";
import { createSecurityPolicy, type SecurityPolicy } from "./policy.ts";
import { SchemaValidator } from "./validation.ts";
import { BundleVersions } from "./versions.ts";

/** A tool registered directly (built-ins and host-provided tools), addressed by its bare name. */
export interface ToolRegistration {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  execution?: ExecutionMode;
  securityLevel?: SecurityLevel;
  resources?: ResourceRequest;
  network?: boolean;
  needsApproval?: boolean;
  permissions?: Permissions;
  handler?: ToolHandler;
  /** Input and output guardrails (see `guardrails.ts`). */
  guardrails?: GuardrailConfig[];
  /** The functions `custom` guardrails name by `export` (a tool registered without a bundle). */
  guardrailChecks?: Record<string, GuardrailCheck>;
}

/** Collaborators of a `ToolRegistry`. */
export interface ToolRegistryDeps {
  /** Decides which tools may run (default: `createSecurityPolicy()`, up to `limited`). */
  policy?: SecurityPolicy;
  /** Runs `execution: "container"` tools; without it they fail with CONTAINER_RUNTIME_UNAVAILABLE. */
  containerExecutor?: ContainerToolExecutor;
  logger?: Logger;
  /** Name in change events (default `tools`). */
  name?: string;
  /** Validate outputs against `outputSchema` (default true). */
  validateOutputs?: boolean;
  /**
   * When a bundle's code is imported: `lazy` (default) reads only the manifest at registration and
   * imports the entry module on the first execution of one of its in-process tools; `eager`
   * imports it at registration and refuses a bundle whose module or exports are broken.
   */
  loading?: "lazy" | "eager";
  /** Told each time a bundle's entry module has been imported (metrics, tests). */
  onBundleLoad?: (event: BundleLoadEvent) => void;
  /**
   * Told of every tripped guardrail, whatever its action (the runtime emits `guardrail.tripped`).
   * A listener that throws is logged and ignored.
   */
  onGuardrail?: (trip: GuardrailTrip) => void;
}

/** Per-tool execution statistics. */
export interface ToolStats {
  calls: number;
  failures: number;
  totalDurationMs: number;
  lastErrorCode?: string;
}

interface ToolEntry {
  tool: RegisteredTool;
  /** The unpacked bundle and the export holding the definition (bundle tools). */
  dir?: string;
  exportName?: string;
  /** The tool's guardrails, compiled at registration. */
  guardrails?: CompiledGuardrail[];
}

interface BundleTools {
  installed: InstalledBundle;
  dir: string;
  tools: Map<string, ToolEntry>;
}

const toRef = (installed: InstalledBundle): BundleRef => ({
  name: installed.name,
  version: installed.version,
  digest: installed.digest,
});

/**
 * The tool registry: built-in tools by bare name and bundle tools as `BUNDLE/TOOL` (also bare when
 * no other bundle has that name), versions per bundle with activation and rollback, input
 * validation against the tool's JSON Schema before anything runs, output validation against
 * `outputSchema`, a security policy, per-tool statistics, LLM-safe names, and change events.
 */
export class ToolRegistry implements ToolRegistryContract {
  private readonly deps: ToolRegistryDeps;
  private readonly builtins = new Map<string, ToolEntry>();
  private readonly bundles = new BundleVersions<BundleTools>();
  /** Bare tool name → bundles whose active version has it (rebuilt on the first lookup after a change). */
  private bareIndex: Map<string, string[]> | undefined;
  private llmNames: LlmNameTable | undefined;
  private readonly validator = new SchemaValidator();
  private readonly stats = new Map<string, ToolStats>();
  private readonly hub: ChangeHub;
  private readonly policy: SecurityPolicy;
  private readonly modules: BundleModuleCache;

  constructor(deps: ToolRegistryDeps = {}) {
    this.deps = deps;
    this.modules = new BundleModuleCache(deps.onBundleLoad ? { onLoad: deps.onBundleLoad } : {});
    this.policy = deps.policy ?? createSecurityPolicy();
    this.hub = new ChangeHub(deps.name ?? "tools", (error) =>
      deps.logger?.warn({ error: String(error) }, "registry listener failed"),
    );
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  subscribe(listener: RegistryListener): () => void {
    return this.hub.subscribe(listener);
  }

  /** The configured container executor, if any (engines may share it). */
  get containerExecutor(): ContainerToolExecutor | undefined {
    return this.deps.containerExecutor;
  }

  // ---- registration ---------------------------------------------------------------------------

  /** Registers a tool by its bare name (built-ins). Refuses a second tool of the same name unless `replace`. */
  register(registration: ToolRegistration, options: { replace?: boolean } = {}): RegisteredTool {
    if (this.builtins.has(registration.name) && !options.replace) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `a tool named '${registration.name}' is already registered`,
        details: { issues: [{ path: "/name", message: "already registered" }] },
      });
    }
    this.checkSchemas(registration.name, registration.inputSchema, registration.outputSchema);
    const checks = registration.guardrailChecks ?? {};
    const guardrails = compileGuardrails(registration.name, registration.guardrails, {
      validator: this.validator,
      resolveCustom: async (exportName) =>
        toGuardrailCheck(checks[exportName], exportName, `tool '${registration.name}'`),
    });
    const tool: RegisteredTool = {
      id: registration.name,
      name: registration.name,
      description: registration.description,
      inputSchema: registration.inputSchema,
      ...(registration.outputSchema ? { outputSchema: registration.outputSchema } : {}),
      execution: registration.execution ?? "inprocess",
      securityLevel: registration.securityLevel ?? "safe",
      ...(registration.resources ? { resources: registration.resources } : {}),
      network: registration.network ?? false,
      ...(registration.needsApproval !== undefined
        ? { needsApproval: registration.needsApproval }
        : {}),
      ...(registration.permissions ? { permissions: registration.permissions } : {}),
      ...(registration.handler ? { handler: registration.handler } : {}),
      ...(guardrails.length > 0 ? { guardrails: guardrails.map((g) => g.spec) } : {}),
    };
    this.builtins.set(tool.name, { tool, ...(guardrails.length > 0 ? { guardrails } : {}) });
    this.changed();
    this.hub.emit({ type: "tool.registered", tool });
    return tool;
  }

  /** Removes a tool registered by bare name. */
  unregister(name: string): boolean {
    const existed = this.builtins.delete(name);
    if (existed) {
      this.changed();
      this.hub.emit({ type: "tool.unregistered", id: name });
    }
    return existed;
  }

  private checkSchemas(id: string, input: JsonSchema, output?: JsonSchema): void {
    for (const [which, schema] of [
      ["inputSchema", input],
      ["outputSchema", output],
    ] as const) {
      if (schema === undefined) continue;
      try {
        this.validator.check(schema);
      } catch (error) {
        throw bundleError.invalid(
          `tool '${id}' has an invalid ${which}: ${(error as Error).message}`,
          { details: { reason: "bad_schema", tool: id } },
        );
      }
    }
  }

  /**
   * Registers the tools of an installed bundle from its unpacked directory, from its manifest only:
   * in-process tools get a handler that imports the bundle's entry module on first use (one import
   * per digest, shared by concurrent first calls, retried after a failure) and binds the tool's
   * export; with `loading: "eager"` the module is imported and every handler bound here. Container
   * tools run through the container executor. The new version becomes active unless
   * `activate: false`; the previous active version stays registered for `rollback`.
   */
  async registerBundle(
    installed: InstalledBundle,
    dir: string,
    options: { activate?: boolean } = {},
  ): Promise<RegisteredTool[]> {
    const { manifest } = installed;
    const existing = this.bundles.get(installed.name, installed.version);
    if (existing && existing.digest === installed.digest) {
      if (options.activate !== false) this.activate(installed.name, installed.version);
      return [...existing.items.tools.values()].map((e) => e.tool);
    }
    const needsCode = manifest.tools.some((t) => t.execution === "inprocess");
    const eager = this.deps.loading === "eager";
    // The entry path is checked now (BUNDLE_UNSAFE) even when the code is imported later.
    if (needsCode) bundleEntryUrl(installed, dir);
    const module = needsCode && eager ? await this.modules.load(installed, dir) : undefined;
    const tools = new Map<string, ToolEntry>();
    for (const spec of manifest.tools) {
      const id = qualifiedName(installed.name, spec.name);
      this.checkSchemas(id, spec.inputSchema, spec.outputSchema);
      const guardrails = this.bundleGuardrails(installed, dir, spec, id);
      const bound =
        spec.execution !== "inprocess"
          ? undefined
          : module
            ? bindHandler(module, spec, `${installed.name}@${installed.version}`)
            : { handler: this.lazyHandler(installed, dir, spec, id), exportName: spec.export };
      const tool: RegisteredTool = {
        id,
        name: spec.name,
        bundle: toRef(installed),
        description: spec.description,
        inputSchema: spec.inputSchema,
        ...(spec.outputSchema ? { outputSchema: spec.outputSchema } : {}),
        execution: spec.execution,
        securityLevel: spec.securityLevel,
        ...(spec.resources ? { resources: spec.resources } : {}),
        network: spec.network,
        ...(spec.needsApproval !== undefined ? { needsApproval: spec.needsApproval } : {}),
        ...(spec.permissions ? { permissions: spec.permissions } : {}),
        ...(bound ? { handler: bound.handler } : {}),
        ...(spec.guardrails && spec.guardrails.length > 0 ? { guardrails: spec.guardrails } : {}),
      };
      const exportName = bound?.exportName ?? spec.export;
      tools.set(spec.name, {
        tool,
        dir,
        ...(exportName ? { exportName } : {}),
        ...(guardrails.length > 0 ? { guardrails } : {}),
      });
    }
    const { previous, activated } = this.bundles.set(
      installed.name,
      { version: installed.version, digest: installed.digest, items: { installed, dir, tools } },
      options.activate !== false,
    );
    this.changed();
    this.hub.emit({
      type: "bundle.registered",
      bundle: toRef(installed),
      installed,
      dir,
      active: activated || this.bundles.active(installed.name)?.version === installed.version,
    });
    if (activated)
      this.hub.emit({
        type: "bundle.activated",
        bundle: toRef(installed),
        ...(previous ? { previous } : {}),
      });
    return [...tools.values()].map((e) => e.tool);
  }

  /** Makes a registered version of a bundle active (its tools answer `BUNDLE/TOOL` and bare names). */
  activate(bundle: string, version: string): void {
    const result = this.bundles.activate(bundle, version);
    if (!result) {
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `${bundle}@${version} is not registered`,
        details: { bundle, version },
      });
    }
    if (!result.activated) return;
    this.changed();
    const entry = this.bundles.get(bundle, version);
    if (entry)
      this.hub.emit({
        type: "bundle.activated",
        bundle: toRef(entry.items.installed),
        ...(result.previous ? { previous: result.previous } : {}),
      });
  }

  /** Goes back to the version that was active before the current one. Returns it. */
  rollback(bundle: string): string {
    const result = this.bundles.rollback(bundle);
    if (!result) {
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `${bundle} has no earlier version to roll back to`,
        details: { bundle },
      });
    }
    this.changed();
    const entry = this.bundles.get(bundle, result.to);
    if (entry)
      this.hub.emit({
        type: "bundle.activated",
        bundle: toRef(entry.items.installed),
        previous: result.from,
      });
    return result.to;
  }

  /** Removes a bundle's tools (one version, or all). */
  unregisterBundle(bundle: string, version?: string): void {
    const entries = version === undefined ? this.bundles.versions(bundle).versions : [version];
    const refs = entries.flatMap((v) => {
      const entry = this.bundles.get(bundle, v);
      return entry ? [toRef(entry.items.installed)] : [];
    });
    const before = this.bundles.active(bundle)?.version;
    const { removed, active } = this.bundles.remove(bundle, version);
    if (removed.length === 0) return;
    for (const ref of refs) if (!this.holdsDigest(ref.digest)) this.modules.forget(ref.digest);
    this.changed();
    for (const ref of refs) this.hub.emit({ type: "bundle.unregistered", bundle: ref });
    if (active !== undefined && active !== before) {
      const entry = this.bundles.get(bundle, active);
      if (entry)
        this.hub.emit({
          type: "bundle.activated",
          bundle: toRef(entry.items.installed),
          ...(before ? { previous: before } : {}),
        });
    }
  }

  /**
   * A bundle tool's guardrails. `custom` checks are functions the bundle's entry module exports,
   * imported (lazily, through the shared module cache) on the first check; they run in process, so a
   * container tool may not have one (BUNDLE_INVALID, `bad_guardrail`).
   */
  private bundleGuardrails(
    installed: InstalledBundle,
    dir: string,
    spec: ToolManifest,
    id: string,
  ): CompiledGuardrail[] {
    const label = `${installed.name}@${installed.version}`;
    if (spec.execution !== "inprocess" && spec.guardrails?.some((g) => g.kind === "custom")) {
      throw bundleError.invalid(
        `tool '${id}' runs in a container, so its custom guardrails cannot run in process`,
        { details: { reason: "bad_guardrail", tool: id, kind: "custom" } },
      );
    }
    if (spec.guardrails?.some((g) => g.kind === "custom")) bundleEntryUrl(installed, dir);
    return compileGuardrails(id, spec.guardrails, {
      validator: this.validator,
      resolveCustom: async (exportName) => {
        const module = await this.modules.load(installed, dir);
        return toGuardrailCheck(module[exportName], exportName, label);
      },
    });
  }

  /**
   * A handler that imports the bundle's module on its first call and binds the tool's export. A
   * failed import or a missing export is TOOL_EXECUTION_FAILED (the BUNDLE_INVALID error as its
   * cause, `details.reason` `load_failed` or `missing_export`); the next call tries again.
   */
  private lazyHandler(
    installed: InstalledBundle,
    dir: string,
    spec: ToolManifest,
    id: string,
  ): ToolHandler {
    let bound: ToolHandler | undefined;
    const label = `${installed.name}@${installed.version}`;
    return async (input, context) => {
      if (!bound) {
        try {
          const module = await this.modules.load(installed, dir);
          bound = bindHandler(module, spec, label).handler;
        } catch (error) {
          const cause = AriaError.is(error) ? error : undefined;
          throw new AriaError("TOOL_EXECUTION_FAILED", {
            message: `tool '${id}' could not be loaded from ${label}: ${(error as Error).message}`,
            details: {
              reason: (cause?.details.reason as string | undefined) ?? "load_failed",
              bundle: label,
              digest: installed.digest,
            },
            cause: error,
          });
        }
      }
      return bound(input, context);
    };
  }

  /** Whether any registered version still has this digest. */
  private holdsDigest(digest: string): boolean {
    for (const name of this.bundles.bundles())
      for (const version of this.bundles.versions(name).versions)
        if (this.bundles.get(name, version)?.digest === digest) return true;
    return false;
  }

  /** Bundles whose code has been imported (lazy loading imports a bundle on first use). */
  loadedBundles(): BundleRef[] {
    const refs: BundleRef[] = [];
    for (const name of this.bundles.bundles())
      for (const version of this.bundles.versions(name).versions) {
        const entry = this.bundles.get(name, version);
        if (entry && this.modules.isLoaded(entry.digest)) refs.push(toRef(entry.items.installed));
      }
    return refs;
  }

  /** The versions of a bundle the registry holds and the active one. */
  versions(bundle: string): { versions: string[]; active?: string } {
    return this.bundles.versions(bundle);
  }

  /** Bundles with tools in the registry. */
  bundleNames(): string[] {
    return [...this.bundles.bundles()];
  }

  /** The installed bundle and directory of a registered version (followers use it to mirror). */
  bundleSource(
    bundle: string,
    version: string,
  ): { installed: InstalledBundle; dir: string } | undefined {
    const entry = this.bundles.get(bundle, version);
    return entry ? { installed: entry.items.installed, dir: entry.items.dir } : undefined;
  }

  private changed(): void {
    this.bareIndex = undefined;
    this.llmNames = undefined;
  }

  private bareOwners(name: string): string[] {
    if (!this.bareIndex) {
      const index = new Map<string, string[]>();
      for (const [bundle, entry] of this.bundles.activeEntries()) {
        for (const tool of entry.items.tools.keys()) {
          const owners = index.get(tool);
          if (owners) owners.push(bundle);
          else index.set(tool, [bundle]);
        }
      }
      this.bareIndex = index;
    }
    return this.bareIndex.get(name) ?? [];
  }

  // ---- lookup ---------------------------------------------------------------------------------

  private lookup(name: string): ToolEntry {
    // A name registered whole wins over the BUNDLE/TOOL reading (MCP tools: `mcp:<server>/<tool>`).
    const exact = this.builtins.get(name);
    if (exact) return exact;
    const { bundle, version, name: tool } = parseQualifiedName(name);
    if (bundle !== undefined) {
      const entry =
        version === undefined ? this.bundles.active(bundle) : this.bundles.get(bundle, version);
      const found = entry?.items.tools.get(tool);
      if (found) return found;
      throw this.notFound(name);
    }
    // Built-ins keep their bare names: engines rely on `ponder` and `createPlan` being stable.
    const builtin = this.builtins.get(name);
    if (builtin) return builtin;
    const owners = this.bareOwners(name);
    if (owners.length === 1)
      return this.bundles.active(owners[0] as string)?.items.tools.get(name) as ToolEntry;
    if (owners.length > 1) {
      const candidates = owners.map((b) => qualifiedName(b, name));
      throw new AriaError("TOOL_AMBIGUOUS", {
        message: `'${name}' is provided by ${owners.length} bundles: use one of ${candidates.join(", ")}`,
        details: { name, candidates },
        context: { tool: name },
      });
    }
    // An LLM-safe name (`text-tools__wordCount`) maps back to its tool.
    const id = this.llmTable().toolId(name);
    if (id !== undefined && id !== name) return this.lookup(id);
    throw this.notFound(name);
  }

  private notFound(name: string): AriaError {
    return new AriaError("TOOL_NOT_FOUND", {
      message: `no tool '${name}' is registered`,
      details: { name },
      context: { tool: name },
    });
  }

  /** Resolves `BUNDLE/TOOL`, `BUNDLE@VERSION/TOOL`, a bare name or an LLM name. TOOL_NOT_FOUND or TOOL_AMBIGUOUS otherwise. */
  resolve(name: string): RegisteredTool {
    return this.lookup(name).tool;
  }

  has(name: string): boolean {
    try {
      this.lookup(name);
      return true;
    } catch {
      return false;
    }
  }

  /** Every visible tool (built-ins and the active version of each bundle), sorted by id. */
  list(): RegisteredTool[] {
    const tools = [...this.builtins.values()].map((e) => e.tool);
    for (const [, entry] of this.bundles.activeEntries())
      for (const e of entry.items.tools.values()) tools.push(e.tool);
    return tools.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private llmTable(): LlmNameTable {
    this.llmNames ??= new LlmNameTable(this.list().map((t) => t.id));
    return this.llmNames;
  }

  /** The name shown to an LLM for a tool (one-to-one with the id; `[a-zA-Z0-9_-]{1,64}`). */
  llmName(name: string): string {
    const id = this.resolve(name).id;
    return this.llmTable().llmName(id) as string;
  }

  /** The tool id an LLM name stands for (TOOL_NOT_FOUND when none). */
  fromLlmName(llmName: string): string {
    const id = this.llmTable().toolId(llmName);
    if (id === undefined) throw this.notFound(llmName);
    return id;
  }

  /** Tool definitions for an LLM request, with LLM-safe names (all visible tools, or the given ones). */
  llmTools(names?: readonly string[]): LlmToolDefinition[] {
    const tools = names ? names.map((n) => this.resolve(n)) : this.list();
    return tools.map((tool) => {
      const { $schema: _dialect, ...parameters } = tool.inputSchema as Record<string, unknown>;
      return { name: this.llmName(tool.id), description: tool.description, parameters };
    });
  }

  /** Execution statistics of a tool (by id), if it ran. */
  statsOf(name: string): ToolStats | undefined {
    return this.stats.get(this.resolve(name).id);
  }

  // ---- execution --------------------------------------------------------------------------------

  /**
   * Runs a tool: resolve, policy, input validation (VALIDATION_FAILED with field-level issues,
   * before anything runs), input guardrails (may redact the input or block: GUARDRAIL_TRIPPED), the
   * handler (in process, or through the container executor), output validation
   * (TOOL_OUTPUT_INVALID), output guardrails. Errors are thrown as AriaErrors with the tool in their
   * context; handler failures become TOOL_EXECUTION_FAILED, timeouts TOOL_TIMEOUT.
   */
  async execute(name: string, input: unknown, context: ToolExecutionContext): Promise<unknown> {
    const entry = this.lookup(name);
    const { tool } = entry;
    const errorContext = { tool: tool.id, runId: context.runId, stepId: context.stepId };
    const decision = this.policy(tool, context);
    if (!decision.allow)
      throw new AriaError("TOOL_FORBIDDEN", {
        message: decision.reason,
        context: errorContext,
        details: { securityLevel: tool.securityLevel },
      });
    this.validator.assert(
      tool.inputSchema,
      input,
      "VALIDATION_FAILED",
      `invalid input for tool '${tool.id}'`,
      errorContext,
    );
    const guarded = entry.guardrails
      ? await applyGuardrails(
          entry.guardrails,
          input,
          { tool: tool.id, on: "input", runId: context.runId, stepId: context.stepId },
          (trip) => this.tripped(trip),
        )
      : input;

    const started = performance.now();
    const stats = this.stats.get(tool.id) ?? { calls: 0, failures: 0, totalDurationMs: 0 };
    this.stats.set(tool.id, stats);
    stats.calls += 1;
    try {
      const output = await this.run(entry, guarded, context);
      if (tool.outputSchema && this.deps.validateOutputs !== false) {
        this.validator.assert(
          tool.outputSchema,
          output,
          "TOOL_OUTPUT_INVALID",
          `tool '${tool.id}' returned invalid output`,
          errorContext,
        );
      }
      if (!entry.guardrails) return output;
      return await applyGuardrails(
        entry.guardrails,
        output,
        { tool: tool.id, on: "output", runId: context.runId, stepId: context.stepId },
        (trip) => this.tripped(trip),
      );
    } catch (error) {
      const failure = toToolError(error, tool, errorContext, context.signal);
      stats.failures += 1;
      stats.lastErrorCode = failure.code;
      throw failure;
    } finally {
      stats.totalDurationMs += performance.now() - started;
    }
  }

  /** Reports a tripped guardrail to `onGuardrail`; a listener's failure is logged, never thrown. */
  private tripped(trip: GuardrailTrip): void {
    try {
      this.deps.onGuardrail?.(trip);
    } catch (error) {
      this.deps.logger?.warn({ error: String(error) }, "guardrail listener failed");
    }
  }

  /** `execute` as a result object (`{success, output, error, metrics}`) that never throws. */
  async invoke(name: string, input: unknown, context: ToolExecutionContext): Promise<ToolResult> {
    const started = performance.now();
    try {
      const output = await this.execute(name, input, context);
      return { success: true, output, metrics: { durationMs: performance.now() - started } };
    } catch (error) {
      const failure = AriaError.is(error)
        ? error
        : toToolError(error, undefined, { tool: name }, context.signal);
      return {
        success: false,
        error: failure.toBody(),
        metrics: { durationMs: performance.now() - started },
      };
    }
  }

  private async run(
    entry: ToolEntry,
    input: unknown,
    context: ToolExecutionContext,
  ): Promise<unknown> {
    const { tool } = entry;
    const timeoutMs = tool.resources?.timeoutMs;
    const controller = new AbortController();
    const signal = AbortSignal.any([context.signal, controller.signal]);
    const call = (): Promise<unknown> => {
      if (tool.execution === "container") {
        const executor = this.deps.containerExecutor;
        if (!executor) {
          throw containerError.unavailable(
            `no container executor is configured, so container tool '${tool.id}' cannot run`,
            {
              context: { tool: tool.id, runId: context.runId, stepId: context.stepId },
            },
          );
        }
        return executor.executeTool({
          tool,
          input,
          context: { ...context, signal },
          ...(entry.dir ? { bundleDir: entry.dir } : {}),
          ...(entry.exportName ? { exportName: entry.exportName } : {}),
        });
      }
      if (!tool.handler)
        throw new AriaError("TOOL_EXECUTION_FAILED", {
          message: `tool '${tool.id}' has no handler`,
          retryable: false,
        });
      return Promise.resolve(tool.handler(input, { ...context, signal }));
    };
    if (context.signal.aborted)
      throw new AriaError("RUN_CANCELLED", {
        message: "the run was cancelled before the tool ran",
      });
    if (timeoutMs === undefined || tool.execution === "container") return call();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Settle the race first, then tell the handler to stop.
        reject(
          new AriaError("TOOL_TIMEOUT", {
            message: `tool '${tool.id}' did not finish within ${timeoutMs} ms`,
            details: { timeoutMs },
          }),
        );
        controller.abort(new Error("tool timeout"));
      }, timeoutMs);
    });
    try {
      return await Promise.race([call(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Maps anything a handler throws to an AriaError. */
function toToolError(
  error: unknown,
  tool: RegisteredTool | undefined,
  context: Record<string, unknown>,
  signal: AbortSignal,
): AriaError {
  if (AriaError.is(error)) return error.withContext(context);
  const code = (error as { code?: unknown } | null)?.code;
  const issues = (error as { issues?: unknown } | null)?.issues;
  if ((code === "VALIDATION_FAILED" || code === "TOOL_OUTPUT_INVALID") && Array.isArray(issues)) {
    return new AriaError(code, {
      message: (error as Error).message,
      details: { issues },
      context,
      cause: error,
    });
  }
  if (signal.aborted)
    return new AriaError("RUN_CANCELLED", {
      message: "the run was cancelled while the tool ran",
      context,
      cause: error,
    });
  const message = error instanceof Error ? error.message : String(error);
  return new AriaError("TOOL_EXECUTION_FAILED", {
    message: `tool '${tool?.id ?? String(context.tool)}' failed: ${message}`,
    context,
    cause: error,
  });
}
