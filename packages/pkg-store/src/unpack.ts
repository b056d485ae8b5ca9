import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { InstalledBundle } from "@aria/core-types";
import { bundleError } from "@aria/errors";
import type { ArchiveFiles } from "./archive.ts";
import { openBundle, type VerifyOptions } from "./bundle.ts";
import { digestHex } from "./digest.ts";
import { type PackOptions, packBundle } from "./pack.ts";

/**
 * Writes verified archive files under `dir` (which must not exist yet): every path is checked to
 * stay inside, files are created exclusively (`wx`, so nothing existing is followed or replaced).
 */
export async function writeFilesSafely(files: ArchiveFiles, dir: string): Promise<void> {
  const root = resolve(dir);
  await mkdir(root);
  for (const [path, content] of files) {
    const out = resolve(root, ...path.split("/"));
    if (!out.startsWith(root + sep)) {
      throw bundleError.unsafe(`'${path}' escapes the bundle directory`, {
        details: { reason: "path_traversal", path },
      });
    }
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, content, { flag: "wx", mode: 0o644 });
  }
}

/**
 * Verifies a `.aria` archive and unpacks it to `DIR/<hex of its digest>` (through a temporary
 * directory and a rename; an existing unpacked copy of the same digest is reused). Returns the
 * bundle in the store's installed form, ready for `Registries.registerBundle`, without installing
 * it in a store.
 */
export async function unpackBundle(
  bytes: Uint8Array,
  dir: string,
  options: VerifyOptions = {},
): Promise<{ installed: InstalledBundle; dir: string }> {
  const opened = await openBundle(bytes, options);
  const target = join(resolve(dir), digestHex(opened.digest));
  const exists = await stat(target).catch(() => undefined);
  if (!exists) {
    await mkdir(resolve(dir), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFilesSafely(opened.files, tmp);
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      if (!(await stat(target).catch(() => undefined))) throw error;
    }
  }
  const { manifest } = opened;
  return {
    installed: {
      name: manifest.name,
      version: manifest.version,
      digest: opened.digest,
      installedAt: new Date().toISOString(),
      manifest,
    },
    dir: target,
  };
}

/**
 * Development builds for hot reload: packs a bundle source directory (nothing written beside it but
 * `dist/`) and unpacks the result under `outDir`, without touching the store (a changed build of the
 * same version would be a conflict there). Pass it as `build` to `@aria/registry`'s
 * `watchBundleSource`.
 */
export async function buildDevBundle(
  sourceDir: string,
  options: { outDir: string } & PackOptions,
): Promise<{ installed: InstalledBundle; dir: string }> {
  const { outDir, ...packOptions } = options;
  const packed = await packBundle(sourceDir, { ...packOptions, write: false });
  return unpackBundle(packed.bytes, outDir, packOptions);
}
