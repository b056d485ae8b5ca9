import type { JsonSchema } from "@aria/core-types";
import type { McpTargetKind } from "./names.ts";

/** Something the runtime can run for an MCP client: a tool, an agent, a team or a pipeline. */
export interface McpTarget {
  kind: McpTargetKind;
  /** The runtime's id (`BUNDLE/NAME`, or a bare built-in name). */
  id: string;
  description: string;
  /** The arguments' JSON Schema (agents and teams: `{task}`; pipelines: their `inputSchema`). */
  inputSchema: JsonSchema;
  /** Whether a human must approve it before it runs (shown to clients as a hint). */
  needsApproval?: boolean;
  /** True when a non-object input schema was wrapped as `{input: SCHEMA}`. */
  wrapped?: boolean;
}

/** One event of a run, as the backend sees it (`RunEvent` without the parts a client ignores). */
export interface McpRunEvent {
  /** The run the event belongs to. */
  runId: string;
  type: string;
  stepId?: string;
  data: Record<string, unknown>;
}

/** The error of a failed call, as the contract's error body carries it. */
export interface McpCallError {
  code: string;
  message: string;
  userGuidance?: string;
  details?: Record<string, unknown>;
}

/** How a call ended. `runId` is set for agents, teams and pipelines (they run as runs). */
export interface McpCallOutcome {
  ok: boolean;
  runId?: string;
  /** The run's status, or `succeeded`/`failed` for a tool invocation. */
  status: string;
  result?: unknown;
  error?: McpCallError;
  durationMs?: number;
  costUsd?: number;
}

/** What a call is given besides its arguments. */
export interface McpCallOptions {
  /** Who calls (the API key's id on the route; the HTTP backend's key decides on its own). */
  actor: string;
  /** Aborted when the MCP client cancels the request (the run is cancelled too). */
  signal: AbortSignal;
  /** Receives the run's events while it runs. */
  onEvent?: (event: McpRunEvent) => void;
}

/**
 * What the MCP server needs from a runtime. Two implementations: {@link createRuntimeBackend}
 * (in the runtime process, for the `/mcp` route: registries and RunService directly) and
 * {@link createHttpBackend} (for `aria mcp`: the public `/v1` API through the CLI's ApiClient).
 */
export interface McpBackend {
  /** Every target the runtime offers now. */
  list(): Promise<McpTarget[]>;
  /** Runs one target to its end (a tool is invoked; the others are submitted as runs and awaited). */
  call(
    target: McpTarget,
    args: Record<string, unknown>,
    options: McpCallOptions,
  ): Promise<McpCallOutcome>;
  /** Calls `listener` when the list may have changed; returns the unsubscribe function. */
  subscribe?(listener: () => void): () => void;
}
