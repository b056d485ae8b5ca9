/**
 * LangGraph.js (`@langchain/langgraph` with `@langchain/core`): the prebuilt ReAct agent
 * (`createReactAgent`: a model node and a `ToolNode` in a `StateGraph`), its model a custom
 * `BaseChatModel` answered from the scripted model in process (no HTTP), the tool a
 * `@langchain/core` `tool()` with a zod schema. Graphs run with LangGraph's defaults: no
 * checkpointer for one-shot runs; sessions use a `MemorySaver` checkpointer with a thread per
 * conversation, which is how LangGraph keeps conversations.
 */
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";
import { tool } from "@langchain/core/tools";
import { Annotation, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";
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
import {
  type AgentRun,
  expectEqual,
  type FrameworkAdapter,
  type SessionFactory,
  type ToolChainRun,
} from "./types.ts";

function lastInput(messages: BaseMessage[]): ScriptInput {
  const last = messages[messages.length - 1];
  if (last instanceof ToolMessage) return { kind: "tool", callId: last.tool_call_id };
  if (last && last.getType() === "human" && typeof last.content === "string")
    return { kind: "user", text: last.content };
  throw new Error(`scripted model: unexpected last message ${JSON.stringify(last)}`);
}

const usageMetadata = {
  input_tokens: USAGE.inputTokens,
  output_tokens: USAGE.outputTokens,
  total_tokens: USAGE.inputTokens + USAGE.outputTokens,
};

/** A chat model answering from the shared script; binding tools returns itself (nothing to send). */
class ScriptedChatModel extends BaseChatModel {
  readonly latencyMs: number;
  constructor(latencyMs: number) {
    super({});
    this.latencyMs = latencyMs;
  }

  _llmType(): string {
    return "scripted";
  }

  override bindTools(): this {
    return this;
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    await latency(this.latencyMs);
    const decision = decide(lastInput(messages));
    const message =
      decision.kind === "tool"
        ? new AIMessage({
            content: "",
            tool_calls: [{ id: decision.callId, name: decision.name, args: {}, type: "tool_call" }],
            usage_metadata: usageMetadata,
          })
        : new AIMessage({ content: decision.text, usage_metadata: usageMetadata });
    return {
      generations: [{ text: typeof message.content === "string" ? message.content : "", message }],
    };
  }
}

const noop = tool(async () => ({ ok: true }), {
  name: NOOP_TOOL,
  description: NOOP_DESCRIPTION,
  schema: z.object({}),
});

function finalText(state: { messages: BaseMessage[] }): unknown {
  return state.messages[state.messages.length - 1]?.content;
}

/** A chain of `steps` graph nodes, each invoking the no-op tool (the LangGraph way to write a pipeline). */
function chainGraph(steps: number) {
  const State = Annotation.Root({ count: Annotation<number> });
  // biome-ignore lint/suspicious/noExplicitAny: node names are generated, the builder's types track literals
  let graph: any = new StateGraph(State);
  for (let i = 0; i < steps; i++) {
    graph = graph.addNode(`s${i}`, async (state: { count: number }) => {
      await noop.invoke({});
      return { count: state.count + 1 };
    });
  }
  graph = graph.addEdge(START, "s0");
  for (let i = 1; i < steps; i++) graph = graph.addEdge(`s${i - 1}`, `s${i}`);
  graph = graph.addEdge(`s${steps - 1}`, END);
  return graph as StateGraph<typeof State.spec>;
}

export const langgraph: FrameworkAdapter = {
  id: "langgraph",
  label: "LangGraph.js",
  packages: {
    "@langchain/langgraph": installedVersion("@langchain/langgraph"),
    "@langchain/core": installedVersion("@langchain/core"),
  },
  configuration: {
    agent:
      "createReactAgent from @langchain/langgraph/prebuilt (deprecated there in favour of the langchain package's createAgent, which builds the same graph)",
    checkpointer: "none for one-shot runs (the default); MemorySaver for sessions",
    tool: "@langchain/core tool() with a zod schema (input validated)",
    recursionLimit: "2 × steps + 10 (the default of 25 would stop the long chains)",
    toolChain:
      "a StateGraph of N nodes, each invoking the no-op tool; once without and once with MemorySaver",
  },
  async agent(latencyMs): Promise<AgentRun> {
    const agent = createReactAgent({ llm: new ScriptedChatModel(latencyMs), tools: [noop] });
    return async (steps) => {
      const state = await agent.invoke(
        { messages: [{ role: "user", content: taskFor(steps) }] },
        { recursionLimit: 2 * steps + 10 },
      );
      expectEqual(finalText(state), FINAL_ANSWER, "langgraph final message");
    };
  },
  async sessions(): Promise<SessionFactory> {
    const checkpointer = new MemorySaver();
    const agent = createReactAgent({ llm: new ScriptedChatModel(0), tools: [noop], checkpointer });
    return {
      retained: checkpointer,
      async open(index) {
        const config = { configurable: { thread_id: `session-${index}` } };
        return {
          async turn(steps) {
            const state = await agent.invoke(
              { messages: [{ role: "user", content: taskFor(steps) }] },
              { ...config, recursionLimit: 2 * steps + 10 },
            );
            expectEqual(finalText(state), FINAL_ANSWER, "langgraph final message");
          },
        };
      },
    };
  },
  async toolChains(steps): Promise<Record<string, ToolChainRun>> {
    const plain = chainGraph(steps).compile();
    const saver = new MemorySaver();
    const durable = chainGraph(steps).compile({ checkpointer: saver });
    let thread = 0;
    return {
      "StateGraph, no checkpointer (default)": async () => {
        const state = await plain.invoke({ count: 0 }, { recursionLimit: steps + 10 });
        expectEqual(state.count, steps, "langgraph chain count");
      },
      "StateGraph + MemorySaver checkpointer": async () => {
        const state = await durable.invoke(
          { count: 0 },
          { recursionLimit: steps + 10, configurable: { thread_id: `chain-${thread++}` } },
        );
        expectEqual(state.count, steps, "langgraph chain count");
      },
    };
  },
};
