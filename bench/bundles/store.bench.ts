/**
 * Bundle store and registry throughput (issue 4).
 *
 *   node --conditions=@aria/source --import tsx bench/bundles/store.bench.ts [--bundles 1000]
 *
 * With the defaults on (full verification of every archive: safety limits, manifest schema and
 * cross references, every file hash; fsync of blob, index entry and directories; unpacking):
 * - install throughput for N bundles into an empty store (bundles/s, and per-install latency);
 * - reopening the store (loading N index entries);
 * - lookups: by name@version, by semver range, verified blob reads (read + SHA-256), and tool
 *   resolution in the registry (`BUNDLE/TOOL` and bare names) after registering all N bundles.
 * Prints a table and writes bench/results/bundles.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_BUNDLE_LIMITS, openBundleStore } from "../../packages/pkg-store/src/index.ts";
import { createRegistries } from "../../packages/registry/src/index.ts";
import { benchArchive, benchToolNames } from "./fixture.ts";

const argIndex = process.argv.indexOf("--bundles");
const N = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 1000;
const BASES = 10;

/** A small but realistic bundle: 3 tools with schemas, an agent, a pipeline, code of ~6 KiB. */
async function makeBundle(i: number): Promise<{ name: string; version: string; bytes: Buffer }> {
  const isBase = i < BASES;
  const name = isBase ? `base-${i}` : `bundle-${String(i).padStart(4, "0")}`;
  const version = `1.${i % 7}.${i % 13}`;
  const tools = benchToolNames(i);
  const code = [
    'const MARK = Symbol.for("aria.definition");',
    ...tools.map(
      (t) =>
        `export const ${t} = { [MARK]: "tool", kind: "tool", name: ${JSON.stringify(t)}, handler: async (input) => ({ echoed: input, by: ${JSON.stringify(`${name}/${t}`)} }) };`,
    ),
    `// padding to a realistic size\n${"/* lorem ipsum dolor sit amet */\n".repeat(180)}`,
  ].join("\n");
  const dependencies = isBase ? {} : { [`base-${i % BASES}`]: "^1.0.0" };
  return {
    name,
    version,
    bytes: await benchArchive({ name, version, index: i, code, dependencies }),
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function timeLoop(iterations: number, fn: (i: number) => void): number {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  return performance.now() - start;
}

async function main() {
  const work = await mkdtemp(join(os.tmpdir(), "aria-bench-bundles-"));
  try {
    const bundles: Array<{ name: string; version: string; bytes: Buffer }> = [];
    for (let i = 0; i < N; i++) bundles.push(await makeBundle(i));
    const archiveBytes = bundles.reduce((sum, b) => sum + b.bytes.length, 0);

    // Install: sequential, as `aria bundle install` and the HTTP route do.
    const dataDir = join(work, "data");
    const store = await openBundleStore({ dataDir });
    const latencies: number[] = [];
    const installStart = performance.now();
    for (const bundle of bundles) {
      const t0 = performance.now();
      await store.install(bundle.bytes);
      latencies.push(performance.now() - t0);
    }
    const installMs = performance.now() - installStart;

    const reopenStart = performance.now();
    const reopened = await openBundleStore({ dataDir });
    const reopenMs = performance.now() - reopenStart;
    if (reopened.list().length !== N)
      throw new Error(`expected ${N} bundles after reopening, found ${reopened.list().length}`);

    // Lookups in the store.
    const LOOKUPS = 200_000;
    const getMs = timeLoop(LOOKUPS, (i) => {
      const b = bundles[i % N] as { name: string; version: string };
      reopened.get(b.name, b.version);
    });
    const resolveMs = timeLoop(LOOKUPS, (i) => {
      reopened.resolve((bundles[i % N] as { name: string }).name, "^1.0.0");
    });
    const READS = Math.min(N, 1000);
    const readStart = performance.now();
    for (let i = 0; i < READS; i++) {
      const b = bundles[i] as { name: string; version: string };
      await reopened.read(b.name, b.version);
    }
    const readMs = performance.now() - readStart;
    const unpackStart = performance.now();
    for (let i = 0; i < READS; i++) {
      const b = bundles[i] as { name: string; version: string };
      await reopened.unpackedDir(b.name, b.version);
    }
    const unpackedMs = performance.now() - unpackStart;

    // Registry: register everything (manifests only: bundle code is imported on first use), then resolve tools.
    const registries = createRegistries();
    const registerStart = performance.now();
    const { failed } = await registries.registerInstalled(reopened);
    const registerMs = performance.now() - registerStart;
    if (failed.length > 0) throw new Error(`registration failed: ${String(failed[0]?.error)}`);
    const qualifiedMs = timeLoop(LOOKUPS, (i) => {
      registries.tools.resolve(`${(bundles[i % N] as { name: string }).name}/alpha`);
    });
    const bareMs = timeLoop(LOOKUPS, (i) => {
      registries.tools.resolve(`tool${i % N}`);
    });
    const agentMs = timeLoop(LOOKUPS, (i) => {
      registries.agents.getAgent(`${(bundles[i % N] as { name: string }).name}/helper`);
    });

    const results = {
      benchmark: "bundles",
      date: new Date().toISOString(),
      machine: {
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
      },
      configuration: {
        bundles: N,
        baseBundles: BASES,
        dependenciesPerBundle: 1,
        toolsPerBundle: 3,
        averageArchiveBytes: Math.round(archiveBytes / N),
        limits: DEFAULT_BUNDLE_LIMITS,
        verification:
          "full on install (archive safety, schema, cross references, file hashes); blob hash on every read; file hashes on every unpackedDir",
        durability: "fsync of blob, index entry and their directories",
        signatures: "off",
        moduleLoader:
          "registration reads manifests only (lazy loading): no bundle entry is imported here; see bench/bundles/lazy.bench.ts for lazy vs eager",
      },
      install: {
        totalMs: round(installMs),
        bundlesPerSecond: round((N / installMs) * 1000),
        latencyMs: {
          p50: round(percentile(latencies, 50)),
          p95: round(percentile(latencies, 95)),
          max: round(Math.max(...latencies)),
        },
      },
      reopen: { ms: round(reopenMs), entriesPerSecond: round((N / reopenMs) * 1000) },
      lookups: {
        storeGetPerSecond: round((LOOKUPS / getMs) * 1000),
        storeResolveRangePerSecond: round((LOOKUPS / resolveMs) * 1000),
        verifiedBlobReadsPerSecond: round((READS / readMs) * 1000),
        verifiedUnpackedDirPerSecond: round((READS / unpackedMs) * 1000),
        registryResolveQualifiedPerSecond: round((LOOKUPS / qualifiedMs) * 1000),
        registryResolveBarePerSecond: round((LOOKUPS / bareMs) * 1000),
        registryGetAgentPerSecond: round((LOOKUPS / agentMs) * 1000),
      },
      registry: {
        registerMs: round(registerMs),
        bundlesPerSecond: round((N / registerMs) * 1000),
        tools: registries.tools.list().length,
      },
    };

    const rows: Array<[string, string]> = [
      ["bundles", String(N)],
      [
        "install (full verification + fsync)",
        `${results.install.bundlesPerSecond} bundles/s (p50 ${results.install.latencyMs.p50} ms, p95 ${results.install.latencyMs.p95} ms)`,
      ],
      ["reopen store (load index)", `${results.reopen.ms} ms for ${N} entries`],
      ["store.get(name, version)", `${fmt(results.lookups.storeGetPerSecond)} lookups/s`],
      [
        "store.resolve(name, ^1.0.0)",
        `${fmt(results.lookups.storeResolveRangePerSecond)} lookups/s`,
      ],
      ["store.read (blob + sha256)", `${fmt(results.lookups.verifiedBlobReadsPerSecond)} reads/s`],
      [
        "store.unpackedDir (file hashes)",
        `${fmt(results.lookups.verifiedUnpackedDirPerSecond)} reads/s`,
      ],
      [
        "registry: register all bundles",
        `${results.registry.bundlesPerSecond} bundles/s (${results.registry.tools} tools)`,
      ],
      [
        "tools.resolve(BUNDLE/TOOL)",
        `${fmt(results.lookups.registryResolveQualifiedPerSecond)} lookups/s`,
      ],
      [
        "tools.resolve(bare name)",
        `${fmt(results.lookups.registryResolveBarePerSecond)} lookups/s`,
      ],
      [
        "agents.getAgent(BUNDLE/NAME)",
        `${fmt(results.lookups.registryGetAgentPerSecond)} lookups/s`,
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`\nBundle store and registry (${N} bundles, Node ${process.version})\n`);
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);

    const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results", "bundles.json");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nwrote ${out}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

await main();
