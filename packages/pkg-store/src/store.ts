import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type Clock,
  type InstalledBundle,
  InstalledBundleSchema,
  type Logger,
} from "@aria/core-types";
import { AriaError, bundleError } from "@aria/errors";
import semver from "semver";
import type { ArchiveFiles } from "./archive.ts";
import { type OpenedBundle, openBundle, type VerifyOptions } from "./bundle.ts";
import {
  type DependencyNode,
  dependencyOrder,
  pickVersion,
  resolveDependencies,
} from "./dependencies.ts";
import { digestHex, sha256Digest } from "./digest.ts";
import { fsyncDir, writeFileAtomic } from "./fs-atomic.ts";
import { DEFAULT_BUNDLE_LIMITS } from "./limits.ts";
import { writeFilesSafely } from "./unpack.ts";

/** Hooks called at the store's crash points (tests use them to simulate a crash there). */
export interface StoreFaults {
  /** After the blob is durable, before the bundle is unpacked and indexed. */
  afterBlobWrite?(digest: string): void | Promise<void>;
  /** After the bundle is unpacked, before its index entry is written. */
  afterUnpack?(digest: string): void | Promise<void>;
}

/** Options of `openBundleStore`. */
export interface BundleStoreOptions extends VerifyOptions {
  /** The runtime's data directory; the store lives in `DATA_DIR/bundles`. */
  dataDir: string;
  clock?: Clock;
  logger?: Pick<Logger, "warn" | "info">;
  faults?: StoreFaults;
}

/** What `install` did. */
export interface InstallResult {
  bundle: InstalledBundle;
  /** False when this exact bundle (same name, version and digest) was already installed. */
  created: boolean;
  /** The installed bundles it depends on, transitively, dependencies first. */
  dependencies: InstalledBundle[];
  signature: OpenedBundle["signature"];
}

/** What `gc` removed. */
export interface GcResult {
  removedBlobs: string[];
  removedUnpacked: string[];
  removedTemp: number;
}

/** A problem `check` found. */
export interface StoreIssue {
  kind: "bad_index_entry" | "missing_blob" | "corrupt_blob" | "orphan_blob" | "orphan_unpacked";
  path: string;
  message: string;
}

const INDEX_SUFFIX = ".json";

/**
 * The content-addressed bundle store on disk:
 *
 * ```
 * DATA_DIR/bundles/blobs/sha256/<hex>          the .aria archives, by the SHA-256 of their bytes
 * DATA_DIR/bundles/unpacked/<hex>/...          their files, unpacked (a cache rebuilt from the blob)
 * DATA_DIR/bundles/index/<name>/<version>.json one entry per installed name@version
 * DATA_DIR/bundles/tmp/                        temporary files (emptied at open)
 * ```
 *
 * An install verifies everything in memory first (a refused bundle writes nothing), then writes the
 * blob (temporary file, fsync, rename, fsync of the directory), unpacks it, and last writes the
 * index entry the same atomic way. A crash at any point leaves either no entry (the blob is an
 * orphan that `gc` removes) or a complete one. Every read verifies hashes.
 */
export class BundleStore {
  /** `DATA_DIR/bundles`. */
  readonly root: string;
  private readonly options: BundleStoreOptions;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Map<string, InstalledBundle>>();
  private readonly issues: StoreIssue[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: BundleStoreOptions) {
    this.options = options;
    this.root = resolve(options.dataDir, "bundles");
    this.clock = options.clock ?? { now: () => Date.now() };
  }

  private get blobsDir() {
    return join(this.root, "blobs", "sha256");
  }
  private get unpackedRoot() {
    return join(this.root, "unpacked");
  }
  private get indexDir() {
    return join(this.root, "index");
  }
  private get tmpDir() {
    return join(this.root, "tmp");
  }

  /** Creates the layout, empties `tmp/` and loads the index. Called by `openBundleStore`. */
  async init(): Promise<void> {
    for (const dir of [this.blobsDir, this.unpackedRoot, this.indexDir, this.tmpDir])
      await mkdir(dir, { recursive: true });
    for (const name of await readdir(this.tmpDir))
      await rm(join(this.tmpDir, name), { recursive: true, force: true });
    await this.loadIndex();
  }

  private async loadIndex(): Promise<void> {
    this.entries.clear();
    this.issues.length = 0;
    for (const name of (await readdir(this.indexDir)).sort()) {
      const dir = join(this.indexDir, name);
      const files = await readdir(dir).catch(() => [] as string[]);
      for (const file of files.sort()) {
        const path = join(dir, file);
        if (!file.endsWith(INDEX_SUFFIX)) {
          this.issues.push({ kind: "bad_index_entry", path, message: "not an index entry" });
          continue;
        }
        try {
          const entry = InstalledBundleSchema.parse(JSON.parse(await readFile(path, "utf8")));
          if (entry.name !== name || `${entry.version}${INDEX_SUFFIX}` !== file)
            throw new Error("the entry does not match its path");
          await stat(this.blobPath(entry.digest));
          this.remember(entry);
        } catch (error) {
          const missing = (error as { code?: string }).code === "ENOENT";
          this.issues.push({
            kind: missing ? "missing_blob" : "bad_index_entry",
            path,
            message: (error as Error).message,
          });
          this.options.logger?.warn(
            { path, error: (error as Error).message },
            "bundle store: index entry ignored",
          );
        }
      }
    }
  }

  private remember(entry: InstalledBundle): void {
    let versions = this.entries.get(entry.name);
    if (!versions) {
      versions = new Map();
      this.entries.set(entry.name, versions);
    }
    versions.set(entry.version, entry);
  }

  private forget(name: string, version: string): void {
    const versions = this.entries.get(name);
    versions?.delete(version);
    if (versions?.size === 0) this.entries.delete(name);
  }

  private blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }

  private unpackedPath(digest: string): string {
    return join(this.unpackedRoot, digestHex(digest));
  }

  private indexPath(name: string, version: string): string {
    return join(this.indexDir, name, `${version}${INDEX_SUFFIX}`);
  }

  /** Runs mutations one at a time. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private verifyOptions(): VerifyOptions {
    return { ...this.options, limits: this.options.limits ?? DEFAULT_BUNDLE_LIMITS };
  }

  /**
   * Installs a `.aria` archive. It is verified completely (safety, manifest, hashes, signature) and
   * its dependencies resolved against the installed bundles before anything is written; a refused
   * bundle leaves the store unchanged. Installing the same bytes again is a no-op; the same
   * name@version with other bytes is `BUNDLE_CONFLICT`.
   */
  install(bytes: Uint8Array): Promise<InstallResult> {
    return this.exclusive(async () => {
      const opened = await openBundle(bytes, this.verifyOptions());
      const { manifest, digest } = opened;
      const existing = this.entries.get(manifest.name)?.get(manifest.version);
      if (existing && existing.digest !== digest) {
        throw new AriaError("BUNDLE_CONFLICT", {
          message: `${manifest.name}@${manifest.version} is already installed with other contents (${existing.digest})`,
          details: {
            reason: "version_exists",
            name: manifest.name,
            version: manifest.version,
            installed: existing.digest,
            offered: digest,
          },
        });
      }
      const node: DependencyNode = { name: manifest.name, version: manifest.version, manifest };
      const deps = resolveDependencies(node, (name) => {
        const installed: DependencyNode[] = [...(this.entries.get(name)?.values() ?? [])];
        return name === manifest.name && !existing ? [...installed, node] : installed;
      }) as InstalledBundle[];
      if (existing)
        return {
          bundle: existing,
          created: false,
          dependencies: deps,
          signature: opened.signature,
        };

      let blobWritten = false;
      try {
        blobWritten = await this.writeBlob(digest, bytes);
        await this.options.faults?.afterBlobWrite?.(digest);
        await this.ensureUnpacked(digest, opened.files);
        await this.options.faults?.afterUnpack?.(digest);
        const entry: InstalledBundle = {
          name: manifest.name,
          version: manifest.version,
          digest,
          installedAt: new Date(this.clock.now()).toISOString(),
          manifest,
        };
        await writeFileAtomic(
          this.indexPath(entry.name, entry.version),
          `${JSON.stringify(entry)}\n`,
          this.tmpDir,
        );
        this.remember(entry);
        this.options.logger?.info(
          { bundle: `${entry.name}@${entry.version}`, digest },
          "bundle installed",
        );
        return { bundle: entry, created: true, dependencies: deps, signature: opened.signature };
      } catch (error) {
        // A failed install must not leave what it wrote behind (unless another entry uses it).
        if (blobWritten && !this.isReferenced(digest)) await this.removeContent(digest);
        throw error;
      }
    });
  }

  /**
   * Installs several archives, dependencies first whatever the order given (each is still verified
   * and installed on its own, so one refused bundle does not undo the others). Refusals are
   * returned beside the results rather than thrown.
   */
  async installMany(
    archives: readonly Uint8Array[],
  ): Promise<{ installed: InstallResult[]; failed: Array<{ index: number; error: AriaError }> }> {
    const failed: Array<{ index: number; error: AriaError }> = [];
    const opened: Array<{ index: number; bundle: InstalledBundle }> = [];
    for (const [index, bytes] of archives.entries()) {
      try {
        const { manifest, digest } = await openBundle(bytes, this.verifyOptions());
        opened.push({
          index,
          bundle: {
            name: manifest.name,
            version: manifest.version,
            digest,
            installedAt: "",
            manifest,
          },
        });
      } catch (error) {
        failed.push({
          index,
          error: AriaError.is(error) ? error : bundleError.invalid(String(error)),
        });
      }
    }
    let order: InstalledBundle[];
    try {
      order = dependencyOrder(opened.map((o) => o.bundle));
    } catch {
      order = opened.map((o) => o.bundle);
    }
    const installed: InstallResult[] = [];
    for (const bundle of order) {
      const { index } = opened.find((o) => o.bundle === bundle) as { index: number };
      try {
        installed.push(await this.install(archives[index] as Uint8Array));
      } catch (error) {
        failed.push({
          index,
          error: AriaError.is(error) ? error : bundleError.invalid(String(error)),
        });
      }
    }
    return { installed, failed: failed.sort((a, b) => a.index - b.index) };
  }

  /** Installs a `.aria` file from disk. */
  async installFile(path: string): Promise<InstallResult> {
    return this.install(await readFile(path));
  }

  /** Writes the blob atomically unless it is already there intact. Returns whether it wrote. */
  private async writeBlob(digest: string, bytes: Uint8Array): Promise<boolean> {
    const path = this.blobPath(digest);
    const current = await readFile(path).catch(() => undefined);
    if (current && sha256Digest(current) === digest) return false;
    await writeFileAtomic(path, bytes, this.tmpDir);
    return true;
  }

  /** Unpacks verified files into `unpacked/<hex>` (through a temporary directory and a rename). */
  private async ensureUnpacked(digest: string, files: ArchiveFiles): Promise<string> {
    const target = this.unpackedPath(digest);
    if (await this.unpackedIntact(target, files)) return target;
    const tmp = join(this.tmpDir, `unpack-${randomBytes(8).toString("hex")}`);
    try {
      await writeFilesSafely(files, tmp);
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw error;
    }
    return target;
  }

  /** True when `dir` holds exactly `files` with matching contents. */
  private async unpackedIntact(
    dir: string,
    files: ArchiveFiles | Record<string, string>,
  ): Promise<boolean> {
    const expected =
      files instanceof Map
        ? new Map([...files].map(([p, c]) => [p, sha256Digest(c)]))
        : new Map(Object.entries(files));
    let found: string[];
    try {
      found = await listFiles(dir);
    } catch {
      return false;
    }
    if (found.length !== expected.size) return false;
    for (const path of found) {
      const want = expected.get(path);
      if (want === undefined) return false;
      const content = await readFile(join(dir, ...path.split("/"))).catch(() => undefined);
      if (!content || sha256Digest(content) !== want) return false;
    }
    return true;
  }

  /** The installed bundle name@version, or `BUNDLE_NOT_FOUND`. */
  get(name: string, version: string): InstalledBundle {
    const entry = this.entries.get(name)?.get(version);
    if (!entry) {
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `${name}@${version} is not installed`,
        details: { name, version },
      });
    }
    return entry;
  }

  /** Whether name@version (or any version of name) is installed. */
  has(name: string, version?: string): boolean {
    const versions = this.entries.get(name);
    return version === undefined ? versions !== undefined : versions?.has(version) === true;
  }

  /** The highest installed version of `name` that satisfies `range` (default: any), or `BUNDLE_NOT_FOUND`. */
  resolve(name: string, range = "*"): InstalledBundle {
    const found = pickVersion([...(this.entries.get(name)?.values() ?? [])], range);
    if (!found) {
      throw new AriaError("BUNDLE_NOT_FOUND", {
        message: `no installed version of ${name} satisfies '${range}'`,
        details: { name, range, installed: this.versions(name) },
      });
    }
    return found;
  }

  /** The installed versions of `name`, ascending. */
  versions(name: string): string[] {
    return [...(this.entries.get(name)?.keys() ?? [])].sort(semver.compare);
  }

  /** Every installed bundle, by name then ascending version. */
  list(): InstalledBundle[] {
    return [...this.entries.keys()]
      .sort()
      .flatMap((name) =>
        this.versions(name).map((v) => this.entries.get(name)?.get(v) as InstalledBundle),
      );
  }

  /** Every installed bundle, dependencies before their dependants (the order to register them in). */
  dependencyOrder(): InstalledBundle[] {
    return dependencyOrder(this.list());
  }

  /** What an installed bundle depends on, transitively, dependencies first. */
  dependenciesOf(name: string, version: string): InstalledBundle[] {
    const entry = this.get(name, version);
    return resolveDependencies(entry, (n) => [
      ...(this.entries.get(n)?.values() ?? []),
    ]) as InstalledBundle[];
  }

  /** The installed bundles that resolve a dependency to name@version. */
  dependantsOf(name: string, version: string): InstalledBundle[] {
    return this.list().filter((other) => {
      const range = other.manifest.dependencies[name];
      if (range === undefined || (other.name === name && other.version === version)) return false;
      return pickVersion([...(this.entries.get(name)?.values() ?? [])], range)?.version === version;
    });
  }

  /** The archive bytes of name@version, verified against their digest (`BUNDLE_INTEGRITY` otherwise). */
  async read(name: string, version: string): Promise<Buffer> {
    return this.readBlob(this.get(name, version).digest);
  }

  /** A blob by digest, verified. */
  async readBlob(digest: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (error) {
      throw bundleError.integrity(`the blob ${digest} is missing from the store`, {
        details: { reason: "blob_missing", digest },
        cause: error,
      });
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw bundleError.integrity(`the blob ${digest} is damaged (its bytes hash to ${actual})`, {
        details: { reason: "blob_corrupt", digest, actual },
      });
    }
    return bytes;
  }

  /** Re-reads name@version's blob and verifies it completely (manifest, file hashes, signature). */
  async verify(name: string, version: string): Promise<OpenedBundle> {
    const entry = this.get(name, version);
    const opened = await openBundle(await this.readBlob(entry.digest), this.verifyOptions());
    if (opened.manifest.name !== name || opened.manifest.version !== version) {
      throw bundleError.integrity(
        `the blob of ${name}@${version} holds ${opened.manifest.name}@${opened.manifest.version}`,
        {
          details: { reason: "index_mismatch" },
        },
      );
    }
    return opened;
  }

  /**
   * The directory holding name@version's files, verified file by file against `manifest.files`.
   * When the unpacked copy is missing or altered, it is rebuilt from the (verified) blob.
   */
  unpackedDir(name: string, version: string): Promise<string> {
    const entry = this.get(name, version);
    const dir = this.unpackedPath(entry.digest);
    return (async () => {
      if (await this.unpackedIntact(dir, entry.manifest.files)) return dir;
      this.options.logger?.warn(
        { bundle: `${name}@${version}` },
        "unpacked bundle missing or altered; unpacking it again from the blob",
      );
      return this.exclusive(async () => {
        const opened = await this.verify(name, version);
        return this.ensureUnpacked(entry.digest, opened.files);
      });
    })();
  }

  /**
   * Uninstalls name@version. Refused with `BUNDLE_CONFLICT` while another installed bundle resolves a
   * dependency to it (unless `force`). Its blob and unpacked files go when nothing else uses them.
   */
  uninstall(
    name: string,
    version: string,
    options: { force?: boolean } = {},
  ): Promise<InstalledBundle> {
    return this.exclusive(async () => {
      const entry = this.get(name, version);
      const dependants = this.dependantsOf(name, version).filter((d) => {
        // Still fine when another installed version of `name` satisfies the dependant.
        const range = d.manifest.dependencies[name] as string;
        const others = [...(this.entries.get(name)?.values() ?? [])].filter(
          (v) => v.version !== version,
        );
        return pickVersion(others, range) === undefined;
      });
      if (dependants.length > 0 && !options.force) {
        const names = dependants.map((d) => `${d.name}@${d.version}`);
        throw new AriaError("BUNDLE_CONFLICT", {
          message: `${name}@${version} is needed by ${names.join(", ")}`,
          details: { reason: "has_dependants", dependants: names },
        });
      }
      await unlink(this.indexPath(name, version));
      await fsyncDir(join(this.indexDir, name));
      await rmdir(join(this.indexDir, name)).catch(() => undefined);
      this.forget(name, version);
      if (!this.isReferenced(entry.digest)) await this.removeContent(entry.digest);
      this.options.logger?.info({ bundle: `${name}@${version}` }, "bundle uninstalled");
      return entry;
    });
  }

  private isReferenced(digest: string): boolean {
    for (const versions of this.entries.values())
      for (const entry of versions.values()) if (entry.digest === digest) return true;
    return false;
  }

  private async removeContent(digest: string): Promise<void> {
    await rm(this.unpackedPath(digest), { recursive: true, force: true });
    await rm(this.blobPath(digest), { force: true });
  }

  /**
   * Removes blobs and unpacked directories no index entry references (orphans of a crash or of an
   * uninstall) and anything left in `tmp/`.
   */
  gc(): Promise<GcResult> {
    return this.exclusive(async () => {
      const referenced = new Set<string>();
      for (const entry of this.list()) referenced.add(digestHex(entry.digest));
      const result: GcResult = { removedBlobs: [], removedUnpacked: [], removedTemp: 0 };
      for (const hex of await readdir(this.blobsDir)) {
        if (!referenced.has(hex)) {
          await rm(join(this.blobsDir, hex), { force: true, recursive: true });
          result.removedBlobs.push(`sha256:${hex}`);
        }
      }
      for (const hex of await readdir(this.unpackedRoot)) {
        if (!referenced.has(hex)) {
          await rm(join(this.unpackedRoot, hex), { force: true, recursive: true });
          result.removedUnpacked.push(`sha256:${hex}`);
        }
      }
      for (const name of await readdir(this.tmpDir)) {
        await rm(join(this.tmpDir, name), { recursive: true, force: true });
        result.removedTemp += 1;
      }
      return result;
    });
  }

  /** Problems found at open (ignored index entries) and now (orphans, damaged blobs). */
  async check(): Promise<StoreIssue[]> {
    const issues = [...this.issues];
    const referenced = new Map(this.list().map((e) => [digestHex(e.digest), e]));
    for (const hex of await readdir(this.blobsDir)) {
      const path = join(this.blobsDir, hex);
      if (!referenced.has(hex)) {
        issues.push({ kind: "orphan_blob", path, message: "no index entry references this blob" });
      } else if (sha256Digest(await readFile(path)) !== `sha256:${hex}`) {
        issues.push({
          kind: "corrupt_blob",
          path,
          message: "the blob's bytes do not match its digest",
        });
      }
    }
    for (const hex of await readdir(this.unpackedRoot)) {
      if (!referenced.has(hex))
        issues.push({
          kind: "orphan_unpacked",
          path: join(this.unpackedRoot, hex),
          message: "no index entry references it",
        });
    }
    return issues;
  }

  /** Waits for pending operations. */
  async close(): Promise<void> {
    await this.queue;
  }
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
    else out.push(`${rel}\u0000not-a-file`);
  }
  return out;
}

/** Opens (creating if needed) the bundle store under `options.dataDir`. */
export async function openBundleStore(options: BundleStoreOptions): Promise<BundleStore> {
  const store = new BundleStore(options);
  await store.init();
  return store;
}
