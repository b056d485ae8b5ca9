import type {
  AgentManifest,
  AgentRegistry,
  Clock,
  ContainerManager,
  ContainerResult,
  ContainerSpecInput,
  EventSink,
  LlmClient,
  LlmRequestInput,
  LlmResponse,
  PipelineManifest,
  RegisteredTool,
  RunEventType,
  TeamManifest,
  ToolExecutionContext,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

/** A controllable clock. */
export class FakeClock implements Clock {
  time: number;
  constructor(time = Date.parse("2026-01-01T00:00:00.000Z")) {
    this.time = time;
  }
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface ToolCall {
  name: string;
  input: unknown;
  context: ToolExecutionContext;
}

type Handler = (input: Record<string, unknown>, context: ToolExecutionContext) => unknown;

/**
 * An in-process ToolRegistry stand-in: tools are handlers; `required` input keys are checked the
 * way the real registry validates input (VALIDATION_FAILED); every call is recorded.
 */
export class TestTools implements ToolRegistry {
  readonly calls: ToolCall[] = [];
  private readonly tools = new Map<string, { handler: Handler; required: string[] }>();

  add(name: string, handler: Handler, required: string[] = []): this {
    this.tools.set(name, { handler, required });
    return this;
  }

  callsOf(name: string): ToolCall[] {
    return this.calls.filter((c) => c.name === name);
  }

  resolve(name: string): RegisteredTool {
    if (!this.tools.has(name))
      throw new AriaError("TOOL_NOT_FOUND", { message: `no tool ${name}` });
    return {
      id: name,
      name,
      description: name,
      inputSchema: { type: "object" },
      execution: "inprocess",
      securityLevel: "safe",
      network: false,
    };
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  list(): RegisteredTool[] {
    return [...this.tools.keys()].map((name) => this.resolve(name));
  }

  async execute(name: string, input: unknown, context: ToolExecutionContext): Promise<unknown> {
    const tool = this.tools.get(name);
    if (tool === undefined) throw new AriaError("TOOL_NOT_FOUND", { message: `no tool ${name}` });
    const record = (input ?? {}) as Record<string, unknown>;
    for (const key of tool.required) {
      if (!(key in record)) {
        throw new AriaError("VALIDATION_FAILED", { message: `${name}: input needs '${key}'` });
      }
    }
    this.calls.push({ name, input, context });
    return tool.handler(record, context);
  }
}

/** An AgentRegistry holding pipelines (agents and teams by name only). */
export class TestAgents implements AgentRegistry {
  private readonly pipelines: PipelineManifest[];
  private readonly agentNames: string[];
  constructor(pipelines: PipelineManifest[] = [], agentNames: string[] = []) {
    this.pipelines = pipelines;
    this.agentNames = agentNames;
  }
  getAgent(name: string): AgentManifest & { id: string } {
    if (!this.agentNames.includes(name)) throw new AriaError("AGENT_NOT_FOUND", { message: name });
    return { id: name, name, description: name, systemPrompt: "x", tools: [], maxSteps: 8 };
  }
  getTeam(name: string): TeamManifest & { id: string } {
    throw new AriaError("TEAM_NOT_FOUND", { message: name });
  }
  getPipeline(name: string): PipelineManifest & { id: string } {
    const found = this.pipelines.find((p) => p.name === name);
    if (found === undefined) throw new AriaError("PIPELINE_NOT_FOUND", { message: name });
    return { ...found, id: name };
  }
  listAgents() {
    return this.agentNames.map((name) => this.getAgent(name));
  }
  listTeams() {
    return [];
  }
  listPipelines() {
    return this.pipelines.map((p) => ({ ...p, id: p.name }));
  }
}

/** A scripted LLM: replies in order and records requests. */
export class ScriptedLlm implements LlmClient {
  readonly requests: LlmRequestInput[] = [];
  private readonly replies: string[];
  constructor(replies: string[]) {
    this.replies = replies;
  }
  async complete(request: LlmRequestInput): Promise<LlmResponse> {
    this.requests.push(request);
    const content = this.replies.shift() ?? "";
    return {
      content,
      toolCalls: [],
      finishReason: "stop",
      usage: {
        inputTokens: 10,
        outputTokens: 5,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        totalTokens: 15,
      },
      costUsd: 0.001,
      model: "scripted",
      provider: "local",
      cached: false,
      latencyMs: 0,
    };
  }
  // biome-ignore lint/correctness/useYield: not used by these tests
  async *stream(): AsyncIterable<never> {
    throw new Error("not scripted");
  }
}

/** A ContainerManager stand-in returning a scripted result. */
export class FakeContainers implements ContainerManager {
  readonly specs: ContainerSpecInput[] = [];
  readonly cleaned: string[] = [];
  private readonly result: Partial<ContainerResult>;
  constructor(result: Partial<ContainerResult> = {}) {
    this.result = result;
  }
  async run(spec: ContainerSpecInput): Promise<ContainerResult> {
    this.specs.push(spec);
    return {
      containerId: "c-1",
      exitCode: 0,
      stdout: "RESULT: 43\n",
      stderr: "",
      durationMs: 5,
      oomKilled: false,
      timedOut: false,
      ...this.result,
    };
  }
  async cleanupRun(runId: string): Promise<void> {
    this.cleaned.push(runId);
  }
}

/** Records every event the engine emits. */
export class RecordingSink implements EventSink {
  readonly events: Array<{
    runId: string;
    type: RunEventType;
    stepId?: string;
    data?: Record<string, unknown>;
  }> = [];
  emit(runId: string, type: RunEventType, data?: Record<string, unknown>, stepId?: string): void {
    this.events.push({
      runId,
      type,
      ...(stepId !== undefined ? { stepId } : {}),
      ...(data !== undefined ? { data } : {}),
    });
  }
  types(): string[] {
    return this.events.map((e) => (e.stepId ? `${e.type}:${e.stepId}` : e.type));
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Lets pending promise callbacks and timers of 0 ms run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waits until `predicate` holds, yielding to the event loop between checks (bounded). */
export async function until(predicate: () => boolean, rounds = 1000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (predicate()) return;
    await tick();
  }
  throw new Error("condition not reached");
}

/** A promise that settles when the signal aborts (for tools that wait to be cancelled). */
export function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
