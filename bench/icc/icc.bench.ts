/**
 * ICC round-trip benchmark (issue 8).
 *
 *   node --conditions=@aria/source --import tsx bench/icc/icc.bench.ts [--n 20000] [--seconds 5]
 *        [--containers 4] [--concurrency 16] [--no-docker]
 *
 * The ICC server runs in this process with its defaults on: bearer-token authentication (HMAC
 * verification in constant time, revocation check), the per-token rate limiter, body size limit, zod
 * validation of the request, the tool registry call, the audit callback per call. The per-token rate
 * ceiling is raised above what is measured (the limiter still runs on every call; at its default of
 * 1 000 requests/s a single benchmark client would be throttled by design). The tool is a no-op.
 *
 * Clients are separate processes running bench/icc/client.ts bundled by esbuild with the real
 * @aria/sdk ICC client (which also validates every answer with the core-types schema):
 *   - latency, sequential calls, from the host over the shared Unix socket (sdk client, and a bare
 *     node:http keep-alive client for reference) and from inside a tool-runner container over its
 *     own socket at /run/aria/icc.sock (no network, read-only root, uid 1000, cap-drop ALL);
 *   - throughput with several concurrent containers (each its own socket and token), and with the
 *     same number of host processes; each with the sdk client and with a minimal HTTP/1.1 client
 *     ("wire": pre-built request bytes on keep-alive net sockets, the floor a client can reach).
 * The verdict takes the sdk client in containers, which is what tool code uses.
 * Prints a table and writes bench/results/icc.json.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RegisteredTool, ToolRegistry } from "../../packages/core-types/src/index.ts";
import {
  ALL_TOKEN_PERMISSIONS,
  createIccServer,
  generateKeyring,
  type IccAuditEntry,
  prepareContainerSocketDir,
} from "../../packages/icc-server/src/index.ts";

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = flag("n", 20_000);
const WARMUP = Math.min(5_000, Math.max(1_000, Math.floor(N / 4)));
const SECONDS = flag("seconds", 5);
const CONTAINERS = flag("containers", 4);
const CONCURRENCY = flag("concurrency", 16);
const USE_DOCKER = !args.includes("--no-docker");
const IMAGE = process.env.ARIA_TOOL_IMAGE ?? "aria-tool-runner:latest";
const TARGETS = { p50Us: 200, p99Us: 1500, requestsPerSecond: 10_000 };
/** Other work on the machine moves tail latencies a lot: the load average is recorded with the figures. */
const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);

interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: sorted.length,
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((s, x) => s + x, 0) / sorted.length),
    min: round(sorted[0]!),
    max: round(sorted.at(-1)!),
  };
}

// --- the server -----------------------------------------------------------------------------------

const noop: RegisteredTool = {
  id: "noop",
  name: "noop",
  description: "does nothing",
  inputSchema: { type: "object" },
  execution: "inprocess",
  securityLevel: "safe",
  network: false,
};
let toolCalls = 0;
const tools: ToolRegistry = {
  resolve: (name) => {
    if (name !== "noop") throw new Error(`no tool ${name}`);
    return noop;
  },
  has: (name) => name === "noop",
  list: () => [noop],
  execute: async () => {
    toolCalls += 1;
    return { ok: true };
  },
};
/** Audit entries kept in a ring (what a buffered audit writer costs on the hot path). */
const auditRing: IccAuditEntry[] = new Array(4096);
let audited = 0;
let auditFailures = 0;

const server = createIccServer(
  {
    keyring: generateKeyring(),
    tools,
    audit: (entry) => {
      auditRing[audited++ & 4095] = entry;
      if (entry.outcome === "failure") auditFailures += 1;
    },
  },
  { rateLimit: { requestsPerSecond: 1e9, burst: 1e9, maxConcurrent: 1024 } },
);
const work = await fs.mkdtemp(path.join(os.tmpdir(), "iccb-"));
await fs.chmod(work, 0o755);
const hostSocket = path.join(work, "icc.sock");
const listener = await server.listen({ socketPath: hostSocket });

// --- the client bundle ----------------------------------------------------------------------------

const requireFromIcc = createRequire(path.join(root, "packages/icc-server/package.json"));
const esbuild = (await import(requireFromIcc.resolve("esbuild"))) as {
  build(options: Record<string, unknown>): Promise<unknown>;
};
const bundleDir = path.join(work, "bundle");
await fs.mkdir(bundleDir, { mode: 0o755 });
const clientFile = path.join(bundleDir, "client.mjs");
await esbuild.build({
  entryPoints: [path.join(here, "client.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  conditions: ["@aria/source"],
  outfile: clientFile,
  logLevel: "error",
});
await fs.chmod(clientFile, 0o644);

interface ClientResult {
  samplesUs?: number[];
  completed?: number;
  errors?: number;
  elapsedMs?: number;
  late?: number;
}

function runProcess(
  command: string,
  argv: string[],
  env: Record<string, string>,
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${command} exited ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(out.trim().split("\n").at(-1)!) as ClientResult);
    });
  });
}

const hostToken = () =>
  server.mintToken({ runId: "bench", stepId: "s", containerId: "host", ...ALL_TOKEN_PERMISSIONS })
    .token;

function hostClient(env: Record<string, string>): Promise<ClientResult> {
  return runProcess(process.execPath, [clientFile], {
    ARIA_ICC_URL: listener.url,
    ARIA_ICC_TOKEN: hostToken(),
    ...env,
  });
}

/** One tool-runner container with its own socket folder and a token granted as the runtime would. */
async function containerClient(index: number, env: Record<string, string>): Promise<ClientResult> {
  const name = `iccb-${process.pid}-${index}-${Date.now() % 100000}`;
  const socketDir = await prepareContainerSocketDir(path.join(work, "ctr"), name, 1000, 1000);
  const grant = await server.grant(
    { containerName: name, socketDir, uid: 1000, gid: 1000, runId: "bench", stepId: `s${index}` },
    { permissions: ["tools"], task: "benchmark" },
  );
  const envArgs = Object.entries({ ...grant!.env, ...env }).flatMap(([k, v]) => [
    "-e",
    `${k}=${v}`,
  ]);
  try {
    return await runProcess(
      "docker",
      [
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "none",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        "1000:1000",
        "--pids-limit",
        "128",
        "--memory",
        "256m",
        "--tmpfs",
        "/tmp:uid=1000,gid=1000",
        "-v",
        `${socketDir}:/run/aria`,
        "-v",
        `${bundleDir}:/bench:ro`,
        ...envArgs,
        IMAGE,
        "node",
        "/bench/client.mjs",
      ],
      {},
    );
  } finally {
    await grant!.release();
  }
}

// --- scenarios ------------------------------------------------------------------------------------

const results: Record<string, unknown> = {};
const table: Array<[string, string]> = [];

/** Server CPU (user + system, all threads of this process) per tool call during `run`. */
async function measured<T>(
  run: () => Promise<T>,
): Promise<{ value: T; serverCpuUsPerCall: number }> {
  const calls = toolCalls;
  const cpu = process.cpuUsage();
  const value = await run();
  const used = process.cpuUsage(cpu);
  return {
    value,
    serverCpuUsPerCall:
      Math.round(((used.user + used.system) / Math.max(1, toolCalls - calls)) * 10) / 10,
  };
}

async function latency(label: string, run: () => Promise<ClientResult>) {
  const { value: result, serverCpuUsPerCall } = await measured(run);
  const p = percentiles(result.samplesUs!);
  results[label] = { unit: "µs", ...p, serverCpuUsPerCall };
  table.push([
    label,
    `p50 ${p.p50} µs  p95 ${p.p95} µs  p99 ${p.p99} µs  (n=${p.n}; server CPU ${serverCpuUsPerCall} µs/call)`,
  ]);
  return p;
}

async function throughput(
  label: string,
  clients: number,
  run: (i: number, env: Record<string, string>) => Promise<ClientResult>,
) {
  const startAt = Date.now() + (USE_DOCKER ? 2_500 : 800);
  const env = {
    BENCH_MODE: "throughput",
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_START_AT: String(startAt),
    BENCH_DURATION_MS: String(SECONDS * 1000),
  };
  const before = toolCalls;
  const { value: all, serverCpuUsPerCall } = await measured(() =>
    Promise.all(Array.from({ length: clients }, (_, i) => run(i, env))),
  );
  const completed = all.reduce((s, r) => s + r.completed!, 0);
  const errors = all.reduce((s, r) => s + r.errors!, 0);
  const late = Math.max(...all.map((r) => r.late ?? 0));
  const rps = Math.round(completed / SECONDS);
  results[label] = {
    clients,
    concurrencyPerClient: CONCURRENCY,
    seconds: SECONDS,
    completed,
    errors,
    requestsPerSecond: rps,
    perClient: all.map((r) => Math.round(r.completed! / SECONDS)),
    maxLateStartMs: Math.round(late),
    toolCallsOnServer: toolCalls - before,
    serverCpuUsPerCall,
  };
  table.push([
    label,
    `${rps} req/s  (${clients} × ${CONCURRENCY} in flight, ${errors} errors; server CPU ${serverCpuUsPerCall} µs/call)`,
  ]);
  return rps;
}

const latencyEnv = { BENCH_MODE: "latency", BENCH_N: String(N), BENCH_WARMUP: String(WARMUP) };
const hostSdk = await latency("hostLatencySdk", () =>
  hostClient({ ...latencyEnv, BENCH_CLIENT: "sdk" }),
);
await latency("hostLatencyRaw", () => hostClient({ ...latencyEnv, BENCH_CLIENT: "raw" }));
let containerSdk: Percentiles | undefined;
let dockerVersion: string | undefined;
if (USE_DOCKER) {
  dockerVersion = (
    await exec("docker", ["version", "--format", "{{.Server.Version}}"])
  ).stdout.trim();
  containerSdk = await latency("containerLatencySdk", () =>
    containerClient(0, { ...latencyEnv, BENCH_CLIENT: "sdk" }),
  );
  await latency("containerLatencyWire", () =>
    containerClient(0, { ...latencyEnv, BENCH_CLIENT: "wire" }),
  );
}
await throughput("throughputHostWire", CONTAINERS, (_i, env) =>
  hostClient({ ...env, BENCH_CLIENT: "wire" }),
);
const hostSdkRps = await throughput("throughputHostSdk", CONTAINERS, (_i, env) =>
  hostClient({ ...env, BENCH_CLIENT: "sdk" }),
);
let containerRps: number | undefined;
if (USE_DOCKER) {
  await throughput("throughputContainersWire", CONTAINERS, (i, env) =>
    containerClient(i + 1, { ...env, BENCH_CLIENT: "wire" }),
  );
  containerRps = await throughput("throughputContainersSdk", CONTAINERS, (i, env) =>
    containerClient(i + 1, { ...env, BENCH_CLIENT: "sdk" }),
  );
}

await server.close();
await fs.rm(work, { recursive: true, force: true });

const inside = containerSdk ?? hostSdk;
const bestRps = containerRps ?? hostSdkRps;
const verdict = {
  p50: inside.p50 <= TARGETS.p50Us,
  p99: inside.p99 <= TARGETS.p99Us,
  throughput: bestRps >= TARGETS.requestsPerSecond,
};

const output = {
  benchmark: "icc",
  date: new Date().toISOString(),
  machine: {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    loadAverage1m5m15m: {
      atStart: loadAtStart,
      atEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
  },
  configuration: {
    node: process.version,
    docker: dockerVersion ?? null,
    image: USE_DOCKER ? IMAGE : null,
    transport: "Unix socket (host: shared socket; containers: own socket at /run/aria/icc.sock)",
    call: "POST /tools/noop {parameters:{}} → {success,result,executionTimeMs}",
    checks:
      "bearer token HMAC-SHA256 verify (timingSafeEqual) + revocation lookup + socket binding, per-token rate limiter and in-flight cap, 1 MiB body limit, zod request validation, audit callback per call; sdk client validates each answer with zod",
    rateLimit:
      "requestsPerSecond 1e9, burst 1e9, maxConcurrent 1024 (default 1000/s would throttle one client by design)",
    latency: { sequential: true, n: N, warmup: WARMUP },
    clients: {
      sdk: "@aria/sdk createIccClient (its HTTP/1.1 keep-alive transport on node:net, zod-validated answers), bundled by esbuild",
      raw: "node:http keep-alive agent, JSON.parse of the answer (reference: node's own HTTP client)",
      wire: "HTTP/1.1 over net sockets, request bytes built once, answer framed by Content-Length and checked for 200 + success:true",
    },
    verdictFrom: {
      latency: "containerLatencySdk (hostLatencySdk without docker)",
      throughput: "throughputContainersSdk (throughputHostSdk without docker)",
    },
    throughput: { clients: CONTAINERS, concurrencyPerClient: CONCURRENCY, seconds: SECONDS },
    server:
      "single Node process (this one); clients in separate processes/containers on the same machine",
  },
  targets: TARGETS,
  results,
  audit: { entries: audited, failures: auditFailures, toolCalls },
  verdict,
};
await fs.mkdir(path.join(root, "bench/results"), { recursive: true });
await fs.writeFile(
  path.join(root, "bench/results/icc.json"),
  `${JSON.stringify(output, null, 2)}\n`,
);

const width = Math.max(...table.map(([k]) => k.length));
console.log(
  `ICC round trip, tool call to a no-op tool (${os.cpus().length} cores, ${process.version})`,
);
for (const [k, v] of table) console.log(`  ${k.padEnd(width)}  ${v}`);
console.log(
  `  targets: p50 ≤ ${TARGETS.p50Us} µs ${verdict.p50 ? "✓" : "✗"}, p99 ≤ ${TARGETS.p99Us} µs ${verdict.p99 ? "✓" : "✗"}, ≥ ${TARGETS.requestsPerSecond} req/s ${verdict.throughput ? "✓" : "✗"}`,
);
console.log(`  audit entries: ${audited} (${auditFailures} failures), tool calls: ${toolCalls}`);
console.log(
  `  load average (1m) at start ${loadAtStart[0]}, at end ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log("  wrote bench/results/icc.json");
