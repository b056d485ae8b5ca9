import type { RunEvent, StateStore } from "@aria/core-types";
import type { Registries } from "@aria/registry";
import type { EventNotifier } from "../api/sse.ts";
import { invokeRegisteredTool } from "../api/tool-invoke.ts";
import type { AuditLog } from "../audit.ts";
import type { RunService } from "../runs/run-service.ts";
import type {
  McpBackend,
  McpCallOptions,
  McpCallOutcome,
  McpRunEvent,
  McpTarget,
} from "./backend.ts";
import { mcpEvent, outcomeOf } from "./outcome.ts";
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
  const invoked = await invokeRegisteredTool(deps, {
    name: target.id,
    input: callInput(target, args).input,
    actor: options.actor,
    signal: options.signal,
    idPrefix: "mcp",
    auditDetails: (failure) => (failure ? { via: "mcp", code: failure.code } : { via: "mcp" }),
  });
  const { durationMs } = invoked;
  if (invoked.ok) return { ok: true, status: "succeeded", result: invoked.output, durationMs };
  const body = invoked.failure.toBody();
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
        onEvent?.(mcpEvent(runId, event));
        if (TERMINAL_EVENTS.has(event.type)) return;
      }
    }
  } finally {
    unsubscribe();
  }
}
