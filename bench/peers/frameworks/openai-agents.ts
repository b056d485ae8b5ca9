/**
 * OpenAI Agents JS (`@openai/agents`): an `Agent` with one function tool, run by a `Runner`, its
 * model a scripted implementation of the SDK's `Model` interface (no HTTP). Tracing stays on as by
 * default in Node, but the default exporter (which posts to the OpenAI API) is replaced by a no-op
 * exporter behind the same `BatchTraceProcessor`: spans are still created and batched.
 */
import {
  Agent,
  type AgentInputItem,
  BatchTraceProcessor,
  MemorySession,
  type Model,
  type ModelRequest,
  type ModelResponse,
  Runner,
  setTraceProcessors,
  tool,
  Usage,
} from "@openai/agents";
import { z } from "zod";
import {
  decide,
  FINAL_ANSWER,
  latency,
  NOOP_DESCRIPTION,
  NOOP_TOOL,
  type ScriptInput,
  taskFor,
  USAGE,
} from "../lib/script.ts";
import { installedVersion } from "../lib/versions.ts";
import { type AgentRun, expectEqual, type FrameworkAdapter, type SessionFactory } from "./types.ts";

setTraceProcessors([new BatchTraceProcessor({ export: async () => {} })]);

function lastInput(input: string | AgentInputItem[]): ScriptInput {
  if (typeof input === "string") return { kind: "user", text: input };
  const last = input[input.length - 1];
  if (last?.type === "function_call_result") return { kind: "tool", callId: last.callId };
  if (last && "role" in last && last.role === "user") {
    const content = last.content;
    if (typeof content === "string") return { kind: "user", text: content };
    const first = content[0];
    if (first?.type === "input_text") return { kind: "user", text: first.text };
  }
  throw new Error(`scripted model: unexpected last input item ${JSON.stringify(last)}`);
}

/** The SDK's `Model` interface answered from the shared script. */
class ScriptedModel implements Model {
  readonly latencyMs: number;
  constructor(latencyMs: number) {
    this.latencyMs = latencyMs;
  }

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    await latency(this.latencyMs);
    const decision = decide(lastInput(request.input));
    const usage = new Usage({
      requests: 1,
      inputTokens: USAGE.inputTokens,
      outputTokens: USAGE.outputTokens,
      totalTokens: USAGE.inputTokens + USAGE.outputTokens,
    });
    if (decision.kind === "tool") {
      return {
        usage,
        output: [
          {
            type: "function_call",
            id: decision.callId,
            callId: decision.callId,
            name: decision.name,
            status: "completed",
            arguments: decision.argsJson,
          },
        ],
      };
    }
    return {
      usage,
      output: [
        {
          type: "message",
          id: "msg",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: decision.text }],
        },
      ],
    };
  }

  // biome-ignore lint/correctness/useYield: the benchmark never streams
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("the scripted model does not stream");
  }
}

const noop = tool({
  name: NOOP_TOOL,
  description: NOOP_DESCRIPTION,
  parameters: z.object({}),
  execute: async () => ({ ok: true }),
});

function makeAgent(latencyMs: number) {
  return new Agent({
    name: "bench",
    instructions: "You are a benchmark agent.",
    model: new ScriptedModel(latencyMs),
    tools: [noop],
  });
}

export const openaiAgents: FrameworkAdapter = {
  id: "openai-agents",
  label: "OpenAI Agents JS",
  packages: {
    "@openai/agents": installedVersion("@openai/agents"),
  },
  configuration: {
    runner:
      "new Runner() defaults (tool input validated by zod, guardrails and hooks machinery on)",
    tracing:
      "on (BatchTraceProcessor) with a no-op exporter instead of the default OpenAI exporter (no network)",
    maxTurns: "steps + 1 (the default of 10 would stop the long chains)",
    sessions: "MemorySession per conversation",
  },
  async agent(latencyMs): Promise<AgentRun> {
    const agent = makeAgent(latencyMs);
    const runner = new Runner();
    return async (steps) => {
      const result = await runner.run(agent, taskFor(steps), { maxTurns: steps + 1 });
      expectEqual(result.finalOutput, FINAL_ANSWER, "openai-agents final output");
    };
  },
  async sessions(): Promise<SessionFactory> {
    const agent = makeAgent(0);
    const runner = new Runner();
    return {
      async open() {
        const session = new MemorySession();
        return {
          async turn(steps) {
            const result = await runner.run(agent, taskFor(steps), {
              maxTurns: steps + 1,
              session,
            });
            expectEqual(result.finalOutput, FINAL_ANSWER, "openai-agents final output");
          },
        };
      },
    };
  },
};
