import { promisify } from "node:util";
import { gunzip, gzip, constants as zlibConstants } from "node:zlib";
import { AriaError, bundleError } from "@aria/errors";
import * as tar from "tar-stream";
import type { BundleLimits } from "./limits.ts";

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

/** The files of an archive by normalised path, in archive order. */
export type ArchiveFiles = Map<string, Buffer>;

/** Fixed header fields so the same files always give the same archive bytes. */
const FIXED_MTIME = new Date(0);

/**
 * Writes a reproducible gzip-compressed tar: `manifest.json` first, then the other files sorted by
 * path; mode 0644, uid/gid 0, empty owner names, mtime 0, no directory entries, and gzip without a
 * timestamp or file name. The same files always give the same bytes.
 */
export async function writeArchive(files: ReadonlyMap<string, Uint8Array>): Promise<Buffer> {
  const names = [...files.keys()].sort((a, b) =>
    a === "manifest.json" ? -1 : b === "manifest.json" ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const name of names) {
    const content = Buffer.from(files.get(name) as Uint8Array);
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name,
          size: content.length,
          mode: 0o644,
          mtime: FIXED_MTIME,
          uid: 0,
          gid: 0,
          uname: "",
          gname: "",
          type: "file",
        },
        content,
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }
  pack.finalize();
  await done;
  // Node's gzip writes MTIME 0 and no file name, so the header is constant.
  return gzipAsync(Buffer.concat(chunks), { level: 9, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
}

/**
 * Checks one archive path and returns it normalised (a leading `./` removed). Refuses absolute
 * paths, `..` segments, backslashes, control characters and empty or `.` segments.
 */
export function safeArchivePath(raw: string): string {
  let name = raw;
  while (name.startsWith("./")) name = name.slice(2);
  if (name.endsWith("/")) name = name.slice(0, -1);
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) {
    throw bundleError.unsafe(`absolute path '${raw}'`, {
      details: { reason: "absolute_path", path: raw },
    });
  }
  const segments = name.split("/");
  if (segments.includes("..")) {
    throw bundleError.unsafe(`path traversal in '${raw}'`, {
      details: { reason: "path_traversal", path: raw },
    });
  }
  if (
    name.length === 0 ||
    name.includes("\\") ||
    hasControlCharacter(name) ||
    segments.some((s) => s === "" || s === ".")
  ) {
    throw bundleError.unsafe(`invalid path '${raw}'`, {
      details: { reason: "invalid_path", path: raw },
    });
  }
  if (name.length > 1024) {
    throw bundleError.unsafe("path longer than 1024 characters", {
      details: { reason: "invalid_path", path: raw.slice(0, 200) },
    });
  }
  return name;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Reads a `.aria` archive fully in memory with strict safety: archive size, decompression bomb
 * (ratio) and unpacked-total limits are enforced while inflating; every entry must be a regular
 * file or a directory with a safe path; per-file size, total size and file count are limited;
 * duplicates are refused. Throws `BUNDLE_UNSAFE` or `BUNDLE_INVALID` with `details.reason`.
 */
export async function readArchive(bytes: Uint8Array, limits: BundleLimits): Promise<ArchiveFiles> {
  if (bytes.length > limits.archiveBytes) {
    throw bundleError.unsafe(
      `archive is ${bytes.length} bytes, the limit is ${limits.archiveBytes}`,
      {
        details: { reason: "archive_too_large", bytes: bytes.length, limit: limits.archiveBytes },
      },
    );
  }
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw bundleError.invalid("not a gzip-compressed tar (.aria) file", {
      details: { reason: "not_gzip" },
    });
  }
  // Tar adds a 512-byte header (and up to 511 bytes of padding) per entry, plus pax headers.
  const tarCap = limits.unpackedBytes + (limits.fileCount + 2) * 2048;
  const ratioCap = Math.max(limits.ratioFloorBytes, bytes.length * limits.maxCompressionRatio);
  const cap = Math.min(tarCap, ratioCap);
  let tarBytes: Buffer;
  try {
    tarBytes = await gunzipAsync(bytes, { maxOutputLength: cap });
  } catch (error) {
    if (
      (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" ||
      error instanceof RangeError
    ) {
      if (ratioCap <= tarCap) {
        throw bundleError.unsafe(
          `decompresses beyond ${limits.maxCompressionRatio}:1 (decompression bomb)`,
          {
            details: {
              reason: "compression_ratio",
              compressedBytes: bytes.length,
              limit: limits.maxCompressionRatio,
            },
          },
        );
      }
      throw bundleError.unsafe(`unpacks to more than ${limits.unpackedBytes} bytes`, {
        details: { reason: "unpacked_too_large", limit: limits.unpackedBytes },
      });
    }
    throw bundleError.invalid("the gzip stream is corrupt", {
      details: { reason: "corrupt_gzip" },
      cause: error,
    });
  }
  return parseTar(tarBytes, limits);
}

async function parseTar(tarBytes: Buffer, limits: BundleLimits): Promise<ArchiveFiles> {
  const files: ArchiveFiles = new Map();
  const seen = new Set<string>();
  let total = 0;
  let count = 0;
  const extract = tar.extract();
  extract.end(tarBytes);
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const name = safeArchivePath(header.name);
      count += 1;
      if (count > limits.fileCount) {
        throw bundleError.unsafe(`more than ${limits.fileCount} entries`, {
          details: { reason: "too_many_files", limit: limits.fileCount },
        });
      }
      if (seen.has(name)) {
        throw bundleError.unsafe(`duplicate entry '${name}'`, {
          details: { reason: "duplicate_entry", path: name },
        });
      }
      seen.add(name);
      switch (header.type) {
        case "file":
        case "contiguous-file":
          break;
        case "directory":
          entry.resume();
          continue;
        case "symlink":
          throw bundleError.unsafe(`symbolic link '${name}' -> '${header.linkname ?? ""}'`, {
            details: { reason: "symlink", path: name },
          });
        case "link":
          throw bundleError.unsafe(`hard link '${name}' -> '${header.linkname ?? ""}'`, {
            details: { reason: "hardlink", path: name },
          });
        case "character-device":
        case "block-device":
        case "fifo":
          throw bundleError.unsafe(`special file '${name}' (${header.type})`, {
            details: { reason: "device", path: name, type: header.type },
          });
        default:
          throw bundleError.unsafe(
            `unsupported entry type '${String(header.type)}' for '${name}'`,
            {
              details: { reason: "unsupported_entry", path: name, type: header.type },
            },
          );
      }
      const size = header.size ?? 0;
      if (size > limits.fileBytes) {
        throw bundleError.unsafe(
          `'${name}' is ${size} bytes, the per-file limit is ${limits.fileBytes}`,
          {
            details: { reason: "file_too_large", path: name, bytes: size, limit: limits.fileBytes },
          },
        );
      }
      total += size;
      if (total > limits.unpackedBytes) {
        throw bundleError.unsafe(`unpacks to more than ${limits.unpackedBytes} bytes`, {
          details: { reason: "unpacked_too_large", limit: limits.unpackedBytes },
        });
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const content = Buffer.concat(chunks);
      if (content.length !== size) {
        throw bundleError.invalid(`'${name}' is truncated`, {
          details: { reason: "truncated_entry", path: name },
        });
      }
      files.set(name, content);
    }
  } catch (error) {
    extract.destroy();
    if (AriaError.is(error)) throw error;
    throw bundleError.invalid(`not a valid tar archive: ${(error as Error).message}`, {
      details: { reason: "corrupt_tar" },
      cause: error,
    });
  }
  for (const name of files.keys()) {
    const segments = name.split("/");
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join("/");
      if (files.has(parent)) {
        throw bundleError.unsafe(`'${name}' lies under the file '${parent}'`, {
          details: { reason: "path_conflict", path: name },
        });
      }
    }
  }
  return files;
}
