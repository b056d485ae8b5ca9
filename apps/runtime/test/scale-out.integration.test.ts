import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The fault test of the runtime-app issue: three worker processes on one Redis, 200 runs
 * submitted, one worker killed with SIGKILL mid-way. Every run finishes exactly once, and the
 * tools themselves count how often each step ran.
 */
const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
const fixtures = path.resolve(import.meta.dirname, "fixtures");
const RUNS = 200;
const STEPS = 5;

let redis: RedisHandle;
let root: string;
let countFile: string;
const workers: Array<{ child: ChildProcess; url: string }> = [];

async function startWorker(index: number): Promise<{ child: ChildProcess; url: string }> {
  const dataDir = path.join(root, `worker-${index}`);
  const examples = path.join(root, "examples");
  const child = spawn(
    process.execPath,
    ["--conditions=@aria/source", "--import", "tsx", cli, "serve", "--role", "all"],
    {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        ARIA_PORT: "0",
        ARIA_DATA_DIR: dataDir,
        ARIA_EXAMPLES_DIR: examples,
        ARIA_CONFIG: path.join(root, "aria.config.json"),
        ARIA_FEATURE_CONTAINERS: "false",
        ARIA_COUNT_FILE: countFile,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
    fs.appendFileSync(path.join(root, `worker-${index}.log`), d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker ${index} did not start: ${out}\n${err}`)),
      60_000,
    );
    child.once("exit", (code) => reject(new Error(`worker ${index} exited with ${code}: ${err}`)));
    child.stdout!.on("data", () => {
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { child, url };
}

beforeAll(async () => {
  redis = await startRedis();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "aria-scale-"));
  countFile = path.join(root, "count.log");
  fs.writeFileSync(countFile, "");
  fs.mkdirSync(path.join(root, "examples"));
  fs.cpSync(
    path.join(fixtures, "counting-bundle"),
    path.join(root, "examples", "counting-bundle"),
    { recursive: true },
  );
  // The fixture imports @aria/sdk and zod: resolve them from this package's node_modules.
  fs.symlinkSync(
    path.resolve(import.meta.dirname, "../node_modules"),
    path.join(root, "examples", "counting-bundle", "node_modules"),
  );
  fs.writeFileSync(
    path.join(root, "aria.config.json"),
    JSON.stringify({
      limits: { runLeaseMs: 3000, workerConcurrency: 16, rateLimitPerMinute: 1_000_000 },
    }),
  );
  for (let i = 0; i < 3; i++) workers.push(await startWorker(i));
}, 180_000);

afterAll(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill("SIGTERM");
      await once(w.child, "exit");
    }
  }
  await redis?.stop();
});

describe("three workers on one Redis, one killed mid-way", () => {
  it("finishes every run exactly once and never re-runs a completed step", async () => {
    const api = workers[0]!.url;
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const res = await fetch(`${api}/v1/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pipeline: "count-chain", input: { start: i } }),
      });
      expect(res.status).toBe(202);
      runIds.push(((await res.json()) as { runId: string }).runId);
    }

    // Kill worker 2 once a good part of the work has happened.
    const lines = () => fs.readFileSync(countFile, "utf8").split("\n").filter(Boolean);
    const deadline = Date.now() + 60_000;
    while (lines().length < (RUNS * STEPS) / 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const victim = workers[2]!;
    victim.child.kill("SIGKILL");
    await once(victim.child, "exit");
    const atKill = lines().length;
    expect(atKill).toBeLessThan(RUNS * STEPS);

    // Every run ends, read through a surviving replica.
    const statuses = new Map<string, string>();
    const end = Date.now() + 150_000;
    while (statuses.size < RUNS && Date.now() < end) {
      for (const id of runIds) {
        if (statuses.has(id)) continue;
        const run = (await (await fetch(`${workers[1]!.url}/v1/runs/${id}`)).json()) as {
          status: string;
        };
        if (["succeeded", "failed", "cancelled"].includes(run.status)) statuses.set(id, run.status);
      }
      if (statuses.size < RUNS) await new Promise((r) => setTimeout(r, 250));
    }
    expect(statuses.size).toBe(RUNS);
    expect([...statuses.values()].every((s) => s === "succeeded")).toBe(true);

    // Exactly one terminal event per run, and the right result.
    for (const id of runIds.slice(0, 40)) {
      const text = await (await fetch(`${api}/v1/runs/${id}/events`)).text();
      const terminal = [...text.matchAll(/^event: (run\.(?:completed|failed|cancelled))$/gm)];
      expect(terminal).toHaveLength(1);
    }
    const sample = (await (await fetch(`${api}/v1/runs/${runIds[7]}`)).json()) as {
      result: { n: number };
    };
    expect(sample.result).toEqual({ n: 7 + STEPS });

    // Every step ran at least once; a step ran twice only if it was in flight on the killed worker
    // (at most its concurrency), never a step whose completion had been checkpointed.
    const counts = new Map<string, number>();
    const pidsByRun = new Map<string, Set<string>>();
    for (const line of lines()) {
      const [key, pid] = line.split(" ") as [string, string];
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const runId = key.split(":")[0]!;
      pidsByRun.set(runId, (pidsByRun.get(runId) ?? new Set()).add(pid));
    }
    // The killed worker really had work in flight, and other workers took those runs over.
    const victimPid = String(victim.child.pid);
    const victimRuns = [...pidsByRun.entries()].filter(([, pids]) => pids.has(victimPid));
    const takenOver = victimRuns.filter(([, pids]) => pids.size > 1);
    expect(victimRuns.length).toBeGreaterThan(0);
    expect(takenOver.length).toBeGreaterThan(0);
    expect(counts.size).toBe(RUNS * STEPS);
    const repeated = [...counts.entries()].filter(([, n]) => n > 1);
    expect(repeated.every(([, n]) => n === 2)).toBe(true);
    expect(repeated.length).toBeLessThanOrEqual(16);
    console.log(
      `scale-out: ${atKill} step executions before the kill, ${lines().length} in all; the killed worker ran steps of ${victimRuns.length} runs, ${takenOver.length} taken over by others, ${repeated.length} steps re-run`,
    );
  }, 300_000);
});
