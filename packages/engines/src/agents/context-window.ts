import type { LlmMessageInput } from "@aria/core-types";

/**
 * Fits a conversation into a small context window. Token counts are estimates (3 characters a
 * token plus 4 per message: deliberately pessimistic, as small local models' tokenizers and chat
 * templates cost more than OpenAI's).
 */
export function estimateTokens(messages: readonly LlmMessageInput[]): number {
  let chars = 0;
  for (const m of messages) {
    chars += (m.content ?? "").length + 16;
    if (m.role === "assistant" && m.toolCalls) chars += JSON.stringify(m.toolCalls).length;
  }
  return Math.ceil(chars / 3);
}

/** What {@link fitContext} did. */
export interface FittedConversation {
  messages: LlmMessageInput[];
  /** Messages left out (0: the conversation fitted as it was). */
  dropped: number;
}

/**
 * The messages to send when only `budgetTokens` remain for the conversation (the system prompt and
 * the answer already subtracted). Whole turns go, oldest first: earlier history, then earlier tool
 * exchanges of the current task; the task's own message (`taskIndex`) and the latest exchange always
 * stay. An assistant message with tool calls goes together with its tool results, and what is sent
 * starts with a user message (chat templates of small models insist on it). The first kept user
 * message says how many messages were left out. The caller's conversation is not changed.
 */
export function fitContext(
  conversation: readonly LlmMessageInput[],
  taskIndex: number,
  budgetTokens: number,
): FittedConversation {
  if (estimateTokens(conversation) <= budgetTokens)
    return { messages: [...conversation], dropped: 0 };
  const units = turnUnits(conversation, taskIndex);
  // Units that may go, oldest first: history before the task, then exchanges after it but the last.
  const droppable = units.filter((u) => u.start < taskIndex || u.start > taskIndex);
  const lastAfterTask = droppable.findLast((u) => u.start > taskIndex);
  const candidates = droppable.filter((u) => u !== lastAfterTask);
  const kept = new Set(units);
  let total = estimateTokens(conversation);
  for (const unit of candidates) {
    if (total <= budgetTokens) break;
    kept.delete(unit);
    total -= estimateTokens(conversation.slice(unit.start, unit.end));
  }
  // What is sent starts with a user message: a history that starts otherwise loses its first turn.
  const first = units.find((u) => kept.has(u));
  if (first !== undefined && first.start < taskIndex && conversation[first.start]?.role !== "user")
    kept.delete(first);
  const messages: LlmMessageInput[] = [];
  let dropped = 0;
  for (const unit of units) {
    if (kept.has(unit)) {
      for (let i = unit.start; i < unit.end; i++) messages.push(conversation[i]!);
    } else dropped += unit.end - unit.start;
  }
  if (dropped > 0) {
    const firstUser = messages.findIndex((m) => m.role === "user");
    const note = `[${dropped} earlier message${dropped === 1 ? " was" : "s were"} left out to fit the model's context window.]`;
    if (firstUser >= 0) {
      const message = messages[firstUser]!;
      messages[firstUser] = { ...message, content: `${note}\n\n${message.content ?? ""}` };
    }
  }
  return { messages, dropped };
}

interface Unit {
  start: number;
  end: number;
}

/**
 * Splits a conversation into turns that go or stay together: before the task, a user message with
 * the answers and tool exchanges that follow it; after the task, a model answer with the tool
 * results (tool messages, or the JSON contract's user message) that follow it.
 */
function turnUnits(conversation: readonly LlmMessageInput[], taskIndex: number): Unit[] {
  const units: Unit[] = [];
  let i = 0;
  while (i < taskIndex) {
    const start = i++;
    while (i < taskIndex && conversation[i]!.role !== "user") i++;
    units.push({ start, end: i });
  }
  if (taskIndex < conversation.length) units.push({ start: taskIndex, end: ++i });
  while (i < conversation.length) {
    const start = i++;
    while (i < conversation.length && conversation[i]!.role !== "assistant") i++;
    units.push({ start, end: i });
  }
  return units;
}
