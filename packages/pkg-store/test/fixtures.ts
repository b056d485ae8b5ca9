import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { canonicalJson, sha256Digest, writeArchive } from "@aria/pkg-store";
import * as tar from "tar-stream";

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix = "aria-pkg-store-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Code of a tiny bundle entry: tool definitions as the SDK would make them (marker + handler). */
export function entryCode(tools: string[]): string {
  const lines = ['const MARK = Symbol.for("aria.definition");'];
  for (const tool of tools) {
    lines.push(
      `export const ${tool.replace(/[^a-zA-Z0-9_]/g, "_")} = { [MARK]: "tool", kind: "tool", name: ${JSON.stringify(tool)}, handler: async (input) => ({ tool: ${JSON.stringify(tool)}, input }) };`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export interface FixtureSpec {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  tools?: string[];
  agents?: Array<{ name: string; tools: string[] }>;
  extraFiles?: Record<string, string | Buffer>;
  /** Change the manifest before it is written (hashes are already computed). */
  mutate?: (manifest: Record<string, unknown>) => void;
}

/** The manifest and files of a small valid bundle (no esbuild needed). */
export function fixtureFiles(spec: FixtureSpec): {
  manifest: Record<string, unknown>;
  files: Map<string, Buffer>;
} {
  const tools = spec.tools ?? ["echo"];
  const files = new Map<string, Buffer>([["dist/index.js", Buffer.from(entryCode(tools))]]);
  for (const [path, content] of Object.entries(spec.extraFiles ?? {}))
    files.set(path, Buffer.from(content));
  const manifest: Record<string, unknown> = {
    schemaVersion: 1,
    name: spec.name,
    version: spec.version,
    description: `fixture ${spec.name}`,
    entry: "dist/index.js",
    dependencies: spec.dependencies ?? {},
    tools: tools.map((name) => ({
      name,
      description: `tool ${name}`,
      inputSchema: { type: "object" },
      execution: "inprocess",
      securityLevel: "safe",
      network: false,
      export: name.replace(/[^a-zA-Z0-9_]/g, "_"),
    })),
    agents: (spec.agents ?? []).map((a) => ({
      name: a.name,
      description: `agent ${a.name}`,
      systemPrompt: "You help.",
      tools: a.tools,
      maxSteps: 4,
    })),
    teams: [],
    pipelines: [],
    files: Object.fromEntries([...files].map(([path, content]) => [path, sha256Digest(content)])),
  };
  spec.mutate?.(manifest);
  return { manifest, files };
}

/** A valid `.aria` archive of a small bundle, written with the real (reproducible) writer. */
export async function fixtureBundle(spec: FixtureSpec): Promise<Buffer> {
  const { manifest, files } = fixtureFiles(spec);
  const all = new Map<string, Uint8Array>(files);
  all.set("manifest.json", Buffer.from(canonicalJson(manifest, 2)));
  return writeArchive(all);
}

/** One raw tar entry, for building hostile archives by hand. */
export interface RawEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  content?: Buffer | string;
  linkname?: string;
}

/** A gzip tar with exactly these entries (no checks at all). */
export async function rawArchive(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const entry of entries) {
    const content = entry.content === undefined ? undefined : Buffer.from(entry.content);
    const header = {
      name: entry.name,
      type: entry.type ?? ("file" as const),
      mode: 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
      size: content?.length ?? 0,
      ...(entry.linkname ? { linkname: entry.linkname } : {}),
      ...(entry.type === "character-device" || entry.type === "block-device"
        ? { devmajor: 1, devminor: 3 }
        : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (e?: Error | null) => (e ? reject(e) : resolve());
      if (content) pack.entry(header, content, callback);
      else pack.entry(header, callback);
    });
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** The valid fixture's entries plus `extra`, as raw entries (manifest first). */
export function validEntries(spec: FixtureSpec): RawEntry[] {
  const { manifest, files } = fixtureFiles(spec);
  return [
    { name: "manifest.json", content: canonicalJson(manifest, 2) },
    ...[...files].map(([name, content]) => ({ name, content })),
  ];
}

/**
 * Every path under `dir` with the SHA-256 of each file (and `<dir>` for directories): two equal
 * snapshots mean nothing was written, renamed or removed.
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string, rel: string) => {
    for (const name of (await readdir(path)).sort()) {
      const full = join(path, name);
      const key = rel ? `${rel}/${name}` : name;
      const info = await stat(full);
      if (info.isDirectory()) {
        out[key] = "<dir>";
        await walk(full, key);
      } else out[key] = sha256Digest(await readFile(full));
    }
  };
  await walk(dir, "");
  return out;
}
