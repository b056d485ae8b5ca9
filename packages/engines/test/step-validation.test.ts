import { ExecutionStepSchema } from "@aria/core-types";
import { describe, expect, it } from "vitest";
import { parseStep } from "../src/graph/step-validation.ts";

/** Steps the fast path handles and steps it must hand to zod (valid or not). */
const corpus: unknown[] = [
  { id: "a", type: "tool", tool: "t" },
  {
    tool: "t",
    id: "b",
    type: "tool",
    params: { x: "{{input}}", n: [1, { y: null, z: true }] },
    dependsOn: ["a"],
    timeoutMs: 500,
  },
  {
    id: "c",
    type: "container",
    image: "alpine",
    command: ["sh", "-c", "x"],
    env: { A: "1" },
    network: true,
    continueOnError: true,
  },
  { id: "d", type: "reasoning", prompt: "think", description: "d" },
  { id: "e", type: "reasoning", params: { prompt: "from params" } },
  { id: "f", type: "agent", agent: "analyst", needsApproval: true },
  { id: "g", type: "team", team: "t" },
  { id: "h", type: "pipeline", pipeline: "p" },
  { id: "i", type: "tool", tool: "t", retry: { attempts: 2 }, resources: { memoryMb: 64 } },
  // invalid ones
  { id: "j", type: "tool" },
  { id: "bad id", type: "tool", tool: "t" },
  { id: "k", type: "tool", tool: "t", extra: 1 },
  { id: "l", type: "tool", tool: "t", params: { n: Number.NaN } },
  { id: "m", type: "tool", tool: "t", params: { d: new Date(0) } },
  { id: "n", type: "tool", tool: "t", timeoutMs: 0 },
  { id: "o", type: "nope" },
  { id: "p", type: "container", image: "x", command: [] },
  { id: "q", type: "reasoning" },
  { id: "r", type: "tool", tool: "" },
  { id: "s", type: "tool", tool: "t", dependsOn: ["ok", "not ok"] },
  { id: "t", type: "tool", tool: "t", description: undefined },
  null,
  "step",
  [],
];

describe("step validation", () => {
  it("agrees with ExecutionStepSchema on every step of the corpus (same verdict, same output)", () => {
    for (const raw of corpus) {
      const zod = ExecutionStepSchema.safeParse(raw);
      const ours = parseStep(raw);
      expect(ours.success, JSON.stringify(raw)).toBe(zod.success);
      if (ours.success && zod.success) {
        expect(ours.data).toEqual(zod.data);
        expect(Object.keys(ours.data)).toEqual(Object.keys(zod.data));
      }
    }
  });

  it("copies parameters, never sharing them with the input", () => {
    const params = { list: [1, 2] };
    const parsed = parseStep({ id: "a", type: "tool", tool: "t", params });
    expect(parsed.success).toBe(true);
    if (parsed.success) {
      expect(parsed.data.params).toEqual(params);
      expect(parsed.data.params.list).not.toBe(params.list);
    }
  });
});
