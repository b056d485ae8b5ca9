/**
 * Aria Runtime, with its defaults on: validation (plan graph, tool existence, tool input against
 * its JSON Schema in the real `@aria/registry` ToolRegistry), an incremental checkpoint per step
 * and events to a sink and to the store's event log (`MemoryStateStore`, which keeps serialised
 * bytes as a Redis store would).
 *
 * The deterministic tool chain runs on the pipeline engine (`AriaRuntimeEngine.runPipeline`).
 * The agent-loop cases (overhead per agent step, the 1,000-step agent chain, sessions,
 * concurrency with the 100 ms model) go through the adapter functions marked below, on the engines'
 * agent loop (issue 6).
 */
import type { AgentManifest, AgentRegistry, EventSink, LlmClient } from "@aria/core-types";
import { AriaRuntimeEngine, createIntelligence, MemoryStateStore } from "@aria/engines";
import { AriaError } from "@aria/errors";
import { ToolRegistry } from "@aria/registry";
import { createBenchLlm } from "../lib/aria-llm.ts";
import { FINAL_ANSWER, NOOP_DESCRIPTION, NOOP_TOOL, taskFor } from "../lib/script.ts";
import { installedVersion } from "../lib/versions.ts";
import {
  type AgentRun,
  expectEqual,
  type FrameworkAdapter,
  type SessionFactory,
  type ToolChainRun,
} from "./types.ts";

/** The real tool registry with one no-op tool (input validated against `{ type: "object" }`). */
function createTools(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({
    name: NOOP_TOOL,
    description: NOOP_DESCRIPTION,
    inputSchema: { type: "object", additionalProperties: false },
    handler: async () => ({ ok: true }),
  });
  return tools;
}

/** Counts events (they are still built, and appended to the store's event log by the engine). */
function countingSink(): EventSink & { count: number } {
  const sink = {
    count: 0,
    emit() {
      sink.count++;
    },
  };
  return sink;
}

/** The agent every case runs: the no-op tool only, up to 1,000 tool-calling turns (the manifest's maximum). */
const BENCH_AGENT: AgentManifest & { id: string } = {
  id: "bench",
  name: "bench",
  description: "benchmark agent",
  systemPrompt: "You are a benchmark agent.",
  tools: [NOOP_TOOL],
  maxSteps: 1000,
};

/** A one-agent stand-in for the core-types `AgentRegistry` (the registry's lookups are not measured). */
function createAgents(): AgentRegistry {
  const missing = (kind: "TEAM_NOT_FOUND" | "PIPELINE_NOT_FOUND", name: string) =>
    new AriaError(kind, {
      message: `no ${kind === "TEAM_NOT_FOUND" ? "team" : "pipeline"} '${name}'`,
    });
  return {
    getAgent(name) {
      if (name !== BENCH_AGENT.name)
        throw new AriaError("AGENT_NOT_FOUND", { message: `no agent '${name}'` });
      return BENCH_AGENT;
    },
    getTeam(name) {
      throw missing("TEAM_NOT_FOUND", name);
    },
    getPipeline(name) {
      throw missing("PIPELINE_NOT_FOUND", name);
    },
    listAgents: () => [BENCH_AGENT],
    listTeams: () => [],
    listPipelines: () => [],
  };
}

/**
 * The runtime wired as the composition root wires it (createIntelligence's doc): the intelligence
 * layer's agent executor, team executor, recovery and engine config passed to `AriaRuntimeEngine`,
 * then `attach(engine)` so agent-loop events go to the engine's event log.
 */
function createRuntime(llm: LlmClient) {
  const tools = createTools();
  const agents = createAgents();
  const store = new MemoryStateStore();
  const events = countingSink();
  const intelligence = createIntelligence({ agents, tools, llm, store });
  const engine = new AriaRuntimeEngine({
    tools,
    agents,
    store,
    llm,
    events,
    agentExecutor: intelligence.agentExecutor,
    teamExecutor: intelligence.teamExecutor,
    recovery: intelligence.recovery,
    config: { ...intelligence.engineConfig },
  });
  intelligence.attach(engine);
  return { engine, intelligence, store, events };
}

// ═════════════════════════════════════════════════════════════════════════════════════════════════
// Aria agent-loop adapters: ONE function per case. Each gets the scripted `LlmClient` and runs
// Aria's own agent tool-calling loop (issue 6: createIntelligence → AgentExecutor → AgentLoop) with
// the defaults on. Never replace them with a stand-in.
// ═════════════════════════════════════════════════════════════════════════════════════════════════

/**
 * Case 1 (overhead per agent step) and case 2a (1,000-step agent chain): one agent run of N model
 * calls, submitted as the runtime's run service submits an agent run: a one-step plan whose step is
 * the agent (a run record, a checkpoint, run and step events, plan validation), the agent loop's
 * tool calls going through the registry (input validation) with their events in the run's log.
 */
async function ariaAgentRun(llm: LlmClient): Promise<AgentRun> {
  const { engine } = createRuntime(llm);
  return async (steps) => {
    const task = taskFor(steps);
    const result = await engine.runPlan(
      {
        id: "agent:bench",
        objective: task,
        steps: [
          {
            id: "agent",
            type: "agent",
            agent: BENCH_AGENT.name,
            params: { task },
          },
        ],
        output: "{{steps.agent.output}}",
      },
      undefined,
      { task },
    );
    expectEqual(result.run.status, "succeeded", "aria run status");
    expectEqual(
      (result.run.result as { text?: unknown } | undefined)?.text,
      FINAL_ANSWER,
      "aria answer",
    );
  };
}

/** Case 4 (concurrency with the 100 ms model): the same agent run, its model slow. */
async function ariaConcurrentAgentRun(llm: LlmClient): Promise<AgentRun> {
  return ariaAgentRun(llm);
}

/**
 * Case 3 (memory per 1,000 sessions): conversations through the `SessionManager` (a serialized
 * conversation per session in the StateStore, a lease per message, the agent loop with the
 * session's turns as history).
 */
async function ariaSessions(llm: LlmClient): Promise<SessionFactory> {
  const { intelligence, store } = createRuntime(llm);
  const sessions = intelligence.sessions;
  if (sessions === undefined) throw new Error("aria: no session manager");
  return {
    retained: store,
    async open() {
      const { id } = await sessions.create({ agent: BENCH_AGENT.name });
      return {
        async turn(steps) {
          const reply = await sessions.sendMessage(id, { content: taskFor(steps) });
          expectEqual(reply.turn.content, FINAL_ANSWER, "aria session answer");
        },
      };
    },
  };
}

// ═════════════════════════════════════════════════════════════════════════════════════════════════

export const aria: FrameworkAdapter = {
  id: "aria",
  label: "Aria Runtime",
  packages: {
    "@aria/engines": installedVersion("@aria/engines"),
    "@aria/registry": installedVersion("@aria/registry"),
  },
  configuration: {
    defaultsOn: { checkpoints: true, events: true, validation: true },
    agentRuns:
      "createIntelligence wired into AriaRuntimeEngine as the composition root does; each agent run is a one-step plan (step type agent), as the run service submits agent runs: run record, checkpoint, run/step events and the agent loop's llm.usage and tool step events in the store's log",
    sessions:
      "intelligence.sessions (SessionManager): the conversation serialised in the StateStore, a lease per message, history replayed to the agent loop",
    defaults:
      "on: validation (plan graph, tool existence, tool input against its JSON Schema), an incremental checkpoint per step, events to an EventSink and to the store's event log",
    store: "MemoryStateStore (serialised JSON bytes, as a Redis store would keep them)",
    tools: "@aria/registry ToolRegistry with one in-process no-op tool",
    model: "createBenchLlm: an in-process LlmClient answering from the shared script",
    engineConfig:
      "AriaRuntimeEngine defaults (maxParallel 8, leases, step timeout, 64 MiB working memory)",
  },
  agent(latencyMs) {
    const llm = createBenchLlm(latencyMs);
    return latencyMs > 0 ? ariaConcurrentAgentRun(llm) : ariaAgentRun(llm);
  },
  sessions() {
    return ariaSessions(createBenchLlm(0));
  },
  async toolChains(steps): Promise<Record<string, ToolChainRun>> {
    const tools = createTools();
    const store = new MemoryStateStore();
    const events = countingSink();
    const engine = new AriaRuntimeEngine({ tools, store, events });
    const pipeline = {
      name: "chain",
      description: `${steps} no-op tool steps`,
      steps: Array.from({ length: steps }, (_, i) => ({
        id: `s${i}`,
        type: "tool",
        tool: NOOP_TOOL,
        params: {},
      })),
    };
    return {
      "pipeline (AriaRuntimeEngine.runPipeline)": async () => {
        const eventsBefore = events.count;
        // biome-ignore lint/suspicious/noExplicitAny: the manifest's input type is wider than this literal
        const result = await engine.runPipeline(pipeline as any, undefined);
        expectEqual(result.run.status, "succeeded", "aria pipeline status");
        expectEqual(result.run.metrics.stepsSucceeded, steps, "aria steps succeeded");
        if (events.count - eventsBefore < steps) throw new Error("aria: fewer events than steps");
      },
    };
  },
};
