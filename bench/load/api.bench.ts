/**
 * Load test of the public API with autocannon: run submission (POST /v1/runs of a 4-step pipeline)
 * and status reads (GET /v1/runs/:id), against a runtime in this process on loopback, with the
 * defaults on (validation, checkpoints, events, audit, rate limits raised so they do not cap the test).
 * Prints a table and writes bench/results/load.json.
 *   node --conditions=@aria/source --import tsx bench/load/api.bench.ts [--redis] [--seconds N]
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger, startServer } from "../../apps/runtime/src/index.ts";
import { RuntimeConfigSchema } from "../../packages/core-types/src/index.ts";
import { startRedis } from "../../packages/testkit/src/index.ts";

// autocannon is a devDependency of the runtime app.
interface LoadResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = createRequire(new URL("../../apps/runtime/package.json", import.meta.url))(
  "autocannon",
) as (options: Record<string, unknown>) => Promise<LoadResult>;

const root = path.resolve(import.meta.dirname, "../..");
const useRedis = process.argv.includes("--redis");
const secondsArg = process.argv.indexOf("--seconds");
const duration = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 10;
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

const redis = useRedis ? await startRedis() : undefined;
const config = RuntimeConfigSchema.parse({
  dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-load-")),
  examplesDir: path.join(root, "examples"),
  port: 0,
  ...(redis ? { redisUrl: redis.url } : {}),
  features: { containers: false },
  limits: { rateLimitPerMinute: 10_000_000, workerConcurrency: 64 },
});
const server = await startServer(config, silent);
const body = JSON.stringify({
  pipeline: "text-report",
  input: { text: "The quick brown fox jumps over the lazy dog. Again and again!" },
});

async function load(title: string, options: Record<string, unknown>) {
  const result = await autocannon({ duration, connections: 32, pipelining: 1, ...options });
  return {
    title,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  };
}

const submit = await load("POST /v1/runs (4-step pipeline)", {
  url: `${server.url}/v1/runs`,
  method: "POST",
  headers: { "content-type": "application/json" },
  body,
});
// Read status of a finished run.
const one = (await (
  await fetch(`${server.url}/v1/runs?wait=true`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  })
).json()) as { id: string };
const read = await load("GET /v1/runs/:id", { url: `${server.url}/v1/runs/${one.id}` });
const health = await load("GET /health (floor)", { url: `${server.url}/health` });

// How many of the submitted runs have finished, and how fast they drained.
const drainStart = Date.now();
let pending = Infinity;
while (pending > 0 && Date.now() - drainStart < 120_000) {
  const runs = (await (await fetch(`${server.url}/v1/runs?limit=500&status=running`)).json()) as {
    runs: unknown[];
  };
  pending = runs.runs.length;
  if (pending > 0) await new Promise((r) => setTimeout(r, 500));
}
const rows = [submit, read, health];
console.log(
  `\nAPI load test (${duration}s each, 32 connections, state: ${useRedis ? "redis" : "memory"}, node ${process.version})`,
);
console.table(rows);
console.log(
  `runs still running ${((Date.now() - drainStart) / 1000).toFixed(1)}s after the submission test: ${pending}`,
);
const out = path.join(root, "bench/results", useRedis ? "load-redis.json" : "load.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, state: useRedis ? "redis" : "memory", durationSeconds: duration, connections: 32, limits: { rateLimitPerMinute: config.limits.rateLimitPerMinute, requestBodyBytes: config.limits.requestBodyBytes, workerConcurrency: config.limits.workerConcurrency }, rows }, null, 2)}\n`,
);
await server.close();
await redis?.stop();
process.exit(0);
