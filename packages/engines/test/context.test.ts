import { entryBytes, type MemoryEviction, RuntimeContext } from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./helpers.ts";

/** A string value whose entry under `steps.<id>.output` (one-letter id) costs exactly `bytes`. */
function valueFor(bytes: number): string {
  // key "steps.a.output" is 14 bytes; the JSON string adds 2 quotes.
  return "x".repeat(bytes - 14 - 2);
}

describe("byte accounting", () => {
  it("counts UTF-8 bytes of the key plus UTF-8 bytes of JSON.stringify(value)", () => {
    expect(entryBytes("k", { a: 1 })).toBe(1 + 7);
    expect(entryBytes("k", "é")).toBe(1 + 4);
    expect(entryBytes("ключ", [1, 2])).toBe(8 + 5);
    expect(entryBytes("k", undefined)).toBe(1 + 4);
    expect(entryBytes("k", null)).toBe(5);
    expect(entryBytes("k", true)).toBe(5);
    expect(entryBytes("k", false)).toBe(6);
    expect(entryBytes("steps.a.output", valueFor(200))).toBe(200);
  });

  it("tracks usage across writes, overwrites and deletes", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 10_000 });
    context.set("a", "1234"); // 1 + 6
    context.set("b", { x: [1, 2, 3] }); // 1 + 13
    expect(context.memoryUsage()).toMatchObject({
      usedBytes: 21,
      itemCount: 2,
      limitBytes: 10_000,
    });
    context.set("a", "12"); // overwrite: 1 + 4
    expect(context.memoryUsage().usedBytes).toBe(19);
    expect(context.delete("b")).toBe(true);
    expect(context.memoryUsage()).toMatchObject({ usedBytes: 5, itemCount: 1 });
    expect(context.memoryUsage().utilization).toBeCloseTo(5 / 10_000);
  });

  it("refuses values JSON cannot hold", () => {
    const context = new RuntimeContext({ runId: "r" });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => context.set("c", cyclic)).toThrowError(/not JSON-serialisable/);
    expect(() => context.set("big", 10n)).toThrowError(AriaError);
  });
});

describe("memory cleanup: above 80% evict the oldest step outputs until at or below 25%", () => {
  it("evicts exactly the oldest entries, with exact byte counts", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    const evictions: MemoryEviction[] = [];
    context.onEvict((e) => evictions.push(e));
    for (const id of ["a", "b", "c", "d"]) context.setStepOutput(id, valueFor(200));
    // 800 bytes = exactly 80%: not above it, nothing happens.
    expect(context.memoryUsage().usedBytes).toBe(800);
    expect(evictions).toHaveLength(0);

    context.setStepOutput("e", valueFor(200)); // 1000 > 800
    expect(evictions).toEqual([
      {
        keys: ["steps.a.output", "steps.b.output", "steps.c.output", "steps.d.output"],
        stepIds: ["a", "b", "c", "d"],
        freedBytes: 800,
        usedBytesBefore: 1000,
        usedBytesAfter: 200,
        limitBytes: 1000,
        retained: 0,
      },
    ]);
    expect(context.keys()).toEqual(["steps.e.output"]);
    expect(context.memoryUsage()).toMatchObject({ usedBytes: 200, evictions: 4 });
  });

  it("stops as soon as usage is at or below 25%", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    context.setStepOutput("a", valueFor(500));
    context.setStepOutput("b", valueFor(150));
    context.setStepOutput("c", valueFor(100));
    expect(context.memoryUsage().usedBytes).toBe(750);
    context.setStepOutput("d", valueFor(100)); // 850 > 800 → evict a (→350), b (→200 ≤ 250)
    expect(context.keys()).toEqual(["steps.c.output", "steps.d.output"]);
    expect(context.memoryUsage().usedBytes).toBe(200);
  });

  it("never evicts outputs still referenced by pending placeholders", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    const retained = new Set(["b"]);
    context.setRetention((id) => retained.has(id));
    const evictions: MemoryEviction[] = [];
    context.onEvict((e) => evictions.push(e));
    for (const id of ["a", "b", "c", "d", "e"]) context.setStepOutput(id, valueFor(200));
    expect(evictions[0]).toMatchObject({
      stepIds: ["a", "c", "d", "e"],
      freedBytes: 800,
      usedBytesAfter: 200,
      retained: 1,
    });
    expect(context.keys()).toEqual(["steps.b.output"]);
    expect(context.getStepOutput("b")).toBe(valueFor(200));
  });

  it("never evicts keys that are not step outputs", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    context.set("notes", "y".repeat(600 - 5 - 2)); // 600 bytes
    context.setStepOutput("a", valueFor(150));
    context.setStepOutput("b", valueFor(100)); // 850 > 800 → evict a, b; notes stays although above 25%
    expect(context.keys()).toEqual(["notes"]);
    expect(context.memoryUsage().usedBytes).toBe(600);
  });

  it("refuses a caller's value that cannot fit even after cleanup (PAYLOAD_TOO_LARGE), changing nothing", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    context.set("keep", "z".repeat(500 - 4 - 2));
    try {
      context.set("huge", "q".repeat(600));
      expect.unreachable();
    } catch (error) {
      expect(AriaError.hasCode(error, "PAYLOAD_TOO_LARGE")).toBe(true);
    }
    expect(context.keys()).toEqual(["keep"]);
    expect(context.memoryUsage().usedBytes).toBe(500);
    expect(() => context.set("steps.x.output", 1)).toThrowError(/reserved/);
  });

  it("an overwritten output becomes the youngest entry", () => {
    const context = new RuntimeContext({ runId: "r", memoryLimitBytes: 1000 });
    for (const id of ["a", "b", "c"]) context.setStepOutput(id, valueFor(200));
    context.setStepOutput("a", valueFor(200));
    expect(context.keys()).toEqual(["steps.b.output", "steps.c.output", "steps.a.output"]);
  });
});

describe("history, insights and errors", () => {
  it("caps the history, dropping the oldest", () => {
    const context = new RuntimeContext({ runId: "r", maxHistory: 3 });
    for (let i = 0; i < 10; i++)
      context.recordStep({ stepId: `s${i}`, status: "succeeded", durationMs: i, attempts: 1 });
    expect(context.history().map((h) => h.stepId)).toEqual(["s7", "s8", "s9"]);
    expect(context.history()[2]).toMatchObject({
      kind: "step.succeeded",
      data: { durationMs: 9, attempts: 1 },
    });
  });

  it("de-duplicates insights on source and text and caps them", () => {
    const context = new RuntimeContext({ runId: "r", maxInsights: 2 });
    expect(context.addInsight({ source: "reflection", text: "use the cache" })).toBe(true);
    expect(context.addInsight({ source: "reflection", text: "use the cache" })).toBe(false);
    context.addInsight({ source: "reflection", text: "b" });
    context.addInsight({ source: "planner", text: "c" });
    expect(context.insights().map((i) => i.text)).toEqual(["b", "c"]);
    // The dropped one may come back.
    expect(context.addInsight({ source: "reflection", text: "use the cache" })).toBe(true);
  });

  it("caps errors, storing AriaErrors as their serialisable body", () => {
    const context = new RuntimeContext({ runId: "r", maxErrors: 2 });
    context.addError(new AriaError("TOOL_TIMEOUT", { message: "one" }));
    context.addError(new Error("two"));
    context.addError({ code: "X", message: "three" });
    expect(context.errors().map((e) => e.message)).toEqual(["two", "three"]);
    const first = new RuntimeContext({ runId: "r" });
    first.addError(new AriaError("TOOL_TIMEOUT", { message: "one" }));
    expect(first.errors()[0]).toMatchObject({
      code: "TOOL_TIMEOUT",
      category: "tool",
      severity: "medium",
    });
  });
});

describe("serialisation", () => {
  it("round-trips everything through JSON, working memory included", () => {
    const clock = new FakeClock();
    const context = new RuntimeContext({
      runId: "run-1",
      sessionId: "s-1",
      task: "count words",
      memoryLimitBytes: 1000,
      clock,
    });
    context.setStepOutput("a", { words: 3, list: ["x", "é"] });
    clock.advance(10);
    context.set("note", "from a container");
    context.setStepOutput("b", [1, 2, 3]);
    for (const id of ["c", "d", "e", "f"]) context.setStepOutput(id, valueFor(200)); // forces an eviction
    context.recordStep({ stepId: "a", status: "succeeded", durationMs: 4, attempts: 1 });
    context.addInsight({ source: "reflection", text: "fine", confidence: 0.7 });
    context.addError(new AriaError("TOOL_EXECUTION_FAILED", { message: "boom" }));

    const json = JSON.stringify(context);
    const restored = RuntimeContext.fromJSON(JSON.parse(json), { clock });
    expect(restored.toJSON()).toEqual(context.toJSON());
    expect(JSON.stringify(restored)).toBe(json);
    expect(restored.memoryUsage()).toEqual(context.memoryUsage());
    expect(restored.memoryUsage().evictions).toBeGreaterThan(0);
    expect(restored.get("note")).toBe("from a container");

    // The restored context keeps counting and evicting the same way.
    restored.setStepOutput("g", 1);
    context.setStepOutput("g", 1);
    expect(restored.toJSON()).toEqual(context.toJSON());
  });

  it("snapshot() is an independent copy", () => {
    const context = new RuntimeContext({ runId: "r" });
    context.setStepOutput("a", { n: 1 });
    const snapshot = context.snapshot();
    (snapshot.workingMemory[0]!.value as { n: number }).n = 2;
    expect(context.getStepOutput("a")).toEqual({ n: 1 });
  });

  it("rejects something that is not a snapshot", () => {
    expect(() => RuntimeContext.fromJSON({ runId: "r" })).toThrowError(
      /not a valid context snapshot/i,
    );
  });
});
