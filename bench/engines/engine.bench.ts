/**
 * Engine overhead benchmark (issue 5).
 *
 *   node --conditions=@aria/source --import tsx bench/engines/engine.bench.ts
 *
 * Measures, with the defaults on (validation, incremental checkpoints, events to a sink and to the
 * store's event log, the in-memory store keeping serialised bytes):
 * - engine overhead per step for a 10 000-step chain of no-op tool steps and for a 1 000-node
 *   fan-out graph (root → 998 parallel leaves → one join), in µs per step;
 * - placeholder resolution in µs per reference (resolvePlaceholders, and a pre-compiled template);
 * - heap bytes retained per step after a run (run result, context and store all kept alive).
 * Prints a table and writes bench/results/engines.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import type {
  EventSink,
  RegisteredTool,
  ToolRegistry,
} from "../../packages/core-types/src/index.ts";
import {
  AriaRuntimeEngine,
  clearPlaceholderCache,
  compileTemplate,
  MemoryStateStore,
  type PlaceholderSource,
  resolvePlaceholders,
  sourceFromScope,
} from "../../packages/engines/src/index.ts";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const TARGET_US_PER_STEP = 10;
const TARGET_US_PER_REFERENCE = 5;
/** Warm-up and measured runs per scenario: short scenarios get more runs (≥ 20 000 steps warm-up each). */
const RUNS = { chain: { warmup: 2, measured: 7 }, fanOut: { warmup: 20, measured: 21 } };

/** A registry with one no-op tool: what is measured is the engine, not the tool. */
const noopTool: RegisteredTool = {
  id: "noop",
  name: "noop",
  description: "does nothing",
  inputSchema: { type: "object" },
  execution: "inprocess",
  securityLevel: "safe",
  network: false,
};
const tools: ToolRegistry = {
  resolve: () => noopTool,
  has: (name) => name === "noop",
  list: () => [noopTool],
  execute: async () => ({ ok: true }),
};

/** An event sink that only counts (events are still built and appended to the store's log). */
let eventsSeen = 0;
const sink: EventSink = {
  emit() {
    eventsSeen++;
  },
};

function chain(n: number) {
  return Array.from({ length: n }, (_, i) => ({ id: `s${i}`, type: "tool", tool: "noop" }));
}

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

async function runOnce(steps: unknown[]) {
  const store = new MemoryStateStore();
  const engine = new AriaRuntimeEngine({ tools, store, events: sink });
  const cpuBefore = process.threadCpuUsage();
  const started = performance.now();
  const result = await engine.runPipeline(
    { name: "bench", description: "bench", steps } as never,
    undefined,
  );
  const ms = performance.now() - started;
  const cpu = process.threadCpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (result.run.status !== "succeeded")
    throw new Error(`bench run ${result.run.status}: ${result.run.error?.message}`);
  return { ms, cpuMs, store, result };
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

async function perStep(
  name: string,
  make: () => unknown[],
  runs: { warmup: number; measured: number },
) {
  const n = make().length;
  for (let i = 0; i < runs.warmup; i++) await runOnce(make());
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let i = 0; i < runs.measured; i++) {
    const steps = make();
    gc();
    const { ms, cpuMs } = await runOnce(steps);
    samples.push((ms * 1000) / n);
    cpuSamples.push((cpuMs * 1000) / n);
  }
  return {
    name,
    steps: n,
    usPerStep: stats(samples),
    mainThreadCpuUsPerStep: stats(cpuSamples),
    samples,
  };
}

async function heapPerStep(name: string, make: () => unknown[]) {
  const n = make().length;
  const steps = make();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = await runOnce(steps);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  // `kept` (result, context, store with its serialised run, checkpoints and events) is alive here.
  const bytes = Math.round((after - before) / n);
  if (kept.result.run.steps.length !== n) throw new Error("unexpected result");
  return { name, steps: n, bytesPerStep: bytes };
}

function placeholderBench() {
  const scope = {
    steps: [
      {
        id: "search",
        success: true,
        output: { items: [{ url: "https://a.example", title: "A" }], total: 1 },
      },
      { id: "count", success: true, output: 42 },
    ],
    input: { text: "hello", options: { lang: "en" } },
  };
  // Ten references: lone ones (typed), embedded ones (text), bracket and dot paths, ids and positions.
  const params = {
    url: "{{step_1_output.items[0].url}}",
    title: "{{ steps.search.output.items.0.title }}",
    count: "{{steps.count.output}}",
    text: "{{input.text}}",
    lang: "{{input.options.lang}}",
    line: "found {{step_1_output.total}} for {{input.text}} ({{steps.count.output}})",
    list: ["{{step_2_output}}", "{{input.options}}"],
  };
  const references = 10;
  const iterations = 200_000;
  const measure = (fn: () => unknown) => {
    for (let i = 0; i < iterations / 10; i++) fn();
    const samples: number[] = [];
    for (let r = 0; r < 5; r++) {
      const started = performance.now();
      for (let i = 0; i < iterations; i++) fn();
      samples.push(((performance.now() - started) * 1000) / (iterations * references));
    }
    return stats(samples);
  };
  clearPlaceholderCache();
  const direct = measure(() => resolvePlaceholders(params, scope));
  const template = compileTemplate(params);
  const source: PlaceholderSource = sourceFromScope(scope);
  const compiled = measure(() => template.render(source));
  return { references, direct, compiled };
}

const chainRun = await perStep("chain of 10 000 no-op tool steps", () => chain(10_000), RUNS.chain);
const fanRun = await perStep("fan-out graph of 1 000 nodes", () => fanOut(1_000), RUNS.fanOut);
const placeholders = placeholderBench();
const chainHeap = await heapPerStep("chain of 10 000 no-op tool steps", () => chain(10_000));
const fanHeap = await heapPerStep("fan-out graph of 1 000 nodes", () => fanOut(1_000));

const rows: Array<[string, string, string, string]> = [
  ["measure", "median", "min", "target"],
  [
    `engine overhead, ${chainRun.name} (µs/step, wall clock)`,
    chainRun.usPerStep.median.toFixed(2),
    chainRun.usPerStep.min.toFixed(2),
    `≤ ${TARGET_US_PER_STEP}`,
  ],
  [
    "  the same, main-thread CPU time (µs/step)",
    chainRun.mainThreadCpuUsPerStep.median.toFixed(2),
    chainRun.mainThreadCpuUsPerStep.min.toFixed(2),
    "",
  ],
  [
    `engine overhead, ${fanRun.name} (µs/step, wall clock)`,
    fanRun.usPerStep.median.toFixed(2),
    fanRun.usPerStep.min.toFixed(2),
    `≤ ${TARGET_US_PER_STEP}`,
  ],
  [
    "  the same, main-thread CPU time (µs/step)",
    fanRun.mainThreadCpuUsPerStep.median.toFixed(2),
    fanRun.mainThreadCpuUsPerStep.min.toFixed(2),
    "",
  ],
  [
    "placeholder resolution, resolvePlaceholders (µs/reference)",
    placeholders.direct.median.toFixed(3),
    placeholders.direct.min.toFixed(3),
    `≤ ${TARGET_US_PER_REFERENCE}`,
  ],
  [
    "placeholder resolution, compiled template (µs/reference)",
    placeholders.compiled.median.toFixed(3),
    placeholders.compiled.min.toFixed(3),
    `≤ ${TARGET_US_PER_REFERENCE}`,
  ],
  [`heap retained per step, ${chainHeap.name} (bytes)`, String(chainHeap.bytesPerStep), "", ""],
  [`heap retained per step, ${fanHeap.name} (bytes)`, String(fanHeap.bytesPerStep), "", ""],
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const [i, row] of rows.entries()) {
  console.log(
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join("  "),
  );
  if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
}

const results = {
  benchmark: "engines",
  date: new Date().toISOString(),
  environment: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    loadAverage: os.loadavg(),
    runner: "node --conditions=@aria/source --import tsx (TypeScript run from source)",
  },
  configuration: {
    defaults:
      "AriaRuntimeEngine defaults: validation on (schema, graph, tool existence), incremental checkpoint per step, events to an EventSink and to the store's event log, leases with fencing, maxParallel 8, step timeout 300 s, working memory 64 MiB",
    store: "MemoryStateStore (serialised JSON bytes)",
    tool: "in-process no-op returning { ok: true }",
    runs: RUNS,
    eventsSeen,
  },
  targets: { usPerStep: TARGET_US_PER_STEP, usPerReference: TARGET_US_PER_REFERENCE },
  results: {
    chain: { ...chainRun, bytesPerRetainedStep: chainHeap.bytesPerStep },
    fanOut: { ...fanRun, bytesPerRetainedStep: fanHeap.bytesPerStep },
    placeholders,
  },
  meetsTargets: {
    chain: chainRun.usPerStep.median <= TARGET_US_PER_STEP,
    fanOut: fanRun.usPerStep.median <= TARGET_US_PER_STEP,
    placeholders:
      placeholders.direct.median <= TARGET_US_PER_REFERENCE &&
      placeholders.compiled.median <= TARGET_US_PER_REFERENCE,
  },
};
const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results", "engines.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${out}`);
