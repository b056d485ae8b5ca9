/**
 * Backup during load, restore into a fresh Redis and data directory, compared record by record.
 * The test follows docs/recovery.md, "Lost Redis and data directory (restore from a backup)":
 * step numbers in the comments are the document's.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createBackup, restoreBackup } from "../src/ops/backup.ts";
import { readBackup } from "../src/ops/backup-format.ts";
import { backupCommand, restoreCommand } from "../src/ops/cli.ts";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const examplesDir = path.resolve(import.meta.dirname, "../../../examples");
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `aria-ops-${name}-`));

async function runtimeOn(
  redisUrl: string,
  dataDir: string,
  role: "api" | "all" = "all",
): Promise<Runtime> {
  const runtime = await composeRuntime(
    RuntimeConfigSchema.parse({
      redisUrl,
      dataDir,
      examplesDir,
      features: { containers: false },
      limits: { rateLimitPerMinute: 1_000_000, workerConcurrency: 8 },
    }),
    silent,
    { role },
  );
  cleanup.push(() => runtime.close());
  return runtime;
}

/**
 * A bundle with a `gated` pipeline: step `s1`, then `s2` waits until the file named by
 * ARIA_GATE_FILE exists, then `s3`. Runs submitted before the gate opens are held mid-run, with
 * `s1` checkpointed: in flight at the backup, whatever the machine's speed.
 */
async function gateBundle(): Promise<Uint8Array> {
  const dir = tmp("gate-bundle");
  fs.mkdirSync(path.join(dir, "src"));
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: "gate-tools", version: "1.0.0", private: true, type: "module" }),
  );
  fs.writeFileSync(
    path.join(dir, "src", "index.ts"),
    `import { existsSync } from "node:fs";
import { definePipeline, defineTool } from "@aria/sdk";
import { z } from "zod";

export const step = defineTool({
  name: "step",
  description: "Returns n + 1",
  input: z.object({ n: z.number() }),
  output: z.object({ n: z.number() }),
  handler: ({ n }) => ({ n: n + 1 }),
});

export const gate = defineTool({
  name: "gate",
  description: "Waits until the file named by ARIA_GATE_FILE exists, then returns n + 1",
  input: z.object({ n: z.number() }),
  output: z.object({ n: z.number() }),
  handler: async ({ n }) => {
    const file = process.env.ARIA_GATE_FILE;
    while (file && !existsSync(file)) await new Promise((r) => setTimeout(r, 10));
    return { n: n + 1 };
  },
});

export const gated = definePipeline({
  name: "gated",
  description: "A step, a gate, a step",
  input: z.object({ start: z.number() }),
  steps: [
    { id: "s1", type: "tool", tool: step, params: { n: "{{input.start}}" } },
    { id: "s2", type: "tool", tool: gate, params: { n: "{{steps.s1.output.n}}" } },
    { id: "s3", type: "tool", tool: step, params: { n: "{{steps.s2.output.n}}" } },
  ],
  output: "{{steps.s3.output}}",
});
`,
  );
  // The bundle imports @aria/sdk and zod: resolve them from this package's node_modules.
  fs.symlinkSync(
    path.resolve(import.meta.dirname, "../node_modules"),
    path.join(dir, "node_modules"),
  );
  return (await packBundle(dir, { write: false })).bytes;
}

async function submit(runtime: Runtime, text: string): Promise<string> {
  return post(runtime, { pipeline: "text-report", input: { text } });
}

async function post(runtime: Runtime, body: unknown): Promise<string> {
  const response = await runtime.app.request("/v1/runs", {
    method: "POST",
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { runId: string }).runId;
}

function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  cleanup.push(async () => redis.disconnect());
  return redis;
}

/** A key's type and content as bytes, in a canonical order. */
async function content(redis: Redis, key: string): Promise<unknown> {
  const type = await redis.type(key);
  const hex = (values: Buffer[]) => values.map((b) => b.toString("hex"));
  switch (type) {
    case "string":
      return [type, (await redis.getBuffer(key))?.toString("hex")];
    case "list":
      return [type, hex(await redis.lrangeBuffer(key, 0, -1))];
    case "hash":
      return [
        type,
        Object.entries(await redis.hgetallBuffer(key))
          .map(([field, value]) => [field, value.toString("hex")])
          .sort(),
      ];
    case "set":
      return [type, hex(await redis.smembersBuffer(key)).sort()];
    case "zset":
      return [type, await redis.zrange(key, "0", "-1", "WITHSCORES")];
    case "stream":
      return [type, await redis.xrange(key, "-", "+")];
    default:
      return [type];
  }
}

/** Every file under `dir`, relative path → bytes. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.set(path.relative(dir, full), fs.readFileSync(full));
  }
  return out;
}

describe("backup and restore (docs/recovery.md)", () => {
  it("restores a backup taken during load into a fresh Redis and data directory, record by record", async () => {
    // The source: a runtime on its own Redis (AOF on, as in the deployment) and data directory.
    const sourceRedis: RedisHandle = await startRedis({ appendonly: true });
    cleanup.push(() => sourceRedis.stop());
    const sourceDir = tmp("source");
    const source = await runtimeOn(sourceRedis.url, sourceDir);

    // A bundle installed through the API (not an example: only the backup brings it back), and
    // three runs held at its gate, mid-run.
    const gateFile = path.join(tmp("gate"), "open");
    process.env.ARIA_GATE_FILE = gateFile;
    const installed = await source.app.request("/v1/bundles", {
      method: "POST",
      body: await gateBundle(),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(installed.status).toBe(201);
    const gated: string[] = [];
    for (let i = 0; i < 3; i++)
      gated.push(await post(source, { pipeline: "gated", input: { start: i } }));
    for (const id of gated)
      for (let i = 0; ; i++) {
        const checkpoints = (await source.store.readCheckpoints(id)) as Array<{ stepId?: string }>;
        if (checkpoints.some((c) => c.stepId === "s1")) break;
        expect(i).toBeLessThan(3000);
        await new Promise((r) => setTimeout(r, 10));
      }

    // Runs that finish before the backup starts.
    const early: string[] = [];
    for (let i = 0; i < 30; i++) early.push(await submit(source, `early run ${i}: the quick fox.`));
    for (const id of early)
      expect((await source.runs.waitFor(id, 60_000))?.status).toBe("succeeded");

    // Load: four clients keep submitting runs until the backup is written.
    let loading = true;
    const during: string[] = [];
    const load = Promise.all(
      Array.from({ length: 4 }, async (_, client) => {
        for (let i = 0; loading; i++)
          during.push(await submit(source, `load ${client}.${i}: words and more words.`));
      }),
    );
    while (during.length < 40) await new Promise((r) => setTimeout(r, 5));
    const finishedBefore = (await source.store.listRuns({ limit: 100_000 }))
      .filter((run) => TERMINAL.has(run.status))
      .map((run) => run.id);
    const sourceClient = client(sourceRedis.url);
    const auditBefore = await sourceClient.xrange("aria:audit", "-", "+");

    // Step 1 (taking backups): `aria backup FILE` while the runtime runs.
    const file = path.join(tmp("backup"), "aria.backup.gz");
    const out: string[] = [];
    const status = await backupCommand(
      [file],
      { write: (s: string) => out.push(s) },
      {
        redisUrl: sourceRedis.url,
        dataDir: sourceDir,
      },
    );
    expect(out.join("")).toContain("backup written");
    expect(status).toBe(0);
    loading = false;
    await load;
    fs.writeFileSync(gateFile, "");
    for (const id of during)
      expect(TERMINAL.has((await source.runs.waitFor(id, 60_000))!.status)).toBe(true);

    // What the backup holds, record by record.
    const keys = new Map<string, Buffer>();
    const streamEntries: Array<[string, string[]]> = [];
    const zset = new Map<string, number>();
    const backupFiles = new Map<string, Buffer>();
    let currentFile: { path: string; parts: Buffer[] } | undefined;
    const closeFile = () => {
      if (currentFile) backupFiles.set(currentFile.path, Buffer.concat(currentFile.parts));
      currentFile = undefined;
    };
    for await (const record of readBackup(file)) {
      if (record.t !== "chunk") closeFile();
      if (record.t === "key") keys.set(record.key, Buffer.from(record.dump, "base64"));
      if (record.t === "stream" && record.key === "aria:audit")
        streamEntries.push(...record.entries);
      if (record.t === "zset") for (const [m, s] of record.members) zset.set(m, s);
      if (record.t === "file") currentFile = { path: record.path, parts: [] };
      if (record.t === "chunk") currentFile!.parts.push(Buffer.from(record.d, "base64"));
    }
    closeFile();
    const backedUpRuns = [...keys.keys()]
      .filter((k) => k.startsWith("aria:run:"))
      .map((k) => k.slice("aria:run:".length));
    expect([...keys.keys()].some((k) => k.startsWith("aria:lease:"))).toBe(false);
    expect([...keys.keys()].some((k) => k.startsWith("aria:bull:"))).toBe(false);

    // Steps 2–3 (lost Redis and data directory): a fresh Redis, an empty data directory, restore.
    const targetRedis = await startRedis({ appendonly: true });
    cleanup.push(() => targetRedis.stop());
    const targetDir = tmp("target");
    const restoreOut: string[] = [];
    expect(
      await restoreCommand(
        [file],
        { write: (s: string) => restoreOut.push(s) },
        {
          redisUrl: targetRedis.url,
          dataDir: targetDir,
        },
      ),
    ).toBe(0);
    expect(restoreOut.join("")).toContain("unfinished runs queued again");
    const target = client(targetRedis.url);

    // Every key in the backup is byte-identical in the restored Redis: its content (fields, list
    // items, members, values as bytes) equals what the backup's DUMP payload holds (restored under a
    // scratch name for the comparison; DUMP bytes themselves vary with a hash table's layout).
    expect(keys.size).toBeGreaterThan(backedUpRuns.length);
    for (const [key, dump] of keys) {
      await target.restore(`scratch:${key}`, 0, dump, "REPLACE");
      expect(await content(target, key), key).toEqual(await content(target, `scratch:${key}`));
      await target.del(`scratch:${key}`);
    }

    // Every run that had finished before the backup started is there, identical to the source:
    // its record, checkpoint list, event list and submission.
    expect(finishedBefore.length).toBeGreaterThanOrEqual(early.length);
    for (const id of finishedBefore) {
      expect(backedUpRuns).toContain(id);
      expect(await target.hgetall(`aria:run:${id}`)).toEqual(
        await sourceClient.hgetall(`aria:run:${id}`),
      );
      for (const list of ["checkpoints", "events"]) {
        const restored = await target.lrange(`aria:${list}:${id}`, 0, -1);
        expect(restored.length).toBeGreaterThan(0);
        expect(restored).toEqual(await sourceClient.lrange(`aria:${list}:${id}`, 0, -1));
      }
      expect(await target.get(`aria:kv:submissions:${id}`)).toEqual(
        await sourceClient.get(`aria:kv:submissions:${id}`),
      );
    }

    // Runs in flight: no run record refers to a checkpoint missing from the backup (every step the
    // record shows finished has its checkpoint), and each list is a prefix of the source's final one.
    let inFlight = 0;
    for (const id of backedUpRuns) {
      const run = JSON.parse((await target.hget(`aria:run:${id}`, "json"))!) as {
        status: string;
        steps: Array<{ stepId: string; status: string }>;
      };
      if (!TERMINAL.has(run.status)) inFlight++;
      const checkpoints = (await target.lrange(`aria:checkpoints:${id}`, 0, -1)).map(
        (c) => JSON.parse(c) as { kind: string; stepId?: string; status?: string },
      );
      for (const step of run.steps.filter((s) => s.status === "succeeded"))
        expect(
          checkpoints.some(
            (c) => c.kind === "step" && c.stepId === step.stepId && c.status === "succeeded",
          ),
          `${id} ${step.stepId}`,
        ).toBe(true);
      if (TERMINAL.has(run.status))
        expect(checkpoints.some((c) => c.kind === "run.finished")).toBe(true);
      for (const list of ["checkpoints", "events"]) {
        const restored = await target.lrange(`aria:${list}:${id}`, 0, -1);
        const now = await sourceClient.lrange(`aria:${list}:${id}`, 0, -1);
        expect(now.slice(0, restored.length)).toEqual(restored);
      }
    }
    // The gated runs were in flight: running, s1 checkpointed, s3 not yet.
    expect(inFlight).toBeGreaterThanOrEqual(gated.length);
    for (const id of gated) {
      expect(JSON.parse((await target.hget(`aria:run:${id}`, "json"))!).status).toBe("running");
      const steps = (await target.lrange(`aria:checkpoints:${id}`, 0, -1)).map(
        (c) => (JSON.parse(c) as { stepId?: string }).stepId,
      );
      expect(steps).toContain("s1");
      expect(steps).not.toContain("s3");
    }

    // The runs index lists exactly the runs copied, with their scores.
    expect([...zset.keys()].sort()).toEqual([...backedUpRuns].sort());
    const restoredIndex = await target.zrange("aria:runs", "0", "-1", "WITHSCORES");
    expect(restoredIndex.length / 2).toBe(zset.size);
    for (let i = 0; i < restoredIndex.length; i += 2)
      expect(Number(restoredIndex[i + 1])).toBe(zset.get(restoredIndex[i]!));

    // The audit log: identical entries (ids and fields), every entry written before the backup.
    const restoredAudit = await target.xrange("aria:audit", "-", "+");
    expect(restoredAudit).toEqual(streamEntries);
    expect(restoredAudit.slice(0, auditBefore.length)).toEqual(auditBefore);
    const submitted = new Set(
      restoredAudit
        .map(([, fields]) => JSON.parse(fields[1]!) as { action: string; target?: string })
        .filter((e) => e.action === "run.submit")
        .map((e) => e.target),
    );
    for (const id of backedUpRuns) expect(submitted.has(id), id).toBe(true);

    // Bundles: every archive and index entry byte-identical to the source and to the backup.
    const sourceBundles = files(path.join(sourceDir, "bundles"));
    const restoredBundles = files(path.join(targetDir, "bundles"));
    let bundleFiles = 0;
    for (const [rel, bytes] of sourceBundles) {
      if (!rel.startsWith("blobs") && !rel.startsWith("index")) continue;
      bundleFiles++;
      expect(restoredBundles.get(rel)?.equals(bytes), rel).toBe(true);
      expect(backupFiles.get(`bundles/${rel}`)?.equals(bytes), rel).toBe(true);
    }
    expect(bundleFiles).toBeGreaterThanOrEqual(4);

    // Step 4: start the runtime on the restored state. The bundles are there, finished runs read
    // as before, and every unfinished run is resumed from its checkpoints and succeeds.
    const restored = await runtimeOn(targetRedis.url, targetDir);
    expect(restored.bundles.list().map((b) => `${b.name}@${b.version}`)).toEqual(
      source.bundles.list().map((b) => `${b.name}@${b.version}`),
    );
    for (const id of finishedBefore.slice(0, 10)) {
      const before = await (await source.app.request(`/v1/runs/${id}`)).json();
      const after = await (await restored.app.request(`/v1/runs/${id}`)).json();
      expect(after).toEqual(before);
    }
    const submittedRuns = [...keys.keys()]
      .filter((k) => k.startsWith("aria:kv:submissions:"))
      .map((k) => k.slice("aria:kv:submissions:".length));
    expect(submittedRuns.length).toBeGreaterThanOrEqual(backedUpRuns.length);
    for (const id of submittedRuns) {
      const run = await restored.runs.waitFor(id, 60_000);
      expect(run?.status, id).toBe("succeeded");
      expect(run?.steps.filter((s) => s.status === "succeeded")).toHaveLength(
        gated.includes(id) ? 3 : 4,
      );
    }
    expect(
      (await restored.runs.get(gated[0]!))?.result,
      "the gated run resumed after s1 and ended with s3's output",
    ).toEqual({ n: 3 });
  }, 300_000);

  it("queues runs that were waiting again, and refuses a target that holds state unless forced", async () => {
    // An API replica with no worker: its runs wait in the queue (a submission, no run record yet).
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const dataDir = tmp("queued");
    const api = await runtimeOn(redis.url, dataDir, "api");
    const waiting: string[] = [];
    for (let i = 0; i < 5; i++) waiting.push(await submit(api, `waiting run ${i}`));
    const file = path.join(tmp("queued-backup"), "b.gz");
    const result = await createBackup({ redisUrl: redis.url, dataDir, out: file });
    expect(result.counts.bundles).toBeGreaterThanOrEqual(3);
    expect(result.counts.runs).toBe(0);
    await expect(createBackup({ redisUrl: redis.url, dataDir, out: file })).rejects.toMatchObject({
      details: { reason: "backup_exists" },
    });
    await api.close();

    // Into the same (non-empty) Redis and directory: refused, nothing written.
    await expect(restoreBackup({ file, redisUrl: redis.url, dataDir })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      details: { reason: "target_not_empty" },
    });
    const err: string[] = [];
    expect(
      await restoreCommand(
        [file],
        { write: () => undefined },
        {
          redisUrl: redis.url,
          dataDir,
          err: { write: (s: string) => err.push(s) },
        },
      ),
    ).toBe(1);
    expect(err.join("")).toMatch(/Refusing to restore over existing state.*--force/s);
    // A backup with Redis state needs a Redis to restore into.
    await expect(restoreBackup({ file, dataDir: tmp("no-redis") })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    // Forced: the keys are replaced and the store verified.
    const forced = await restoreBackup({ file, redisUrl: redis.url, dataDir, force: true });
    expect(forced.counts.keys).toBe(result.counts.keys);

    // A lost Redis with the data directory intact: --only redis leaves the directory alone.
    const lostRedis = await startRedis();
    cleanup.push(() => lostRedis.stop());
    const redisOnly = await restoreBackup({
      file,
      redisUrl: lostRedis.url,
      dataDir,
      only: "redis",
    });
    expect(redisOnly.counts.keys).toBe(result.counts.keys);
    expect(redisOnly.requeued.sort()).toEqual([...waiting].sort());

    // Into a fresh Redis and directory: the waiting runs are queued again, and a worker runs them.
    const fresh = await startRedis();
    cleanup.push(() => fresh.stop());
    const freshDir = tmp("queued-target");
    const restored = await restoreBackup({ file, redisUrl: fresh.url, dataDir: freshDir });
    expect(restored.requeued.sort()).toEqual([...waiting].sort());
    const worker = await runtimeOn(fresh.url, freshDir);
    for (const id of waiting)
      expect((await worker.runs.waitFor(id, 60_000))?.status, id).toBe("succeeded");
  }, 120_000);
});
