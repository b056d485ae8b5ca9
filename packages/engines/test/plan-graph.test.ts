import { buildPlanGraph, type PlanProblem, validatePlan } from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import { TestAgents, TestTools } from "./helpers.ts";

const tool = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: "tool",
  tool: "noop",
  ...extra,
});
const codes = (problems: PlanProblem[]) => problems.map((p) => p.code).sort();

describe("plan graphs", () => {
  it("steps without dependsOn follow the step before them; dependsOn: [] makes a root", () => {
    const graph = buildPlanGraph([
      tool("a"),
      tool("b"),
      tool("c", { dependsOn: [] }),
      tool("d", { dependsOn: ["b", "c"] }),
    ]);
    expect(graph.dependencies).toEqual([[], [0], [], [1, 2]]);
    expect(graph.dependants).toEqual([[1], [3], [3], []]);
  });

  it("with implicitOrder none, only dependsOn and placeholders order steps", () => {
    const graph = buildPlanGraph(
      [tool("a"), tool("b"), tool("c", { params: { x: "{{steps.a.output}}" } })],
      { implicitOrder: "none" },
    );
    expect(graph.dependencies).toEqual([[], [], [0]]);
  });

  it("placeholders add their steps as dependencies and are remembered for retention", () => {
    const graph = buildPlanGraph([
      tool("a", { dependsOn: [] }),
      tool("b", { dependsOn: [] }),
      tool("c", {
        dependsOn: ["a"],
        params: { x: "{{steps.b.output.n}}", y: ["{{step_1_output}}"] },
      }),
    ]);
    expect(graph.dependencies[2]).toEqual([0, 1]);
    expect(graph.referencedSteps[2]).toEqual([1, 0]);
    expect(graph.outputSteps).toEqual([2]);
  });

  it("the output mapping's references are validated and recorded", () => {
    const graph = buildPlanGraph([tool("a"), tool("b")], {
      output: { first: "{{steps.a.output}}", n: "{{input.n}}" },
    });
    expect(graph.outputSteps).toEqual([0]);
    expect(graph.usesInput).toBe(true);
    const problems = validatePlan([tool("a")], { output: "{{steps.zzz.output}}" });
    expect(problems).toEqual([
      expect.objectContaining({ code: "unknown_reference", where: "output" }),
    ]);
  });

  it("lists every problem at once in PLAN_INVALID", () => {
    const steps = [
      tool("a", { dependsOn: ["ghost"] }),
      tool("a"),
      tool("b", { dependsOn: ["b"] }),
      tool("c", {
        params: {
          x: "{{step_9_output}}",
          y: "{{steps.nope.output}}",
          z: "{{steps.c.output}}",
          w: "{{what}}",
        },
      }),
      { id: "d", type: "tool" },
    ];
    try {
      buildPlanGraph(steps);
      expect.unreachable();
    } catch (error) {
      expect(AriaError.hasCode(error, "PLAN_INVALID")).toBe(true);
      const problems = (error as AriaError).details.problems as PlanProblem[];
      expect(codes(problems)).toEqual([
        "duplicate_id",
        "invalid_reference",
        "invalid_step",
        "self_dependency",
        "self_reference",
        "unknown_dependency",
        "unknown_reference",
        "unknown_reference",
      ]);
      expect(problems.find((p) => p.code === "invalid_step")).toMatchObject({
        stepId: "d",
        where: "steps[4].tool",
      });
      expect((error as AriaError).message).toContain("and 3 more");
    }
  });

  it("finds cycles in dependsOn", () => {
    const problems = validatePlan([
      tool("a", { dependsOn: ["c"] }),
      tool("b", { dependsOn: ["a"] }),
      tool("c", { dependsOn: ["b"] }),
      tool("d", { dependsOn: [] }),
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: "cycle" });
    expect(problems[0]!.message).toMatch(
      /'a' → 'b' → 'c' → 'a'|'b' → 'c' → 'a' → 'b'|'c' → 'a' → 'b' → 'c'/,
    );
  });

  it("a placeholder to a step that is not an ancestor (it runs later) is a cycle through the implicit edge", () => {
    // b follows a (no dependsOn); a references b's output: b must run before a, which runs before b.
    const problems = validatePlan([tool("a", { params: { x: "{{step_2_output}}" } }), tool("b")]);
    expect(problems).toEqual([expect.objectContaining({ code: "cycle" })]);
    expect(problems[0]!.message).toContain(
      "placeholders reference steps that cannot run before them",
    );
    // The same reference is fine when the order allows it.
    expect(
      validatePlan([
        tool("a", { params: { x: "{{step_2_output}}" } }),
        tool("b", { dependsOn: [] }),
      ]),
    ).toEqual([]);
  });

  it("checks tools, agents and pipelines against the registries", () => {
    const tools = new TestTools().add("noop", () => null);
    const agents = new TestAgents([], ["analyst"]);
    const problems = validatePlan(
      [
        tool("a"),
        tool("b", { tool: "missing" }),
        { id: "c", type: "agent", agent: "analyst" },
        { id: "d", type: "agent", agent: "ghost" },
        { id: "e", type: "pipeline", pipeline: "nope" },
      ],
      { tools, agents },
    );
    expect(codes(problems)).toEqual(["unknown_agent", "unknown_pipeline", "unknown_tool"]);
  });

  it("enforces the step limit", () => {
    expect(codes(validatePlan([tool("a"), tool("b"), tool("c")], { maxSteps: 2 }))).toEqual([
      "too_many_steps",
    ]);
  });

  it("validates a 10 000-step chain without recursion limits", () => {
    const steps = Array.from({ length: 10_000 }, (_, i) =>
      tool(`s${i}`, i > 0 ? { params: { x: `{{steps.s${i - 1}.output}}` } } : {}),
    );
    const graph = buildPlanGraph(steps);
    expect(graph.steps).toHaveLength(10_000);
    const cyclic = [
      ...steps.slice(0, -1),
      tool("s9999", { dependsOn: ["s9998"], params: { x: "{{steps.s0.output}}" } }),
    ];
    cyclic[0] = tool("s0", { params: { y: "{{steps.s9999.output}}" } });
    expect(codes(validatePlan(cyclic))).toEqual(["cycle"]);
  });
});
