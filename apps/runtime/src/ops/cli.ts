/**
 * `aria backup FILE` and `aria restore FILE`: each an exported async function taking its arguments,
 * an output stream and the configured defaults, and returning the exit status (0 success,
 * 1 refused or failed, 2 bad usage), like `bundleCommand`.
 */
import { resolve } from "node:path";
import { toAriaError } from "@aria/errors";
import { type FlagSpec, parseCommandArgs, UsageError } from "../cli/args.ts";
import { createBackup, restoreBackup, verifyBackup } from "./backup.ts";

/** Where output goes. */
export interface OpsOutput {
  write(chunk: string): unknown;
}

/** Defaults from the runtime's configuration (`loadConfig()`), and where errors go. */
export interface OpsCliOptions {
  /** `REDIS_URL` (config.redisUrl). */
  redisUrl?: string | undefined;
  /** `ARIA_DATA_DIR` (config.dataDir). */
  dataDir?: string | undefined;
  /** Resolves relative paths (default `process.cwd()`). */
  cwd?: string;
  /** Error output (default: the output stream). */
  err?: OpsOutput;
}

export const BACKUP_USAGE = `Usage: aria backup FILE [--redis-url URL] [--data-dir DIR] [--no-workspaces] [--force] [--json]

Writes the bundle store, the run workspaces and the runtime's Redis state (runs, checkpoints,
events, sessions, the audit log) to FILE (gzip-compressed JSON Lines), while the runtime runs.
--force replaces an existing FILE. Defaults: REDIS_URL, ARIA_DATA_DIR (or ./.aria).`;

export const RESTORE_USAGE = `Usage: aria restore FILE [--redis-url URL] [--data-dir DIR] [--only redis|data] [--force] [--no-requeue] [--check] [--json]

Verifies FILE completely, then restores it into a fresh Redis and data directory (stop the runtime
first; see docs/recovery.md). Refuses a target that already holds Aria state unless --force.
Unfinished runs are queued again (unless --no-requeue) and resume from their checkpoints.
--only redis after a lost Redis, --only data after a lost data directory; --check only verifies
FILE and prints what it holds.`;

/** Backup and restore flags beside the common ones. */
const parse = (argv: string[], flags: FlagSpec) =>
  parseCommandArgs(argv, { force: { type: "boolean" }, "redis-url": { type: "string" }, ...flags });

async function command(
  name: "backup" | "restore",
  usage: string,
  argv: string[],
  out: OpsOutput,
  options: OpsCliOptions,
  flags: Record<string, { type: "string" | "boolean" }>,
  body: (args: {
    file: string;
    redisUrl: string | undefined;
    dataDir: string;
    values: Record<string, unknown>;
    json: boolean;
  }) => Promise<number>,
): Promise<number> {
  const err = options.err ?? out;
  const json = argv.includes("--json");
  try {
    const { values, positionals } = parse(argv, flags);
    if (values.help) {
      out.write(`${usage}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("give exactly one FILE");
    const cwd = options.cwd ?? process.cwd();
    const dataDir = resolve(
      cwd,
      (values["data-dir"] as string | undefined) ??
        options.dataDir ??
        process.env.ARIA_DATA_DIR ??
        "./.aria",
    );
    const redisUrl =
      (values["redis-url"] as string | undefined) ?? options.redisUrl ?? process.env.REDIS_URL;
    return await body({
      file: resolve(cwd, positionals[0]!),
      redisUrl: redisUrl || undefined,
      dataDir,
      values,
      json,
    });
  } catch (error) {
    if (error instanceof UsageError) {
      err.write(`aria ${name}: ${error.message}\n\n${usage}\n`);
      return 2;
    }
    const failure = toAriaError(error, "INTERNAL_ERROR");
    if (json) out.write(`${JSON.stringify({ error: failure.toBody() }, null, 2)}\n`);
    else
      err.write(`aria ${name}: ${failure.code}: ${failure.message}\n  ${failure.userGuidance}\n`);
    return 1;
  }
}

/** `aria backup FILE`: see BACKUP_USAGE. */
export function backupCommand(
  argv: string[],
  out: OpsOutput,
  options: OpsCliOptions = {},
): Promise<number> {
  return command(
    "backup",
    BACKUP_USAGE,
    argv,
    out,
    options,
    { "no-workspaces": { type: "boolean" } },
    async ({ file, redisUrl, dataDir, values, json }) => {
      const result = await createBackup({
        out: file,
        redisUrl,
        dataDir,
        overwrite: values.force === true,
        workspaces: values["no-workspaces"] !== true,
      });
      if (json) out.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        const c = result.counts;
        out.write(
          `backup written: ${result.file} (${result.bytes.toLocaleString("en-US")} B, sha256 ${result.sha256.slice(0, 16)}…)\n` +
            `  redis: ${redisUrl ? `${c.keys} keys (${c.runs} runs), ${c.zsetMembers} index members, ${c.streamEntries} audit entries` : "not configured (REDIS_URL unset): data directory only"}\n` +
            `  bundles: ${c.bundles} (${c.blobs} archives), workspace files: ${c.workspaceFiles}\n`,
        );
        for (const warning of result.warnings) out.write(`  warning: ${warning}\n`);
      }
      return 0;
    },
  );
}

/** `aria restore FILE`: see RESTORE_USAGE. */
export function restoreCommand(
  argv: string[],
  out: OpsOutput,
  options: OpsCliOptions = {},
): Promise<number> {
  return command(
    "restore",
    RESTORE_USAGE,
    argv,
    out,
    options,
    {
      "no-requeue": { type: "boolean" },
      only: { type: "string" },
      check: { type: "boolean" },
    },
    async ({ file, redisUrl, dataDir, values, json }) => {
      const only = values.only as string | undefined;
      if (only !== undefined && only !== "redis" && only !== "data")
        throw new UsageError("--only is redis or data");
      if (values.check === true) {
        const summary = await verifyBackup(file);
        if (json) out.write(`${JSON.stringify(summary, null, 2)}\n`);
        else {
          const c = summary.counts;
          out.write(
            `backup ${file} is intact (taken ${summary.header.createdAt}, Redis ${summary.header.redis?.version ?? "none"})\n` +
              `  redis: ${c.keys} keys (${c.runs} runs), ${c.streamEntries} audit entries\n` +
              `  bundles: ${c.bundles}, workspace files: ${c.workspaceFiles}\n`,
          );
        }
        return 0;
      }
      const result = await restoreBackup({
        file,
        redisUrl,
        dataDir,
        force: values.force === true,
        requeue: values["no-requeue"] !== true,
        ...(only ? { only: only as "redis" | "data" } : {}),
      });
      if (json) out.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        const c = result.counts;
        out.write(
          `restored ${result.file} (taken ${result.createdAt})\n` +
            `  redis: ${c.keys} keys (${c.runs} runs), ${c.streamEntries} audit entries${result.expired ? `, ${result.expired} expired keys skipped` : ""}\n` +
            `  bundles: ${c.bundles} verified, workspace files: ${c.workspaceFiles}\n` +
            `  unfinished runs queued again: ${result.requeued.length}\n`,
        );
      }
      return 0;
    },
  );
}
