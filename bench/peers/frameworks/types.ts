/** What each framework's adapter provides to the harness (bench/peers/worker.ts). */

/** One agent run of `steps` model calls (steps - 1 no-op tool calls, then the answer). */
export type AgentRun = (steps: number) => Promise<void>;

/** A conversation that keeps its history between turns. */
export interface AgentSession {
  /** One turn: a user message that the model answers after `steps - 1` tool calls. */
  turn(steps: number): Promise<void>;
}

export interface SessionFactory {
  open(index: number): Promise<AgentSession>;
  /** Whatever the framework keeps for the sessions (stores, checkpointers): held alive while measuring. */
  retained?: unknown;
}

/** A deterministic chain of `steps` no-op tool steps without a model (pipelines, workflows, graphs). */
export type ToolChainRun = () => Promise<void>;

export interface FrameworkAdapter {
  id: string;
  label: string;
  /** Package name and version that was measured. */
  packages: Record<string, string>;
  /** What is on and off (defaults unless said otherwise). */
  configuration: Record<string, unknown>;
  /** An agent whose model takes `latencyMs` per call. */
  agent(latencyMs: number): Promise<AgentRun>;
  /** Sessions with history kept by the framework's own session mechanism. */
  sessions(): Promise<SessionFactory>;
  /** A deterministic tool chain of `steps` steps, when the framework has one (variant name → run). */
  toolChains?(steps: number): Promise<Record<string, ToolChainRun>>;
}

/** Thrown by an adapter for a case the framework (or this runtime, today) cannot run. */
export class NotAvailableError extends Error {
  override name = "NotAvailableError";
}

/** Throws unless `actual` is `expected` (every run checks its own result: no fast path is measured). */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected)
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
