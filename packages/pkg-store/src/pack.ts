import { execFile } from "node:child_process";
import { lstat, readdir, readFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { BundleManifest } from "@aria/core-types";
import { bundleError } from "@aria/errors";
import { build } from "esbuild";
import { safeArchivePath, writeArchive } from "./archive.ts";
import { type BundleSummary, openBundle, summarise } from "./bundle.ts";
import { canonicalJson, sha256Digest } from "./digest.ts";
import { writeFileAtomic } from "./fs-atomic.ts";
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS } from "./limits.ts";
import { type ManifestCheckOptions, validateManifest } from "./manifest.ts";
import { type SigningKey, signManifest } from "./signature.ts";

/** Options of `packBundle`. */
export interface PackOptions extends ManifestCheckOptions {
  /** Where to write the `.aria` file; default `DIR/NAME-VERSION.aria`. */
  out?: string;
  /** Write the archive to disk (default true); the bytes are returned either way. */
  write?: boolean;
  /** Sign the manifest digest with this Ed25519 key. */
  signingKey?: SigningKey;
  limits?: BundleLimits;
  /** Milliseconds allowed for loading the built entry to read its exports (default 30 s). */
  loadTimeoutMs?: number;
}

/** What `packBundle` produced. */
export interface PackResult {
  /** The written file (absent with `write: false`). */
  outPath?: string;
  bytes: Buffer;
  digest: string;
  manifest: BundleManifest;
  summary: BundleSummary;
}

/** The `aria` field of a bundle's package.json. */
interface AriaPackageField {
  name?: string;
  version?: string;
  description?: string;
  entry?: string;
  dependencies?: Record<string, string>;
  files?: string[];
  mcpServers?: unknown[];
}

const ENTRY_CANDIDATES = [
  "src/index.ts",
  "src/index.mts",
  "src/index.js",
  "src/index.mjs",
  "index.ts",
  "index.js",
];
const DIST_ENTRY = "dist/index.js";
const DIST_PACKAGE_JSON = "dist/package.json";
const BANNER = [
  "// Packed by aria bundle pack. Every dependency is inlined; no node_modules are needed.",
  'import { createRequire as __ariaCreateRequire } from "node:module";',
  "const require = __ariaCreateRequire(import.meta.url);",
].join("\n");

/**
 * Packs a bundle source directory into a `.aria` archive:
 * 1. bundles the entry module (`aria.entry` in package.json, else `src/index.ts`) with esbuild into
 *    one ESM file `dist/index.js` with every dependency inlined;
 * 2. loads that file in a child Node process and reads the definitions among its exports;
 * 3. derives `manifest.json` (zod schemas as JSON Schema), records every file's SHA-256, validates
 *    it (schema and cross references), optionally signs it;
 * 4. writes the archive reproducibly (same input, same bytes) and verifies it as an installer would.
 */
export async function packBundle(dir: string, options: PackOptions = {}): Promise<PackResult> {
  const root = resolve(dir);
  const pkg = await readPackageJson(root);
  const aria: AriaPackageField = (pkg.aria as AriaPackageField | undefined) ?? {};
  const name =
    aria.name ?? (typeof pkg.name === "string" ? pkg.name.replace(/^@[^/]+\//, "") : undefined);
  const version = aria.version ?? (typeof pkg.version === "string" ? pkg.version : undefined);
  if (!name || !version) {
    throw bundleError.invalid(
      `${root} needs a package.json with a name and a version (or aria.name and aria.version)`,
      {
        details: { reason: "package_json" },
      },
    );
  }
  const entrySource = await findEntry(root, aria.entry);

  const code = await bundleEntry(root, entrySource);
  const distPath = join(root, DIST_ENTRY);
  // Atomic, so a concurrent pack of the same directory never loads a half-written file.
  await writeFileAtomic(distPath, code);
  const definitions = await loadDefinitions(distPath, options.loadTimeoutMs ?? 30_000);

  // dist/package.json marks the code as ES modules wherever the bundle is unpacked or mounted.
  const files = new Map<string, Buffer>([
    [DIST_ENTRY, code],
    [DIST_PACKAGE_JSON, Buffer.from('{ "type": "module" }\n')],
  ]);
  for (const extra of aria.files ?? []) await addExtraFiles(root, extra, files);

  const draft = {
    schemaVersion: 1,
    name,
    version,
    description: aria.description ?? (typeof pkg.description === "string" ? pkg.description : ""),
    entry: DIST_ENTRY,
    dependencies: aria.dependencies ?? {},
    tools: definitions.tool.map((d) => ({ ...d.manifest, export: d.exportName })),
    agents: definitions.agent.map((d) => d.manifest),
    teams: definitions.team.map((d) => d.manifest),
    pipelines: definitions.pipeline.map((d) => d.manifest),
    ...(aria.mcpServers !== undefined ? { mcpServers: aria.mcpServers } : {}),
    files: Object.fromEntries(
      [...files.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([path, content]) => [path, sha256Digest(content)]),
    ),
  };
  let manifest: BundleManifest = validateManifest(JSON.parse(JSON.stringify(draft)), options);
  if (options.signingKey) manifest = signManifest(manifest, options.signingKey);

  const archiveFiles = new Map<string, Uint8Array>(files);
  archiveFiles.set("manifest.json", Buffer.from(`${canonicalJson(manifest, 2)}\n`, "utf8"));
  const bytes = await writeArchive(archiveFiles);
  // Read it back exactly as an installer would, so a packed bundle is always installable.
  const opened = await openBundle(bytes, {
    ...options,
    limits: options.limits ?? DEFAULT_BUNDLE_LIMITS,
  });

  let outPath: string | undefined;
  if (options.write !== false) {
    outPath = resolve(options.out ?? join(root, `${name}-${version}.aria`));
    await writeFileAtomic(outPath, bytes);
  }
  return {
    ...(outPath ? { outPath } : {}),
    bytes,
    digest: opened.digest,
    manifest: opened.manifest,
    summary: summarise(opened),
  };
}

async function readPackageJson(root: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(join(root, "package.json"), "utf8");
  } catch (error) {
    throw bundleError.invalid(`no package.json in ${root}`, {
      details: { reason: "package_json" },
      cause: error,
    });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw bundleError.invalid(`${join(root, "package.json")} is not valid JSON`, {
      details: { reason: "package_json" },
      cause: error,
    });
  }
}

async function findEntry(root: string, configured: string | undefined): Promise<string> {
  const candidates = configured ? [configured] : ENTRY_CANDIDATES;
  for (const candidate of candidates) {
    const path = resolve(root, candidate);
    if (!path.startsWith(root + sep)) {
      throw bundleError.invalid(`the entry '${candidate}' lies outside ${root}`, {
        details: { reason: "entry" },
      });
    }
    const stat = await lstat(path).catch(() => undefined);
    if (stat?.isFile()) return path;
  }
  throw bundleError.invalid(
    `no entry module in ${root} (tried ${candidates.join(", ")}; set aria.entry in package.json)`,
    {
      details: { reason: "entry" },
    },
  );
}

async function bundleEntry(root: string, entry: string): Promise<Buffer> {
  try {
    const result = await build({
      entryPoints: [entry],
      absWorkingDir: root,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      outfile: join(root, DIST_ENTRY),
      write: false,
      // Workspace packages resolve to their TypeScript source, as everywhere else in development.
      conditions: ["@aria/source"],
      legalComments: "none",
      sourcemap: false,
      charset: "utf8",
      logLevel: "silent",
      banner: { js: BANNER },
    });
    const output =
      result.outputFiles.find((f) => f.path.endsWith(`${sep}index.js`)) ?? result.outputFiles[0];
    if (!output) throw new Error("esbuild produced no output");
    return Buffer.from(output.contents);
  } catch (error) {
    const messages = (
      error as {
        errors?: Array<{ text: string; location?: { file: string; line: number } | null }>;
      }
    ).errors;
    const detail = messages?.length
      ? messages
          .map((m) => (m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text))
          .join("; ")
      : (error as Error).message;
    throw bundleError.invalid(`building ${relative(root, entry)} failed: ${detail}`, {
      details: { reason: "build_failed" },
      cause: error,
    });
  }
}

interface LoadedDefinition {
  exportName: string;
  manifest: Record<string, unknown>;
}
type LoadedDefinitions = Record<"tool" | "agent" | "team" | "pipeline", LoadedDefinition[]>;

/**
 * Runs in a child Node process: imports the built bundle, finds the exports that carry the SDK's
 * marker and prints their manifest entries as JSON. A child process keeps author code out of the
 * packer's process and its module cache (re-packing a changed bundle sees the new code).
 */
const LOADER = `
const MARK = Symbol.for("aria.definition");
const mod = await import(process.argv[1]);
const out = { tool: [], agent: [], team: [], pipeline: [] };
const seen = new Set();
for (const exportName of Object.keys(mod).sort()) {
  const value = mod[exportName];
  if (value === null || typeof value !== "object") continue;
  const kind = value[MARK];
  if (typeof kind !== "string" || !(kind in out) || seen.has(value)) continue;
  seen.add(value);
  if (typeof value.toManifest !== "function") throw new Error("export '" + exportName + "' has no toManifest(); define it with @aria/sdk");
  out[kind].push({ exportName, manifest: value.toManifest() });
}
process.stdout.write(JSON.stringify(out));
`;

/** The meaningful lines of a child's stderr: the error, not the stack or Node's version line. */
function errorSummary(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("at ") && !l.startsWith("Node.js v") && l !== "^");
  const error = lines.findIndex((l) => /^[A-Za-z]*Error\b/.test(l));
  return (error >= 0 ? lines.slice(error, error + 2) : lines.slice(-3)).join(" ");
}

async function loadDefinitions(distPath: string, timeoutMs: number): Promise<LoadedDefinitions> {
  const stdout = await new Promise<string>((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", LOADER, pathToFileURL(distPath).href],
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NODE_OPTIONS: "" },
      },
      (error, out, err) => {
        if (error) {
          reject(
            bundleError.invalid(
              `loading the built bundle to read its definitions failed: ${errorSummary(err || error.message)}`,
              {
                details: { reason: "load_failed" },
                cause: error,
              },
            ),
          );
        } else resolvePromise(out);
      },
    );
  });
  const loaded = JSON.parse(stdout) as LoadedDefinitions;
  for (const kind of ["tool", "agent", "team", "pipeline"] as const) {
    const names = new Map<string, string>();
    for (const def of loaded[kind]) {
      const name = String(def.manifest.name);
      const other = names.get(name);
      if (other !== undefined) {
        throw bundleError.invalid(
          `exports '${other}' and '${def.exportName}' both define a ${kind} named '${name}'`,
          {
            details: { reason: "cross_reference" },
          },
        );
      }
      names.set(name, def.exportName);
    }
    loaded[kind].sort((a, b) => (String(a.manifest.name) < String(b.manifest.name) ? -1 : 1));
  }
  if (Object.values(loaded).every((list) => list.length === 0)) {
    throw bundleError.invalid(
      "the entry module exports no tool, agent, team or pipeline definitions",
      { details: { reason: "no_definitions" } },
    );
  }
  return loaded;
}

async function addExtraFiles(
  root: string,
  relPath: string,
  files: Map<string, Buffer>,
): Promise<void> {
  if (isAbsolute(relPath))
    throw bundleError.invalid(`aria.files entry '${relPath}' must be relative`, {
      details: { reason: "files" },
    });
  const path = resolve(root, relPath);
  if (path !== root && !path.startsWith(root + sep)) {
    throw bundleError.invalid(`aria.files entry '${relPath}' lies outside the bundle`, {
      details: { reason: "files" },
    });
  }
  const stat = await lstat(path).catch(() => undefined);
  if (!stat)
    throw bundleError.invalid(`aria.files entry '${relPath}' does not exist`, {
      details: { reason: "files" },
    });
  if (stat.isSymbolicLink())
    throw bundleError.invalid(`aria.files entry '${relPath}' is a symbolic link`, {
      details: { reason: "files" },
    });
  if (stat.isDirectory()) {
    for (const child of (await readdir(path)).sort())
      await addExtraFiles(root, join(relPath, child), files);
    return;
  }
  if (!stat.isFile())
    throw bundleError.invalid(`aria.files entry '${relPath}' is not a regular file`, {
      details: { reason: "files" },
    });
  const archivePath = safeArchivePath(relative(root, path).split(sep).join("/"));
  if (
    archivePath === "manifest.json" ||
    archivePath === DIST_ENTRY ||
    archivePath === DIST_PACKAGE_JSON
  ) {
    throw bundleError.invalid(`aria.files may not include '${archivePath}'`, {
      details: { reason: "files" },
    });
  }
  files.set(archivePath, await readFile(path));
}
