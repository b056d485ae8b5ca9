import { describe, expect, it } from "vitest";
import type { RunDetail, RunEvent } from "../src/api/types.ts";
import { stepViews } from "../src/run-model.ts";

const metrics = {
  durationMs: 0,
  attempts: 0,
  retries: 0,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
};

function run(status: RunDetail["status"], steps: RunDetail["steps"] = []): RunDetail {
  return {
    id: "run_1",
    status,
    target: { kind: "pipeline", name: "p" },
    plan: {
      id: "p",
      steps: [
        { id: "a", type: "tool", tool: "t/a" },
        { id: "b", type: "tool", tool: "t/b", dependsOn: ["a"] },
        { id: "c", type: "agent", agent: "helper", dependsOn: ["a"] },
      ],
    },
    steps,
    result: null,
    error: null,
    metrics: { ...metrics, stepsTotal: 3, stepsSucceeded: 0, stepsFailed: 0 },
    cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
}

let seq = 0;
const event = (
  type: string,
  stepId: string | undefined,
  data: Record<string, unknown> = {},
): RunEvent => ({
  runId: "run_1",
  seq: ++seq,
  type,
  at: `2026-01-01T00:00:0${seq % 10}.000Z`,
  ...(stepId ? { stepId } : {}),
  data,
});

describe("stepViews", () => {
  it("lists the plan's steps in order with their targets, all pending at first", () => {
    const views = stepViews(run("running"), []);
    expect(views.map((v) => [v.id, v.type, v.target, v.status])).toEqual([
      ["a", "tool", "t/a", "pending"],
      ["b", "tool", "t/b", "pending"],
      ["c", "agent", "helper", "pending"],
    ]);
  });

  it("follows the events: running, succeeded, failed, waiting for approval", () => {
    const views = stepViews(run("paused"), [
      event("step.started", "a"),
      event("step.completed", "a", { durationMs: 12 }),
      event("step.started", "b"),
      event("step.retrying", "b", { attempt: 1 }),
      event("step.failed", "b", { durationMs: 30 }),
      event("approval.requested", "c", { kind: "agent" }),
      event("llm.usage", undefined, { inputTokens: 3 }),
    ]);
    const byId = new Map(views.map((v) => [v.id, v]));
    expect(byId.get("a")).toMatchObject({ status: "succeeded", durationMs: 12 });
    expect(byId.get("b")).toMatchObject({ status: "failed", durationMs: 30 });
    expect(byId.get("b")!.events.map((e) => e.type)).toEqual([
      "step.started",
      "step.retrying",
      "step.failed",
    ]);
    expect(byId.get("c")?.status).toBe("waiting");
  });

  it("prefers the stored results, adds steps only the events know, and skips what never ran", () => {
    const views = stepViews(
      run("failed", [
        {
          stepId: "a",
          index: 0,
          type: "tool",
          status: "failed",
          success: false,
          metrics: { ...metrics, durationMs: 40, startedAt: "2026-01-01T00:00:01.000Z" },
        },
      ]),
      [event("step.started", "a"), event("step.started", "a/inner", { type: "tool" })],
    );
    expect(views.map((v) => [v.id, v.status])).toEqual([
      ["a", "failed"],
      ["b", "skipped"],
      ["c", "skipped"],
      ["a/inner", "running"],
    ]);
    expect(views[0]).toMatchObject({ durationMs: 40, startedAt: "2026-01-01T00:00:01.000Z" });
    expect(views[3]?.type).toBe("tool");
  });
});
