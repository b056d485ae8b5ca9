import type { ContainerResult, ContainerSpecInput } from "./container.ts";
import type { RunEvent, RunEventType } from "./events.ts";
import type { JsonSchema } from "./json.ts";
import type { LlmRequestInput, LlmResponse, LlmStreamChunk } from "./llm.ts";
import type {
  AgentManifest,
  GuardrailSpec,
  Permissions,
  PipelineManifest,
  TeamManifest,
} from "./manifest.ts";
import type { ExecutionMode, ResourceRequest, SecurityLevel } from "./resources.ts";
import type { ErrorBody, RunState } from "./steps.ts";

/** What a tool handler receives beside its input. */
export interface ToolExecutionContext {
  runId: string;
  stepId: string;
  attempt: number;
  /** Stable per (run, step, attempt-independent) so a re-run step can avoid repeating a side effect. */
  idempotencyKey: string;
  signal: AbortSignal;
  sessionId?: string;
  /** A directory private to the run (built-in file tools are confined to it). */
  workspaceDir?: string;
}

/** A tool handler as registered in-process. */
export type ToolHandler = (
  input: unknown,
  context: ToolExecutionContext,
) => Promise<unknown> | unknown;

/** A tool as the registry knows it. */
export interface RegisteredTool {
  /** `BUNDLE/TOOL` for bundle tools, the bare name for built-ins. */
  id: string;
  name: string;
  bundle?: { name: string; version: string; digest: string };
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  execution: ExecutionMode;
  securityLevel: SecurityLevel;
  resources?: ResourceRequest;
  network: boolean;
  needsApproval?: boolean;
  permissions?: Permissions;
  handler?: ToolHandler;
  /** Input and output guardrails (from the manifest, or given at registration). */
  guardrails?: GuardrailSpec[];
}

/** The outcome of one tool execution. */
export interface ToolResult {
  success: boolean;
  output?: unknown;
  error?: ErrorBody;
  metrics: { durationMs: number; containerId?: string };
}

/** The tool registry as engines and the ICC server see it. */
export interface ToolRegistry {
  /** Resolves `BUNDLE/TOOL` or a bare name; throws TOOL_NOT_FOUND (or VALIDATION_FAILED when ambiguous). */
  resolve(name: string): RegisteredTool;
  has(name: string): boolean;
  list(): RegisteredTool[];
  /** Validates the input against the tool's schema, then runs it; failures come back as AriaErrors thrown. */
  execute(name: string, input: unknown, context: ToolExecutionContext): Promise<unknown>;
}

/** Agents, teams and pipelines as engines see them. */
export interface AgentRegistry {
  getAgent(name: string): AgentManifest & { id: string; bundle?: string };
  getTeam(name: string): TeamManifest & { id: string; bundle?: string };
  getPipeline(name: string): PipelineManifest & { id: string; bundle?: string };
  listAgents(): Array<AgentManifest & { id: string }>;
  listTeams(): Array<TeamManifest & { id: string }>;
  listPipelines(): Array<PipelineManifest & { id: string }>;
}

export interface LlmCallOptions {
  signal?: AbortSignal;
}

/** What the model that would serve a request can do (engines adapt to small local models). */
export interface LlmCapabilities {
  /** Native tool calling (`tools` in the request); false: use the JSON tool-call contract. */
  toolCalling: boolean;
  /** A JSON response mode (`responseFormat: "json"`). */
  jsonMode: boolean;
  /** Context window in tokens (prompt and answer together). */
  contextTokens: number;
}

/** The LLM handler as engines see it. */
export interface LlmClient {
  complete(request: LlmRequestInput, options?: LlmCallOptions): Promise<LlmResponse>;
  stream(request: LlmRequestInput, options?: LlmCallOptions): AsyncIterable<LlmStreamChunk>;
  /**
   * Optional: the capabilities of the model a request with this provider/model/agent would use.
   * Engines that find it adapt (JSON tool-call contract, shorter history); without it they assume
   * a capable model.
   */
  capabilities?(request: {
    provider?: string | undefined;
    model?: string | undefined;
    agent?: string | undefined;
  }): LlmCapabilities;
}

/** Runs container workloads (quilt-client implements it). */
export interface ContainerManager {
  run(spec: ContainerSpecInput, options?: { signal?: AbortSignal }): Promise<ContainerResult>;
  /** Stops and removes every container of a run. */
  cleanupRun(runId: string): Promise<void>;
}

/** A lease on a key with a fencing token that grows with every new holder. */
export interface Lease {
  key: string;
  owner: string;
  fencingToken: number;
  expiresAt: number;
}

/**
 * Durable state. Values cross it as serialised bytes (never shared objects), so a store in memory
 * behaves like one in Redis.
 */
export interface StateStore {
  getRun(runId: string): Promise<RunState | undefined>;
  /** Writes the run only if its stored version equals `expectedVersion` (-1: must not exist). */
  compareAndSetRun(run: RunState, expectedVersion: number, fencingToken?: number): Promise<boolean>;
  listRuns(options?: { limit?: number; status?: string }): Promise<RunState[]>;
  /** Appends to a run's event log and returns the event's sequence number. */
  appendEvent(runId: string, event: Omit<RunEvent, "seq">): Promise<number>;
  readEvents(runId: string, afterSeq?: number): Promise<RunEvent[]>;
  /** Incremental checkpoints: one record per change, never a rewrite of the whole run. */
  appendCheckpoint(runId: string, record: unknown, fencingToken?: number): Promise<void>;
  readCheckpoints(runId: string): Promise<unknown[]>;
  acquireLease(key: string, owner: string, ttlMs: number): Promise<Lease | undefined>;
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | undefined>;
  releaseLease(lease: Lease): Promise<void>;
  getValue(namespace: string, key: string): Promise<string | undefined>;
  setValue(namespace: string, key: string, value: string, ttlMs?: number): Promise<void>;
  deleteValue(namespace: string, key: string): Promise<void>;
  close(): Promise<void>;
}

/** Receives run events as they happen. */
export interface EventSink {
  emit(
    runId: string,
    type: RunEventType,
    data?: Record<string, unknown>,
    stepId?: string,
  ): void | Promise<void>;
}

export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface Clock {
  now(): number;
}
