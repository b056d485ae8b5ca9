/**
 * The scripted model every framework is driven by: zero latency (or a fixed latency per call), no
 * HTTP, no SDK, no state. Each framework gets a thin adapter that turns its own request shape into
 * `ScriptInput` and the `ScriptDecision` into its own response shape; the decision itself costs the
 * same for everyone (O(1): only the last message is read).
 *
 * Protocol: the user message of a run is `steps=N` (N model calls in the run). The model answers
 * call i (0-based) with one call of the no-op tool, id `c<i>_<N>_<unique>`, while i < N - 1, and with the
 * final text `done` at i = N - 1. The next call finds i again from the id of the tool result that
 * ends its input, so one model object serves any number of concurrent runs.
 */

/** The name of the no-op tool every framework registers. */
export const NOOP_TOOL = "noop";
export const NOOP_DESCRIPTION = "Does nothing and returns { ok: true }.";
/** The final answer of every run. */
export const FINAL_ANSWER = "done";

/** What the model looks at: the last message of its input. */
export type ScriptInput = { kind: "user"; text: string } | { kind: "tool"; callId: string };

export type ScriptDecision =
  | { kind: "tool"; callId: string; name: typeof NOOP_TOOL; argsJson: "{}" }
  | { kind: "answer"; text: string };

/** The user message that asks for a run of `steps` model calls. */
export function taskFor(steps: number): string {
  return `steps=${steps}`;
}

const callCounter = { calls: 0 };

/** Model calls decided so far in this process (a check that the adapters really went through it). */
export function modelCalls(): number {
  return callCounter.calls;
}

/** The scripted model's decision for one call. */
export function decide(input: ScriptInput): ScriptDecision {
  callCounter.calls++;
  let index: number;
  let total: number;
  if (input.kind === "user") {
    if (!input.text.startsWith("steps="))
      throw new Error(`scripted model: bad task '${input.text}'`);
    index = 0;
    total = Number(input.text.slice(6));
  } else {
    const id = input.callId;
    const sep = id.indexOf("_");
    const end = id.indexOf("_", sep + 1);
    if (id[0] !== "c" || sep < 0 || end < 0)
      throw new Error(`scripted model: unknown tool call id '${id}'`);
    index = Number(id.slice(1, sep)) + 1;
    total = Number(id.slice(sep + 1, end));
  }
  if (!(total >= 1) || !(index < total))
    throw new Error(`scripted model: call ${index} of a ${total}-call script`);
  if (index < total - 1)
    return {
      kind: "tool",
      callId: `c${index}_${total}_${callCounter.calls}`,
      name: NOOP_TOOL,
      argsJson: "{}",
    };
  return { kind: "answer", text: FINAL_ANSWER };
}

/** Resolves after `ms` (no timer at all for 0: the zero-latency model answers in a microtask). */
export function latency(ms: number): Promise<void> | undefined {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined;
}

/** Token usage every framework's adapter reports for one call (constant, so nobody counts text). */
export const USAGE = { inputTokens: 10, outputTokens: 5 } as const;
