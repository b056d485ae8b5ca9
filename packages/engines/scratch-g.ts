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
const variant = process.argv[2];
class Store extends MemoryStateStore {
  override async appendEvent(runId: string, e: never) {
    return variant === "noevents" ? 0 : super.appendEvent(runId, e);
  }
  override async appendCheckpoint(runId: string, r: unknown, t?: number) {
    if (variant === "nockpt") return;
    return super.appendCheckpoint(runId, r, t);
  }
}
const samples: number[] = [];
for (let r = 0; r < 40; r++) {
  const steps = Array.from({ length: 10000 }, (_, i) => ({
    id: `s${i}`,
    type: "tool",
    tool: "noop",
  }));
  const engine = new AriaRuntimeEngine({ tools, store: new Store(), events: { emit() {} } });
  const t = performance.now();
  await engine.runPipeline({ name: "b", description: "b", steps } as never);
  samples.push((performance.now() - t) / 10);
}
samples.sort((a, b) => a - b);
console.log(variant, "median", samples[20].toFixed(2), "min", samples[0].toFixed(2));
