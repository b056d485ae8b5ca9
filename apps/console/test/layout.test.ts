import { describe, expect, it } from "vitest";
import { dependencies, layoutPlan } from "../src/graph/layout.ts";

describe("plan graph layout", () => {
  it("derives dependencies as the engine does: dependsOn, the previous step, placeholders", () => {
    const deps = dependencies([
      { id: "a" },
      { id: "b", dependsOn: [] },
      { id: "c" },
      { id: "d", dependsOn: ["a"], params: { x: "{{steps.c.output.y}} and {{ step_2_output }}" } },
    ]);
    expect(Object.fromEntries(deps)).toEqual({ a: [], b: [], c: ["b"], d: ["a", "c", "b"] });
  });

  it("puts parallel branches in one column and a join after both", () => {
    const layout = layoutPlan([
      { id: "start", dependsOn: [] },
      { id: "left", dependsOn: ["start"] },
      { id: "right", dependsOn: ["start"] },
      { id: "join", dependsOn: ["left", "right"] },
    ]);
    const node = (id: string) => layout.nodes.find((n) => n.id === id)!;
    expect(node("start").layer).toBe(0);
    expect(node("left").layer).toBe(1);
    expect(node("right").layer).toBe(1);
    expect(node("left").x).toBe(node("right").x);
    expect(node("left").y).not.toBe(node("right").y);
    expect(node("join").layer).toBe(2);
    expect(layout.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual([
      "left>join",
      "right>join",
      "start>left",
      "start>right",
    ]);
    expect(layout.width).toBeGreaterThan(node("join").x);
  });

  it("survives a cycle (an invalid plan) without recursing forever", () => {
    const layout = layoutPlan([
      { id: "a", dependsOn: ["b"] },
      { id: "b", dependsOn: ["a"] },
    ]);
    expect(layout.nodes).toHaveLength(2);
  });
});
