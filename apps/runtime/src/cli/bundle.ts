/**
 * `aria bundle pack|inspect|install|list|uninstall|gc|keygen`: each subcommand is an exported async
 * function taking its arguments and an output stream and returning the exit status (0 success,
 * 1 refused or failed, 2 bad usage). The main CLI dispatches `aria bundle ...` to `bundleCommand`.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { InstalledBundle, Limits } from "@aria/core-types";
import { type AriaError, toAriaError } from "@aria/errors";
import {
  type BundleStore,
  type BundleSummary,
  bundleLimitsFrom,
  generateSigningKeyPair,
  type InstallResult,
  inspectBundle,
  openBundleStore,
  packBundle,
  type TrustedKey,
} from "@aria/pkg-store";
import { type ParsedArgs, parseCommandArgs, UsageError } from "./args.ts";

/** Where output goes. */
export interface Output {
  write(chunk: string): unknown;
}

/** What the bundle commands need from their caller. */
export interface BundleCliOptions {
  /** The runtime's data directory (default `ARIA_DATA_DIR` or `./.aria`); the store is `DATA_DIR/bundles`. */
  dataDir?: string;
  /** Resolves relative paths (default `process.cwd()`). */
  cwd?: string;
  /** Error output (default: the output stream). */
  err?: Output;
  /** The configured limits (`RuntimeConfig.limits`); bundle sizes come from them. */
  limits?: Partial<Limits>;
  /** Public keys trusted for bundle signatures. */
  trustedKeys?: TrustedKey[];
  requireSignature?: boolean;
  /** An open store to use instead of opening one under `dataDir` (e.g. the running runtime's). */
  store?: BundleStore;
  /** Called after each successful install (register it in the registries, write the audit entry). */
  onInstalled?: (result: InstallResult) => Promise<void> | void;
  /** Called after an uninstall. */
  onUninstalled?: (bundle: InstalledBundle) => Promise<void> | void;
}

export const BUNDLE_USAGE = `Usage: aria bundle <command> [options]

Commands:
  pack DIR [-o FILE] [--sign KEYFILE]   build DIR (src/index.ts or package.json aria.entry) into a .aria file
  inspect FILE [--trusted-key PEMFILE]  verify a .aria file and print its manifest summary
  install FILE...                       verify and install .aria files into the data directory's store
  list                                  list installed bundles
  uninstall NAME VERSION [--force]      remove an installed bundle
  gc                                    remove unreferenced blobs and leftovers
  keygen DIR                            write an Ed25519 key pair for signing bundles

Options: --json (machine-readable output), --data-dir DIR (default ARIA_DATA_DIR or ./.aria)
Exit status: 0 success, 1 refused or failed, 2 bad usage.`;

const parse = parseCommandArgs;
type Parsed = ParsedArgs;

async function run(
  name: string,
  argv: string[],
  out: Output,
  options: BundleCliOptions,
  flags: Parameters<typeof parse>[1],
  body: (parsed: Parsed, json: boolean) => Promise<number>,
): Promise<number> {
  const err = options.err ?? out;
  let json = argv.includes("--json");
  try {
    const parsed = parse(argv, flags);
    json = parsed.values.json === true;
    if (parsed.values.help) {
      out.write(`${BUNDLE_USAGE}\n`);
      return 0;
    }
    return await body(parsed, json);
  } catch (error) {
    if (error instanceof UsageError) {
      err.write(`aria bundle ${name}: ${error.message}\n\n${BUNDLE_USAGE}\n`);
      return 2;
    }
    const failure = toAriaError(error, "BUNDLE_INVALID");
    if (json) out.write(`${JSON.stringify(failure.toJSON(), null, 2)}\n`);
    else err.write(formatError(name, failure));
    return 1;
  }
}

function formatError(name: string, error: AriaError): string {
  const reason = typeof error.details.reason === "string" ? ` (${error.details.reason})` : "";
  const problems = Array.isArray(error.details.problems)
    ? (error.details.problems as string[]).map((p) => `  - ${p}\n`).join("")
    : "";
  return `aria bundle ${name}: ${error.code}${reason}: ${error.message}\n${problems}  ${error.userGuidance}\n`;
}

const dataDirOf = (parsed: Parsed, options: BundleCliOptions) =>
  resolve(
    options.cwd ?? process.cwd(),
    (parsed.values["data-dir"] as string | undefined) ??
      options.dataDir ??
      process.env.ARIA_DATA_DIR ??
      "./.aria",
  );

async function storeFor(parsed: Parsed, options: BundleCliOptions): Promise<BundleStore> {
  if (options.store) return options.store;
  return openBundleStore({
    dataDir: dataDirOf(parsed, options),
    limits: bundleLimitsFrom(options.limits),
    ...(options.trustedKeys ? { trustedKeys: options.trustedKeys } : {}),
    ...(options.requireSignature ? { requireSignature: true } : {}),
  });
}

async function readKeys(files: string[], cwd: string): Promise<TrustedKey[]> {
  return Promise.all(
    files.map(async (file) => ({ publicKey: await readFile(resolve(cwd, file), "utf8") })),
  );
}

const bytes = (n: number) => `${n.toLocaleString("en-US")} B`;

function table(rows: string[][], indent = "  "): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows
    .map((row) =>
      `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd(),
    )
    .join("\n");
}

/** The text `aria bundle inspect` prints. */
export function formatSummary(summary: BundleSummary): string {
  const signature = !summary.signature.signed
    ? "unsigned"
    : summary.signature.verified
      ? `verified (key ${summary.signature.keyId})`
      : `signed by ${summary.signature.keyId}, not verified (no trusted key configured)`;
  const deps = Object.entries(summary.dependencies).map(([n, r]) => `${n} ${r}`);
  const lines = [
    `${summary.name}@${summary.version}  ${summary.digest}`,
    ...(summary.description ? [summary.description] : []),
    "",
    table(
      [
        [
          "size",
          `${bytes(summary.size)} archive, ${bytes(summary.unpackedBytes)} unpacked, ${summary.files.length} file(s)`,
        ],
        ["entry", summary.entry],
        ["depends on", deps.length ? deps.join(", ") : "nothing"],
        ["signature", signature],
        ["integrity", "verified (archive safety, manifest schema and references, every file hash)"],
      ],
      "",
    ),
    "",
    `tools (${summary.tools.length})`,
    table(
      summary.tools.map((t) => [
        t.name,
        t.execution,
        t.securityLevel,
        t.network ? "network" : "-",
        t.description,
      ]),
    ),
    `agents (${summary.agents.length})`,
    table(summary.agents.map((a) => [a.name, `tools: ${a.tools.join(", ") || "-"}`])),
    `teams (${summary.teams.length})`,
    table(summary.teams.map((t) => [t.name, t.strategy, `members: ${t.members.join(", ")}`])),
    `pipelines (${summary.pipelines.length})`,
    table(summary.pipelines.map((p) => [p.name, `${p.steps} step(s)`, p.description])),
    "files",
    table(summary.files.map((f) => [f.path, bytes(f.size), f.digest])),
  ];
  return `${lines
    .filter((l) => l !== "")
    .join("\n")
    .replace(/\n(tools|files) /, "\n\n$1 ")}\n`;
}

/** `aria bundle pack DIR [-o FILE] [--sign KEYFILE] [--json]` */
export async function bundlePack(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run(
    "pack",
    argv,
    out,
    options,
    { out: { type: "string", short: "o" }, sign: { type: "string" } },
    async (parsed, json) => {
      const [dir, ...extra] = parsed.positionals;
      if (!dir || extra.length > 0) throw new UsageError("pack takes one directory");
      const cwd = options.cwd ?? process.cwd();
      const signFile = parsed.values.sign as string | undefined;
      const outFile = parsed.values.out as string | undefined;
      const result = await packBundle(resolve(cwd, dir), {
        ...(outFile ? { out: resolve(cwd, outFile) } : {}),
        ...(signFile
          ? { signingKey: { privateKey: await readFile(resolve(cwd, signFile), "utf8") } }
          : {}),
        limits: bundleLimitsFrom(options.limits),
      });
      if (json) {
        out.write(
          `${JSON.stringify({ file: result.outPath, digest: result.digest, name: result.manifest.name, version: result.manifest.version, size: result.bytes.length, summary: result.summary }, null, 2)}\n`,
        );
      } else {
        const s = result.summary;
        out.write(
          `packed ${s.name}@${s.version} -> ${result.outPath}\n  ${result.digest}  ${bytes(s.size)}\n  ${s.tools.length} tool(s), ${s.agents.length} agent(s), ${s.teams.length} team(s), ${s.pipelines.length} pipeline(s)${s.signature.signed ? `, signed by ${s.signature.keyId}` : ""}\n`,
        );
      }
      return 0;
    },
  );
}

/** `aria bundle inspect FILE [--trusted-key PEMFILE]... [--json]` */
export async function bundleInspect(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run(
    "inspect",
    argv,
    out,
    options,
    { "trusted-key": { type: "string", multiple: true } },
    async (parsed, json) => {
      const [file, ...extra] = parsed.positionals;
      if (!file || extra.length > 0) throw new UsageError("inspect takes one file");
      const cwd = options.cwd ?? process.cwd();
      const keys = [
        ...(options.trustedKeys ?? []),
        ...(await readKeys((parsed.values["trusted-key"] as string[] | undefined) ?? [], cwd)),
      ];
      const summary = await inspectBundle(await readFile(resolve(cwd, file)), {
        limits: bundleLimitsFrom(options.limits),
        trustedKeys: keys,
        ...(options.requireSignature ? { requireSignature: true } : {}),
      });
      out.write(json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
      return 0;
    },
  );
}

/** `aria bundle install FILE... [--json] [--data-dir DIR]` (dependencies first, whatever the order given). */
export async function bundleInstall(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run("install", argv, out, options, {}, async (parsed, json) => {
    if (parsed.positionals.length === 0) throw new UsageError("install takes at least one file");
    const cwd = options.cwd ?? process.cwd();
    const files = parsed.positionals.map((f) => resolve(cwd, f));
    const archives = await Promise.all(files.map((f) => readFile(f)));
    const store = await storeFor(parsed, options);
    const { installed, failed } = await store.installMany(archives);
    for (const result of installed) await options.onInstalled?.(result);
    if (json) {
      out.write(
        `${JSON.stringify(
          {
            installed: installed.map((r) => ({
              ...describe(r.bundle),
              created: r.created,
              signature: r.signature,
            })),
            failed: failed.map((f) => ({ file: files[f.index], ...f.error.toJSON() })),
          },
          null,
          2,
        )}\n`,
      );
    } else {
      for (const r of installed) {
        const d = describe(r.bundle);
        out.write(
          `${r.created ? "installed" : "already installed"} ${d.name}@${d.version}  ${d.digest}\n  ${d.tools.length} tool(s), ${d.agents.length} agent(s), ${d.teams.length} team(s), ${d.pipelines.length} pipeline(s)\n`,
        );
      }
      for (const f of failed)
        (options.err ?? out).write(
          formatError("install", f.error).replace("install:", `install ${files[f.index]}:`),
        );
    }
    return failed.length > 0 ? 1 : 0;
  });
}

function describe(bundle: InstalledBundle) {
  const m = bundle.manifest;
  return {
    digest: bundle.digest,
    name: bundle.name,
    version: bundle.version,
    installedAt: bundle.installedAt,
    dependencies: m.dependencies,
    tools: m.tools.map((t) => t.name),
    agents: m.agents.map((a) => a.name),
    teams: m.teams.map((t) => t.name),
    pipelines: m.pipelines.map((p) => p.name),
  };
}

/** `aria bundle list [--json] [--data-dir DIR]` */
export async function bundleList(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run("list", argv, out, options, {}, async (parsed, json) => {
    if (parsed.positionals.length > 0) throw new UsageError("list takes no arguments");
    const store = await storeFor(parsed, options);
    const bundles = store.list().map(describe);
    if (json) out.write(`${JSON.stringify({ bundles }, null, 2)}\n`);
    else if (bundles.length === 0) out.write("no bundles installed\n");
    else {
      out.write(
        `${table(
          [
            ["NAME", "VERSION", "TOOLS", "AGENTS", "TEAMS", "PIPELINES", "DIGEST"],
            ...bundles.map((b) => [
              b.name,
              b.version,
              String(b.tools.length),
              String(b.agents.length),
              String(b.teams.length),
              String(b.pipelines.length),
              b.digest.slice(0, 19),
            ]),
          ],
          "",
        )}\n`,
      );
    }
    return 0;
  });
}

/** `aria bundle uninstall NAME VERSION [--force] [--json]` */
export async function bundleUninstall(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run(
    "uninstall",
    argv,
    out,
    options,
    { force: { type: "boolean" } },
    async (parsed, json) => {
      const [name, version, ...extra] = parsed.positionals;
      if (!name || !version || extra.length > 0)
        throw new UsageError("uninstall takes NAME VERSION");
      const store = await storeFor(parsed, options);
      const removed = await store.uninstall(name, version, { force: parsed.values.force === true });
      await options.onUninstalled?.(removed);
      out.write(
        json
          ? `${JSON.stringify({ uninstalled: describe(removed) }, null, 2)}\n`
          : `uninstalled ${name}@${version}\n`,
      );
      return 0;
    },
  );
}

/** `aria bundle gc [--json]` */
export async function bundleGc(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run("gc", argv, out, options, {}, async (parsed, json) => {
    if (parsed.positionals.length > 0) throw new UsageError("gc takes no arguments");
    const result = await (await storeFor(parsed, options)).gc();
    out.write(
      json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `removed ${result.removedBlobs.length} blob(s), ${result.removedUnpacked.length} unpacked dir(s), ${result.removedTemp} temporary file(s)\n`,
    );
    return 0;
  });
}

/** `aria bundle keygen DIR [--json]`: writes `aria-signing.key` (0600) and `aria-signing.pub`. */
export async function bundleKeygen(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  return run("keygen", argv, out, options, {}, async (parsed, json) => {
    const [dir, ...extra] = parsed.positionals;
    if (!dir || extra.length > 0) throw new UsageError("keygen takes one directory");
    const target = resolve(options.cwd ?? process.cwd(), dir);
    await mkdir(target, { recursive: true });
    const keys = generateSigningKeyPair();
    const privatePath = join(target, "aria-signing.key");
    const publicPath = join(target, "aria-signing.pub");
    await writeFile(privatePath, keys.privateKeyPem, { mode: 0o600, flag: "wx" });
    await writeFile(publicPath, keys.publicKeyPem, { mode: 0o644, flag: "wx" });
    out.write(
      json
        ? `${JSON.stringify({ keyId: keys.keyId, privateKey: privatePath, publicKey: publicPath }, null, 2)}\n`
        : `key ${keys.keyId}\n  private ${privatePath}\n  public  ${publicPath}\n`,
    );
    return 0;
  });
}

/** `aria bundle <command> ...`: dispatches to the subcommands above. */
export async function bundleCommand(
  argv: string[],
  out: Output,
  options: BundleCliOptions = {},
): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "pack":
      return bundlePack(rest, out, options);
    case "inspect":
      return bundleInspect(rest, out, options);
    case "install":
      return bundleInstall(rest, out, options);
    case "list":
      return bundleList(rest, out, options);
    case "uninstall":
      return bundleUninstall(rest, out, options);
    case "gc":
      return bundleGc(rest, out, options);
    case "keygen":
      return bundleKeygen(rest, out, options);
    case "help":
    case "--help":
    case "-h":
      out.write(`${BUNDLE_USAGE}\n`);
      return 0;
    default:
      (options.err ?? out).write(
        `aria bundle: unknown command '${command ?? ""}'\n\n${BUNDLE_USAGE}\n`,
      );
      return 2;
  }
}
