import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** fsyncs a directory so a rename or unlink inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file atomically: a temporary file (in `tmpDir`, same file system) is written and
 * fsynced, renamed over `path`, and the directory is fsynced. Readers see the old file or the new
 * one, never a part.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  tmpDir = dirname(path),
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(
    tmpDir,
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  const handle = await open(tmp, "wx", 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}
