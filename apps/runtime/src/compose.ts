import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import type {
  Logger,
  RegisteredTool,
  RuntimeConfig,
  StateStore,
  ToolExecutionContext,
} from "@aria/core-types";
import {
  AriaRuntimeEngine,
  createIntelligence,
  type Intelligence,
  MemoryStateStore,
} from "@aria/engines";
import { AriaError } from "@aria/errors";
import {
  createIccDispatchHook,
  createIccServer,
  createStateStoreRevocationList,
  loadSigningKeys,
  permissionsFromManifest,
} from "@aria/icc-server";
import { createLlmHandler, type LlmHandler } from "@aria/llm";
import {
  type BundleStore,
  buildDevBundle,
  bundleLimitsFrom,
  openBundleStore,
  packBundle,
} from "@aria/pkg-store";
import {
  createContainerManager,
  createContainerToolExecutor,
  type DispatchGrant,
  type DispatchInfo,
  DockerContainerBackend,
  type QuiltContainerManager,
} from "@aria/quilt-client";
import {
  AgentGuardrails,
  createRegistries,
  createSecurityPolicy,
  type GuardrailTrip,
  loadBundleModule,
  type Registries,
  SchemaValidator,
  toGuardrailCheck,
  watchBundleSource,
} from "@aria/registry";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Hono } from "hono";
import type { Redis } from "ioredis";
import { createEventsStream } from "./api/events-stream.ts";
import { type EventNotifier, LocalEventNotifier } from "./api/sse.ts";
import { collectUsage } from "./api/usage.ts";
import { createV1 } from "./api/v1.ts";
import { type AppEnv, createApp } from "./app.ts";
import { type AuditLog, MemoryAuditLog } from "./audit.ts";
import { describeConfig } from "./config.ts";
import { CONSOLE_PATH, createConsoleApp } from "./console.ts";
import { watchCredentials } from "./credentials.ts";
import { type CounterStore, MemoryCounterStore } from "./http/rate-limit.ts";
import { createMcpRoute } from "./mcp/route.ts";
import { createRuntimeBackend } from "./mcp/runtime-backend.ts";
import { mcpClientOptions, mcpReadinessCheck, registerMcpMetrics } from "./mcp-client.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import type { ReadinessCheck } from "./readiness.ts";
import { RedisAuditLog } from "./redis/audit.ts";
import { connectRedis, waitReady } from "./redis/connection.ts";
import { RedisCounterStore } from "./redis/counters.ts";
import { RedisStateStore } from "./redis/state-store.ts";
import { QueueRunDispatcher, RedisEventNotifier, RunWorker } from "./runs/queue.ts";
import { LocalRunDispatcher, type RunDispatcher, RunService } from "./runs/run-service.ts";
import { Tracing } from "./tracing.ts";

const pkg = createRequire(import.meta.url)("../package.json") as { version: string };

/** A long-lived part of the runtime, closed in reverse order of creation on shutdown. */
export interface Closeable {
  name: string;
  close(): Promise<void>;
}

export interface Runtime {
  config: RuntimeConfig;
  app: Hono<AppEnv>;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  store: StateStore;
  llm: LlmHandler;
  redis: Redis | undefined;
  instanceId: string;
  containers: QuiltContainerManager | undefined;
  bundles: BundleStore;
  registries: Registries;
  engine: AriaRuntimeEngine;
  intelligence: Intelligence;
  runs: RunService;
  closeables: Closeable[];
  /** Ends the event streams (SSE) so that a server shutting down is not held open by them. */
  stopStreams(): void;
  close(): Promise<void>;
}

/**
 * The composition root: the only place that builds concrete collaborators and wires them together
 * (config → clients → stores and registries → engines → HTTP apps). Later layers add themselves here.
 */
export interface ComposeOptions {
  /** The environment credentials are read from and watched in (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where spans go besides OTLP (tests pass an in-memory exporter). */
  traceExporter?: SpanExporter;
  /** `api` serves HTTP and enqueues runs, `worker` executes them, `all` (default) does both. */
  role?: "api" | "worker" | "all";
}

export async function composeRuntime(
  config: RuntimeConfig,
  logger: Logger,
  options: ComposeOptions = {},
): Promise<Runtime> {
  const role = options.role ?? "all";
  const closeables: Closeable[] = [];
  const checks: ReadinessCheck[] = [];
  const metrics = createMetrics();

  // State: Redis when configured (shared by replicas, survives restarts), memory otherwise.
  let redis: Redis | undefined;
  let store: StateStore;
  let audit: AuditLog;
  let counters: CounterStore;
  if (config.redisUrl) {
    const client = connectRedis(config.redisUrl, { name: "aria-runtime" });
    redis = client;
    client.on("error", (error: Error) =>
      logger.warn({ err: { message: error.message } }, "redis connection error"),
    );
    closeables.push({ name: "redis", close: async () => void client.disconnect() });
    await waitReady(client, 10_000);
    store = new RedisStateStore({ redis: client });
    audit = new RedisAuditLog({ redis: client });
    counters = new RedisCounterStore({ redis: client });
    checks.push({
      name: "store",
      required: true,
      check: async () => {
        try {
          await client.ping();
          return { status: "up", kind: "redis" };
        } catch (error) {
          return {
            status: "down",
            kind: "redis",
            detail: `${(error as Error).message}; check REDIS_URL and that Redis runs`,
          };
        }
      },
    });
  } else {
    logger.warn(
      { state: "memory" },
      "REDIS_URL is not set: state is kept in memory and will not survive a restart",
    );
    store = new MemoryStateStore();
    audit = new MemoryAuditLog();
    counters = new MemoryCounterStore();
    checks.push({
      name: "store",
      required: true,
      check: async () => ({
        status: "up",
        kind: "memory",
        detail: "state will not survive a restart",
      }),
    });
  }
  closeables.push({ name: "store", close: () => store.close() });

  // Instance identity: with Redis, a per-process id kept alive by a heartbeat in the store (the
  // reaper of another replica removes our containers only once it has expired); in memory, an id
  // derived from the data directory, so a restart reaps what the previous process left behind.
  const dataDir = path.resolve(config.dataDir);
  const instanceId = redis
    ? `${os.hostname().slice(0, 20)}-${randomBytes(4).toString("hex")}`
    : `dir-${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`;
  if (redis) {
    const beat = () => store.setValue("instances", instanceId, String(Date.now()), 30_000);
    await beat();
    const timer = setInterval(() => {
      beat().catch((error: unknown) => logger.warn({ err: error }, "instance heartbeat failed"));
    }, 10_000);
    timer.unref();
    closeables.push({
      name: "heartbeat",
      close: async () => {
        clearInterval(timer);
        await store.deleteValue("instances", instanceId).catch(() => undefined);
      },
    });
  }

  // Containers: hardened workloads on the Docker engine, when the feature is on.
  let containers: QuiltContainerManager | undefined;
  // The ICC server needs the engine (context) and the agent loop, made later: bound late.
  let iccDispatch: ((info: DispatchInfo) => Promise<DispatchGrant | undefined>) | undefined;
  if (config.features.containers) {
    const manager = createContainerManager({
      backend: new DockerContainerBackend(config.dockerHost ? { host: config.dockerHost } : {}),
      instanceId,
      stateDir: path.join(
        os.tmpdir(),
        `aria-q-${createHash("sha256").update(`${dataDir}:${instanceId}`).digest("hex").slice(0, 10)}`,
      ),
      toolImage: config.toolImage,
      limits: { maxConcurrent: config.limits.maxConcurrentContainers },
      onDispatch: (info) => iccDispatch?.(info),
      isInstanceAlive: async (id) =>
        redis !== undefined && (await store.getValue("instances", id)) !== undefined,
      onAudit: (entry) => {
        void audit
          .record({
            actor: `instance:${instanceId}`,
            action: entry.action,
            target: entry.container ?? entry.image ?? "",
            outcome: entry.outcome === "refused" ? "failure" : "success",
            details: { ...entry },
          })
          .catch(() => undefined);
      },
      logger: logger.child({ component: "containers" }),
    });
    containers = manager;
    closeables.push({ name: "containers", close: () => manager.close() });
    try {
      const report = await manager.start();
      if (report.removed.length > 0)
        logger.info(
          { removed: report.removed.length },
          "removed containers left by an earlier instance",
        );
    } catch (error) {
      logger.warn(
        { err: { message: (error as Error).message } },
        "container engine not reachable at start; container steps will fail until it is",
      );
    }
    checks.push({
      name: "containerEngine",
      required: false,
      check: async () => {
        try {
          await manager.ping();
          const image = await manager.checkImage();
          return image.present
            ? { status: "up", image: config.toolImage, ...manager.metrics() }
            : {
                status: "degraded",
                detail: `tool image ${config.toolImage} is missing: run deploy/tool-runner/build-local.sh`,
              };
        } catch (error) {
          return {
            status: "down",
            detail: `${(error as Error).message}; start dockerd or set DOCKER_HOST`,
          };
        }
      },
    });
  } else {
    checks.push({
      name: "containerEngine",
      required: false,
      check: async () => ({ status: "disabled", detail: "features.containers is off" }),
    });
  }

  // LLM: one handler over the configured providers; usage feeds metrics.
  const llm = createLlmHandler({
    config: config.llm,
    limits: config.limits,
    cache: config.features.caching ? { ...(redis ? { redis } : {}) } : false,
    logger: logger.child({ component: "llm" }),
    onUsage: (event) => {
      metrics.llmTokens.inc(
        { provider: event.provider, model: event.model, direction: "input" },
        event.usage.inputTokens,
      );
      metrics.llmTokens.inc(
        { provider: event.provider, model: event.model, direction: "output" },
        event.usage.outputTokens,
      );
      metrics.llmCost.inc({ provider: event.provider, model: event.model }, event.costUsd);
    },
    onBreakerStateChange: (provider, state) => {
      metrics.llmBreakerOpen.set({ provider }, state === "open" ? 1 : 0);
      logger.warn({ provider, state }, "LLM provider circuit breaker changed state");
    },
  });
  closeables.push({ name: "llm", close: () => llm.close() });
  for (const provider of config.llm.providers) {
    checks.push({
      name: `llm.${provider}`,
      required: false,
      check: async () => {
        const health = llm.health().providers[provider];
        if (!health?.configured)
          return { status: "disabled", detail: "not configured (see docs/configuration.md)" };
        const status =
          health.state === "open" ? "down" : health.state === "half-open" ? "degraded" : "up";
        return {
          status,
          breaker: health.state,
          ...(health.defaultModel ? { model: health.defaultModel } : {}),
        };
      },
    });
  }

  // Bundles: the content-addressed store under the data directory, and the registries fed by it.
  const bundles = await openBundleStore({
    dataDir,
    limits: bundleLimitsFrom(config.limits),
    logger: logger.child({ component: "bundles" }),
  });
  closeables.push({ name: "bundles", close: () => bundles.close() });
  const manager = containers;
  let onGuardrail: (trip: GuardrailTrip) => void = () => undefined;
  const quiltExecutor = manager
    ? createContainerToolExecutor({
        manager,
        resolveBundle: async (b) => ({
          dir: await bundles.unpackedDir(b.name, b.version),
          entry: "dist/index.js",
        }),
      })
    : undefined;
  const containerExecutor = quiltExecutor
    ? {
        executeTool: (request: {
          tool: RegisteredTool;
          input: unknown;
          context: ToolExecutionContext;
        }) => quiltExecutor.execute(request.tool, request.input, request.context),
      }
    : undefined;
  const registries = createRegistries({
    builtins: { llm },
    ...(containerExecutor ? { containerExecutor } : {}),
    policy: createSecurityPolicy({ maxLevel: "limited" }),
    // Guardrail trips become `guardrail.tripped` events of their run (bound once the engine exists).
    onGuardrail: (trip) => onGuardrail(trip),
    logger: logger.child({ component: "registry" }),
    mcp: mcpClientOptions(config.mcp, logger.child({ component: "mcp-client" })),
  });
  closeables.push({ name: "registries", close: async () => registries.close() });
  // MCP servers of the configuration (trusted), connected before bundles so agents can name their
  // tools; bundles' and agents' servers connect as their bundle registers (registries.mcp).
  await registries.mcp.connectConfigured(config.mcp.servers);
  checks.push(mcpReadinessCheck(registries.mcp));
  registerMcpMetrics(metrics.registry, registries.mcp);
  if (config.examplesDir) {
    const examplesDir = path.resolve(config.examplesDir);
    const fs = await import("node:fs/promises");
    const dirs = (await fs.readdir(examplesDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => path.join(examplesDir, d.name));
    const packed = [];
    for (const dir of dirs) {
      try {
        await fs.access(path.join(dir, "package.json"));
        packed.push(await packBundle(dir, { write: false }));
      } catch (error) {
        logger.warn(
          { dir, err: { message: (error as Error).message } },
          "example bundle not packed",
        );
      }
    }
    const result = await bundles.installMany(packed.map((p) => p.bytes));
    for (const failure of result.failed ?? [])
      logger.warn({ failure }, "example bundle not installed");
  }
  const registered = await registries.registerInstalled(bundles);
  if (config.hotReload && config.examplesDir) {
    // Development: every bundle source folder is rebuilt and re-registered when a file changes.
    const examplesDir = path.resolve(config.examplesDir);
    const fs = await import("node:fs/promises");
    for (const entry of await fs.readdir(examplesDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(examplesDir, entry.name);
      const reloader = watchBundleSource({
        dir,
        registries,
        initial: false,
        build: (source) =>
          buildDevBundle(source, { outDir: path.join(dataDir, "dev", entry.name) }),
        onReload: (result) => logger.info({ bundle: entry.name, result }, "bundle source reloaded"),
      });
      closeables.push({ name: `hot-reload:${entry.name}`, close: async () => reloader.close() });
    }
    logger.info({ examplesDir }, "hot reload: watching the bundle sources");
  }
  for (const failure of registered.failed)
    logger.warn({ failure }, "installed bundle not registered");
  logger.info(
    {
      bundles: registered.registered.length,
      tools: registries.tools.list().length,
      agents: registries.agents.listAgents().length,
    },
    "bundles registered",
  );

  // Engines: the coordinator over the registries, the LLM, containers and the state store.
  let notifier: EventNotifier;
  if (config.redisUrl) {
    const redisNotifier = new RedisEventNotifier({ redisUrl: config.redisUrl });
    closeables.push({ name: "event-notifier", close: () => redisNotifier.close() });
    notifier = redisNotifier;
  } else {
    notifier = new LocalEventNotifier();
  }
  const validator = new SchemaValidator();
  const tracing = new Tracing(options.traceExporter ? { exporter: options.traceExporter } : {});
  closeables.push({ name: "tracing", close: () => tracing.close() });
  // Agents' guardrails (input and output of every agent run: steps, team members, sessions, ICC);
  // `custom` checks come from the agent's bundle.
  const agentGuardrails = new AgentGuardrails({
    getAgent: (name) => registries.agents.getAgent(name),
    validator,
    resolveCustom: async (agent, exportName) => {
      if (agent.bundle === undefined || agent.bundleVersion === undefined)
        throw new AriaError("BUNDLE_INVALID", {
          message: `agent '${agent.id}' names custom guardrail '${exportName}' but has no bundle`,
        });
      const installed = bundles.get(agent.bundle, agent.bundleVersion);
      const module = await loadBundleModule(
        installed,
        await bundles.unpackedDir(installed.name, installed.version),
      );
      return toGuardrailCheck(
        module[exportName],
        exportName,
        `${installed.name}@${installed.version}`,
      );
    },
    onGuardrail: (trip) => onGuardrail(trip),
  });
  // Intelligence: the agent loop, planning, reflection, teams and sessions over the same
  // (traced) tools and LLM; the engine runs `agent` and `team` steps through it.
  const intelligence = createIntelligence({
    guard: agentGuardrails,
    agents: registries.agents,
    tools: tracing.wrapTools(registries.tools),
    llm: tracing.wrapLlm(llm),
    store,
    logger: logger.child({ component: "intelligence" }),
    config: { features: config.features, limits: config.limits },
  });
  const engine = new AriaRuntimeEngine({
    agentExecutor: intelligence.agentExecutor,
    teamExecutor: intelligence.teamExecutor,
    recovery: intelligence.recovery,
    tools: tracing.wrapTools(registries.tools),
    agents: registries.agents,
    store,
    llm: tracing.wrapLlm(llm),
    ...(containers ? { containers: tracing.wrapContainers(containers) } : {}),
    events: {
      emit: (runId, type, data, stepId) => {
        tracing.onEvent(runId, type, data, stepId);
        if (type === "step.completed" || type === "step.failed") {
          const stepType = typeof data?.type === "string" ? data.type : "unknown";
          metrics.steps.inc({
            type: stepType,
            status: type === "step.completed" ? "succeeded" : "failed",
          });
          if (typeof data?.durationMs === "number")
            metrics.stepDuration.observe({ type: stepType }, data.durationMs / 1000);
        }
        // The engine appends the event to the store right after this call; wake readers then.
        setImmediate(() => notifier.notify(runId));
      },
    },
    validateInput: (schema, input, pipeline) =>
      validator.assert(schema, input, "VALIDATION_FAILED", `input of pipeline '${pipeline}'`, {
        component: "runs",
        pipeline,
      }),
    logger: logger.child({ component: "engine" }),
    config: {
      instanceId,
      maxParallel: config.features.parallelSteps ? config.limits.maxParallelSteps : 1,
      maxSteps: config.limits.maxSteps,
      memoryLimitBytes: config.limits.workingMemoryBytes,
      leaseTtlMs: config.limits.runLeaseMs,
      approvals: {
        timeoutMs: config.approvals.timeoutMs,
        onTimeout: config.approvals.onTimeout,
        rules: config.approvals.rules,
      },
      ...intelligence.engineConfig,
    },
  });
  intelligence.attach(engine);
  onGuardrail = (trip) => {
    metrics.errors.inc({
      code:
        trip.action === "block" ? "GUARDRAIL_TRIPPED" : `GUARDRAIL_${trip.action.toUpperCase()}`,
    });
    if (engine.activeRuns().includes(trip.runId)) {
      void engine
        .publish(
          trip.runId,
          "guardrail.tripped",
          {
            tool: trip.tool,
            kind: trip.kind,
            on: trip.on,
            action: trip.action,
            findings: trip.findings ?? [],
          },
          trip.stepId,
        )
        .catch(() => undefined);
    }
  };
  closeables.push({ name: "engine", close: () => engine.close() });

  // ICC: containers call the runtime back over a socket mounted at /run/aria, with a token bound to
  // their run, container and the tool's declared permissions. Keys never enter a container.
  const { keyring, source: keySource } = loadSigningKeys(options.env ?? process.env);
  if (keySource === "generated")
    logger.info(
      {},
      "ICC signing key generated for this process (set ARIA_ICC_SIGNING_KEY to share one between replicas)",
    );
  const icc = createIccServer(
    {
      keyring,
      tools: registries.tools,
      // The same approval policy as steps and direct calls (needsApproval and the rules).
      approvalReason: (toolId) => engine.toolApprovalReason(toolId),
      agents: intelligence.agentExecutor,
      agentRegistry: registries.agents,
      llm,
      context: {
        get: (runId) => {
          const context = engine.getContext(runId);
          return (
            context && {
              runId,
              sessionId: context.sessionId,
              task: context.task,
              workingMemory: context.workingMemory(),
              history: context.history(),
            }
          );
        },
        set: (runId, key, value) => engine.setContextValue(runId, key, value),
      },
      revocations: createStateStoreRevocationList(store),
      audit: (entry) =>
        audit.record({ ...entry, details: { ...entry.details } }).then(() => undefined),
      logger: logger.child({ component: "icc" }),
    },
    { maxBodyBytes: config.limits.requestBodyBytes },
  );
  closeables.push({ name: "icc", close: () => icc.close() });

  // Secrets given as files rotate without a restart.
  let apiKeys = config.apiKeys;
  const credentials = watchCredentials({
    env: options.env ?? process.env,
    logger,
    audit,
    llm,
    setApiKeys: (keys) => {
      apiKeys = keys;
    },
    setIccKeyring: (next) => icc.setKeyring(next),
  });
  closeables.push({ name: "credentials", close: async () => credentials.close() });
  iccDispatch = createIccDispatchHook(icc, async (info) => {
    if (!info.runId) return {};
    const context = engine.getContext(info.runId);
    const run = await store.getRun(info.runId);
    const steps = run?.plan?.steps ?? [];
    const index = steps.findIndex((s) => s.id === info.stepId);
    const step = index >= 0 ? steps[index] : undefined;
    let permissions = {};
    if (step?.type === "tool" && step.tool && registries.tools.has(step.tool)) {
      permissions = permissionsFromManifest(registries.tools.resolve(step.tool).permissions);
    }
    return {
      ...(context?.sessionId ? { sessionId: context.sessionId } : {}),
      ...(context?.task ? { task: context.task } : {}),
      ...(index >= 0 ? { stepIndex: index + 1, totalSteps: steps.length } : {}),
      ...permissions,
    };
  }) as (info: DispatchInfo) => Promise<DispatchGrant | undefined>;
  const runs = new RunService({
    store,
    engine,
    intelligence,
    agents: registries.agents,
    notifier,
    audit,
    metrics,
    logger: logger.child({ component: "runs" }),
    dataDir,
    applyDefaults: (schema, value) => validator.applyDefaults(schema, value),
  });
  // Runs: through the Redis queue to any worker when Redis is configured, in this process otherwise.
  let dispatcher: RunDispatcher;
  if (config.redisUrl) {
    dispatcher = new QueueRunDispatcher({ redisUrl: config.redisUrl });
    if (role !== "api") {
      const worker = new RunWorker({
        redisUrl: config.redisUrl,
        service: runs,
        concurrency: config.limits.workerConcurrency,
        lockDurationMs: config.limits.runLeaseMs,
        logger: logger.child({ component: "worker" }),
        activeRuns: () => engine.activeRuns(),
        pendingCancel: (runId) => store.getValue("cancel-requests", runId),
        cancel: (runId, reason) => engine.cancel(runId, reason),
      });
      // On shutdown: the engine stops its runs at a checkpoint (they stay resumable), their jobs go
      // back to the queue for another worker, then the worker stops taking jobs.
      closeables.push({
        name: "worker",
        close: async () => {
          await engine.close();
          await worker.close();
        },
      });
    }
  } else {
    if (role !== "all")
      logger.warn({ role }, "--role needs REDIS_URL (a shared queue); running as 'all'");
    dispatcher = new LocalRunDispatcher({
      service: runs,
      concurrency: config.limits.workerConcurrency,
      logger,
    });
  }
  runs.setDispatcher(dispatcher);
  // Approval timeouts are decided where runs are executed (any replica may; decisions are locked).
  if (role !== "api") {
    runs.startApprovalSweeper(config.approvals.sweepIntervalMs);
    closeables.push({ name: "approvals", close: async () => runs.stopApprovalSweeper() });
  }
  const runDispatcher = dispatcher;
  closeables.push({ name: "dispatcher", close: () => runDispatcher.close() });
  // Aborted at shutdown: long-lived event streams end (their clients resume elsewhere).
  const streams = new AbortController();
  const v1 = createV1({
    shutdown: streams.signal,
    bundles,
    registries,
    runs,
    sessions: intelligence.sessions,
    usage: (options) => collectUsage({ store, llm, registries }, options),
    store,
    notifier,
    audit,
    limits: {
      requestBodyBytes: config.limits.requestBodyBytes,
      bundleArchiveBytes: config.limits.bundleArchiveBytes,
    },
    dataDir,
  });

  logger.info({ config: describeConfig(config) }, "configuration loaded");
  await audit.record({
    actor: "runtime",
    action: "runtime.start",
    outcome: "success",
    details: describeConfig(config),
  });

  const app = createApp({
    logger,
    checks,
    version: pkg.version,
    startedAt: Date.now(),
    metrics,
    audit,
    apiKeys: () => apiKeys,
    counters,
    rateLimitPerMinute: config.limits.rateLimitPerMinute,
    routes: [
      { path: "/v1", app: v1 },
      { path: "/v1", app: createEventsStream({ store, shutdown: streams.signal }) },
      // MCP over Streamable HTTP: the same auth, rate limit and audit as /v1 (mounted after them).
      {
        path: "/mcp",
        app: createMcpRoute({
          backend: createRuntimeBackend({ registries, runs, store, notifier, audit, dataDir }),
          version: pkg.version,
          audit,
          store,
          logger: logger.child({ component: "mcp" }),
          maxBodyBytes: config.limits.requestBodyBytes,
        }),
      },
    ],
    publicRoutes: [{ path: CONSOLE_PATH, app: createConsoleApp() }],
    onScrape: async () => {
      metrics.queueDepth.set(await dispatcher.depth());
      metrics.queueOldestAge.set((await dispatcher.oldestAgeMs()) / 1000);
      if (containers) {
        const m = containers.metrics();
        metrics.containersActive.set(m.governor.running);
        metrics.poolIdle.set({ profile: "all" }, m.pool.idle);
      }
      metrics.containerLimit.set(config.limits.maxConcurrentContainers);
      const perBundle = new Map<string, { calls: number; seconds: number }>();
      for (const tool of registries.tools.list()) {
        const stats = registries.tools.statsOf(tool.id);
        const key = tool.bundle?.name ?? "(built-in)";
        const row = perBundle.get(key) ?? { calls: 0, seconds: 0 };
        row.calls += stats?.calls ?? 0;
        row.seconds += (stats?.totalDurationMs ?? 0) / 1000;
        perBundle.set(key, row);
      }
      for (const [bundle, row] of perBundle) {
        metrics.bundleToolCalls.set({ bundle }, row.calls);
        metrics.bundleToolSeconds.set({ bundle }, row.seconds);
      }
    },
  });

  let closed = false;
  return {
    config,
    app,
    logger,
    metrics,
    audit,
    store,
    llm,
    redis,
    instanceId,
    containers,
    bundles,
    registries,
    engine,
    intelligence,
    runs,
    closeables,
    stopStreams: () => streams.abort(),
    async close() {
      if (closed) return;
      closed = true;
      streams.abort();
      for (const part of [...closeables].reverse()) {
        try {
          // A part that cannot close (e.g. a dependency that is down) must not hold the shutdown.
          await Promise.race([
            part.close(),
            new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref()),
          ]);
        } catch (error) {
          logger.error({ err: error, part: part.name }, "error while closing");
        }
      }
    },
  };
}
