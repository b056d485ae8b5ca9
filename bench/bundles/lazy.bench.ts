/**
 * Lazy loading of bundle code (issue 12): start-up time and heap with N installed bundles.
 *
 *   node --expose-gc --conditions=@aria/source --import tsx bench/bundles/lazy.bench.ts [--bundles 1000] [--runs 3]
 *
 * Installs N bundles into a fresh store once, then measures each mode in fresh child processes
 * (a module, once imported, stays in a process until it exits, so the modes cannot share one):
 * - lazy (the default): open the store and `registerInstalled` — manifests only, no bundle code;
 *   then one tool of every bundle is called (each first call imports that bundle);
 * - eager (`loading: "eager"`): `registerInstalled` imports every bundle's entry module.
 * Start-up = opening the store + registering every bundle (which includes the store's verified
 * `unpackedDir`, hashing each bundle's files). Heap = `heapUsed` after forced GC. The children run
 * on Node's own loader (type stripping), without tsx, so importing a bundle's JavaScript costs what
 * it costs in production. Prints a table (medians over the runs) and writes
 * bench/results/bundles-lazy.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openBundleStore } from "../../packages/pkg-store/src/index.ts";
import { createRegistries } from "../../packages/registry/src/index.ts";
import { benchArchive, benchToolNames } from "./fixture.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg("--bundles", 1000);
const RUNS = arg("--runs", 3);
const HELPERS = 40;

/** A bundle with 3 tools, an agent and a pipeline; its module has real code (~8 KiB, 40 helpers and a table). */
async function makeBundle(i: number): Promise<Buffer> {
  const name = `bundle-${String(i).padStart(4, "0")}`;
  const tools = benchToolNames(i);
  const helpers = Array.from(
    { length: HELPERS },
    (_, h) =>
      `function helper${h}(text) { let n = ${h}; for (const c of String(text)) n = (n * 31 + c.charCodeAt(0)) % 1000003; return { h: ${h}, n, words: String(text).split(/\\s+/).length }; }`,
  );
  const code = [
    'const MARK = Symbol.for("aria.definition");',
    ...helpers,
    `const TABLE = Object.freeze(Array.from({ length: 256 }, (_, k) => ({ k, label: "${name}-" + k, weight: (k * ${i + 1}) % 97 })));`,
    `const HELPERS = [${Array.from({ length: HELPERS }, (_, h) => `helper${h}`).join(", ")}];`,
    ...tools.map(
      (t, k) =>
        `export const ${t} = { [MARK]: "tool", kind: "tool", name: ${JSON.stringify(t)}, handler: async (input) => ({ by: ${JSON.stringify(`${name}/${t}`)}, result: HELPERS[${k}](input.text), row: TABLE[String(input.text).length % 256] }) };`,
    ),
  ].join("\n");
  return benchArchive({ name, version: "1.0.0", index: i, code });
}

/** heapUsed/RSS in bytes after forced garbage collection. */
async function settledHeap(): Promise<{ heapUsed: number; rss: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

interface ChildResult {
  mode: "lazy" | "eager";
  heapBeforeStore: number;
  heapAfterStore: number;
  openStoreMs: number;
  registerMs: number;
  unpackedDirMs: number;
  startupMs: number;
  heapAfterStartup: number;
  rssAfterStartup: number;
  loadedAfterStartup: number;
  tools: number;
  /** Lazy only: calling one tool of every bundle (each call imports its bundle). */
  useAllMs?: number;
  firstCallP50Ms?: number;
  secondCallP50Ms?: number;
  heapAfterUse?: number;
  rssAfterUse?: number;
  loadedAfterUse?: number;
}

async function child(mode: "lazy" | "eager", dataDir: string): Promise<void> {
  const heapBeforeStore = (await settledHeap()).heapUsed;
  const t0 = performance.now();
  const store = await openBundleStore({ dataDir });
  const openStoreMs = performance.now() - t0;
  const heapAfterStore = (await settledHeap()).heapUsed;
  let loaded = 0;
  const registries = createRegistries({
    loading: mode,
    onBundleLoad: () => {
      loaded += 1;
    },
  });
  // Time spent in the store's verified unpackedDir, to separate it from the registry's own work.
  let unpackedDirMs = 0;
  const source = {
    dependencyOrder: () => store.dependencyOrder(),
    unpackedDir: async (name: string, version: string) => {
      const s = performance.now();
      try {
        return await store.unpackedDir(name, version);
      } finally {
        unpackedDirMs += performance.now() - s;
      }
    },
  };
  const t1 = performance.now();
  const { failed, registered } = await registries.registerInstalled(source);
  const registerMs = performance.now() - t1;
  if (failed.length > 0) throw new Error(`registration failed: ${String(failed[0]?.error)}`);
  const afterStartup = await settledHeap();
  const result: ChildResult = {
    mode,
    heapBeforeStore,
    heapAfterStore,
    openStoreMs,
    registerMs,
    unpackedDirMs,
    startupMs: openStoreMs + registerMs,
    heapAfterStartup: afterStartup.heapUsed,
    rssAfterStartup: afterStartup.rss,
    loadedAfterStartup: loaded,
    tools: registries.tools.list().length,
  };
  if (mode === "lazy") {
    const context = {
      runId: "bench",
      stepId: "s",
      attempt: 1,
      idempotencyKey: "bench:s",
      signal: new AbortController().signal,
    };
    const first: number[] = [];
    const second: number[] = [];
    const t2 = performance.now();
    for (const bundle of registered) {
      const s = performance.now();
      await registries.tools.execute(`${bundle.name}/alpha`, { text: "hello world" }, context);
      first.push(performance.now() - s);
    }
    result.useAllMs = performance.now() - t2;
    for (const bundle of registered) {
      const s = performance.now();
      await registries.tools.execute(`${bundle.name}/alpha`, { text: "hello again" }, context);
      second.push(performance.now() - s);
    }
    const afterUse = await settledHeap();
    result.firstCallP50Ms = median(first);
    result.secondCallP50Ms = median(second);
    result.heapAfterUse = afterUse.heapUsed;
    result.rssAfterUse = afterUse.rss;
    result.loadedAfterUse = loaded;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function medianOf<K extends keyof ChildResult>(runs: ChildResult[], key: K): number {
  return median(runs.map((r) => Number(r[key] ?? 0)));
}

const MiB = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;
const round = (n: number) => Math.round(n * 100) / 100;

async function main(): Promise<void> {
  const work = await mkdtemp(join(os.tmpdir(), "aria-bench-lazy-"));
  try {
    const dataDir = join(work, "data");
    const store = await openBundleStore({ dataDir });
    let archiveBytes = 0;
    const installStart = performance.now();
    for (let i = 0; i < N; i++) {
      const bytes = await makeBundle(i);
      archiveBytes += bytes.length;
      await store.install(bytes);
    }
    const installMs = performance.now() - installStart;
    // Unpack every bundle once here, so no child pays for the first unpacking.
    for (const b of store.list()) await store.unpackedDir(b.name, b.version);

    const self = fileURLToPath(import.meta.url);
    const runChild = (mode: "lazy" | "eager"): ChildResult => {
      const out = execFileSync(
        process.execPath,
        ["--expose-gc", "--conditions=@aria/source", self, "--child", mode, dataDir],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      );
      return JSON.parse(out.trim().split("\n").at(-1) as string) as ChildResult;
    };
    const lazy: ChildResult[] = [];
    const eager: ChildResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      lazy.push(runChild("lazy"));
      eager.push(runChild("eager"));
    }

    const manifestsHeap = medianOf(lazy, "heapAfterStartup") - medianOf(lazy, "heapBeforeStore");
    const eagerHeap = medianOf(eager, "heapAfterStartup") - medianOf(eager, "heapBeforeStore");
    const results = {
      benchmark: "bundles-lazy",
      date: new Date().toISOString(),
      machine: {
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
      },
      configuration: {
        bundles: N,
        runs: RUNS,
        toolsPerBundle: 3,
        agentsPerBundle: 1,
        pipelinesPerBundle: 1,
        entryModuleBytes: "about 8 KiB (40 functions, a 256-row table, 3 tool definitions)",
        averageArchiveBytes: Math.round(archiveBytes / N),
        installMs: round(installMs),
        childLoader:
          "plain Node ESM loader with type stripping (--conditions=@aria/source), no tsx; fresh process per run",
        heap: "process.memoryUsage().heapUsed after 4 forced GCs (--expose-gc); figures are medians over the runs",
        startup:
          "openBundleStore + registries.registerInstalled (includes the store's verified unpackedDir per bundle)",
      },
      lazy: {
        openStoreMs: round(medianOf(lazy, "openStoreMs")),
        registerMs: round(medianOf(lazy, "registerMs")),
        verifiedUnpackedDirMs: round(medianOf(lazy, "unpackedDirMs")),
        startupMs: round(medianOf(lazy, "startupMs")),
        bundlesLoadedAtStartup: medianOf(lazy, "loadedAfterStartup"),
        heapBeforeStoreMiB: MiB(medianOf(lazy, "heapBeforeStore")),
        heapAfterStoreMiB: MiB(medianOf(lazy, "heapAfterStore")),
        heapAfterStartupMiB: MiB(medianOf(lazy, "heapAfterStartup")),
        rssAfterStartupMiB: MiB(medianOf(lazy, "rssAfterStartup")),
        heapForBundlesMiB: MiB(manifestsHeap),
        heapPerBundleKiB: round(manifestsHeap / N / 1024),
        tools: medianOf(lazy, "tools"),
        afterUsingEveryBundle: {
          useAllMs: round(medianOf(lazy, "useAllMs")),
          firstCallP50Ms: round(medianOf(lazy, "firstCallP50Ms")),
          secondCallP50Ms: round(medianOf(lazy, "secondCallP50Ms")),
          bundlesLoaded: medianOf(lazy, "loadedAfterUse"),
          heapMiB: MiB(medianOf(lazy, "heapAfterUse")),
          rssMiB: MiB(medianOf(lazy, "rssAfterUse")),
        },
      },
      eager: {
        openStoreMs: round(medianOf(eager, "openStoreMs")),
        registerMs: round(medianOf(eager, "registerMs")),
        verifiedUnpackedDirMs: round(medianOf(eager, "unpackedDirMs")),
        startupMs: round(medianOf(eager, "startupMs")),
        bundlesLoadedAtStartup: medianOf(eager, "loadedAfterStartup"),
        heapBeforeStoreMiB: MiB(medianOf(eager, "heapBeforeStore")),
        heapAfterStartupMiB: MiB(medianOf(eager, "heapAfterStartup")),
        rssAfterStartupMiB: MiB(medianOf(eager, "rssAfterStartup")),
        heapForBundlesMiB: MiB(eagerHeap),
        heapPerBundleKiB: round(eagerHeap / N / 1024),
        tools: medianOf(eager, "tools"),
      },
      comparison: {
        startupSpeedup: round(medianOf(eager, "startupMs") / medianOf(lazy, "startupMs")),
        heapSavedMiB: MiB(eagerHeap - manifestsHeap),
        heapRatio: round(eagerHeap / manifestsHeap),
      },
      runs: { lazy, eager },
    };

    const l = results.lazy;
    const e = results.eager;
    const rows: Array<[string, string, string]> = [
      ["", "lazy (manifests)", "eager (all code)"],
      [
        "bundles imported at start-up",
        String(l.bundlesLoadedAtStartup),
        String(e.bundlesLoadedAtStartup),
      ],
      ["open store (ms)", String(l.openStoreMs), String(e.openStoreMs)],
      ["register all bundles (ms)", String(l.registerMs), String(e.registerMs)],
      [
        "  of which store.unpackedDir (ms)",
        String(l.verifiedUnpackedDirMs),
        String(e.verifiedUnpackedDirMs),
      ],
      ["start-up total (ms)", String(l.startupMs), String(e.startupMs)],
      [
        "heap after start-up, GC'd (MiB)",
        String(l.heapAfterStartupMiB),
        String(e.heapAfterStartupMiB),
      ],
      ["heap for the bundles (MiB)", String(l.heapForBundlesMiB), String(e.heapForBundlesMiB)],
      ["heap per bundle (KiB)", String(l.heapPerBundleKiB), String(e.heapPerBundleKiB)],
      ["RSS after start-up (MiB)", String(l.rssAfterStartupMiB), String(e.rssAfterStartupMiB)],
      ["lazy, then one call per bundle: heap (MiB)", String(l.afterUsingEveryBundle.heapMiB), ""],
      [
        "lazy: first call p50 / later p50 (ms)",
        `${l.afterUsingEveryBundle.firstCallP50Ms} / ${l.afterUsingEveryBundle.secondCallP50Ms}`,
        "",
      ],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    process.stdout.write(
      `\nLazy loading: ${N} installed bundles, ${RUNS} runs (medians), Node ${process.version}\n`,
    );
    for (const [k, a, b] of rows)
      process.stdout.write(`  ${k.padEnd(w0)}  ${a.padStart(w1)}  ${b}\n`);
    process.stdout.write(
      `  start-up ${results.comparison.startupSpeedup}x faster lazy; ${results.comparison.heapSavedMiB} MiB less heap (eager/lazy ${results.comparison.heapRatio}x)\n`,
    );
    const out = join(dirname(self), "..", "results", "bundles-lazy.json");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nwrote ${out}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf("--child");
if (childIndex > 0) {
  await child(
    process.argv[childIndex + 1] as "lazy" | "eager",
    process.argv[childIndex + 2] as string,
  );
} else {
  await main();
}
