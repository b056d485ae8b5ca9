import type { ExecutionStep } from "@aria/core-types";
import { checkPlan, PlanningEngine } from "@aria/engines";
import { createScriptedLlm, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import { FixtureTools, nonSystemText } from "./intelligence-fixtures.ts";

function geometryTools(): FixtureTools {
  return new FixtureTools()
    .add("geo/area", {
      handler: ({ radius }) => ({ area: Math.PI * Number(radius) ** 2, unit: "cm2" }),
      inputSchema: {
        type: "object",
        properties: { radius: { type: "number" } },
        required: ["radius"],
      },
      outputSchema: {
        type: "object",
        properties: { area: { type: "number" }, unit: { type: "string" } },
        required: ["area", "unit"],
      },
    })
    .add("geo/describe", {
      handler: ({ value, label }) => `${label}: ${value}`,
      inputSchema: {
        type: "object",
        properties: { value: { type: "number" }, label: { type: "string" } },
        required: ["value"],
      },
      outputSchema: { type: "string" },
    })
    .add("files/write", {
      handler: () => ({ written: true }),
      inputSchema: {
        type: "object",
        properties: { path: { type: "string" }, content: { type: "string" } },
      },
      outputSchema: { type: "object", properties: { written: { type: "boolean" } } },
    })
    .add("other/secret", { handler: () => "x" });
}

const agent = { name: "geometer", tools: ["geo/area", "geo/describe", "files/write"] };
const step = (s: Partial<ExecutionStep> & { id: string }): ExecutionStep =>
  ({ type: "tool", params: {}, continueOnError: false, ...s }) as ExecutionStep;

describe("analyzeTask", () => {
  it("asks the model, giving the local estimate as a hint", async () => {
    const llm = createScriptedLlm([
      '{"complexity": "complex", "needsPlanning": true, "needsContainers": false, "estimatedSteps": 3, "reasoning": "area, then a description, then a file"}',
    ]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const analysis = await planning.analyzeTask(
      "Compute the area of a circle of radius 2, describe it, and write it to circle.txt.",
      agent,
    );
    expect(analysis).toMatchObject({
      source: "llm",
      needsPlanning: true,
      estimatedSteps: 3,
      complexity: "complex",
    });
    expect(analysis.usage.calls).toBe(1);
    const text = nonSystemText(llm.requests[0]!);
    expect(text).toContain("Local estimate (a hint)");
  });

  it("falls back to the hint when the model's answer is unusable", async () => {
    const llm = createScriptedLlm(["I think it is complicated."]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const analysis = await planning.analyzeTask("What is 10+5? Use area then describe.", agent);
    expect(analysis.source).toBe("heuristic");
    expect(analysis.reasoning).toContain("not usable");
  });

  it("the hint counts mentioned tools and clauses, with no keyword list (no false alarms on '10+5' or 'blockchain')", () => {
    const planning = new PlanningEngine({ llm: createScriptedLlm("x"), tools: geometryTools() });
    expect(planning.hint("What is 10+5?", agent).needsPlanning).toBe(false);
    expect(planning.hint("Explain blockchain", agent).needsPlanning).toBe(false);
    const multi = planning.hint(
      "Use area on radius 3. Then describe the value. Then write the text to a file.",
      agent,
    );
    expect(multi.toolsMentioned).toEqual(["geo/area", "geo/describe", "files/write"]);
    expect(multi.needsPlanning).toBe(true);
  });

  it("uses the hint alone in heuristic mode (no model call)", async () => {
    const llm = createScriptedLlm([]);
    const planning = new PlanningEngine({
      llm,
      tools: geometryTools(),
      config: { analysis: "heuristic" },
    });
    const analysis = await planning.analyzeTask("area of radius 2", agent);
    expect(analysis.source).toBe("heuristic");
    expect(llm.requests).toHaveLength(0);
  });
});

describe("plan validation (checkPlan)", () => {
  const tools = geometryTools();
  const ctx = { tools, allowedTools: new Set(agent.tools) };

  it("accepts a plan whose placeholders name earlier steps and paths their outputs have", () => {
    const issues = checkPlan(
      [
        step({ id: "a", tool: "geo/area", params: { radius: 2 } }),
        step({
          id: "b",
          tool: "geo/describe",
          params: { value: "{{step_1_output.area}}", label: "{{steps.a.output.unit}}" },
        }),
        step({
          id: "c",
          tool: "files/write",
          params: { path: "c.txt", content: "{{step_2_output}}" },
        }),
      ],
      ctx,
    );
    expect(issues).toEqual([]);
  });

  it("names unknown tools, tools that are not the agent's and missing parameters", () => {
    const issues = checkPlan(
      [
        step({ id: "a", tool: "web/search", params: { q: "x" } }),
        step({ id: "b", tool: "other/secret" }),
        step({ id: "c", tool: "geo/area" }),
      ],
      ctx,
    );
    expect(issues.map((i) => i.code)).toEqual([
      "unknown_tool",
      "tool_not_allowed",
      "missing_parameter",
    ]);
    expect(issues[0]!.message).toBe(
      "step 'a' (step 1): tool 'web/search' does not exist. Tools you may use: files/write, geo/area, geo/describe.",
    );
    expect(issues[2]!.message).toContain("needs parameter 'radius'");
  });

  it("names placeholders to later or missing steps, missing output paths and type mismatches", () => {
    const issues = checkPlan(
      [
        step({ id: "a", tool: "geo/area", params: { radius: "{{step_2_output.area}}" } }),
        step({ id: "b", tool: "geo/describe", params: { value: "{{steps.a.output.perimeter}}" } }),
        step({ id: "c", tool: "geo/describe", params: { value: "{{steps.a.output.unit}}" } }),
        step({ id: "d", tool: "geo/describe", params: { value: "{{step_9_output}}" } }),
        step({
          id: "e",
          tool: "geo/describe",
          params: { value: 1, label: "area {{step_1_output.area}} ok" },
        }),
      ],
      ctx,
    );
    const byCode = issues.map((i) => i.code);
    expect(byCode).toEqual([
      "later_step_reference",
      "missing_output_path",
      "incompatible_type",
      "unknown_step_reference",
    ]);
    expect(issues[1]!.message).toContain("has no 'perimeter'; it has: area, unit");
    expect(issues[2]!.message).toContain("expects number, but that output is string");
  });

  it("checks paths into kept steps against their real outputs", () => {
    const issues = checkPlan(
      [step({ id: "n", tool: "geo/describe", params: { value: "{{steps.k.output.total}}" } })],
      {
        ...ctx,
        kept: [
          { step: step({ id: "k", tool: "files/write" }), succeeded: true, output: { count: 3 } },
        ],
        reservedIds: new Set(["k", "old"]),
      },
    );
    expect(issues.map((i) => i.code)).toEqual(["missing_output_path"]);
    expect(issues[0]!.message).toContain("has no 'total'; it has: count");
  });
});

describe("createExecutionPlan", () => {
  const good = JSON.stringify({
    steps: [
      { id: "area", type: "tool", tool: "geo/area", params: { radius: 2 } },
      {
        id: "text",
        type: "tool",
        tool: "describe",
        params: { value: "{{step_1_output.area}}", label: "area" },
      },
      {
        id: "save",
        tool: "files__write",
        parameters: { path: "a.txt", content: "{{steps.text.output}}" },
      },
    ],
    reasoning: "compute, describe, save",
    confidence: 0.9,
  });

  it("returns a validated plan, mapping bare and LLM-safe tool names back to ids", async () => {
    const llm = createScriptedLlm([good]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const created = await planning.createExecutionPlan("area of radius 2 into a.txt", agent);
    expect(created.attempts).toBe(1);
    expect(created.plan.steps.map((s) => s.tool)).toEqual([
      "geo/area",
      "geo/describe",
      "files/write",
    ]);
    expect(created.plan.steps[2]!.params).toEqual({
      path: "a.txt",
      content: "{{steps.text.output}}",
    });
    expect(created.plan.reasoning).toBe("compute, describe, save");
    expect(llm.requests[0]!.responseFormat).toBe("json");
  });

  it("sends the problems back for one repair round", async () => {
    const bad = JSON.stringify({
      steps: [{ id: "s", type: "tool", tool: "web/search", params: { q: "circles" } }],
    });
    const llm = createScriptedLlm([bad, good]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const created = await planning.createExecutionPlan("area", agent);
    expect(created.attempts).toBe(2);
    expect(created.repaired[0]).toContain("tool 'web/search' does not exist");
    const repair = llm.requests[1]!.messages;
    expect(repair.at(-2)).toMatchObject({ role: "assistant", content: bad });
    expect((repair.at(-1) as { content: string }).content).toContain(
      "- step 's' (step 1): tool 'web/search' does not exist. Tools you may use: files/write, geo/area, geo/describe.",
    );
  });

  it("rejects a plan naming an unknown tool after one repair round with PLAN_INVALID", async () => {
    const bad = JSON.stringify({
      steps: [{ id: "s", type: "tool", tool: "web/search", params: { q: "x" } }],
    });
    const llm = createScriptedLlm([bad, bad, good]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    await expect(planning.createExecutionPlan("area", agent)).rejects.toMatchObject({
      code: "PLAN_INVALID",
      details: {
        attempts: 2,
        problems: [expect.stringContaining("tool 'web/search' does not exist")],
      },
    });
    expect(llm.requests).toHaveLength(2);
  });

  it("repairs answers that are not JSON or not plans", async () => {
    const llm = createScriptedLlm(["Sure! Here is my plan: step one...", good]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const created = await planning.createExecutionPlan("area", agent);
    expect(created.repaired).toEqual(["the answer is not JSON"]);
  });
});

describe("adaptPlan", () => {
  it("writes new steps after the kept ones, refusing reused ids once", async () => {
    const reuse = JSON.stringify({
      steps: [{ id: "area", tool: "geo/describe", params: { value: 1 } }],
    });
    const fresh = JSON.stringify({
      steps: [
        {
          id: "describe2",
          tool: "geo/describe",
          params: { value: "{{steps.area.output.area}}", label: "r2" },
        },
      ],
      reasoning: "describe directly",
    });
    const llm = createScriptedLlm([reuse, fresh]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const adapted = await planning.adaptPlan({
      objective: "area and description",
      agent,
      plan: {
        steps: [
          step({ id: "area", tool: "geo/area", params: { radius: 2 } }),
          step({ id: "broken", tool: "geo/describe", params: { value: "x" } }),
        ],
      },
      kept: [
        {
          step: step({ id: "area", tool: "geo/area", params: { radius: 2 } }),
          succeeded: true,
          output: { area: 12.5, unit: "cm2" },
        },
      ],
      reason: {
        stepId: "broken",
        error: { code: "VALIDATION_FAILED", message: "value must be a number" },
      },
    });
    expect(adapted.attempts).toBe(2);
    expect(adapted.steps.map((s) => s.id)).toEqual(["describe2"]);
    const first = nonSystemText(llm.requests[0]!);
    expect(first).toContain('"output":{"area":12.5,"unit":"cm2"}');
    expect(first).toContain("numbered from 2");
    expect((llm.requests[1]!.messages.at(-1) as { content: string }).content).toContain(
      "the id 'area' is already used",
    );
  });

  it("answers within the run's budget", async () => {
    const { Budget } = await import("@aria/engines");
    const llm = createScriptedLlm([
      reply.text("{}", { usage: { inputTokens: 500, outputTokens: 500 } }),
    ]);
    const planning = new PlanningEngine({ llm, tools: geometryTools() });
    const budget = new Budget({ maxTokens: 1000 });
    await expect(
      planning.createExecutionPlan("area", agent, { budgets: [budget] }),
    ).rejects.toMatchObject({
      code: "BUDGET_EXCEEDED",
    });
    expect(llm.requests).toHaveLength(1);
  });
});
