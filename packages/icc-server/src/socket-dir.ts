import fs from "node:fs/promises";
import path from "node:path";
import { AriaError } from "@aria/errors";

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Longest Unix socket path (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

/**
 * Creates the per-container socket folder `<baseDir>/<containerKey>`, mounted at /run/aria in the
 * container: owned by the container's uid and gid with mode 0700, so only that container's user (and
 * root on the host) can reach the socket inside. Returns the host path. Throws VALIDATION_FAILED for a
 * key that is not a plain name and CONFIG_INVALID when the folder cannot be given to the uid (the
 * runtime must run as root or as that uid).
 */
export async function prepareContainerSocketDir(
  baseDir: string,
  containerKey: string,
  uid: number,
  gid: number,
): Promise<string> {
  if (!KEY_PATTERN.test(containerKey) || containerKey === "." || containerKey === "..")
    throw new AriaError("VALIDATION_FAILED", {
      message: `container key '${containerKey.slice(0, 64)}' is not a plain name`,
      details: { field: "containerKey" },
    });
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0)
    throw new AriaError("VALIDATION_FAILED", {
      message: "uid and gid must be non-negative integers",
      details: { field: "uid" },
    });
  const dir = path.join(path.resolve(baseDir), containerKey);
  if (Buffer.byteLength(path.join(dir, "icc.sock")) > MAX_SOCKET_PATH)
    throw new AriaError("CONFIG_INVALID", {
      message: `socket path under '${baseDir}' is longer than ${MAX_SOCKET_PATH} bytes; use a shorter base folder`,
      details: { field: "baseDir" },
    });
  await fs.mkdir(path.resolve(baseDir), { recursive: true, mode: 0o711 });
  await fs.mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const stat = await fs.lstat(dir);
  if (!stat.isDirectory())
    throw new AriaError("VALIDATION_FAILED", {
      message: `'${dir}' exists and is not a folder`,
      details: { field: "containerKey" },
    });
  try {
    if (stat.uid !== uid || stat.gid !== gid) await fs.chown(dir, uid, gid);
    await fs.chmod(dir, 0o700);
  } catch (error) {
    throw new AriaError("CONFIG_INVALID", {
      message: `cannot give the socket folder to uid ${uid}: ${(error as NodeJS.ErrnoException).code ?? "error"} (run the runtime as root or as that uid)`,
      details: { field: "uid", dir },
      cause: error,
    });
  }
  return dir;
}
