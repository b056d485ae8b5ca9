import type { JsonSchema, Logger } from "@aria/core-types";
import { toAriaError } from "@aria/errors";
import { SchemaValidator } from "@aria/registry";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { McpBackend, McpCallOutcome, McpRunEvent, McpTarget } from "./backend.ts";
import { mcpToolName } from "./names.ts";

/** What {@link createMcpServer} needs. */
export interface McpServerDeps {
  backend: McpBackend;
  /** Who the calls are made as (the API key's id on the route; `cli` for `aria mcp`). */
  actor: string;
  version: string;
  /** Validates arguments against the advertised schema before anything runs (one per process is enough). */
  validator?: SchemaValidator;
  logger?: Logger;
  /** Told about every `tools/call` once it has an answer (the route writes audit entries). */
  onCall?: (call: {
    name: string;
    ok: boolean;
    code?: string;
    runId?: string;
    durationMs: number;
  }) => void;
  /** How long a listing is reused to resolve names in `tools/call` (ms; default 1000). */
  listCacheMs?: number;
}

/** The structured result of every call (the `outputSchema` of every tool the server lists). */
const OUTPUT_SCHEMA = {
  type: "object",
  properties: {
    status: { type: "string", description: "succeeded, failed or cancelled" },
    result: { description: "the tool's output, or the run's result" },
    runId: { type: "string", description: "the run (agents, teams and pipelines run as runs)" },
    durationMs: { type: "number" },
    costUsd: { type: "number" },
    error: {
      type: "object",
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        userGuidance: { type: "string" },
      },
      required: ["code", "message"],
    },
  },
  required: ["status"],
} as const;

const sharedValidator = new SchemaValidator();

const TITLES: Record<McpTarget["kind"], string> = {
  tool: "Tool",
  agent: "Agent",
  team: "Team",
  pipeline: "Pipeline",
};

/**
 * One MCP server (the official SDK's low-level `Server`, since the tools' schemas are JSON Schema
 * already) over a {@link McpBackend}: `tools/list` lists the runtime's tools, agents, teams and
 * pipelines under their MCP names (see `names.ts`); `tools/call` validates the arguments against
 * the listed schema, runs the target through the backend, reports the run's events as progress
 * notifications when the client sent a `progressToken`, and answers with the result as
 * `structuredContent` and text. A failed run or tool answers `isError: true` with the AriaError's
 * code, message and guidance; an unknown tool name is a protocol error (-32602), as the spec says.
 */
export function createMcpServer(deps: McpServerDeps): Server {
  const validator = deps.validator ?? sharedValidator;
  const server = new Server(
    { name: "aria-runtime", title: "Aria Runtime", version: deps.version },
    {
      capabilities: { tools: { listChanged: true } },
      instructions:
        "Tools of the Aria Runtime. Names are KIND.ID: tool.* invoke one tool, agent.* and team.* take {task} and run an agent or a team, pipeline.* run a pipeline with its input. '__' in a name stands for '/' (BUNDLE/NAME).",
    },
  );

  let cache: { at: number; byName: Map<string, McpTarget> } | undefined;
  const listing = async (fresh: boolean) => {
    if (!fresh && cache && Date.now() - cache.at < (deps.listCacheMs ?? 1000)) return cache.byName;
    const byName = new Map<string, McpTarget>();
    for (const target of await deps.backend.list())
      byName.set(mcpToolName(target.kind, target.id), target);
    cache = { at: Date.now(), byName };
    return byName;
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const byName = await listing(true);
    const tools: Tool[] = [...byName].map(([name, target]) => ({
      name,
      title: `${TITLES[target.kind]} ${target.id}`,
      description: target.needsApproval
        ? `${target.description} (needs a human's approval before it runs)`
        : target.description,
      inputSchema: target.inputSchema as Tool["inputSchema"],
      outputSchema: OUTPUT_SCHEMA as unknown as Tool["outputSchema"],
      annotations: { title: `${TITLES[target.kind]} ${target.id}` },
      _meta: { "aria/kind": target.kind, "aria/id": target.id },
    }));
    return { tools };
  });

  server.setRequestHandler(
    CallToolRequestSchema,
    async (request, extra): Promise<CallToolResult> => {
      const name = request.params.name;
      const started = performance.now();
      const answer = (outcome: McpCallOutcome): CallToolResult => {
        deps.onCall?.({
          name,
          ok: outcome.ok,
          ...(outcome.error ? { code: outcome.error.code } : {}),
          ...(outcome.runId ? { runId: outcome.runId } : {}),
          durationMs: performance.now() - started,
        });
        return outcome.ok ? successResult(outcome) : errorResult(outcome);
      };
      let target = (await listing(false)).get(name);
      // A bundle may have been installed since the last listing.
      if (!target) target = (await listing(true)).get(name);
      if (!target) {
        deps.onCall?.({
          name,
          ok: false,
          code: "NOT_FOUND",
          durationMs: performance.now() - started,
        });
        throw new McpError(
          ErrorCode.InvalidParams,
          `Unknown tool '${name}': no tool, agent, team or pipeline of the runtime has this name (list the tools again: bundles may have changed)`,
        );
      }
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      const checked = validator.applyDefaults(target.inputSchema as JsonSchema, args);
      const issues = validator.issues(target.inputSchema as JsonSchema, checked);
      if (issues.length > 0) {
        const summary = issues
          .slice(0, 5)
          .map((i) => `${i.path || "(root)"} ${i.message}`)
          .join("; ");
        return answer({
          ok: false,
          status: "rejected",
          error: {
            code: "VALIDATION_FAILED",
            message: `Invalid arguments for '${name}': ${summary}`,
            userGuidance: "Call the tool again with arguments that match its inputSchema.",
            details: { issues },
          },
        });
      }

      const progressToken = extra._meta?.progressToken;
      const report = progressToken === undefined ? undefined : progressReporter();
      let outcome: McpCallOutcome;
      try {
        outcome = await deps.backend.call(target, args, {
          actor: deps.actor,
          signal: extra.signal,
          ...(report
            ? {
                onEvent: (event: McpRunEvent) => {
                  const update = report(event);
                  if (!update || extra.signal.aborted) return;
                  extra
                    .sendNotification({
                      method: "notifications/progress",
                      params: { progressToken, ...update },
                    })
                    .catch((error: unknown) =>
                      deps.logger?.debug?.({ err: error }, "progress notification not sent"),
                    );
                },
              }
            : {}),
        });
      } catch (error) {
        // Whatever went wrong before or around the run (the target went away, the runtime is
        // unreachable) is still an answer the client can read.
        const aria = toAriaError(error, "INTERNAL_ERROR", { component: "mcp", operation: name });
        if (aria.code === "INTERNAL_ERROR") deps.logger?.error({ err: error }, "mcp call failed");
        outcome = {
          ok: false,
          status: "failed",
          error: { code: aria.code, message: aria.message, userGuidance: aria.userGuidance },
        };
      }
      return answer(outcome);
    },
  );

  return server;
}

function structured(outcome: McpCallOutcome): Record<string, unknown> {
  return {
    status: outcome.status,
    ...(outcome.ok ? { result: outcome.result ?? null } : {}),
    ...(outcome.runId !== undefined ? { runId: outcome.runId } : {}),
    ...(outcome.durationMs !== undefined ? { durationMs: outcome.durationMs } : {}),
    ...(outcome.costUsd !== undefined ? { costUsd: outcome.costUsd } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

function successResult(outcome: McpCallOutcome): CallToolResult {
  const result = outcome.result ?? null;
  return {
    content: [
      { type: "text", text: typeof result === "string" ? result : JSON.stringify(result, null, 2) },
    ],
    structuredContent: structured(outcome),
  };
}

function errorResult(outcome: McpCallOutcome): CallToolResult {
  const error = outcome.error ?? { code: "INTERNAL_ERROR", message: "the call failed" };
  const text = `${error.code}: ${error.message}${error.userGuidance ? `\n${error.userGuidance}` : ""}`;
  return {
    content: [{ type: "text", text }],
    structuredContent: structured(outcome),
    isError: true,
  };
}

/**
 * Turns run events into progress updates whose `progress` always increases (the spec requires it):
 * the integer part counts finished steps (`total` is the plan's step count once known), and each
 * other event adds a thousandth, so the client sees every step start, retry and approval.
 */
function progressReporter(): (
  event: McpRunEvent,
) => { progress: number; total?: number; message: string } | undefined {
  let finished = 0;
  let minor = 0;
  let total: number | undefined;
  return (event) => {
    const step = event.stepId ? `step '${event.stepId}'` : "step";
    let message: string;
    switch (event.type) {
      case "run.started":
        if (typeof event.data.steps === "number") total = event.data.steps;
        // A resumed run (after a restart or an approval) counts what it had already finished.
        if (typeof event.data.finishedSteps === "number")
          finished = Math.max(finished, event.data.finishedSteps);
        message = event.data.resumed ? "run resumed" : "run started";
        break;
      case "plan.created":
        if (Array.isArray(event.data.steps)) total = finished + event.data.steps.length;
        message = "plan created";
        break;
      case "step.started":
        message = `${step} started`;
        break;
      case "step.completed":
      case "step.failed":
        finished += 1;
        minor = 0;
        message = `${step} ${event.type === "step.completed" ? "completed" : "failed"}`;
        break;
      case "step.retrying":
        message = `${step} retrying`;
        break;
      case "approval.requested":
        message = `${step} waits for a human's approval: aria approve ${event.runId} ${event.stepId ?? ""} (or POST /v1/runs/${event.runId}/approvals/${event.stepId ?? ""})`;
        break;
      case "approval.resolved":
        message = `${step} approval resolved`;
        break;
      case "guardrail.tripped":
        message = `guardrail tripped on ${step}`;
        break;
      case "run.completed":
        message = "run completed";
        break;
      case "run.failed":
        message = "run failed";
        break;
      case "run.cancelled":
        message = "run cancelled";
        break;
      default:
        return undefined;
    }
    if (event.type !== "step.completed" && event.type !== "step.failed") {
      if (minor >= 999) return undefined;
      minor += 1;
    }
    if (total !== undefined && total < finished) total = finished;
    const progress = finished + minor / 1000;
    // Past the end (the run's own end event): the answer itself follows.
    if (total !== undefined && progress > total) return undefined;
    return {
      progress,
      ...(total !== undefined ? { total } : {}),
      message: total !== undefined ? `${message} (${finished}/${total} steps)` : message,
    };
  };
}
