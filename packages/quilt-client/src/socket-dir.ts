import fs from "node:fs/promises";
import path from "node:path";

/**
 * Creates the per-container socket folder mounted at /run/aria: owned by the container's uid and gid,
 * mode 0700, so only that container's (non-root) user and the runtime can enter it. When the runtime
 * cannot chown (it is neither root nor the container uid), the folder is opened to everyone (0777)
 * and the caller reports that as a relaxation.
 */
export async function createSocketDir(
  root: string,
  name: string,
  uid: number,
  gid: number,
): Promise<{ dir: string; relaxed: boolean }> {
  const dir = path.join(root, name);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await fs.chown(dir, uid, gid);
    await fs.chmod(dir, 0o700);
    return { dir, relaxed: false };
  } catch (error) {
    if (process.getuid?.() === uid) {
      await fs.chmod(dir, 0o700);
      return { dir, relaxed: false };
    }
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
    await fs.chmod(dir, 0o777);
    return { dir, relaxed: true };
  }
}

/** Removes a socket folder; a missing one is fine. */
export async function removeSocketDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}
