import { randomUUID } from "node:crypto";
import type {
  Clock,
  Conversation,
  ConversationTurn,
  LlmClient,
  LlmMessageInput,
  StateStore,
} from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import type { AgentInvocationOptions, AgentInvocationResult } from "../agents/agent-executor.ts";
import type { UsageLedger } from "../agents/budget.ts";
import { ConversationEngine, type SummarizationConfig } from "./conversation-engine.ts";

/** The StateStore namespace sessions live in (values are the serialized conversation). */
export const SESSIONS_NAMESPACE = "sessions";

/** What sessions need from the agent layer (the agent executor fits). */
export interface SessionAgentInvoker {
  invokeAgent(
    agent: string,
    message: string,
    options?: AgentInvocationOptions,
  ): Promise<AgentInvocationResult>;
}

/** Collaborators of the {@link SessionManager}. */
export interface SessionManagerDeps {
  store: StateStore;
  agents: SessionAgentInvoker;
  /** Summarization (when a session passes its token budget). */
  llm?: LlmClient;
  /** Charges summarization and agent calls to the session's budget (`session:<id>`). */
  ledger?: UsageLedger;
  clock?: Clock;
  config?: SummarizationConfig & {
    /** Sessions expire this long after their last message (default: never). */
    ttlMs?: number;
    /** How long one message may hold a session's lock (default 10 minutes). */
    lockTtlMs?: number;
    /** Lease owner name of this instance (default `sessions-<uuid>`). */
    instanceId?: string;
  };
}

/** What sending a message returns. */
export interface SessionReply {
  /** The assistant's turn. */
  turn: ConversationTurn;
  session: Conversation;
  /** Tokens and cost of this message (agent and summarization). */
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
}

/**
 * Conversation sessions that continue across messages (`POST /v1/sessions`, `GET
 * /v1/sessions/:id`, `POST /v1/sessions/:id/messages`). Each session is a serialized
 * {@link ConversationEngine} in the StateStore (namespace `sessions`), so any runtime instance can
 * continue it; one message at a time holds the session (an in-process queue plus a store lease
 * across instances). Before the agent runs, a session above its token budget is summarized; the
 * agent then gets the session's turns (and summary, as data) as history.
 */
export class SessionManager {
  private readonly deps: SessionManagerDeps;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly owner: string;

  constructor(deps: SessionManagerDeps) {
    this.deps = deps;
    this.owner = deps.config?.instanceId ?? `sessions-${randomUUID()}`;
  }

  /** Creates a session (optionally bound to an agent) and stores it. */
  async create(options: { id?: string; agent?: string } = {}): Promise<Conversation> {
    if (options.id !== undefined && (await this.load(options.id)) !== undefined) {
      throw new AriaError("RUN_CONFLICT", {
        message: `Session ${options.id} already exists`,
        context: { sessionId: options.id },
      });
    }
    const engine = ConversationEngine.start(
      {
        ...(options.id !== undefined ? { id: options.id } : {}),
        ...(options.agent !== undefined ? { agent: options.agent } : {}),
      },
      this.engineDeps(),
    );
    await this.save(engine);
    return engine.toJSON();
  }

  /** A stored session; `SESSION_NOT_FOUND` when there is none. */
  async get(id: string): Promise<Conversation> {
    const engine = await this.load(id);
    if (engine === undefined) throw notFound(id);
    return engine.toJSON();
  }

  /** Deletes a session. */
  async delete(id: string): Promise<void> {
    await this.deps.store.deleteValue(SESSIONS_NAMESPACE, id);
  }

  /**
   * Sends a user message and returns the assistant's turn. The session moves to `working`, is
   * summarized first when it is above its token budget, the agent answers with the session's turns
   * as history, and the session ends the message `completed` (or `error`, with the error thrown after
   * the session was stored).
   */
  sendMessage(
    id: string,
    message: { content: string; agent?: string; context?: unknown; signal?: AbortSignal },
  ): Promise<SessionReply> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.locked(id, message));
    this.queues.set(id, next);
    const cleanup = () => {
      if (this.queues.get(id) === next) this.queues.delete(id);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  private async locked(
    id: string,
    message: { content: string; agent?: string; context?: unknown; signal?: AbortSignal },
  ): Promise<SessionReply> {
    const store = this.deps.store;
    const lease = await store.acquireLease(
      `session:${id}`,
      this.owner,
      this.deps.config?.lockTtlMs ?? 600_000,
    );
    if (lease === undefined) {
      throw new AriaError("RUN_CONFLICT", {
        message: `Session ${id} is answering another message on another instance`,
        context: { sessionId: id },
      });
    }
    try {
      const engine = await this.load(id);
      if (engine === undefined) throw notFound(id);
      const agent = message.agent ?? engine.agent;
      if (agent === undefined) {
        throw new AriaError("VALIDATION_FAILED", {
          message: `Session ${id} has no agent: name one in the message`,
          details: { issues: [{ path: "agent", message: "required" }] },
        });
      }
      const budget = this.deps.ledger?.get(`session:${id}`);
      const budgets = budget !== undefined ? [budget] : [];
      const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
      engine.transition("working");
      // History is what came before this message (summarized first if the session is too long).
      const summarized = await engine.summarize({
        sessionId: id,
        budgets,
        ...(message.signal !== undefined ? { signal: message.signal } : {}),
      });
      add(usage, summarized);
      const history: LlmMessageInput[] = engine.toMessages();
      // The user's turn is kept as the agent saw it (after input guardrails), so a redacted or
      // blocked message never reaches the model later as history.
      let userTurnAdded = false;
      const addUserTurn = (content: string) => {
        if (userTurnAdded) return;
        userTurnAdded = true;
        engine.addTurn({ role: "user", content });
      };
      let result: AgentInvocationResult;
      try {
        result = await this.deps.agents.invokeAgent(agent, message.content, {
          history,
          sessionId: id,
          ...(message.context !== undefined ? { context: message.context } : {}),
          ...(message.signal !== undefined ? { signal: message.signal } : {}),
          ...(budget !== undefined ? { budgets: [budget] } : {}),
        });
      } catch (error) {
        addUserTurn(
          AriaError.is(error) && error.code === "GUARDRAIL_TRIPPED" && error.details.on === "input"
            ? "[message blocked by a guardrail]"
            : message.content,
        );
        engine.fail(error);
        await this.save(engine);
        throw error;
      }
      addUserTurn(
        !result.success &&
          result.error?.code === "GUARDRAIL_TRIPPED" &&
          result.error.details.on === "input"
          ? "[message blocked by a guardrail]"
          : (result.input ?? message.content),
      );
      add(usage, { ...result.usage, costUsd: result.costUsd });
      if (!result.success) {
        const error = AriaError.fromBody(
          result.error ?? {
            code: "STEP_FAILED",
            category: "execution",
            severity: "medium",
            message: result.response,
            userGuidance: "",
            recoveryActions: [],
            retryable: false,
            details: {},
            context: {},
          },
        );
        engine.fail(error);
        await this.save(engine);
        throw error;
      }
      for (const call of result.toolCalls) {
        engine.addTurn({
          role: "tool",
          content: `${call.tool ?? call.name}: ${call.success ? "succeeded" : "failed"}`,
          agent,
          metadata: { tool: call.tool ?? call.name, success: call.success, turn: call.turn },
        });
      }
      engine.transition("concluding");
      const turn = engine.addTurn({
        role: "assistant",
        content: result.response,
        agent,
        metadata: {
          turns: result.turns,
          usage: { ...result.usage, costUsd: result.costUsd },
          toolCalls: result.toolCalls.length,
        },
      });
      engine.transition("completed");
      await this.save(engine);
      return { turn, session: engine.toJSON(), usage };
    } finally {
      await store.releaseLease(lease).catch(() => {});
    }
  }

  private engineDeps() {
    return {
      ...(this.deps.llm !== undefined ? { llm: this.deps.llm } : {}),
      ...(this.deps.clock !== undefined ? { clock: this.deps.clock } : {}),
      ...(this.deps.config !== undefined ? { config: this.deps.config } : {}),
    };
  }

  private async load(id: string): Promise<ConversationEngine | undefined> {
    let text: string | undefined;
    try {
      text = await this.deps.store.getValue(SESSIONS_NAMESPACE, id);
    } catch (error) {
      throw toAriaError(error, "STORE_UNAVAILABLE");
    }
    return text === undefined ? undefined : ConversationEngine.fromJSON(text, this.engineDeps());
  }

  private async save(engine: ConversationEngine): Promise<void> {
    await this.deps.store.setValue(
      SESSIONS_NAMESPACE,
      engine.id,
      JSON.stringify(engine.toJSON()),
      this.deps.config?.ttlMs,
    );
  }
}

function add(
  target: { inputTokens: number; outputTokens: number; costUsd: number },
  usage: { inputTokens: number; outputTokens: number; costUsd: number },
): void {
  target.inputTokens += usage.inputTokens;
  target.outputTokens += usage.outputTokens;
  target.costUsd += usage.costUsd;
}

function notFound(id: string): AriaError {
  return new AriaError("SESSION_NOT_FOUND", {
    message: `No session with id ${id}`,
    context: { sessionId: id },
  });
}
