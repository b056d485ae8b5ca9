/**
 * The backup file format: gzip-compressed JSON Lines, one record per line.
 *
 * ```
 * {"t":"header","format":"aria-backup","version":1,"createdAt":...,"prefix":"aria:","redis":{...}}
 * {"t":"key","key":"aria:run:run_…","exp":null,"dump":"<base64 DUMP payload>","sha256":"<hex>"}
 * {"t":"zset","key":"aria:runs","members":[["run_…",1712…],…]}
 * {"t":"stream","key":"aria:audit","entries":[["1712…-0",["e","{…}"]],…]}
 * {"t":"file","path":"bundles/blobs/sha256/<hex>","size":…,"sha256":"<hex>","chunks":N}
 * {"t":"chunk","d":"<base64, at most 1 MiB of the file>"}            (N of them, in order)
 * {"t":"end","records":…,"counts":{…},"sha256":"<hex of every line before this one>"}
 * ```
 *
 * Why this shape: it streams both ways with nothing but `node:zlib` and `node:readline` (no archive
 * library, no temporary files), a damaged or truncated file is detected before anything is restored
 * (gzip CRC, a SHA-256 per key payload and per file, and one over the whole file in the last line),
 * and `zcat FILE | head` shows what a backup holds.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { createGunzip, createGzip, type Gzip } from "node:zlib";
import { AriaError } from "@aria/errors";

export const BACKUP_FORMAT = "aria-backup";
export const BACKUP_VERSION = 1;
/** Raw bytes of a file per `chunk` record. */
export const CHUNK_BYTES = 1024 * 1024;

/** The first line of a backup. */
export interface HeaderRecord {
  t: "header";
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  /** The Redis key prefix the keys were read under (restored under the same names). */
  prefix: string;
  /** The source Redis (null when the backup has no Redis state). */
  redis: { version: string } | null;
  /** What was copied and what was deliberately left out. */
  contents: { redis: boolean; bundles: boolean; workspaces: boolean; skipped: string[] };
}

/** One Redis key as DUMP returned it, with its absolute expiry (ms since the epoch) if it has one. */
export interface KeyRecord {
  t: "key";
  key: string;
  exp: number | null;
  dump: string;
  sha256: string;
}

/** Members of a sorted set, with their scores (a key may span several records). */
export interface ZsetRecord {
  t: "zset";
  key: string;
  members: Array<[string, number]>;
}

/** Entries of a stream, with their ids and fields (a key may span several records, in id order). */
export interface StreamRecord {
  t: "stream";
  key: string;
  entries: Array<[string, string[]]>;
}

/** A file under the data directory; its bytes follow in `chunks` chunk records. */
export interface FileRecord {
  t: "file";
  path: string;
  size: number;
  sha256: string;
  chunks: number;
}

export interface ChunkRecord {
  t: "chunk";
  d: string;
}

/** The last line: how many records came before it and the SHA-256 of all their lines. */
export interface EndRecord {
  t: "end";
  records: number;
  counts: BackupCounts;
  sha256: string;
}

export type BackupRecord =
  | HeaderRecord
  | KeyRecord
  | ZsetRecord
  | StreamRecord
  | FileRecord
  | ChunkRecord
  | EndRecord;

/** What a backup holds. */
export interface BackupCounts {
  /** Redis keys copied with DUMP. */
  keys: number;
  /** Runs (run records) among them. */
  runs: number;
  /** Members of sorted sets and entries of streams copied one by one. */
  zsetMembers: number;
  streamEntries: number;
  /** Installed bundles (index entries) and their archives (blobs). */
  bundles: number;
  blobs: number;
  /** Files of run workspaces. */
  workspaceFiles: number;
  /** Bytes of data-directory files. */
  fileBytes: number;
}

export const emptyCounts = (): BackupCounts => ({
  keys: 0,
  runs: 0,
  zsetMembers: 0,
  streamEntries: 0,
  bundles: 0,
  blobs: 0,
  workspaceFiles: 0,
  fileBytes: 0,
});

export const sha256Hex = (bytes: Uint8Array | string): string =>
  createHash("sha256").update(bytes).digest("hex");

/** A damaged, truncated or foreign backup file. */
export function backupInvalid(file: string, problem: string, cause?: unknown): AriaError {
  return new AriaError("VALIDATION_FAILED", {
    message: `The backup ${file} cannot be restored: ${problem}`,
    userGuidance:
      "The backup file is damaged, truncated or not an Aria backup. Nothing was restored; use another backup (see docs/recovery.md).",
    details: { reason: "backup_invalid", file, problem },
    ...(cause !== undefined ? { cause } : {}),
  });
}

/**
 * Writes records as gzip-compressed JSON Lines, hashing every line; `finish` writes the end record.
 * Honours back-pressure, so memory stays flat however big the backup is.
 */
export class BackupWriter {
  private readonly gzip: Gzip;
  private readonly done: Promise<unknown>;
  private readonly hash = createHash("sha256");
  private records = 0;
  private failure: Error | undefined;

  constructor(path: string) {
    this.gzip = createGzip({ level: 6 });
    const file = createWriteStream(path, { flags: "wx", mode: 0o600 });
    this.gzip.pipe(file);
    this.gzip.on("error", (error) => {
      this.failure = error;
    });
    file.on("error", (error) => {
      this.failure = error;
    });
    this.done = once(file, "close");
  }

  async write(record: Exclude<BackupRecord, EndRecord>): Promise<void> {
    if (this.failure) throw this.failure;
    const line = `${JSON.stringify(record)}\n`;
    this.hash.update(line);
    this.records++;
    if (!this.gzip.write(line)) await once(this.gzip, "drain");
  }

  /** Writes the end record and waits until the file is closed. */
  async finish(counts: BackupCounts): Promise<{ records: number; sha256: string }> {
    const sha256 = this.hash.digest("hex");
    const end: EndRecord = { t: "end", records: this.records, counts, sha256 };
    this.gzip.end(`${JSON.stringify(end)}\n`);
    await this.done;
    if (this.failure) throw this.failure;
    return { records: this.records, sha256 };
  }

  /** Stops writing (after a failure); the caller removes the partial file. */
  async abort(): Promise<void> {
    this.gzip.destroy();
    await this.done.catch(() => undefined);
  }
}

/**
 * Reads a backup record by record, checking the chain as it goes: the header first, the SHA-256 of
 * every line against the end record, nothing after the end record. A failure (including a gzip
 * error on a truncated file) is a VALIDATION_FAILED with reason `backup_invalid`.
 */
export async function* readBackup(file: string): AsyncGenerator<BackupRecord> {
  const input = createReadStream(file).pipe(createGunzip());
  const streamError = new Promise<never>((_, reject) => {
    input.on("error", (error) => reject(backupInvalid(file, error.message, error)));
  });
  streamError.catch(() => undefined);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const hash = createHash("sha256");
  let count = 0;
  let ended = false;
  try {
    const iterator = lines[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([iterator.next(), streamError]);
      if (next.done) break;
      const line = next.value;
      if (ended) throw backupInvalid(file, "data after the end record");
      let record: BackupRecord;
      try {
        record = JSON.parse(line) as BackupRecord;
      } catch (error) {
        throw backupInvalid(file, `line ${count + 1} is not JSON`, error);
      }
      if (count === 0 && (record.t !== "header" || record.format !== BACKUP_FORMAT))
        throw backupInvalid(file, "it does not start with an aria-backup header");
      if (record.t === "header" && record.version !== BACKUP_VERSION)
        throw backupInvalid(
          file,
          `format version ${record.version} is not supported (this runtime reads ${BACKUP_VERSION})`,
        );
      if (record.t === "end") {
        ended = true;
        if (record.records !== count || record.sha256 !== hash.digest("hex"))
          throw backupInvalid(file, "the end record does not match the content (altered file)");
      } else {
        hash.update(`${line}\n`);
        count++;
      }
      yield record;
    }
    if (!ended) throw backupInvalid(file, "it has no end record (truncated file)");
  } finally {
    lines.close();
    input.destroy();
  }
}
