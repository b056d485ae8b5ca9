import { randomUUID } from "node:crypto";
import type { RunEvent, StateStore, ToolExecutionContext } from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import type { Registries } from "@aria/registry";
import type { EventNotifier } from "../api/sse.ts";
import type { AuditLog } from "../audit.ts";
import type { RunService } from "../runs/run-service.ts";
import type {
  McpBackend,
  McpCallOptions,
  McpCallOutcome,
  McpRunEvent,
  McpTarget,
} from "./backend.ts";
import { callInput, targetsFrom } from "./targets.ts";

/** What the in-process backend reads and drives. */
export interface RuntimeBackendDeps {
  registries: Registries;
  runs: RunService;
  store: StateStore;
  notifier: EventNotifier;
  audit: AuditLog;
  dataDir: string;
  /** Debounce of list-change notifications in ms (a bundle install fires several registry events). */
  changeDebounceMs?: number;
}

const TERMINAL_EVENTS = new Set(["run.completed", "run.failed", "run.cancelled"]);

/**
 * The MCP backend inside the runtime process (the `/mcp` route): lists straight from the registries,
 * invokes tools through the tool registry (policy, validation, guardrails, audit, as
 * `POST /v1/tools/:name/invoke` does) and submits agents, teams and pipelines to the RunService,
 * following the run's event log until it ends.
 */
export function createRuntimeBackend(deps: RuntimeBackendDeps): McpBackend {
  return {
    async list() {
      return targetsFrom({
        tools: deps.registries.tools.list(),
        agents: deps.registries.agents.listAgents(),
        teams: deps.registries.agents.listTeams(),
        pipelines: deps.registries.agents.listPipelines(),
      });
    },

    async call(target, args, options) {
      return target.kind === "tool"
        ? invokeTool(deps, target, args, options)
        : runTarget(deps, target, args, options);
    },

    subscribe(listener) {
      let timer: NodeJS.Timeout | undefined;
      const changed = () => {
        clearTimeout(timer);
        timer = setTimeout(listener, deps.changeDebounceMs ?? 50);
        timer.unref?.();
      };
      const offTools = deps.registries.tools.subscribe(changed);
      const offAgents = deps.registries.agents.subscribe(changed);
      return () => {
        clearTimeout(timer);
        offTools();
        offAgents();
      };
    },
  };
}

async function invokeTool(
  deps: RuntimeBackendDeps,
  target: McpTarget,
  args: Record<string, unknown>,
  options: McpCallOptions,
): Promise<McpCallOutcome> {
  const started = performance.now();
  const tool = deps.registries.tools.resolve(target.id);
  const controller = new AbortController();
  const timeoutMs = tool.resources?.timeoutMs ?? 60_000;
  const timer = setTimeout(
    () =>
      controller.abort(
        new AriaError("TOOL_TIMEOUT", {
          message: `Tool '${tool.id}' did not finish within ${timeoutMs} ms`,
        }),
      ),
    timeoutMs,
  );
  const onAbort = () => controller.abort(options.signal.reason);
  options.signal.addEventListener("abort", onAbort, { once: true });
  const invocationId = `mcp_${randomUUID()}`;
  const context: ToolExecutionContext = {
    runId: invocationId,
    stepId: "invoke",
    attempt: 1,
    idempotencyKey: `${invocationId}:invoke`,
    signal: controller.signal,
    workspaceDir: `${deps.dataDir}/workspaces/${invocationId}`,
  };
  try {
    const output = await deps.registries.tools.execute(
      tool.id,
      callInput(target, args).input,
      context,
    );
    const durationMs = performance.now() - started;
    await deps.audit.record({
      actor: options.actor,
      action: "tool.invoke",
      target: tool.id,
      outcome: "success",
      durationMs,
      details: { via: "mcp" },
    });
    return { ok: true, status: "succeeded", result: output, durationMs };
  } catch (error) {
    const durationMs = performance.now() - started;
    const aria = toAriaError(error, "TOOL_EXECUTION_FAILED", { tool: tool.id });
    await deps.audit.record({
      actor: options.actor,
      action: "tool.invoke",
      target: tool.id,
      outcome: "failure",
      durationMs,
      details: { via: "mcp", code: aria.code },
    });
    const body = aria.toBody();
    return {
      ok: false,
      status: "failed",
      durationMs,
      error: {
        code: body.code,
        message: body.message,
        userGuidance: body.userGuidance,
        details: body.details,
      },
    };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", onAbort);
  }
}

async function runTarget(
  deps: RuntimeBackendDeps,
  target: McpTarget,
  args: Record<string, unknown>,
  options: McpCallOptions,
): Promise<McpCallOutcome> {
  const { task, input } = callInput(target, args);
  const submission = await deps.runs.submit({
    target: { kind: target.kind as "agent" | "team" | "pipeline", name: target.id },
    ...(task !== undefined ? { task } : {}),
    ...(input !== undefined ? { input } : {}),
    submittedBy: options.actor,
  });
  const runId = submission.runId;
  const onAbort = () => {
    deps.runs.cancel(runId, options.actor).catch(() => undefined);
  };
  options.signal.addEventListener("abort", onAbort, { once: true });
  try {
    await followEvents(deps, runId, options.onEvent);
    const run = await deps.runs.waitFor(runId, 10_000);
    return outcomeOf(runId, run);
  } finally {
    options.signal.removeEventListener("abort", onAbort);
  }
}

/** Reads the run's event log (woken by the notifier, polling once a second) until a terminal event. */
async function followEvents(
  deps: RuntimeBackendDeps,
  runId: string,
  onEvent: ((event: McpRunEvent) => void) | undefined,
): Promise<void> {
  let after = 0;
  let wake: (() => void) | undefined;
  let pending = true;
  const unsubscribe = deps.notifier.subscribe(runId, () => {
    pending = true;
    wake?.();
  });
  try {
    for (;;) {
      if (!pending) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          // A notification can be lost between replicas: poll as well.
          setTimeout(resolve, 1000).unref?.();
        });
        wake = undefined;
      }
      pending = false;
      const events: RunEvent[] = await deps.store.readEvents(runId, after);
      for (const event of events) {
        after = event.seq;
        onEvent?.({
          runId,
          type: event.type,
          ...(event.stepId ? { stepId: event.stepId } : {}),
          data: event.data,
        });
        if (TERMINAL_EVENTS.has(event.type)) return;
      }
    }
  } finally {
    unsubscribe();
  }
}

/** The outcome of an ended run (shared with the HTTP backend, which reads the same view). */
/** The parts of an ended run an outcome needs (`RunState`, or `GET /v1/runs/:id`'s answer). */
export interface EndedRun {
  status: string;
  result?: unknown;
  error?: {
    code: string;
    message: string;
    userGuidance?: string;
    details?: Record<string, unknown>;
  } | null;
  metrics?: { durationMs: number };
  cost?: { usd: number };
}

export function outcomeOf(runId: string, run: EndedRun | undefined): McpCallOutcome {
  if (!run)
    return {
      ok: false,
      runId,
      status: "unknown",
      error: { code: "RUN_NOT_FOUND", message: `Run ${runId} cannot be read` },
    };
  const base = {
    runId,
    status: run.status,
    ...(run.metrics ? { durationMs: run.metrics.durationMs } : {}),
    ...(run.cost ? { costUsd: run.cost.usd } : {}),
  };
  if (run.status === "succeeded") return { ok: true, ...base, result: run.result ?? null };
  const error = run.error ?? undefined;
  return {
    ok: false,
    ...base,
    error: error
      ? {
          code: error.code,
          message: error.message,
          ...(error.userGuidance ? { userGuidance: error.userGuidance } : {}),
          ...(error.details ? { details: error.details } : {}),
        }
      : run.status === "cancelled"
        ? { code: "RUN_CANCELLED", message: `Run ${runId} was cancelled` }
        : { code: "INTERNAL_ERROR", message: `Run ${runId} ended ${run.status}` },
  };
}
