/**
 * `aria backup` / `aria restore`: the bundle store and the runtime's Redis state in one file, taken
 * while the runtime runs, restored into a fresh Redis and data directory. The format is in
 * `backup-format.ts`; the consistency this gives and the recovery procedures are in
 * docs/recovery.md.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { InstalledBundleSchema, type Logger } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { fsyncDir, openBundleStore } from "@aria/pkg-store";
import type { ChainableCommander, Redis } from "ioredis";
import { connectRedis, guarded, waitReady } from "../redis/connection.ts";
import { QueueRunDispatcher } from "../runs/queue.ts";
import type { RunSubmission } from "../runs/run-service.ts";
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  type BackupCounts,
  BackupWriter,
  backupInvalid,
  CHUNK_BYTES,
  emptyCounts,
  type FileRecord,
  type HeaderRecord,
  readBackup,
  sha256Hex,
} from "./backup-format.ts";

/** Keys under the prefix that a backup leaves out, and why (the header lists them too). */
export const SKIPPED_KEYS: ReadonlyArray<{ prefix: string; why: string }> = [
  { prefix: "lease:", why: "run leases belong to live processes; a restored run is leased anew" },
  {
    prefix: "bull:",
    why: "the BullMQ queue; restore queues every unfinished run again",
  },
  { prefix: "kv:instances:", why: "instance heartbeats of live processes" },
  { prefix: "ratelimit:", why: "rate-limit windows (seconds long)" },
  { prefix: "llm:cache:", why: "the LLM response cache (refilled on use)" },
];

/** Largest single file copied from the data directory (larger workspace files are left out). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const RUN_KEY = /^(?:run|checkpoints|events|kv:submissions|fence:run):(.+)$/;

type Log = Pick<Logger, "info" | "warn">;

/** Options of `createBackup`. */
export interface BackupOptions {
  /** The runtime's Redis (`REDIS_URL`); without it only the data directory is copied. */
  redisUrl?: string | undefined;
  /** The runtime's data directory (`ARIA_DATA_DIR`). */
  dataDir: string;
  /** The backup file to write (refused if it exists, unless `overwrite`). */
  out: string;
  overwrite?: boolean;
  /** The Redis key prefix (default `aria:`). */
  prefix?: string;
  /** Copy run workspaces (`DATA_DIR/workspaces`, default true). */
  workspaces?: boolean;
  logger?: Log;
}

/** What `createBackup` wrote. */
export interface BackupResult {
  file: string;
  createdAt: string;
  bytes: number;
  records: number;
  /** SHA-256 of the file's records (the end record holds it). */
  sha256: string;
  counts: BackupCounts;
  durationMs: number;
  /** Problems that left something out (a bundle whose archive is missing, an oversized file). */
  warnings: string[];
}

/** Options of `restoreBackup`. */
export interface RestoreOptions {
  file: string;
  /** The Redis to restore into; required when the backup holds Redis state. */
  redisUrl?: string | undefined;
  /** The data directory to restore into. */
  dataDir: string;
  /** Restore over a Redis or data directory that already holds Aria state (keys are replaced). */
  force?: boolean;
  /** Queue every unfinished run again, so workers resume it from its checkpoints (default true). */
  requeue?: boolean;
  /**
   * Restore only one half: `redis` after a lost Redis (the data directory is intact), `data` after
   * a lost data directory (Redis is intact). Default: both.
   */
  only?: "redis" | "data";
  logger?: Log;
}

/** What `restoreBackup` did. */
export interface RestoreResult {
  file: string;
  createdAt: string;
  counts: BackupCounts;
  /** Keys whose expiry passed between the backup and the restore (not restored). */
  expired: number;
  /** Runs queued again (unfinished when the backup was taken). */
  requeued: string[];
  durationMs: number;
}

// ------------------------------------------------------------------------------------- backup

/**
 * Writes a backup of the runtime's state while it runs. Redis first (each run as a unit: run record,
 * then its submission, checkpoints, events and fencing counter — the lists only grow, so they hold
 * every record the copied run record refers to), then the runs index for exactly the copied runs,
 * then streams (the audit log), then the bundle store (archives verified against their digests) and
 * the run workspaces. The file appears under its name only once complete.
 */
export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const out = path.resolve(options.out);
  const dataDir = path.resolve(options.dataDir);
  const prefix = options.prefix ?? "aria:";
  const warnings: string[] = [];
  const warn = (message: string, details: Record<string, unknown> = {}) => {
    warnings.push(message);
    options.logger?.warn({ ...details }, message);
  };
  if (!options.overwrite && (await exists(out)))
    throw new AriaError("VALIDATION_FAILED", {
      message: `${out} already exists`,
      userGuidance: "Choose a new file name for the backup (or pass --force to replace the file).",
      details: { reason: "backup_exists", file: out },
    });
  await mkdir(path.dirname(out), { recursive: true });
  const partial = `${out}.partial-${randomBytes(4).toString("hex")}`;
  const counts = emptyCounts();
  const redis = options.redisUrl ? await openRedis(options.redisUrl, "aria-backup") : undefined;
  const writer = new BackupWriter(partial);
  const createdAt = new Date().toISOString();
  try {
    const header: HeaderRecord = {
      t: "header",
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt,
      prefix,
      redis: redis ? { version: await redisVersion(redis) } : null,
      contents: {
        redis: redis !== undefined,
        bundles: true,
        workspaces: options.workspaces !== false,
        skipped: SKIPPED_KEYS.map((s) => `${prefix}${s.prefix}*: ${s.why}`),
      },
    };
    await writer.write(header);
    if (redis) await backupRedis(redis, prefix, writer, counts);
    await backupBundles(dataDir, writer, counts, warn);
    if (options.workspaces !== false) await backupWorkspaces(dataDir, writer, counts, warn);
    const { records, sha256 } = await writer.finish(counts);
    const handle = await open(partial, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, out);
    await fsyncDir(path.dirname(out));
    const bytes = (await stat(out)).size;
    options.logger?.info({ file: out, bytes, counts }, "backup written");
    return {
      file: out,
      createdAt,
      bytes,
      records,
      sha256,
      counts,
      durationMs: Date.now() - started,
      warnings,
    };
  } catch (error) {
    await writer.abort();
    await rm(partial, { force: true });
    throw error;
  } finally {
    redis?.disconnect();
  }
}

async function backupRedis(
  redis: Redis,
  prefix: string,
  writer: BackupWriter,
  counts: BackupCounts,
): Promise<void> {
  const done = new Set<string>();
  const scores = new Map<string, number>();
  const streams: string[] = [];
  const skipped = SKIPPED_KEYS.map((s) => `${prefix}${s.prefix}`);
  const runsIndex = `${prefix}runs`;
  let cursor = "0";
  do {
    const [next, keys] = await guarded("backup.scan", () =>
      redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500),
    );
    cursor = next;
    const generic: string[] = [];
    const runIds: string[] = [];
    for (const key of keys) {
      if (done.has(key) || key === runsIndex || skipped.some((s) => key.startsWith(s))) continue;
      const runId = RUN_KEY.exec(key.slice(prefix.length))?.[1];
      if (runId === undefined) {
        generic.push(key);
        done.add(key);
        continue;
      }
      if (done.has(`run\u0000${runId}`)) continue;
      done.add(`run\u0000${runId}`);
      runIds.push(runId);
    }
    if (runIds.length > 0) await backupRuns(redis, prefix, runIds, writer, counts, scores);
    if (generic.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of generic) pipeline.type(key).dumpBuffer(key).pttl(key);
      const rows = await exec(pipeline, "backup.dump");
      for (const [i, key] of generic.entries()) {
        const type = rows[i * 3] as string;
        if (type === "stream") streams.push(key);
        else await writeKey(writer, counts, key, rows[i * 3 + 1], rows[i * 3 + 2]);
      }
    }
  } while (cursor !== "0");

  // The runs index, for exactly the runs copied (their scores read with their records).
  const members = [...scores.entries()];
  for (let i = 0; i < members.length; i += 1000) {
    const page = members.slice(i, i + 1000);
    await writer.write({ t: "zset", key: runsIndex, members: page });
    counts.zsetMembers += page.length;
  }
  // Streams (the audit log) last, entry by entry: it then holds the entries of every copied run.
  for (const key of streams) {
    let start = "-";
    for (;;) {
      const rows = (await guarded("backup.xrange", () =>
        redis.xrange(key, start, "+", "COUNT", 1000),
      )) as Array<[string, string[]]>;
      if (rows.length === 0) break;
      await writer.write({ t: "stream", key, entries: rows });
      counts.streamEntries += rows.length;
      start = `(${rows.at(-1)![0]}`;
    }
  }
}

/** The keys of one run, in the order they are copied: the run record first. */
function runKeys(prefix: string, runId: string): string[] {
  return ["run", "kv:submissions", "checkpoints", "events", "fence:run"].map(
    (part) => `${prefix}${part}:${runId}`,
  );
}

/**
 * Copies runs' keys, each run's record first: a record in the backup never refers to a checkpoint
 * or event missing from it (the lists only grow). One pipeline per batch of runs; Redis runs each
 * run's commands in order. A run whose record appears while its lists are copied is copied again.
 */
async function backupRuns(
  redis: Redis,
  prefix: string,
  runIds: string[],
  writer: BackupWriter,
  counts: BackupCounts,
  scores: Map<string, number>,
  attempt = 0,
): Promise<void> {
  const PER_RUN = 12;
  const pipeline = redis.pipeline();
  for (const runId of runIds) {
    const [runKey, ...others] = runKeys(prefix, runId) as [string, ...string[]];
    pipeline.dumpBuffer(runKey).pttl(runKey).zscore(`${prefix}runs`, runId);
    for (const key of others) pipeline.dumpBuffer(key).pttl(key);
    pipeline.exists(runKey);
  }
  const rows = await exec(pipeline, "backup.runs");
  const again: string[] = [];
  for (const [n, runId] of runIds.entries()) {
    const row = rows.slice(n * PER_RUN, (n + 1) * PER_RUN);
    if (row[0] === null && row[PER_RUN - 1] === 1 && attempt < 5) {
      again.push(runId);
      continue;
    }
    const [runKey, ...others] = runKeys(prefix, runId) as [string, ...string[]];
    if (await writeKey(writer, counts, runKey, row[0], row[1])) {
      counts.runs++;
      if (row[2] !== null) scores.set(runId, Number(row[2]));
    }
    for (const [i, key] of others.entries())
      await writeKey(writer, counts, key, row[3 + i * 2], row[4 + i * 2]);
  }
  if (again.length > 0) await backupRuns(redis, prefix, again, writer, counts, scores, attempt + 1);
}

async function writeKey(
  writer: BackupWriter,
  counts: BackupCounts,
  key: string,
  dump: unknown,
  pttl: unknown,
): Promise<boolean> {
  // Gone between SCAN and DUMP, or expired between DUMP and PTTL: not part of the backup.
  if (!Buffer.isBuffer(dump) || pttl === -2) return false;
  const ttl = Number(pttl);
  await writer.write({
    t: "key",
    key,
    exp: ttl > 0 ? Date.now() + ttl : null,
    dump: dump.toString("base64"),
    sha256: sha256Hex(dump),
  });
  counts.keys++;
  return true;
}

async function backupBundles(
  dataDir: string,
  writer: BackupWriter,
  counts: BackupCounts,
  warn: (message: string, details?: Record<string, unknown>) => void,
): Promise<void> {
  const root = path.join(dataDir, "bundles");
  const entries: Array<{ rel: string; bytes: Buffer; digest: string }> = [];
  for (const rel of await listFiles(path.join(root, "index"))) {
    const file = path.join(root, "index", rel);
    const bytes = await readFile(file).catch(() => undefined);
    if (!bytes) continue; // uninstalled while the backup ran
    const parsed = InstalledBundleSchema.safeParse(safeJson(bytes));
    if (!parsed.success) {
      warn(`bundle index entry ${rel} is not valid; left out`, { file });
      continue;
    }
    entries.push({ rel, bytes, digest: parsed.data.digest });
  }
  const copied = new Map<string, boolean>();
  for (const entry of entries) {
    if (!copied.has(entry.digest)) {
      const hex = entry.digest.slice("sha256:".length);
      const blob = await readFile(path.join(root, "blobs", "sha256", hex)).catch(() => undefined);
      if (blob === undefined) {
        // Uninstalled while the backup ran (its index entry is gone too), or a damaged store.
        if (await exists(path.join(root, "index", entry.rel)))
          warn(`bundle ${entry.rel} has no archive ${entry.digest} in the store; left out`);
        copied.set(entry.digest, false);
        continue;
      }
      if (sha256Hex(blob) !== hex) {
        warn(`bundle archive ${entry.digest} is damaged (its bytes do not match); left out`);
        copied.set(entry.digest, false);
        continue;
      }
      await writeFile(writer, counts, `bundles/blobs/sha256/${hex}`, blob);
      counts.blobs++;
      copied.set(entry.digest, true);
    }
    if (!copied.get(entry.digest)) continue;
    await writeFile(writer, counts, `bundles/index/${entry.rel}`, entry.bytes);
    counts.bundles++;
  }
}

async function backupWorkspaces(
  dataDir: string,
  writer: BackupWriter,
  counts: BackupCounts,
  warn: (message: string, details?: Record<string, unknown>) => void,
): Promise<void> {
  const root = path.join(dataDir, "workspaces");
  for (const rel of await listFiles(root)) {
    const file = path.join(root, rel);
    const info = await stat(file).catch(() => undefined);
    if (!info) continue;
    if (info.size > MAX_FILE_BYTES) {
      warn(`workspace file ${rel} is larger than ${MAX_FILE_BYTES} bytes; left out`);
      continue;
    }
    const bytes = await readFile(file).catch(() => undefined);
    if (!bytes) continue;
    await writeFile(writer, counts, `workspaces/${rel}`, bytes);
    counts.workspaceFiles++;
  }
}

async function writeFile(
  writer: BackupWriter,
  counts: BackupCounts,
  rel: string,
  bytes: Buffer,
): Promise<void> {
  counts.fileBytes += bytes.length;
  const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
  await writer.write({
    t: "file",
    path: rel,
    size: bytes.length,
    sha256: sha256Hex(bytes),
    chunks,
  });
  for (let i = 0; i < chunks; i++)
    await writer.write({
      t: "chunk",
      d: bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES).toString("base64"),
    });
}

// ------------------------------------------------------------------------------------ restore

/**
 * Restores a backup into a fresh Redis and data directory: the whole file is verified first
 * (nothing is written from a damaged backup), then keys are restored with RESTORE … REPLACE (their
 * expiry kept), the runs index and streams entry by entry, and files atomically; the bundle store
 * is then opened and every bundle verified completely, and every run that had not finished is
 * queued again. A target that already holds Aria state is refused unless `force`.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const file = path.resolve(options.file);
  const dataDir = path.resolve(options.dataDir);
  if (!(await exists(file)))
    throw new AriaError("VALIDATION_FAILED", {
      message: `No backup file at ${file}`,
      userGuidance: "Give the path of a file written by `aria backup`.",
      details: { reason: "backup_missing", file },
    });
  const summary = await verifyBackup(file);
  const { header } = summary;
  const withRedis = header.redis !== null && options.only !== "data";
  const withData = options.only !== "redis";
  if (options.only === "redis" && !header.redis)
    throw new AriaError("VALIDATION_FAILED", {
      message: "The backup holds no Redis state (it was taken without REDIS_URL)",
      userGuidance: "Restore it without --only redis, or use a backup taken with REDIS_URL set.",
      details: { reason: "no_redis_state" },
    });
  if (withRedis && !options.redisUrl)
    throw new AriaError("CONFIG_INVALID", {
      message: "The backup holds Redis state but no Redis was given to restore it into",
      userGuidance:
        "Set REDIS_URL (or pass --redis-url) to a fresh Redis and run the restore again.",
      details: { reason: "redis_missing" },
    });
  const redis =
    withRedis && options.redisUrl ? await openRedis(options.redisUrl, "aria-restore") : undefined;
  try {
    if (!options.force) await refuseNonEmpty(redis, header.prefix, withData ? dataDir : undefined);
    const applied = await applyBackup(file, redis, withData ? dataDir : undefined);
    if (withData) await verifyBundleStore(dataDir, summary.counts.bundles);
    let requeued: string[] = [];
    if (redis && options.redisUrl && options.requeue !== false)
      requeued = await requeueUnfinished(redis, options.redisUrl, header.prefix, summary.runIds);
    options.logger?.info(
      { file, counts: summary.counts, requeued: requeued.length },
      "backup restored",
    );
    return {
      file,
      createdAt: header.createdAt,
      counts: summary.counts,
      expired: applied.expired,
      requeued,
      durationMs: Date.now() - started,
    };
  } finally {
    redis?.disconnect();
  }
}

/** What a verified backup holds. */
export interface BackupSummary {
  header: HeaderRecord;
  counts: BackupCounts;
  /** Ids of the runs that have keys in the backup. */
  runIds: string[];
}

const SAFE_PATH =
  /^(?:bundles\/blobs\/sha256\/[0-9a-f]{64}|bundles\/index\/.+\.json|workspaces\/.+)$/;

/**
 * Reads a backup end to end and checks it without restoring anything: the header, every key
 * payload's and file's SHA-256, file paths, bundle index entries and their archives, the end record.
 */
export async function verifyBackup(file: string): Promise<BackupSummary> {
  let header: HeaderRecord | undefined;
  let counts: BackupCounts | undefined;
  const runIds = new Set<string>();
  const blobs = new Set<string>();
  const index: Array<{ path: string; bytes: Buffer }> = [];
  let current:
    | { record: FileRecord; seen: number; hash: ReturnType<typeof hashStream> }
    | undefined;
  const closeFile = () => {
    if (!current) return;
    const { record, seen, hash } = current;
    if (seen !== record.chunks || hash.size() !== record.size || hash.hex() !== record.sha256)
      throw backupInvalid(file, `the bytes of ${record.path} do not match their SHA-256`);
    if (record.path.startsWith("bundles/index/"))
      index.push({ path: record.path, bytes: hash.bytes() });
    current = undefined;
  };
  for await (const record of readBackup(file)) {
    if (record.t !== "chunk") closeFile();
    switch (record.t) {
      case "header":
        header = record;
        break;
      case "key": {
        if (!header || !record.key.startsWith(header.prefix))
          throw backupInvalid(file, `key ${record.key} is outside the prefix`);
        if (sha256Hex(Buffer.from(record.dump, "base64")) !== record.sha256)
          throw backupInvalid(file, `the payload of key ${record.key} does not match its SHA-256`);
        const runId = RUN_KEY.exec(record.key.slice(header.prefix.length))?.[1];
        if (runId !== undefined) runIds.add(runId);
        break;
      }
      case "zset":
      case "stream":
        if (!header || !record.key.startsWith(header.prefix))
          throw backupInvalid(file, `key ${record.key} is outside the prefix`);
        break;
      case "file": {
        const normal = path.posix.normalize(record.path);
        if (normal !== record.path || !SAFE_PATH.test(record.path) || record.path.includes(".."))
          throw backupInvalid(file, `file path ${JSON.stringify(record.path)} is not allowed`);
        if (record.path.startsWith("bundles/blobs/")) {
          if (record.path.slice("bundles/blobs/sha256/".length) !== record.sha256)
            throw backupInvalid(file, `bundle archive ${record.path} is not named by its digest`);
          blobs.add(`sha256:${record.sha256}`);
        }
        current = {
          record,
          seen: 0,
          hash: hashStream(record.path.startsWith("bundles/index/")),
        };
        break;
      }
      case "chunk":
        if (!current) throw backupInvalid(file, "a chunk record without a file record");
        current.hash.update(Buffer.from(record.d, "base64"));
        current.seen++;
        break;
      case "end":
        counts = record.counts;
        break;
    }
  }
  closeFile();
  if (!header || !counts) throw backupInvalid(file, "it has no header or end record");
  for (const entry of index) {
    const parsed = InstalledBundleSchema.safeParse(safeJson(entry.bytes));
    const rel = entry.path.slice("bundles/index/".length);
    if (!parsed.success || rel !== `${parsed.data.name}/${parsed.data.version}.json`)
      throw backupInvalid(file, `bundle index entry ${entry.path} is not valid`);
    if (!blobs.has(parsed.data.digest))
      throw backupInvalid(file, `bundle ${rel} refers to an archive missing from the backup`);
  }
  return { header, counts, runIds: [...runIds] };
}

/** A running SHA-256 and size of a file's chunks (keeping the bytes when `keep`). */
function hashStream(keep: boolean) {
  const hash = createHash("sha256");
  const parts: Buffer[] = [];
  let total = 0;
  return {
    update(bytes: Buffer) {
      hash.update(bytes);
      total += bytes.length;
      if (keep) parts.push(bytes);
    },
    size: () => total,
    hex: () => hash.digest("hex"),
    bytes: () => Buffer.concat(parts),
  };
}

async function refuseNonEmpty(
  redis: Redis | undefined,
  prefix: string,
  dataDir: string | undefined,
): Promise<void> {
  const problems: string[] = [];
  if (redis) {
    let cursor = "0";
    do {
      const [next, keys] = await guarded("restore.scan", () =>
        redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000),
      );
      cursor = next;
      if (keys.length > 0) {
        problems.push(`the Redis already holds keys under ${prefix} (e.g. ${keys[0]})`);
        break;
      }
    } while (cursor !== "0");
  }
  for (const dir of dataDir ? ["bundles/index", "workspaces"] : []) {
    const names = await readdir(path.join(dataDir!, dir)).catch(() => [] as string[]);
    if (names.length > 0) problems.push(`${path.join(dataDir!, dir)} is not empty`);
  }
  if (problems.length > 0)
    throw new AriaError("VALIDATION_FAILED", {
      message: `Refusing to restore over existing state: ${problems.join("; ")}`,
      userGuidance:
        "Restore into a fresh Redis and an empty data directory, before the runtime starts (docs/recovery.md), or pass --force to replace what the backup holds.",
      details: { reason: "target_not_empty", problems },
    });
}

async function applyBackup(
  file: string,
  redis: Redis | undefined,
  dataDir: string | undefined,
): Promise<{ expired: number }> {
  const tmpDir = dataDir ? path.join(dataDir, "bundles", "tmp") : undefined;
  if (tmpDir) await mkdir(tmpDir, { recursive: true });
  let expired = 0;
  let pipeline = redis?.pipeline();
  let queued = 0;
  const flush = async () => {
    if (!pipeline || queued === 0) return;
    await exec(pipeline, "restore").catch((error: unknown) => {
      throw restoreFailed(error);
    });
    pipeline = redis!.pipeline();
    queued = 0;
  };
  const seenStreams = new Set<string>();
  let current:
    | { record: FileRecord; tmp: string; handle: Awaited<ReturnType<typeof open>> }
    | undefined;
  const closeFile = async () => {
    if (!current) return;
    const { record, tmp, handle } = current;
    current = undefined;
    await handle.sync();
    await handle.close();
    const bytes = await readFile(tmp);
    if (sha256Hex(bytes) !== record.sha256) {
      await rm(tmp, { force: true });
      throw backupInvalid(file, `the bytes of ${record.path} changed while restoring`);
    }
    const target = path.join(dataDir!, ...record.path.split("/"));
    await mkdir(path.dirname(target), { recursive: true });
    await rename(tmp, target);
    await fsyncDir(path.dirname(target));
  };
  try {
    for await (const record of readBackup(file)) {
      if (record.t !== "chunk") await closeFile();
      switch (record.t) {
        case "key": {
          if (!pipeline) break;
          if (record.exp !== null && record.exp <= Date.now()) {
            expired++;
            break;
          }
          const payload = Buffer.from(record.dump, "base64");
          if (record.exp === null) pipeline.restore(record.key, 0, payload, "REPLACE");
          else pipeline.restore(record.key, record.exp, payload, "REPLACE", "ABSTTL");
          queued++;
          break;
        }
        case "zset":
          if (!pipeline) break;
          pipeline.zadd(record.key, ...record.members.flatMap(([m, s]) => [s, m]));
          queued++;
          break;
        case "stream":
          if (!pipeline) break;
          if (!seenStreams.has(record.key)) {
            seenStreams.add(record.key);
            pipeline.del(record.key);
          }
          for (const [id, fields] of record.entries) pipeline.xadd(record.key, id, ...fields);
          queued += record.entries.length;
          break;
        case "file": {
          if (!tmpDir) break;
          const tmp = path.join(tmpDir, `restore-${randomBytes(6).toString("hex")}`);
          current = { record, tmp, handle: await open(tmp, "wx", 0o644) };
          break;
        }
        case "chunk":
          if (current) await current.handle.write(Buffer.from(record.d, "base64"));
          break;
        default:
          break;
      }
      if (queued >= 500) await flush();
    }
    await closeFile();
    await flush();
  } catch (error) {
    if (current) {
      await current.handle.close().catch(() => undefined);
      await rm(current.tmp, { force: true });
    }
    throw error;
  }
  return { expired };
}

function restoreFailed(error: unknown): AriaError {
  const message = (error as Error)?.message ?? String(error);
  if (/payload version|checksum/i.test(message))
    return new AriaError("STORE_UNAVAILABLE", {
      message: `Redis refused a key of the backup: ${message}`,
      userGuidance:
        "Restore into a Redis of the same or a newer version than the one the backup was taken from (the header names it).",
      details: { reason: "redis_version" },
      cause: error,
    });
  return AriaError.is(error)
    ? error
    : new AriaError("STORE_UNAVAILABLE", {
        message: `Restoring into Redis failed: ${message}`,
        cause: error,
      });
}

/** Opens the restored store and verifies every bundle completely (and unpacks it). */
async function verifyBundleStore(dataDir: string, expected: number): Promise<void> {
  const store = await openBundleStore({ dataDir });
  try {
    const issues = (await store.check()).filter(
      (issue) => issue.kind !== "orphan_unpacked" && issue.kind !== "orphan_blob",
    );
    if (issues.length > 0)
      throw new AriaError("BUNDLE_INTEGRITY", {
        message: `The restored bundle store has problems: ${issues.map((i) => `${i.kind} ${i.path}`).join("; ")}`,
        details: { reason: "restore_check", issues },
      });
    const installed = store.list();
    if (installed.length < expected)
      throw new AriaError("BUNDLE_INTEGRITY", {
        message: `The restored bundle store lists ${installed.length} bundles; the backup holds ${expected}`,
        details: { reason: "restore_count" },
      });
    for (const bundle of installed) {
      await store.verify(bundle.name, bundle.version);
      await store.unpackedDir(bundle.name, bundle.version);
    }
  } finally {
    await store.close();
  }
}

/** Queues again every restored run that had not ended, so a worker resumes it. */
async function requeueUnfinished(
  redis: Redis,
  redisUrl: string,
  prefix: string,
  runIds: string[],
): Promise<string[]> {
  const unfinished: RunSubmission[] = [];
  for (let i = 0; i < runIds.length; i += 200) {
    const ids = runIds.slice(i, i + 200);
    const pipeline = redis.pipeline();
    for (const id of ids)
      pipeline.hget(`${prefix}run:${id}`, "status").get(`${prefix}kv:submissions:${id}`);
    const rows = await exec(pipeline, "restore.requeue");
    for (const j of ids.keys()) {
      const status = rows[j * 2] as string | null;
      const submission = safeJson(rows[j * 2 + 1]) as
        | (RunSubmission & { failed?: unknown })
        | undefined;
      if (!submission) continue; // nothing to execute it from
      const open =
        status === null ? !submission.cancelled && !submission.failed : !TERMINAL.has(status);
      if (open) unfinished.push(submission);
    }
  }
  if (unfinished.length === 0) return [];
  const dispatcher = new QueueRunDispatcher({ redisUrl, prefix: `${prefix}bull` });
  try {
    for (const submission of unfinished) await dispatcher.dispatch(submission);
  } finally {
    await dispatcher.close();
  }
  return unfinished.map((s) => s.runId);
}

// ------------------------------------------------------------------------------------ helpers

async function openRedis(url: string, name: string): Promise<Redis> {
  const redis = connectRedis(url, { name });
  redis.on("error", () => undefined);
  try {
    await waitReady(redis, 10_000);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

async function redisVersion(redis: Redis): Promise<string> {
  const info = await guarded("backup.info", () => redis.info("server"));
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown";
}

async function exec(pipeline: ChainableCommander, operation: string): Promise<unknown[]> {
  const rows = (await guarded(operation, () => pipeline.exec())) ?? [];
  return rows.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Regular files under `dir`, as paths relative to it with `/` (none when it does not exist). */
async function listFiles(dir: string, rel = ""): Promise<string[]> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, child)));
    else if (entry.isFile()) out.push(child);
  }
  return out;
}

function safeJson(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  try {
    return JSON.parse(String(value));
  } catch {
    return undefined;
  }
}
