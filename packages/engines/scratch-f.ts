import type { ToolRegistry } from "@aria/core-types";
import { AriaRuntimeEngine, MemoryStateStore } from "./src/index.ts";

const tools: ToolRegistry = {
  resolve: () => {
    throw new Error("x");
  },
  has: () => true,
  list: () => [],
  execute: async () => ({ ok: true }),
};
function fanOut(n: number) {
  const leaves = Array.from({ length: n - 2 }, (_, i) => ({
    id: `leaf${i}`,
    type: "tool",
    tool: "noop",
    dependsOn: ["root"],
  }));
  return [
    { id: "root", type: "tool", tool: "noop", dependsOn: [] },
    ...leaves,
    { id: "join", type: "tool", tool: "noop", dependsOn: leaves.map((l) => l.id) },
  ];
}
const mode = process.argv[2] ?? "fan";
const samples: number[] = [];
for (let r = 0; r < 60; r++) {
  const steps =
    mode === "fan"
      ? fanOut(1000)
      : Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}`, type: "tool", tool: "noop" }));
  const store = new MemoryStateStore();
  const engine = new AriaRuntimeEngine({ tools, store, events: { emit() {} } });
  const t = performance.now();
  await engine.runPipeline({ name: "b", description: "b", steps } as never);
  samples.push(performance.now() - t);
}
samples.sort((a, b) => a - b);
console.log(mode, "median us/step", samples[30].toFixed(2), "min", samples[0].toFixed(2));
