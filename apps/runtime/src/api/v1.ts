import type { ApprovalRecord, RunState, StateStore } from "@aria/core-types";
import type { Intelligence } from "@aria/engines";
import { AriaError } from "@aria/errors";
import type { BundleStore } from "@aria/pkg-store";
import type { Registries } from "@aria/registry";
import { Hono } from "hono";
import type { AppEnv } from "../app.ts";
import type { AuditLog } from "../audit.ts";
import { jsonBody, readBody } from "../http/body.ts";
import type { RunService } from "../runs/run-service.ts";
import { runSummary } from "./events-stream.ts";
import {
  ApprovalSchema,
  RunSubmitSchema,
  SessionCreateSchema,
  SessionMessageSchema,
  ToolInvokeSchema,
} from "./schemas.ts";
import { type EventNotifier, streamRunEvents } from "./sse.ts";
import { invokeRegisteredTool } from "./tool-invoke.ts";

export interface V1Deps {
  bundles: BundleStore;
  registries: Registries;
  runs: RunService;
  sessions: Intelligence["sessions"];
  usage?: (options: { limit: number }) => Promise<unknown>;
  store: StateStore;
  notifier: EventNotifier;
  audit: AuditLog;
  limits: { requestBodyBytes: number; bundleArchiveBytes: number };
  dataDir: string;
  /** Aborted when the server shuts down: event streams end so connections can close. */
  shutdown?: AbortSignal;
}

function bundleView(b: {
  name: string;
  version: string;
  digest: string;
  installedAt: string;
  manifest: {
    description: string;
    tools: { name: string }[];
    agents: { name: string }[];
    teams: { name: string }[];
    pipelines: { name: string }[];
  };
}) {
  return {
    name: b.name,
    version: b.version,
    digest: b.digest,
    installedAt: b.installedAt,
    description: b.manifest.description,
    tools: b.manifest.tools.map((t) => t.name),
    agents: b.manifest.agents.map((a) => a.name),
    teams: b.manifest.teams.map((t) => t.name),
    pipelines: b.manifest.pipelines.map((p) => p.name),
  };
}

/** What a run answers with: the contract's fields (contracts §3). */
export function runView(run: RunState) {
  return {
    id: run.id,
    status: run.status,
    target: run.target,
    ...(run.task !== undefined ? { task: run.task } : {}),
    ...(run.input !== undefined ? { input: run.input } : {}),
    ...(run.sessionId !== undefined ? { sessionId: run.sessionId } : {}),
    plan: run.plan ?? null,
    steps: run.steps,
    result: run.result ?? null,
    error: run.error ?? null,
    metrics: run.metrics,
    cost: run.cost,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
  };
}

/** An approval as the API shows it (`reason` is why it is needed; `comment` the decider's note). */
function approvalView(a: ApprovalRecord) {
  // The fingerprint is internal (what the approval covers); nulls where a field is unset.
  const { fingerprint: _fingerprint, ...shown } = a;
  return { ...shown, reason: a.reason ?? null, expiresAt: a.expiresAt ?? null };
}

/** The `/v1` API (contracts §3). Every body is validated; every error is the JSON envelope. */
export function createV1(deps: V1Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const principal = (c: { get: (k: "principal") => string }) => c.get("principal") ?? "anonymous";

  // ---- bundles
  app.post("/bundles", async (c) => {
    const started = Date.now();
    const bytes = await readBody(c, deps.limits.bundleArchiveBytes);
    if (bytes.byteLength === 0) {
      throw new AriaError("VALIDATION_FAILED", {
        message: "The body must be the .aria file's bytes (application/octet-stream)",
      });
    }
    try {
      const installed = await deps.bundles.install(bytes);
      const dir = await deps.bundles.unpackedDir(installed.bundle.name, installed.bundle.version);
      const registered = await deps.registries.registerBundle(installed.bundle, dir);
      await deps.audit.record({
        actor: principal(c),
        action: "bundle.install",
        target: `${installed.bundle.name}@${installed.bundle.version}`,
        outcome: "success",
        durationMs: Date.now() - started,
        details: { digest: installed.bundle.digest },
      });
      return c.json(
        {
          digest: registered.digest,
          name: registered.name,
          version: registered.version,
          tools: registered.tools,
          agents: registered.agents,
          teams: registered.teams,
          pipelines: registered.pipelines,
          created: installed.created,
        },
        installed.created ? 201 : 200,
      );
    } catch (error) {
      await deps.audit.record({
        actor: principal(c),
        action: "bundle.install",
        outcome: "failure",
        durationMs: Date.now() - started,
        details: { code: AriaError.is(error) ? error.code : "INTERNAL_ERROR" },
      });
      throw error;
    }
  });
  app.get("/bundles", (c) => c.json({ bundles: deps.bundles.list().map(bundleView) }));
  app.get("/bundles/:name", (c) => {
    const name = c.req.param("name");
    const versions = deps.bundles.list().filter((b) => b.name === name);
    if (versions.length === 0)
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `No bundle named '${name}' is installed`,
      });
    return c.json({ name, versions: versions.map(bundleView) });
  });
  app.delete("/bundles/:name/:version", async (c) => {
    const { name, version } = c.req.param();
    try {
      await deps.bundles.uninstall(name, version);
      deps.registries.unregisterBundle(name, version);
      await deps.audit.record({
        actor: principal(c),
        action: "bundle.uninstall",
        target: `${name}@${version}`,
        outcome: "success",
      });
      return c.json({ name, version, uninstalled: true });
    } catch (error) {
      await deps.audit.record({
        actor: principal(c),
        action: "bundle.uninstall",
        target: `${name}@${version}`,
        outcome: "failure",
      });
      throw error;
    }
  });

  // ---- registries
  app.get("/tools", (c) =>
    c.json({
      tools: deps.registries.tools.list().map((t) => ({
        id: t.id,
        name: t.name,
        bundle: t.bundle ?? null,
        description: t.description,
        inputSchema: t.inputSchema,
        outputSchema: t.outputSchema ?? null,
        execution: t.execution,
        securityLevel: t.securityLevel,
        needsApproval: t.needsApproval ?? false,
      })),
    }),
  );
  app.get("/agents", (c) => c.json({ agents: deps.registries.agents.listAgents() }));
  app.get("/teams", (c) => c.json({ teams: deps.registries.agents.listTeams() }));
  app.get("/pipelines", (c) => c.json({ pipelines: deps.registries.agents.listPipelines() }));

  app.post("/tools/:name/invoke", async (c) => {
    const name = decodeURIComponent(c.req.param("name"));
    const body = await jsonBody(c, ToolInvokeSchema, deps.limits.requestBodyBytes);
    const invoked = await invokeRegisteredTool(deps, {
      name,
      input: body.input,
      actor: principal(c),
      signal: c.req.raw.signal,
      idPrefix: "invoke",
      ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
    });
    const metrics = { durationMs: invoked.durationMs };
    if (invoked.ok) return c.json({ success: true, output: invoked.output, metrics });
    const aria = AriaError.is(invoked.error) ? invoked.error : null;
    // Input that fails validation is the caller's fault: answer with the error status.
    if (!aria || aria.code === "VALIDATION_FAILED" || aria.code === "TOOL_FORBIDDEN")
      throw invoked.error;
    return c.json({ success: false, output: null, error: aria.toBody(), metrics }, 200);
  });

  // ---- runs
  app.post("/runs", async (c) => {
    const body = await jsonBody(c, RunSubmitSchema, deps.limits.requestBodyBytes);
    const kind =
      body.agent !== undefined ? "agent" : body.pipeline !== undefined ? "pipeline" : "team";
    const name = (body.agent ?? body.pipeline ?? body.team)!;
    const submission = await deps.runs.submit({
      target: { kind, name },
      ...(body.task !== undefined ? { task: body.task } : {}),
      ...(body.input !== undefined ? { input: body.input } : {}),
      ...(body.sessionId !== undefined ? { sessionId: body.sessionId } : {}),
      ...(body.options !== undefined ? { options: body.options } : {}),
      submittedBy: principal(c),
    });
    if (c.req.query("wait") === "true") {
      const timeoutMs = Math.min(body.options?.timeoutMs ?? 300_000, 3_600_000);
      const run = await deps.runs.waitFor(submission.runId, timeoutMs);
      if (run) return c.json({ runId: run.id, ...runView(run) }, 200);
    }
    return c.json({ runId: submission.runId, status: "queued" }, 202);
  });
  app.get("/runs", async (c) => {
    const limit = Math.min(500, Math.max(1, Number(c.req.query("limit") ?? 50) || 50));
    const status = c.req.query("status");
    const runs = await deps.runs.list({ limit, ...(status ? { status } : {}) });
    return c.json({ runs: runs.map(runSummary) });
  });
  app.get("/runs/:id", async (c) => {
    const run = await deps.runs.get(c.req.param("id"));
    if (!run)
      throw new AriaError("RUN_NOT_FOUND", { message: `No run with id ${c.req.param("id")}` });
    const approvals = await deps.runs.approvals(run.id);
    // A run that ended waits for nothing (a cancelled run's approvals stay pending in the record).
    const open = run.status === "paused" || run.status === "running";
    return c.json({
      ...runView(run),
      approvals: open ? approvals.filter((a) => a.status === "pending").map(approvalView) : [],
      approvalHistory: approvals.map(approvalView),
    });
  });
  app.post("/runs/:id/approvals/:stepId", async (c) => {
    const body = await jsonBody(c, ApprovalSchema, deps.limits.requestBodyBytes);
    const answer = await deps.runs.decide(c.req.param("id"), c.req.param("stepId"), {
      decision: body.decision,
      ...(body.params !== undefined ? { params: body.params } : {}),
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
      actor: principal(c),
    });
    return c.json(answer, 200);
  });
  app.get("/approvals", async (c) => {
    const pending = await deps.runs.pendingApprovals();
    return c.json({ approvals: pending.map(approvalView) });
  });
  app.get("/runs/:id/events", async (c) => {
    const runId = c.req.param("id");
    const run = await deps.runs.get(runId);
    if (!run) throw new AriaError("RUN_NOT_FOUND", { message: `No run with id ${runId}` });
    return streamRunEvents(c, {
      store: deps.store,
      notifier: deps.notifier,
      runId,
      ...(deps.shutdown !== undefined ? { shutdown: deps.shutdown } : {}),
    });
  });
  app.post("/runs/:id/cancel", async (c) => {
    const run = await deps.runs.cancel(c.req.param("id"), principal(c));
    return c.json(runView(run));
  });

  // ---- usage (runs, agents, bundles, providers)
  app.get("/usage", async (c) => {
    const limit = Math.min(1000, Math.max(1, Number(c.req.query("limit") ?? 100) || 100));
    if (!deps.usage)
      throw new AriaError("INTERNAL_ERROR", { message: "Usage reporting is not configured" });
    return c.json(await deps.usage({ limit }));
  });

  // ---- sessions (conversations that continue across messages)
  const sessions = () => {
    if (!deps.sessions)
      throw new AriaError("INTERNAL_ERROR", { message: "Sessions are not configured" });
    return deps.sessions;
  };
  app.post("/sessions", async (c) => {
    const body = await jsonBody(c, SessionCreateSchema, deps.limits.requestBodyBytes);
    if (body.agent !== undefined) deps.registries.agents.getAgent(body.agent);
    const session = await sessions().create(body.agent !== undefined ? { agent: body.agent } : {});
    await deps.audit.record({
      actor: principal(c),
      action: "session.create",
      target: session.id,
      outcome: "success",
    });
    return c.json(session, 201);
  });
  app.get("/sessions/:id", async (c) => c.json(await sessions().get(c.req.param("id"))));
  app.post("/sessions/:id/messages", async (c) => {
    const body = await jsonBody(c, SessionMessageSchema, deps.limits.requestBodyBytes);
    deps.registries.agents.getAgent(body.agent);
    const reply = await sessions().sendMessage(c.req.param("id"), {
      agent: body.agent,
      content: body.content,
      signal: c.req.raw.signal,
    });
    await deps.audit.record({
      actor: principal(c),
      action: "session.message",
      target: c.req.param("id"),
      outcome: "success",
    });
    return c.json(reply);
  });

  return app;
}
