/**
 * Aria Runtime against the TypeScript agent frameworks users would pick instead (issue 10), in one
 * run on this machine with the same in-process scripted model (bench/peers/lib/script.ts) and a
 * no-op tool for everyone:
 *   1. framework overhead per agent step (10-step runs, zero-latency model),
 *   2. a 1,000-step chain: (a) an agent loop of 1,000 model calls, (b) a deterministic pipeline of
 *      1,000 tool steps without a model (for frameworks that have pipelines/graphs/workflows),
 *   3. memory per session: 1,000 concurrent conversations of 3 turns each, heap after forced GC,
 *   4. concurrency with a model that takes 100 ms per call: 10-step runs at 1, 100, 1,000 at once.
 * Each framework and suite runs in its own process (bench/peers/worker.ts). Prints a table with
 * ratios (peer ÷ Aria) and writes bench/results/peers.json.
 *
 *   node --expose-gc --conditions=@aria/source --import tsx bench/peers/index.ts
 *     [--frameworks aria,openai-agents,langgraph,mastra] [--suites time,memory,concurrency]
 *     [--levels 1,100,1000] [--quick]
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { benchPlan } from "./lib/plan.ts";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const quick = args.includes("--quick");
const FRAMEWORKS = arg("--frameworks", "aria,openai-agents,langgraph,mastra").split(",");
const SUITES = arg("--suites", "time,memory,concurrency").split(",");
const LEVELS = arg("--levels", "1,100,1000");
const CHILD_TIMEOUT_MS = 170_000;
const PEERS = FRAMEWORKS.filter((id) => id !== "aria");
const plan = benchPlan({ quick, levels: LEVELS.split(",").map(Number) });

/** Issue 10's targets for Aria (recorded with the results; the table shows where they apply). */
const TARGETS = {
  overheadUsPerStep: 25,
  concurrency1000: { wallSeconds: 1.15, peakRssMb: 300 },
};

interface WorkerOutput {
  framework: string;
  label: string;
  packages: Record<string, string>;
  configuration: Record<string, unknown>;
  suite: string;
  seconds: number;
  maxRssMb: number;
  // biome-ignore lint/suspicious/noExplicitAny: the worker's JSON, read by path below
  results: Record<string, any>;
}

function runWorker(framework: string, suite: string): Promise<WorkerOutput | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--expose-gc",
        "--conditions=@aria/source",
        "--import",
        "tsx",
        join(here, "worker.ts"),
        "--framework",
        framework,
        "--suite",
        suite,
        "--levels",
        LEVELS,
        ...(quick ? ["--quick"] : []),
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
      if (line) return resolve(JSON.parse(line.slice(9)) as WorkerOutput);
      resolve({
        error: `worker ${framework}/${suite} exited ${signal ?? code}${signal === "SIGKILL" ? ` (timed out after ${CHILD_TIMEOUT_MS / 1000} s)` : ""}: ${stderr.trim().split("\n").slice(-8).join("\n")}`,
      });
    });
  });
}

// ---- run every framework × suite --------------------------------------------------------------

const started = performance.now();
const loadAverageAtStart = os.loadavg();
const outputs: Record<string, Record<string, WorkerOutput | { error: string }>> = {};
for (const suite of SUITES) {
  for (const framework of FRAMEWORKS) {
    const t = performance.now();
    const output = await runWorker(framework, suite);
    outputs[framework] = { ...outputs[framework], [suite]: output };
    const secs = ((performance.now() - t) / 1000).toFixed(1);
    console.error(
      `[peers] ${suite.padEnd(11)} ${framework.padEnd(13)} ${secs.padStart(6)} s${"error" in output ? "  ERROR" : ""}`,
    );
  }
}

// ---- table --------------------------------------------------------------------------------------

type Cell = { value: number } | { note: string };

// biome-ignore lint/suspicious/noExplicitAny: reads the workers' JSON by path
function caseOf(framework: string, suite: string, name: string): any {
  const output = outputs[framework]?.[suite];
  if (!output) return { status: "not run" };
  if ("error" in output) return { status: "error", error: output.error };
  return output.results[name] ?? { status: "not run" };
}

// biome-ignore lint/suspicious/noExplicitAny: reads the workers' JSON by path
function cell(framework: string, suite: string, name: string, pick: (c: any) => unknown): Cell {
  const c = caseOf(framework, suite, name);
  if (c.status === "missing") return { note: framework === "aria" ? "MISSING" : "n/a" };
  if (c.status !== "ok") return { note: c.status === "not run" ? "-" : "error" };
  const value = pick(c);
  return typeof value === "number" ? { value } : { note: "n/a" };
}

interface Row {
  section?: string;
  label: string;
  unit: string;
  /** Whether peer ÷ Aria is shown (costs: times, bytes). */
  ratio: boolean;
  cells: Record<string, Cell>;
}

const rows: Row[] = [];
const addRow = (
  row: Omit<Row, "cells">,
  suite: string,
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: reads the workers' JSON by path
  pick: (c: any, framework: string) => unknown,
) => {
  const cells: Record<string, Cell> = {};
  for (const fw of FRAMEWORKS) cells[fw] = cell(fw, suite, name, (c) => pick(c, fw));
  rows.push({ ...row, cells });
};

const chainVariant = (fw: string, checkpoints: boolean) =>
  ({
    aria: "pipeline (AriaRuntimeEngine.runPipeline)",
    langgraph: checkpoints
      ? "StateGraph + MemorySaver checkpointer"
      : "StateGraph, no checkpointer (default)",
    mastra: checkpoints ? undefined : "workflow of createStep steps",
  })[fw];

if (SUITES.includes("time")) {
  const section = `1. overhead per agent step (${plan.overhead.stepsPerRun}-step runs, zero-latency model, no-op tool)`;
  for (const p of ["p50", "p95", "p99", "mean"] as const)
    addRow(
      {
        section: p === "p50" ? section : undefined,
        label: `µs/step ${p}`,
        unit: "µs",
        ratio: true,
      },
      "time",
      "overhead",
      (c) => c.usPerStep[p],
    );
  addRow(
    {
      section: "2a. 1,000-step agent chain (999 tool calls, then the answer)",
      label: "ms/run (median)",
      unit: "ms",
      ratio: true,
    },
    "time",
    "agentChain",
    (c) => c.msPerRun.p50,
  );
  addRow(
    { label: "runs measured", unit: "", ratio: false },
    "time",
    "agentChain",
    (c) => c.msPerRun.n,
  );
  addRow(
    {
      section: "2b. 1,000-step tool chain without a model (pipeline / graph / workflow)",
      label: "ms/run p50, framework defaults",
      unit: "ms",
      ratio: true,
    },
    "time",
    "toolChain",
    (c, fw) => c.variants[chainVariant(fw, false) ?? ""]?.msPerRun.p50,
  );
  addRow(
    { label: "ms/run p50, checkpoints on", unit: "ms", ratio: true },
    "time",
    "toolChain",
    (c, fw) => c.variants[chainVariant(fw, true) ?? ""]?.msPerRun.p50,
  );
}
if (SUITES.includes("memory")) {
  const s = plan.sessions;
  addRow(
    {
      section: `3. memory per session (${s.count} concurrent sessions × ${s.turns} turns × ${s.stepsPerTurn} steps, after GC)`,
      label: "KiB/session (heap + external)",
      unit: "KiB",
      ratio: true,
    },
    "memory",
    "sessions",
    (c) => c.bytesPerSession / 1024,
  );
}
if (SUITES.includes("concurrency")) {
  const s = plan.concurrency;
  const section = `4. concurrency (${s.stepsPerRun}-step runs, model ${s.modelLatencyMs} ms per call; ideal wall ${(s.stepsPerRun * s.modelLatencyMs) / 1000} s)`;
  s.levels.forEach((level, i) => {
    addRow(
      {
        section: i === 0 ? section : undefined,
        label: `${level} at once: wall s`,
        unit: "s",
        ratio: true,
      },
      "concurrency",
      "concurrency",
      (c) => (c.levels[level]?.wallMs ?? Number.NaN) / 1000,
    );
    addRow(
      { label: `${level} at once: runs/s`, unit: "runs/s", ratio: false },
      "concurrency",
      "concurrency",
      (c) => c.levels[level]?.runsPerSecond,
    );
  });
  const top = Math.max(...s.levels);
  addRow(
    { label: `${top} at once: peak RSS MB`, unit: "MB", ratio: true },
    "concurrency",
    "concurrency",
    (c) => c.levels[top]?.peakRssMb,
  );
  addRow(
    { label: `${top} at once: RSS growth MB`, unit: "MB", ratio: true },
    "concurrency",
    "concurrency",
    (c) => (c.levels[top] ? c.levels[top].peakRssMb - c.levels[top].rssMbBefore : undefined),
  );
}

const fmt = (v: number) =>
  !Number.isFinite(v)
    ? "n/a"
    : Number.isInteger(v) || v >= 100
      ? v.toFixed(0)
      : v >= 10
        ? v.toFixed(1)
        : v.toFixed(2);
const ratioOf = (row: Row, peer: string): string => {
  if (!row.ratio) return "";
  const a = row.cells.aria;
  const p = row.cells[peer];
  if (!a || !p || !("value" in a) || !("value" in p) || a.value <= 0) return "—";
  return `${(p.value / a.value).toFixed(p.value / a.value >= 10 ? 0 : 1)}×`;
};
const ratioValue = (row: Row, peer: string): number | null => {
  const a = row.cells.aria;
  const p = row.cells[peer];
  if (!a || !p || !("value" in a) || !("value" in p) || a.value <= 0) return null;
  return Math.round((p.value / a.value) * 100) / 100;
};
const label = (fw: string) => {
  for (const suite of SUITES) {
    const o = outputs[fw]?.[suite];
    if (o && !("error" in o)) return o.label;
  }
  return fw;
};

const header = [
  "measure",
  ...FRAMEWORKS.flatMap((fw) => (fw === "aria" ? [label(fw)] : [label(fw), "÷Aria"])),
];
const lines: string[][] = [];
for (const row of rows) {
  if (row.section) lines.push([row.section]);
  lines.push([
    `  ${row.label}`,
    ...FRAMEWORKS.flatMap((fw) => {
      const c = row.cells[fw]!;
      const text = "value" in c ? fmt(c.value) : c.note;
      return fw === "aria" ? [text] : [text, ratioOf(row, fw)];
    }),
  ]);
}
const widths = header.map((h, i) =>
  Math.max(h.length, ...lines.filter((l) => l.length > 1).map((l) => (l[i] ?? "").length)),
);
const render = (cells: string[]) =>
  cells.length === 1
    ? cells[0]!
    : cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(`\n${render(header)}`);
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const l of lines) console.log(render(l));
console.log(
  `\n÷Aria = peer ÷ Aria for costs (time, memory): above 1 means Aria is cheaper. n/a = the framework has no such feature.${
    rows.some((row) => Object.values(row.cells).some((c) => "note" in c && c.note === "MISSING"))
      ? " MISSING = Aria cannot run the case yet (see below)."
      : ""
  }`,
);

// ---- missing rows and errors ------------------------------------------------------------------

const missing: Array<{ framework: string; suite: string; case: string; reason: string }> = [];
const errors: Array<{ framework: string; suite: string; case?: string; error: string }> = [];
for (const fw of FRAMEWORKS) {
  for (const suite of SUITES) {
    const output = outputs[fw]?.[suite];
    if (!output) continue;
    if ("error" in output) {
      errors.push({ framework: fw, suite, error: output.error });
      continue;
    }
    for (const [name, c] of Object.entries(output.results)) {
      if (c.status === "missing")
        missing.push({ framework: fw, suite, case: name, reason: c.reason });
      if (c.status === "error") errors.push({ framework: fw, suite, case: name, error: c.error });
    }
  }
}
const ariaMissing = missing.filter((m) => m.framework === "aria");
if (ariaMissing.length > 0) {
  console.log(
    `\nAria rows missing (${ariaMissing.map((m) => m.case).join(", ")}): ${ariaMissing[0]!.reason}`,
  );
}
for (const e of errors)
  console.log(`\nERROR ${e.framework}/${e.suite}${e.case ? `/${e.case}` : ""}: ${e.error}`);

// ---- JSON ---------------------------------------------------------------------------------------

const versions: Record<string, string> = {};
const configuration: Record<string, unknown> = {};
for (const fw of FRAMEWORKS) {
  for (const suite of SUITES) {
    const o = outputs[fw]?.[suite];
    if (o && !("error" in o)) {
      Object.assign(versions, o.packages);
      configuration[fw] = o.configuration;
    }
  }
}
const results = {
  benchmark: "peers",
  date: new Date().toISOString(),
  command:
    `node --expose-gc --conditions=@aria/source --import tsx bench/peers/index.ts ${args.join(" ")}`.trim(),
  quick,
  environment: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    totalMemGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg(),
    isolation: "one child process per framework and suite",
  },
  versions,
  configuration: {
    ...configuration,
    model:
      "the same in-process scripted model for every framework (bench/peers/lib/script.ts), no HTTP: N-1 calls of the no-op tool, then the answer; each framework gets a thin adapter to its own model interface",
    tool: "a no-op tool returning { ok: true }, registered with each framework's own tool API and schema validation",
  },
  plan,
  targets: TARGETS,
  table: rows.map((row) => ({
    section: row.section,
    label: row.label,
    unit: row.unit,
    values: Object.fromEntries(
      Object.entries(row.cells).map(([fw, c]) => [fw, "value" in c ? c.value : c.note]),
    ),
    ratiosPeerOverAria: row.ratio
      ? Object.fromEntries(PEERS.map((fw) => [fw, ratioValue(row, fw)]))
      : undefined,
  })),
  missing,
  errors,
  results: outputs,
  seconds: Math.round((performance.now() - started) / 100) / 10,
};
// A quick (smoke) run's figures are not results: they go to the temp folder.
const out = quick
  ? join(os.tmpdir(), "aria-bench-peers.quick.json")
  : join(repoRoot, "bench", "results", "peers.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${quick ? out : relative(repoRoot, out)} (${results.seconds} s)`);
