/**
 * Aria Runtime, with its defaults on: validation (plan graph, tool existence, tool input against
 * its JSON Schema in the real `@aria/registry` ToolRegistry), an incremental checkpoint per step
 * and events to a sink and to the store's event log (`MemoryStateStore`, which keeps serialised
 * bytes as a Redis store would).
 *
 * The deterministic tool chain runs on the pipeline engine (`AriaRuntimeEngine.runPipeline`).
 * The agent-loop cases (overhead per agent step, the 1,000-step agent chain, sessions,
 * concurrency with the 100 ms model) go through the adapter functions marked below, which wire the
 * engines' agent loop (issue 6) once @aria/engines exports one.
 */
import type { EventSink, LlmClient } from "@aria/core-types";
import { AriaRuntimeEngine, MemoryStateStore } from "@aria/engines";
import { ToolRegistry } from "@aria/registry";
import { createBenchLlm } from "../lib/aria-llm.ts";
import { NOOP_DESCRIPTION, NOOP_TOOL } from "../lib/script.ts";
import { installedVersion } from "../lib/versions.ts";
import {
  type AgentRun,
  expectEqual,
  type FrameworkAdapter,
  NotAvailableError,
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

// ═════════════════════════════════════════════════════════════════════════════════════════════════
// Aria agent-loop adapters: ONE function per case. Each gets the scripted `LlmClient` and must run
// Aria's own agent tool-calling loop with the defaults on (checkpoints, events, validation). Until
// @aria/engines exports the agent loop (issue 6: AgentExecutor implementation / invokeAgent),
// they throw, and the harness reports these rows as missing. Never replace them with a stand-in.
// ═════════════════════════════════════════════════════════════════════════════════════════════════

const AGENT_LOOP_MISSING =
  "not available yet: @aria/engines exports no agent loop (issue 6: an AgentExecutor implementation); wire it in bench/peers/frameworks/aria.ts";

/** Case 1 (overhead per agent step) and case 2a (1,000-step agent chain): one agent run of N model calls. */
async function ariaAgentRun(_llm: LlmClient): Promise<AgentRun> {
  throw new NotAvailableError(AGENT_LOOP_MISSING);
}

/** Case 4 (concurrency with the 100 ms model): the same agent run, its model slow. */
async function ariaConcurrentAgentRun(llm: LlmClient): Promise<AgentRun> {
  return ariaAgentRun(llm);
}

/** Case 3 (memory per 1,000 sessions): conversations that keep their history between turns. */
async function ariaSessions(_llm: LlmClient): Promise<SessionFactory> {
  throw new NotAvailableError(AGENT_LOOP_MISSING);
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
