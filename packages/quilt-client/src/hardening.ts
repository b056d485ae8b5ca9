import { type ContainerSpec, type ContainerSpecInput, ContainerSpecSchema } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { ContainerConfig, ContainerMount } from "./backend.ts";

/** Where the per-container socket folder (runner and ICC sockets) is mounted. */
export const SOCKET_DIR_TARGET = "/run/aria";
/** Where an unpacked bundle is mounted, read-only. */
export const BUNDLE_TARGET = "/bundle";

/** One relaxation of the default hardening, reported through `onAudit`. */
export interface Relaxation {
  setting: "network" | "readOnlyRoot" | "writableMount";
  value: string;
  reason: string;
}

/** Parses `uid[:gid]`; names are refused (tmpfs ownership needs numbers) and so is root. */
export function parseUser(user: string): { uid: number; gid: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!match) {
    throw new AriaError("VALIDATION_FAILED", {
      message: `Container user must be numeric 'uid:gid' (got '${user}')`,
      details: { field: "user", value: user },
    });
  }
  const uid = Number(match[1]);
  const gid = match[2] === undefined ? uid : Number(match[2]);
  if (uid === 0 || gid === 0) {
    throw new AriaError("VALIDATION_FAILED", {
      message: "Containers never run as root (uid or gid 0)",
      details: { field: "user", value: user },
    });
  }
  return { uid, gid };
}

/** Parses a spec input with the core-types schema, mapping zod issues to VALIDATION_FAILED. */
export function parseContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const parsed = ContainerSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new AriaError("VALIDATION_FAILED", {
      message: `Invalid container spec: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      details: {
        issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      },
    });
  }
  return parsed.data;
}

export interface ResolveOptions {
  name: string;
  labels: Record<string, string>;
  /** Host folder mounted at /run/aria (owned by the container uid, mode 0700), when wanted. */
  socketDir?: string | undefined;
  /** Extra environment merged over the spec's (e.g. the ICC token and URL, `ARIA_CONTAINER_ID`). */
  env?: Record<string, string> | undefined;
  /** Command override (the warm pool runs the in-container runner instead of the workload). */
  command?: string[] | undefined;
  /** Size of each tmpfs; defaults to the memory limit, capped at 512 MiB. */
  tmpfsSizeMb?: number | undefined;
  maxLogBytes?: number | undefined;
}

const RESERVED_TARGETS = new Set([
  "/",
  "/proc",
  "/sys",
  "/dev",
  SOCKET_DIR_TARGET,
  "/tmp",
  "/workspace",
]);

/**
 * Applies the default hardening of contracts §5 to a parsed spec and lists what the spec relaxed:
 * no network (`none`: only `lo`), read-only root, private tmpfs `/tmp` and `/workspace` owned by the
 * container user, all capabilities dropped, no-new-privileges, PID/memory/CPU limits, non-root user.
 * Capabilities, no-new-privileges and the non-root user cannot be relaxed at all.
 */
export function resolveContainerConfig(
  spec: ContainerSpec,
  options: ResolveOptions,
): { config: ContainerConfig; relaxations: Relaxation[] } {
  const { uid, gid } = parseUser(spec.user);
  const relaxations: Relaxation[] = [];
  if (spec.network) {
    relaxations.push({
      setting: "network",
      value: "host",
      reason: "spec asks for network: true (loopback services only)",
    });
  }
  if (!spec.readOnlyRoot) {
    relaxations.push({
      setting: "readOnlyRoot",
      value: "false",
      reason: "spec asks for a writable root file system",
    });
  }
  const mounts: ContainerMount[] = [];
  for (const mount of spec.mounts) {
    if (!mount.source.startsWith("/") || !mount.target.startsWith("/")) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `Mount paths must be absolute (${mount.source} -> ${mount.target})`,
        details: { field: "mounts", mount },
      });
    }
    if (RESERVED_TARGETS.has(mount.target.replace(/\/+$/, "") || "/")) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `Mount target ${mount.target} is reserved`,
        details: { field: "mounts", mount },
      });
    }
    if (!mount.readOnly) {
      relaxations.push({
        setting: "writableMount",
        value: `${mount.source}:${mount.target}`,
        reason: "spec asks for a writable mount",
      });
    }
    mounts.push({ source: mount.source, target: mount.target, readOnly: mount.readOnly });
  }
  if (options.socketDir)
    mounts.push({ source: options.socketDir, target: SOCKET_DIR_TARGET, readOnly: false });

  const tmpfsSizeMb = options.tmpfsSizeMb ?? Math.min(spec.memoryMb, 512);
  const config: ContainerConfig = {
    name: options.name,
    image: spec.image,
    command: options.command ?? spec.command,
    env: { ...spec.env, ...options.env },
    workingDir: spec.workingDir,
    uid,
    gid,
    cpus: spec.cpus,
    memoryMb: spec.memoryMb,
    pids: spec.pids,
    network: spec.network ? "host" : "none",
    readOnlyRoot: spec.readOnlyRoot,
    tmpfs: [
      { target: "/tmp", sizeMb: tmpfsSizeMb, mode: "1777" },
      { target: "/workspace", sizeMb: tmpfsSizeMb, mode: "0755" },
    ],
    mounts,
    labels: options.labels,
    openStdin: spec.stdin !== undefined && options.command === undefined,
    maxLogBytes: options.maxLogBytes ?? 4 * 1024 * 1024,
  };
  return { config, relaxations };
}
