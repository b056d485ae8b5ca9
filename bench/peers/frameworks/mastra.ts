/**
 * Mastra (`@mastra/core`): an `Agent` with one `createTool` tool, its model a hand-written AI SDK
 * `LanguageModelV2` object (the interface Mastra drives, the same shape as `MockLanguageModelV2`)
 * answered from the scripted model in process (no HTTP). Sessions use Mastra's own memory
 * (`@mastra/memory` `Memory` on the in-memory `InMemoryStore`, a thread per conversation). The tool
 * chain is a Mastra workflow of N `createStep` steps.
 */
import { Agent } from "@mastra/core/agent";
import { InMemoryStore } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { Memory } from "@mastra/memory";
import { z } from "zod";
import {
  decide,
  FINAL_ANSWER,
  latency,
  NOOP_DESCRIPTION,
  NOOP_TOOL,
  type ScriptDecision,
  type ScriptInput,
  taskFor,
  USAGE,
} from "../lib/script.ts";
import { installedVersion } from "../lib/versions.ts";
import {
  type AgentRun,
  expectEqual,
  type FrameworkAdapter,
  type SessionFactory,
  type ToolChainRun,
} from "./types.ts";

/** The parts of the AI SDK V2 prompt the script reads. */
type PromptMessage =
  | { role: "user"; content: Array<{ type: string; text?: string }> }
  | { role: "tool"; content: Array<{ type: string; toolCallId: string }> }
  | { role: "system" | "assistant"; content: unknown };

function lastInput(prompt: PromptMessage[]): ScriptInput {
  const last = prompt[prompt.length - 1];
  if (last?.role === "tool") {
    const part = last.content[last.content.length - 1];
    if (part?.type === "tool-result") return { kind: "tool", callId: part.toolCallId };
  }
  if (last?.role === "user") {
    const text = last.content.find((part) => part.type === "text")?.text;
    if (text !== undefined) return { kind: "user", text };
  }
  throw new Error(`scripted model: unexpected last prompt message ${JSON.stringify(last)}`);
}

const usage = {
  inputTokens: USAGE.inputTokens,
  outputTokens: USAGE.outputTokens,
  totalTokens: USAGE.inputTokens + USAGE.outputTokens,
};

function streamParts(decision: ScriptDecision): unknown[] {
  const start = { type: "stream-start", warnings: [] };
  if (decision.kind === "tool") {
    return [
      start,
      {
        type: "tool-call",
        toolCallId: decision.callId,
        toolName: decision.name,
        input: decision.argsJson,
      },
      { type: "finish", finishReason: "tool-calls", usage },
    ];
  }
  return [
    start,
    { type: "text-start", id: "t" },
    { type: "text-delta", id: "t", delta: decision.text },
    { type: "text-end", id: "t" },
    { type: "finish", finishReason: "stop", usage },
  ];
}

/** An AI SDK `LanguageModelV2` answering from the shared script. */
function scriptedModel(latencyMs: number) {
  return {
    specificationVersion: "v2" as const,
    provider: "scripted",
    modelId: "scripted",
    supportedUrls: {},
    async doGenerate(options: { prompt: unknown }) {
      await latency(latencyMs);
      const decision = decide(lastInput(options.prompt as PromptMessage[]));
      const content =
        decision.kind === "tool"
          ? [
              {
                type: "tool-call" as const,
                toolCallId: decision.callId,
                toolName: decision.name,
                input: decision.argsJson,
              },
            ]
          : [{ type: "text" as const, text: decision.text }];
      return {
        content,
        finishReason: decision.kind === "tool" ? ("tool-calls" as const) : ("stop" as const),
        usage,
        warnings: [],
      };
    },
    async doStream(options: { prompt: unknown }) {
      await latency(latencyMs);
      const parts = streamParts(decide(lastInput(options.prompt as PromptMessage[])));
      return {
        stream: new ReadableStream({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        }),
      };
    },
  };
}

const noop = createTool({
  id: NOOP_TOOL,
  description: NOOP_DESCRIPTION,
  inputSchema: z.object({}),
  execute: async () => ({ ok: true }),
});

function makeAgent(latencyMs: number, memory?: Memory) {
  return new Agent({
    id: "bench",
    name: "bench",
    instructions: "You are a benchmark agent.",
    // biome-ignore lint/suspicious/noExplicitAny: the V2 model type is internal to @mastra/core's bundled types
    model: scriptedModel(latencyMs) as any,
    tools: { [NOOP_TOOL]: noop },
    ...(memory ? { memory } : {}),
  });
}

function chainWorkflow(steps: number) {
  const schema = z.object({ count: z.number() });
  // biome-ignore lint/suspicious/noExplicitAny: step ids are generated, the builder's types track literals
  let workflow: any = createWorkflow({ id: "chain", inputSchema: schema, outputSchema: schema });
  for (let i = 0; i < steps; i++) {
    workflow = workflow.then(
      createStep({
        id: `s${i}`,
        inputSchema: schema,
        outputSchema: schema,
        execute: async ({ inputData }) => ({ count: inputData.count + 1 }),
      }),
    );
  }
  return workflow.commit();
}

export const mastra: FrameworkAdapter = {
  id: "mastra",
  label: "Mastra",
  packages: {
    "@mastra/core": installedVersion("@mastra/core"),
    "@mastra/memory": installedVersion("@mastra/memory"),
  },
  configuration: {
    agent: "new Agent({ model, tools }) defaults, agent.generate()",
    maxSteps: "steps + 1 (the default would stop the long chains)",
    model:
      "a LanguageModelV2 object (doGenerate/doStream), the interface Mastra drives for AI SDK v5 models",
    sessions: "Memory (@mastra/memory) on InMemoryStore, one thread per conversation",
    toolChain: "createWorkflow with N createStep steps (zod input/output schemas), run.start()",
  },
  async agent(latencyMs): Promise<AgentRun> {
    const agent = makeAgent(latencyMs);
    return async (steps) => {
      const result = await agent.generate(taskFor(steps), { maxSteps: steps + 1 });
      expectEqual(result.text, FINAL_ANSWER, "mastra final text");
    };
  },
  async sessions(): Promise<SessionFactory> {
    const storage = new InMemoryStore();
    const memory = new Memory({ storage });
    const agent = makeAgent(0, memory);
    return {
      retained: { storage, memory },
      async open(index) {
        const thread = `session-${index}`;
        return {
          async turn(steps) {
            const result = await agent.generate(taskFor(steps), {
              maxSteps: steps + 1,
              memory: { thread, resource: "bench" },
            });
            expectEqual(result.text, FINAL_ANSWER, "mastra final text");
          },
        };
      },
    };
  },
  async toolChains(steps): Promise<Record<string, ToolChainRun>> {
    const workflow = chainWorkflow(steps);
    return {
      "workflow of createStep steps": async () => {
        const run = await workflow.createRun();
        const result = await run.start({ inputData: { count: 0 } });
        expectEqual(result.status, "success", "mastra workflow status");
        expectEqual(result.result?.count, steps, "mastra workflow count");
      },
    };
  },
};
