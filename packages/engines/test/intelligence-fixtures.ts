/**
 * Stand-ins for the intelligence tests: a registry with tools (schemas, handlers), agents and
 * teams; an LLM wrapper that prices calls; an event recorder.
 */
import type {
  AgentManifest,
  AgentRegistry,
  EventSink,
  JsonSchema,
  LlmCallOptions,
  LlmClient,
  LlmRequestInput,
  LlmResponse,
  LlmStreamChunk,
  PipelineManifest,
  RegisteredTool,
  RunEventType,
  TeamManifest,
  ToolExecutionContext,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

type Handler = (input: Record<string, unknown>, context: ToolExecutionContext) => unknown;

export interface ToolSpec {
  handler: Handler;
  inputSchema?: JsonSchema;
  outputSchema?: JsonSchema;
  description?: string;
  execution?: RegisteredTool["execution"];
}

/** Tools with schemas; `required` input keys are checked like the real registry (VALIDATION_FAILED). */
export class FixtureTools implements ToolRegistry {
  readonly calls: Array<{
    name: string;
    input: Record<string, unknown>;
    context: ToolExecutionContext;
  }> = [];
  private readonly tools = new Map<string, { tool: RegisteredTool; handler: Handler }>();

  add(id: string, spec: ToolSpec | Handler): this {
    const s: ToolSpec = typeof spec === "function" ? { handler: spec } : spec;
    const slash = id.indexOf("/");
    this.tools.set(id, {
      handler: s.handler,
      tool: {
        id,
        name: slash < 0 ? id : id.slice(slash + 1),
        description: s.description ?? `the ${id} tool`,
        inputSchema: s.inputSchema ?? { type: "object" },
        ...(s.outputSchema !== undefined ? { outputSchema: s.outputSchema } : {}),
        execution: s.execution ?? "inprocess",
        securityLevel: "safe",
        network: false,
      },
    });
    return this;
  }

  callsOf(name: string) {
    return this.calls.filter((c) => c.name === name);
  }

  private find(name: string) {
    const direct = this.tools.get(name);
    if (direct !== undefined) return direct;
    const bare = [...this.tools.values()].filter((t) => t.tool.name === name);
    if (bare.length === 1) return bare[0];
    return undefined;
  }

  resolve(name: string): RegisteredTool {
    const found = this.find(name);
    if (found === undefined) throw new AriaError("TOOL_NOT_FOUND", { message: `no tool ${name}` });
    return found.tool;
  }

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  list(): RegisteredTool[] {
    return [...this.tools.values()].map((t) => t.tool);
  }

  async execute(name: string, input: unknown, context: ToolExecutionContext): Promise<unknown> {
    const found = this.find(name);
    if (found === undefined) throw new AriaError("TOOL_NOT_FOUND", { message: `no tool ${name}` });
    const record = (input ?? {}) as Record<string, unknown>;
    const required = found.tool.inputSchema.required;
    if (Array.isArray(required)) {
      for (const key of required) {
        if (!(String(key) in record))
          throw new AriaError("VALIDATION_FAILED", {
            message: `${name}: input needs '${String(key)}'`,
          });
      }
    }
    this.calls.push({ name: found.tool.id, input: record, context });
    return found.handler(record, context);
  }
}

/** Agents, teams and pipelines by name. */
export class FixtureAgents implements AgentRegistry {
  private readonly agents = new Map<string, AgentManifest & { id: string }>();
  private readonly teams = new Map<string, TeamManifest & { id: string }>();
  private readonly pipelines = new Map<string, PipelineManifest & { id: string }>();

  agent(name: string, tools: string[], extra: Partial<AgentManifest> = {}): this {
    this.agents.set(name, {
      id: name,
      name,
      description: extra.description ?? `agent ${name}`,
      systemPrompt: extra.systemPrompt ?? `You are ${name}. Use your tools.`,
      tools,
      maxSteps: extra.maxSteps ?? 8,
      ...(extra.llm !== undefined ? { llm: extra.llm } : {}),
    });
    return this;
  }

  team(
    name: string,
    members: string[],
    strategy: TeamManifest["strategy"],
    roles?: Record<string, string>,
  ): this {
    this.teams.set(name, {
      id: name,
      name,
      description: `team ${name}`,
      members,
      strategy,
      ...(roles !== undefined ? { roles } : {}),
    });
    return this;
  }

  pipeline(manifest: PipelineManifest): this {
    this.pipelines.set(manifest.name, { ...manifest, id: manifest.name });
    return this;
  }

  getAgent(name: string) {
    const found = this.agents.get(name);
    if (found === undefined)
      throw new AriaError("AGENT_NOT_FOUND", { message: `no agent ${name}` });
    return found;
  }
  getTeam(name: string) {
    const found = this.teams.get(name);
    if (found === undefined) throw new AriaError("TEAM_NOT_FOUND", { message: `no team ${name}` });
    return found;
  }
  getPipeline(name: string) {
    const found = this.pipelines.get(name);
    if (found === undefined)
      throw new AriaError("PIPELINE_NOT_FOUND", { message: `no pipeline ${name}` });
    return found;
  }
  listAgents() {
    return [...this.agents.values()];
  }
  listTeams() {
    return [...this.teams.values()];
  }
  listPipelines() {
    return [...this.pipelines.values()];
  }
}

/** Wraps an LLM so every answer costs `usdPerCall` (the scripted LLM reports no cost). */
export function priced(llm: LlmClient, usdPerCall: number): LlmClient {
  return {
    async complete(request: LlmRequestInput, options?: LlmCallOptions): Promise<LlmResponse> {
      const response = await llm.complete(request, options);
      return { ...response, costUsd: usdPerCall };
    },
    stream(request: LlmRequestInput, options?: LlmCallOptions): AsyncIterable<LlmStreamChunk> {
      return llm.stream(request, options);
    },
  };
}

/** Records events. */
export class EventLog implements EventSink {
  readonly events: Array<{
    runId: string;
    type: RunEventType;
    stepId?: string;
    data: Record<string, unknown>;
  }> = [];
  emit(runId: string, type: RunEventType, data?: Record<string, unknown>, stepId?: string): void {
    this.events.push({
      runId,
      type,
      ...(stepId !== undefined ? { stepId } : {}),
      data: data ?? {},
    });
  }
  ofType(type: RunEventType) {
    return this.events.filter((e) => e.type === type);
  }
}

/** The system message of a recorded request. */
export function systemOf(request: LlmRequestInput): string {
  const first = request.messages[0];
  return first?.role === "system" ? first.content : "";
}

/** Every non-system message's text of a recorded request. */
export function nonSystemText(request: LlmRequestInput): string {
  return request.messages
    .filter((m) => m.role !== "system")
    .map((m) => ("content" in m && typeof m.content === "string" ? m.content : ""))
    .join("\n");
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Which engine a request to the model comes from (by its system prompt). */
export type CallKind = "analyze" | "plan" | "reflect" | "summarize" | "agent";

export function callKind(request: LlmRequestInput): CallKind {
  const system = systemOf(request);
  if (system.startsWith("You judge how an AI agent")) return "analyze";
  if (system.startsWith("You are a planner")) return "plan";
  if (system.startsWith("You assess a step")) return "reflect";
  if (system.startsWith("You summarize conversations")) return "summarize";
  return "agent";
}

type Scripted = import("@aria/testkit").FakeReplyInput;

/**
 * A script for `createScriptedLlm` with one queue of replies per kind of call; a kind that runs out
 * fails the test loudly.
 */
export function routed(queues: Partial<Record<CallKind, Scripted[]>>) {
  const served: Record<CallKind, number> = {
    analyze: 0,
    plan: 0,
    reflect: 0,
    summarize: 0,
    agent: 0,
  };
  const script = (request: LlmRequestInput): Scripted => {
    const kind = callKind(request);
    const queue = queues[kind] ?? [];
    const next = queue[served[kind]++];
    if (next === undefined)
      throw new Error(`no scripted '${kind}' reply left (call ${served[kind]})`);
    return next;
  };
  return { script, served };
}
