import type { ErrorBody, ExecutionStep } from "@aria/core-types";
import { Budget, PONDER_TOOL_KEY, ReflectionEngine } from "@aria/engines";
import { createScriptedLlm, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import { FixtureTools, nonSystemText } from "./intelligence-fixtures.ts";

const step: ExecutionStep = {
  id: "get",
  type: "tool",
  tool: "data/fetch",
  params: { url: "https://bad.example" },
  continueOnError: false,
};
const error: ErrorBody = {
  code: "TOOL_EXECUTION_FAILED",
  category: "tool",
  severity: "medium",
  message: "404 Not Found",
  userGuidance: "",
  recoveryActions: [],
  retryable: true,
  details: {},
  context: {},
};

const ponderAnswer = (extra: Record<string, unknown>) => ({
  performance: "poor",
  quality: "wrong",
  suggestedImprovements: ["check the URL"],
  reasoning: "The URL is wrong.",
  confidence: 0.7,
  ...extra,
});

describe("ReflectionEngine through ponder", () => {
  const cases: Array<[Record<string, unknown>, unknown]> = [
    [{ action: "retry" }, { type: "retry" }],
    [
      { action: "modify_parameters", modifiedParameters: { url: "https://good" } },
      { type: "retry_with_changes", params: { url: "https://good" } },
    ],
    [
      {
        action: "modify_parameters",
        modifiedParameters: { [PONDER_TOOL_KEY]: "data/mirror", url: "https://m" },
      },
      { type: "use_different_tool", tool: "data/mirror", params: { url: "https://m" } },
    ],
    [{ action: "replan" }, { type: "replan" }],
    [{ action: "skip" }, { type: "skip" }],
    [{ action: "abort" }, { type: "abort" }],
    [{ action: "continue" }, { type: "skip" }],
    [{}, { type: "retry" }],
  ];
  for (const [answer, action] of cases) {
    it(`maps ponder's ${JSON.stringify(answer)} to ${JSON.stringify(action)}`, async () => {
      const inputs: unknown[] = [];
      const tools = new FixtureTools().add("ponder", (input) => {
        inputs.push(input);
        return ponderAnswer(answer);
      });
      const reflection = await new ReflectionEngine({ tools }).reflect({
        runId: "r",
        step,
        succeeded: false,
        error,
        objective: "fetch data",
        round: 1,
      });
      expect(reflection).toMatchObject({
        source: "ponder",
        stepId: "get",
        stepSucceeded: false,
        assessment: {
          performance: "poor",
          quality: "wrong",
          suggestedImprovements: ["check the URL"],
        },
        reasoning: "The URL is wrong.",
        confidence: 0.7,
        action,
      });
      expect(inputs[0]).toMatchObject({
        query: expect.stringContaining("failed with TOOL_EXECUTION_FAILED: 404 Not Found"),
        context: {
          objective: "fetch data",
          step: { id: "get", tool: "data/fetch" },
          error: { message: "404 Not Found" },
        },
      });
    });
  }

  it("falls back to abort when ponder's answer does not match", async () => {
    const tools = new FixtureTools().add("ponder", () => ({ conclusion: "no idea" }));
    const reflection = await new ReflectionEngine({ tools }).reflect({
      runId: "r",
      step,
      succeeded: false,
      error,
    });
    expect(reflection).toMatchObject({
      source: "fallback",
      action: { type: "abort" },
      assessment: { performance: "poor", quality: "wrong" },
      confidence: 0,
    });
  });

  it("falls back to abort when ponder fails", async () => {
    const tools = new FixtureTools().add("ponder", () => {
      throw new Error("LLM down");
    });
    const reflection = await new ReflectionEngine({ tools }).reflect({
      runId: "r",
      step,
      succeeded: false,
      error,
    });
    expect(reflection.source).toBe("fallback");
    expect(reflection.reasoning).toContain("LLM down");
  });
});

describe("ReflectionEngine with the LLM directly", () => {
  const answer = (action: Record<string, unknown>) =>
    JSON.stringify({
      performance: "acceptable",
      quality: "acceptable",
      suggestedImprovements: [],
      reasoning: "r",
      confidence: 0.6,
      action,
      insights: ["URLs change"],
    });

  it("reads the richer action, with one repair round for a bad answer", async () => {
    const llm = createScriptedLlm([
      "not json at all",
      reply.text(answer({ type: "retry_with_changes", params: { url: "https://ok" } }), {
        usage: { inputTokens: 100, outputTokens: 20 },
      }),
    ]);
    const reflection = await new ReflectionEngine({ tools: new FixtureTools(), llm }).reflect({
      runId: "r",
      step,
      succeeded: false,
      error,
    });
    expect(reflection).toMatchObject({
      source: "llm",
      action: { type: "retry_with_changes", params: { url: "https://ok" } },
      insights: ["URLs change"],
    });
    expect(reflection.usage.calls).toBe(2);
    expect(reflection.usage.inputTokens).toBeGreaterThanOrEqual(100);
    // The step's error is data in the user message; the system prompt is fixed.
    expect(nonSystemText(llm.requests[0]!)).toContain("404 Not Found");
    expect(llm.requests[0]!.messages[0]!.content).not.toContain("404 Not Found");
  });

  it("turns a tool switch without a tool into a replan, and 'continue' on a failure into skip", async () => {
    const llm = createScriptedLlm([
      answer({ type: "use_different_tool" }),
      answer({ type: "continue" }),
    ]);
    const engine = new ReflectionEngine({ tools: new FixtureTools(), llm });
    expect((await engine.reflect({ runId: "r", step, succeeded: false, error })).action).toEqual({
      type: "replan",
    });
    expect((await engine.reflect({ runId: "r", step, succeeded: false, error })).action).toEqual({
      type: "skip",
    });
  });

  it("reflects on a success with 'continue' unless the plan must change", async () => {
    const llm = createScriptedLlm([answer({ type: "retry" }), answer({ type: "replan" })]);
    const engine = new ReflectionEngine({ tools: new FixtureTools(), llm });
    const ok = await engine.reflect({ runId: "r", step, succeeded: true, output: { value: 1 } });
    expect(ok).toMatchObject({ stepSucceeded: true, action: { type: "continue" } });
    expect(nonSystemText(llm.requests[0]!)).toContain("succeeded");
    const replan = await engine.reflect({
      runId: "r",
      step,
      succeeded: true,
      output: { value: 1 },
    });
    expect(replan.action).toEqual({ type: "replan" });
  });

  it("refuses to reflect when the run's budget is spent", async () => {
    const llm = createScriptedLlm([answer({ type: "retry" })]);
    const budget = new Budget({ maxTokens: 10 });
    budget.add({ inputTokens: 10 });
    await expect(
      new ReflectionEngine({ tools: new FixtureTools(), llm }).reflect({
        runId: "r",
        step,
        succeeded: false,
        error,
        budgets: [budget],
      }),
    ).rejects.toMatchObject({ code: "BUDGET_EXCEEDED" });
    expect(llm.requests).toHaveLength(0);
  });

  it("uses the LLM when the ponder tool is turned off", async () => {
    const tools = new FixtureTools().add("ponder", () => {
      throw new Error("must not be called");
    });
    const llm = createScriptedLlm([answer({ type: "skip" })]);
    const reflection = await new ReflectionEngine({
      tools,
      llm,
      config: { ponderTool: false },
    }).reflect({
      runId: "r",
      step,
      succeeded: false,
      error,
    });
    expect(reflection).toMatchObject({ source: "llm", action: { type: "skip" } });
  });
});
