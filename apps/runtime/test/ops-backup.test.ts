/** The backup file format and the data-directory half of backup and restore (no Redis needed). */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { openBundleStore, packBundle } from "@aria/pkg-store";
import { beforeAll, describe, expect, it } from "vitest";
import { createBackup, restoreBackup, verifyBackup } from "../src/ops/backup.ts";
import { readBackup } from "../src/ops/backup-format.ts";
import { backupCommand, restoreCommand } from "../src/ops/cli.ts";

const examples = path.resolve(import.meta.dirname, "../../../examples");
const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `aria-ops-${name}-`));

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, full)] = fs.readFileSync(full).toString("base64");
    }
  return out;
}

let source: string;
let file: string;

beforeAll(async () => {
  source = tmp("src");
  const store = await openBundleStore({ dataDir: source });
  const packed = await Promise.all(
    ["calculator-tools", "text-tools"].map((name) =>
      packBundle(path.join(examples, name), { write: false }),
    ),
  );
  const result = await store.installMany(packed.map((p) => p.bytes));
  expect(result.failed).toEqual([]);
  await store.close();
  // A run workspace with a file larger than one chunk (1 MiB) and an empty one.
  const ws = path.join(source, "workspaces", "run_1");
  fs.mkdirSync(path.join(ws, "out"), { recursive: true });
  fs.writeFileSync(path.join(ws, "report.txt"), "a report\n");
  fs.writeFileSync(path.join(ws, "out", "big.bin"), Buffer.alloc(2.5 * 1024 * 1024, 7));
  fs.writeFileSync(path.join(ws, "empty"), "");
  file = path.join(tmp("file"), "backup.gz");
  const backup = await createBackup({ dataDir: source, out: file });
  expect(backup.counts).toMatchObject({ bundles: 2, blobs: 2, workspaceFiles: 3, keys: 0 });
  expect(backup.warnings).toEqual([]);
}, 120_000);

/** Rewrites the backup's lines (decompressed) and compresses them again. */
function rewrite(edit: (lines: string[]) => string[]): string {
  const lines = gunzipSync(fs.readFileSync(file)).toString("utf8").trimEnd().split("\n");
  const out = path.join(tmp("edited"), "edited.gz");
  fs.writeFileSync(out, gzipSync(`${edit(lines).join("\n")}\n`));
  return out;
}

describe("backup and restore of the data directory", () => {
  it("writes a header, file records in chunks and an end record", async () => {
    const records = [];
    for await (const record of readBackup(file)) records.push(record);
    expect(records[0]).toMatchObject({
      t: "header",
      format: "aria-backup",
      version: 1,
      redis: null,
    });
    expect(records.at(-1)).toMatchObject({ t: "end", records: records.length - 1 });
    const big = records.find((r) => r.t === "file" && r.path.endsWith("big.bin"));
    expect(big).toMatchObject({ size: 2.5 * 1024 * 1024, chunks: 3 });
    const summary = await verifyBackup(file);
    expect(summary.counts.bundles).toBe(2);
  });

  it("restores byte-identical bundles and workspaces into an empty directory", async () => {
    const target = tmp("dst");
    const result = await restoreBackup({ file, dataDir: target });
    expect(result.counts.workspaceFiles).toBe(3);
    const want = tree(source);
    const got = tree(target);
    for (const [rel, bytes] of Object.entries(want))
      if (!rel.startsWith(`bundles${path.sep}tmp`)) expect(got[rel], rel).toBe(bytes);
    const store = await openBundleStore({ dataDir: target });
    expect(store.list().map((b) => b.name)).toEqual(["calculator-tools", "text-tools"]);
    expect(await store.check()).toEqual([]);
    await store.close();
  });

  it("refuses a data directory that holds bundles, unless forced", async () => {
    await expect(restoreBackup({ file, dataDir: source })).rejects.toMatchObject({
      details: { reason: "target_not_empty" },
    });
    await expect(restoreBackup({ file, dataDir: source, force: true })).resolves.toMatchObject({
      counts: { bundles: 2 },
    });
  });

  it.each([
    [
      "a truncated file",
      () => {
        const out = path.join(tmp("trunc"), "t.gz");
        const bytes = fs.readFileSync(file);
        fs.writeFileSync(out, bytes.subarray(0, Math.floor(bytes.length / 2)));
        return out;
      },
      /unexpected end|truncated/,
    ],
    ["a missing end record", () => rewrite((l) => l.slice(0, -1)), /no end record/],
    [
      "an altered line",
      () =>
        rewrite((l) =>
          l.map((line, i) => (i === 1 ? line.replace('"t":"file"', '"t": "file"') : line)),
        ),
      /does not match the content/,
    ],
    [
      "altered file bytes with a matching end hash",
      () =>
        rewrite((lines) => {
          const i = lines.findIndex((l) => l.includes('"t":"chunk"'));
          const chunk = JSON.parse(lines[i]!) as { d: string };
          const bytes = Buffer.from(chunk.d, "base64");
          bytes[0] = bytes[0]! ^ 1;
          lines[i] = JSON.stringify({ t: "chunk", d: bytes.toString("base64") });
          // Recompute the end record so only the per-file SHA-256 can catch it.
          const body = lines.slice(0, -1);
          const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
          end.sha256 = createHash("sha256")
            .update(body.map((l) => `${l}\n`).join(""))
            .digest("hex");
          return [...body, JSON.stringify(end)];
        }),
      /do not match their SHA-256/,
    ],
    [
      "a path outside the data directory",
      () =>
        rewrite((lines) =>
          lines.map((l) =>
            l.replace(/"path":"workspaces\/run_1\/report.txt"/, '"path":"workspaces/../../etc/x"'),
          ),
        ),
      /not allowed|does not match/,
    ],
    [
      "not a backup",
      () => {
        const out = path.join(tmp("foreign"), "f.gz");
        fs.writeFileSync(out, gzipSync('{"hello":"world"}\n'));
        return out;
      },
      /aria-backup header/,
    ],
  ])("refuses %s before writing anything", async (_name, make, message) => {
    const bad = make();
    const target = tmp("bad");
    const failure = restoreBackup({ file: bad, dataDir: target });
    await expect(failure).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      details: { reason: "backup_invalid" },
    });
    await expect(restoreBackup({ file: bad, dataDir: target })).rejects.toThrow(message);
    expect(tree(target)).toEqual({});
  });
});

describe("aria backup / aria restore", () => {
  it("answer bad usage with 2 and the usage text", async () => {
    const err: string[] = [];
    const write = (s: string) => err.push(s);
    expect(await backupCommand([], { write }, { err: { write } })).toBe(2);
    expect(err.join("")).toContain("Usage: aria backup FILE");
    expect(await restoreCommand(["a", "b"], { write }, { err: { write } })).toBe(2);
    expect(await restoreCommand(["--bogus", "a"], { write }, { err: { write } })).toBe(2);
    const help: string[] = [];
    expect(await restoreCommand(["--help"], { write: (s: string) => help.push(s) })).toBe(0);
    expect(help.join("")).toContain("--no-requeue");
  });

  it("check a backup without restoring it, and restore one half with --only", async () => {
    const out: string[] = [];
    expect(await restoreCommand([file, "--check"], { write: (s: string) => out.push(s) })).toBe(0);
    expect(out.join("")).toMatch(/is intact .*\n.*\n {2}bundles: 2, workspace files: 3/);
    // A lost data directory: only the files come back (this backup has no Redis state anyway).
    const target = tmp("only-data");
    await expect(restoreBackup({ file, dataDir: target, only: "data" })).resolves.toMatchObject({
      counts: { bundles: 2 },
    });
    await expect(restoreBackup({ file, dataDir: tmp("x"), only: "redis" })).rejects.toMatchObject({
      details: { reason: "no_redis_state" },
    });
    const err: string[] = [];
    expect(
      await restoreCommand(
        [file, "--only", "bundles"],
        { write: () => undefined },
        {
          err: { write: (s: string) => err.push(s) },
        },
      ),
    ).toBe(2);
    expect(err.join("")).toContain("--only is redis or data");
  });

  it("back up and restore through the commands, with --json output", async () => {
    const out: string[] = [];
    const cwd = tmp("cli");
    expect(
      await backupCommand(
        ["b.gz", "--json"],
        { write: (s: string) => out.push(s) },
        {
          dataDir: source,
          cwd,
        },
      ),
    ).toBe(0);
    const written = JSON.parse(out.join("")) as { file: string; counts: { bundles: number } };
    expect(written.file).toBe(path.join(cwd, "b.gz"));
    expect(written.counts.bundles).toBe(2);
    // An existing file is not replaced without --force.
    const err: string[] = [];
    expect(
      await backupCommand(
        ["b.gz"],
        { write: () => undefined },
        {
          dataDir: source,
          cwd,
          err: { write: (s: string) => err.push(s) },
        },
      ),
    ).toBe(1);
    expect(err.join("")).toContain("already exists");
    const restored: string[] = [];
    expect(
      await restoreCommand(
        ["b.gz", "--data-dir", "restored"],
        { write: (s: string) => restored.push(s) },
        { cwd },
      ),
    ).toBe(0);
    expect(restored.join("")).toContain("bundles: 2 verified");
    expect(fs.existsSync(path.join(cwd, "restored", "bundles", "index", "text-tools"))).toBe(true);
  });
});
