import type {
  AgentRegistry,
  IccContextField,
  LlmClient,
  LlmUsage,
  Logger,
  ToolRegistry,
} from "@aria/core-types";
import type { RateLimitOptions } from "./rate-limit.ts";
import type { RevocationList } from "./revocation.ts";
import type { IccKeyring, TokenSigner } from "./token.ts";

/** What the ICC server passes to the agent invoker: the ICC body plus the calling run's ids. */
export interface AgentInvokeRequest {
  message: string;
  context?: Record<string, unknown> | undefined;
  maxTurns?: number | undefined;
  /** The run of the container that called: the invocation is a child of it (accounting, events). */
  parentRunId: string;
  stepId: string;
  sessionId?: string | undefined;
  idempotencyKey?: string | undefined;
  /** Aborted when the caller disconnects, its token is revoked or the server closes. */
  signal: AbortSignal;
}

/** What an agent invocation answers (extra fields, such as cost, are ignored). */
export interface AgentInvokeResult {
  success: boolean;
  response: string;
  turns: number;
  usage: Partial<LlmUsage>;
}

/**
 * Runs a real agent invocation (the engines' agent loop implements it; the runtime wires it).
 * Throws AGENT_NOT_FOUND for an unknown agent; failures of the run itself come back as
 * `success: false`.
 */
export interface AgentInvoker {
  invoke(agent: string, request: AgentInvokeRequest): Promise<AgentInvokeResult>;
}

/** A run's context as `GET /context` reads it (the server adds `runId` and `stepId` from the token). */
export interface RunContextView {
  sessionId?: string | undefined;
  task?: string | undefined;
  workingMemory?: Record<string, unknown> | undefined;
  history?: unknown[] | undefined;
}

/**
 * The calling run's context. `runId` always comes from the verified token, never from the request.
 * `get` answers undefined (→ RUN_NOT_FOUND) for a run that is not running here.
 */
export interface RunContextAccess {
  get(
    runId: string,
    include?: readonly IccContextField[],
  ): RunContextView | undefined | Promise<RunContextView | undefined>;
  set(runId: string, key: string, value: unknown): void | Promise<void>;
}

/** One audited ICC call: who (container and run), what, outcome, how long. */
export interface IccAuditEntry {
  /** `container:<containerId>`, or `unknown` when the token was not valid. */
  actor: string;
  /** `icc.tools.call`, `icc.tools.list`, `icc.agents.invoke`, `icc.agents.list`, `icc.llm.complete`, `icc.context.get`, `icc.context.set`, `icc.unknown`. */
  action: string;
  /** The tool or agent name, the context key, or the path. */
  target?: string;
  outcome: "success" | "failure";
  durationMs: number;
  /** `{status, code?, reason?, runId?, stepId?, sessionId?, containerId?, tokenId?}`. */
  details: Record<string, unknown>;
}

/** The ICC server's collaborators (interfaces; the runtime wires real ones). */
export interface IccServerDeps {
  /** Signing keys (or a ready signer). One of the two is needed. */
  keyring?: IccKeyring;
  signer?: TokenSigner;
  /** Tools run through it under the run's policy (`POST /tools/:name`, `GET /tools`). */
  tools?: ToolRegistry;
  /**
   * Why a tool needs a person's approval (the runtime's approval policy: `needsApproval` and its
   * rules), if it does; such calls are refused. Default: the tool's own `needsApproval`.
   */
  approvalReason?: (toolId: string) => string | undefined;
  /** Agent invocations (`POST /agents/:name`). */
  agents?: AgentInvoker;
  /** Lists agents for `GET /agents` and checks names for `POST /agents/:name`. */
  agentRegistry?: Pick<AgentRegistry, "listAgents" | "getAgent">;
  /** The runtime's LLM handler (`POST /llm/complete`); provider keys stay on the host. */
  llm?: LlmClient;
  /** The calling run's context (`GET /context`, `POST /context`). */
  context?: RunContextAccess;
  /** Revoked tokens (default: in memory; use the state-store list to share across replicas). */
  revocations?: RevocationList;
  /** Called once per ICC call (not for `GET /health`); errors it throws are logged, never answered. */
  audit?: (entry: IccAuditEntry) => void | Promise<void>;
  logger?: Logger;
  now?: () => number;
}

/** Limits and defaults of the ICC server. */
export interface IccServerOptions {
  /** Largest request body (default 1 MiB); larger ones answer 413 PAYLOAD_TOO_LARGE. */
  maxBodyBytes?: number;
  /** Per-token limits (defaults: 1000 requests/s sustained, burst 2000, 64 in flight). */
  rateLimit?: RateLimitOptions;
  /** Default token lifetime (15 min) and longest allowed (24 h). */
  tokenTtlMs?: number;
  maxTokenTtlMs?: number;
  /** Tool call timeout when the body gives none (60 s) and the longest allowed (10 min). */
  defaultToolTimeoutMs?: number;
  maxToolTimeoutMs?: number;
  /** Longest agent invocation and LLM call (10 min each). */
  agentTimeoutMs?: number;
  llmTimeoutMs?: number;
  /** Allow `listen({host})` on a non-loopback address (default false: loopback and Unix sockets only). */
  allowNonLoopback?: boolean;
  /** Idle keep-alive of connections (default 65 s). */
  keepAliveTimeoutMs?: number;
}
