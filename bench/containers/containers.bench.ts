/**
 * Container execution latency, measured in one run on the local dockerd:
 *   - cold workload: `manager.run` on the cold path, create → start → exit → output (limits and
 *     hardening on; removal happens in the background and is settled between iterations),
 *   - the reference: `docker run --rm` of the same command through the CLI, plain and with the same
 *     hardening flags (the CLI's `--network none` sets up a libnetwork sandbox; the manager disables
 *     networking outright, which gives the same `lo`-only namespace faster),
 *   - warm-pool acquire (`pool.tryAcquire`, no Docker API call),
 *   - dispatch through the in-container runner: a ping job, a bundle-tool job, and the increment
 *     workload as an exec job (the last includes spawning `sh` inside the container),
 *   - refill: acquires per second sustained when every acquired member is destroyed after one job.
 *
 *   node --conditions=@aria/source --import tsx bench/containers/containers.bench.ts [--iterations N] [--refill-seconds S]
 *
 * Prints a table and writes bench/results/containers.json.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  createContainerManager,
  DockerContainerBackend,
  LABELS,
  type PoolProfile,
} from "../../packages/quilt-client/src/index.ts";

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const args = process.argv.slice(2);
const argValue = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = argValue("--iterations", 40);
const REFILL_SECONDS = argValue("--refill-seconds", 10);
const IMAGE = process.env.ARIA_TOOL_IMAGE ?? "aria-tool-runner:latest";
const COMMAND = ["sh", "-c", 'echo "RESULT: $((INPUT + 1))"'];
const ENV = { INPUT: "42" };

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
};
const summary = (values: number[]) => ({
  n: values.length,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  min: Math.min(...values),
  max: Math.max(...values),
});
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

async function main() {
  await exec("bash", [path.join(repoRoot, "deploy/tool-runner/build-local.sh"), process.execPath], {
    timeout: 300_000,
  });
  const dockerVersion = (
    await exec("docker", [
      "version",
      "--format",
      "{{.Server.Version}} (API {{.Server.APIVersion}})",
    ])
  ).stdout.trim();
  const backend = new DockerContainerBackend();
  const instanceId = `bench-${randomBytes(3).toString("hex")}`;
  const manager = createContainerManager({
    backend,
    instanceId,
    pool: { maxMembers: 8, maxIdlePerKey: 4, idleTimeoutMs: 120_000 },
  });
  await manager.start();
  const spec = { image: IMAGE, command: COMMAND, env: ENV };

  // --- the CLI reference ----------------------------------------------------------------------
  const hardenFlags = [
    "--network",
    "none",
    "--read-only",
    "--tmpfs",
    "/tmp:rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=1777",
    "--tmpfs",
    "/workspace:rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=0755",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "128",
    "--memory",
    "256m",
    "--memory-swap",
    "256m",
    "--cpus",
    "1",
    "--user",
    "1000:1000",
  ];
  const cliOnce = async (flags: string[]) => {
    const t0 = performance.now();
    const { stdout } = await exec("docker", [
      "run",
      "--rm",
      "-e",
      "INPUT=42",
      ...flags,
      IMAGE,
      ...COMMAND,
    ]);
    const ms = performance.now() - t0;
    if (stdout.trim() !== "RESULT: 43") throw new Error(`docker run printed ${stdout}`);
    return ms;
  };
  // One warm-up of each path so image layers and caches are hot for all of them.
  await cliOnce([]);
  await cliOnce(hardenFlags);
  await manager.run(spec, { path: "cold" });
  await manager.settle();

  // --- cold path and the CLI, interleaved so drift in the engine affects all three alike --------
  const cliPlain: number[] = [];
  const cliHardened: number[] = [];
  const cold: number[] = [];
  const coldWithRemoval: number[] = [];
  for (let i = 0; i < N; i++) {
    cliPlain.push(await cliOnce([]));
    cliHardened.push(await cliOnce(hardenFlags));
    const t0 = performance.now();
    const result = await manager.run(spec, { path: "cold" });
    cold.push(performance.now() - t0);
    if (result.stdout.trim() !== "RESULT: 43" || result.exitCode !== 0)
      throw new Error(`cold run gave ${JSON.stringify(result)}`);
    await manager.settle();
    coldWithRemoval.push(performance.now() - t0);
  }

  // --- warm pool: acquire and dispatch ----------------------------------------------------------
  const profile: PoolProfile = {
    image: IMAGE,
    cpus: 1,
    memoryMb: 256 + 48,
    pids: 128 + 16,
    network: false,
    readOnlyRoot: true,
    user: "1000:1000",
    mounts: [],
  };
  manager.warm(spec, 4);
  const waitIdle = async (count: number) => {
    while (manager.pool.idleCount(profile) < count) await new Promise((r) => setTimeout(r, 10));
  };
  await waitIdle(4);
  const acquire: number[] = [];
  for (let i = 0; i < N; i++) {
    await waitIdle(1);
    const t0 = performance.now();
    const member = manager.pool.tryAcquire(profile, `acq-${i}`);
    acquire.push(performance.now() - t0);
    if (!member) throw new Error("no idle member");
    manager.pool.release(member, { reusable: false });
  }
  await waitIdle(1);
  const member = manager.pool.tryAcquire(profile, "dispatch")!;
  const ping: number[] = [];
  const execJob: number[] = [];
  for (let i = 0; i < 20; i++) await member.connection.send({ type: "ping" });
  for (let i = 0; i < N * 10; i++) {
    const t0 = performance.now();
    await member.connection.send({ type: "ping" });
    ping.push(performance.now() - t0);
  }
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const reply = await member.connection.send({
      type: "exec",
      command: COMMAND,
      env: ENV,
      cwd: "/workspace",
    });
    execJob.push(performance.now() - t0);
    if (!reply.ok || reply.stdout.trim() !== "RESULT: 43")
      throw new Error(`exec job gave ${JSON.stringify(reply)}`);
  }
  manager.pool.release(member, { reusable: false });

  // A bundle tool job (trivial handler) through the runner, on a member reserved for one run.
  const bundleDir = await fs.mkdtemp(path.join(os.tmpdir(), "aria-bench-bundle-"));
  await fs.mkdir(path.join(bundleDir, "dist"));
  await fs.writeFile(
    path.join(bundleDir, "dist/index.js"),
    "export const inc = { name: 'inc', handler: (i) => ({ value: i.value + 1 }) };\n",
  );
  await fs.chmod(bundleDir, 0o755);
  await fs.chmod(path.join(bundleDir, "dist"), 0o755);
  const bundle = {
    name: "bench",
    version: "1.0.0",
    digest: "sha256:bench",
    dir: bundleDir,
    entry: "dist/index.js",
  };
  await manager.runTool({ runId: "tool-bench", bundle, tool: "inc", input: { value: 1 } });
  const toolRun: number[] = [];
  const toolDispatch: number[] = [];
  for (let i = 0; i < N * 5; i++) {
    const t0 = performance.now();
    const r = await manager.runTool({
      runId: "tool-bench",
      bundle,
      tool: "inc",
      input: { value: 42 },
    });
    toolRun.push(performance.now() - t0);
    toolDispatch.push(r.durationMs);
    if ((r.output as { value: number }).value !== 43) throw new Error("tool gave a wrong answer");
  }
  await manager.cleanupRun("tool-bench");

  // The increment workload end to end on the warm path (acquire + dispatch + result).
  const warmRun: number[] = [];
  await waitIdle(2);
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const r = await manager.run({ ...spec, runId: "warm-run" }, { path: "warm" });
    warmRun.push(performance.now() - t0);
    if (r.stdout.trim() !== "RESULT: 43") throw new Error("warm run gave a wrong answer");
  }
  await manager.cleanupRun("warm-run");

  // --- refill: every acquired member is destroyed after one job --------------------------------
  await waitIdle(4);
  const before = manager.pool.stats();
  let acquires = 0;
  const t0 = performance.now();
  const deadline = t0 + REFILL_SECONDS * 1000;
  while (performance.now() < deadline) {
    const runId = `refill-${acquires}`;
    const m = await manager.pool.acquire(profile, runId);
    const reply = await m.connection.send({
      type: "exec",
      command: COMMAND,
      env: ENV,
      cwd: "/workspace",
    });
    if (!reply.ok) throw new Error("refill job failed");
    manager.pool.release(m, { reusable: false });
    acquires += 1;
  }
  const refillSeconds = (performance.now() - t0) / 1000;
  const after = manager.pool.stats();
  const refill = {
    acquiresPerSecond: acquires / refillSeconds,
    acquires,
    seconds: refillSeconds,
    warmHits: after.hits - before.hits,
    onDemandStarts: after.misses - before.misses,
  };

  await manager.close();
  await fs.rm(bundleDir, { recursive: true, force: true });
  const left = await backend.list({ [LABELS.instance]: instanceId });
  if (left.length > 0) throw new Error(`${left.length} containers left behind`);

  // --- report ---------------------------------------------------------------------------------
  const results = {
    coldRun: summary(cold),
    coldRunIncludingRemoval: summary(coldWithRemoval),
    dockerRunCli: summary(cliPlain),
    dockerRunCliHardened: summary(cliHardened),
    warmAcquire: summary(acquire),
    dispatchPing: summary(ping),
    dispatchTool: summary(toolDispatch),
    toolRunWarm: summary(toolRun),
    dispatchExecIncrement: summary(execJob),
    warmRunIncrement: summary(warmRun),
    refill,
  };
  const targets = {
    coldP50Ms: { target: 200, value: results.coldRun.p50, ok: results.coldRun.p50 <= 200 },
    coldP95Ms: { target: 300, value: results.coldRun.p95, ok: results.coldRun.p95 <= 300 },
    coldVsDockerRun: {
      target: 1.1,
      value: results.coldRun.p50 / results.dockerRunCli.p50,
      ok: results.coldRun.p50 <= 1.1 * results.dockerRunCli.p50,
    },
    coldVsDockerRunHardened: {
      target: 1.1,
      value: results.coldRun.p50 / results.dockerRunCliHardened.p50,
      ok: results.coldRun.p50 <= 1.1 * results.dockerRunCliHardened.p50,
    },
    warmAcquireP50Ms: {
      target: 5,
      value: results.warmAcquire.p50,
      ok: results.warmAcquire.p50 <= 5,
    },
    dispatchP50Ms: {
      target: 2,
      value: results.dispatchPing.p50,
      ok: results.dispatchPing.p50 <= 2,
    },
    dispatchToolP50Ms: {
      target: 2,
      value: results.dispatchTool.p50,
      ok: results.dispatchTool.p50 <= 2,
    },
    refillAcquiresPerSecond: {
      target: 5,
      value: refill.acquiresPerSecond,
      ok: refill.acquiresPerSecond >= 5,
    },
  };
  const rows: Array<[string, ReturnType<typeof summary>]> = [
    ["cold run (create→result, hardened)", results.coldRun],
    ["cold run incl. removal", results.coldRunIncludingRemoval],
    ["docker run --rm (CLI)", results.dockerRunCli],
    ["docker run --rm (CLI, same hardening)", results.dockerRunCliHardened],
    ["warm-pool acquire", results.warmAcquire],
    ["dispatch: ping via runner", results.dispatchPing],
    ["dispatch: bundle tool job", results.dispatchTool],
    ["tool run, warm (acquire+dispatch)", results.toolRunWarm],
    ["exec job: increment (sh spawn)", results.dispatchExecIncrement],
    ["warm run: increment end to end", results.warmRunIncrement],
  ];
  console.log(
    `\nContainers (${os.cpus().length} cores, Docker ${dockerVersion}, image ${IMAGE}, n=${N})\n`,
  );
  console.log(
    `${"measure".padEnd(40)}${"p50 ms".padStart(10)}${"p95 ms".padStart(10)}${"min".padStart(9)}${"max".padStart(9)}${"n".padStart(6)}`,
  );
  for (const [name, s] of rows) {
    console.log(
      `${name.padEnd(40)}${round(s.p50, 3).toString().padStart(10)}${round(s.p95, 3).toString().padStart(10)}${round(s.min).toString().padStart(9)}${round(s.max).toString().padStart(9)}${String(s.n).padStart(6)}`,
    );
  }
  console.log(
    `refill: ${round(refill.acquiresPerSecond)} acquires/s over ${round(refill.seconds)} s (${refill.warmHits} warm, ${refill.onDemandStarts} started on demand)\n`,
  );
  for (const [name, t] of Object.entries(targets))
    console.log(`${t.ok ? "ok  " : "MISS"} ${name}: ${round(t.value, 3)} (target ${t.target})`);

  const out = {
    benchmark: "containers",
    date: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGb: round(os.totalmem() / 2 ** 30, 1),
      kernel: os.release(),
    },
    configuration: {
      docker: dockerVersion,
      image: IMAGE,
      node: process.version,
      iterations: N,
      refillSeconds: REFILL_SECONDS,
      command: COMMAND,
      hardening:
        "defaults (no network, read-only root, tmpfs /tmp and /workspace, cap-drop ALL, no-new-privileges, pids 128, memory 256 MiB, 1 CPU, uid 1000)",
      pool: { maxMembers: 8, maxIdlePerKey: 4, runnerOverheadMb: 48 },
      removal: "background; settled between cold iterations (not timed in coldRun)",
    },
    results,
    targets,
  };
  await fs.mkdir(path.join(repoRoot, "bench/results"), { recursive: true });
  await fs.writeFile(
    path.join(repoRoot, "bench/results/containers.json"),
    `${JSON.stringify(out, null, 2)}\n`,
  );
  console.log("\nwrote bench/results/containers.json");
}

await main();
