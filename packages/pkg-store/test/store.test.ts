import { chmod, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AriaError } from "@aria/errors";
import { type BundleStore, openBundleStore, sha256Digest } from "@aria/pkg-store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixtureBundle, removeDir, snapshot, tempDir } from "./fixtures.ts";

let dataDir: string;
let store: BundleStore;

beforeEach(async () => {
  dataDir = await tempDir();
  store = await openBundleStore({
    dataDir,
    clock: { now: () => Date.parse("2026-01-02T03:04:05Z") },
  });
});
afterEach(() => removeDir(dataDir));

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (e: unknown) => (AriaError.is(e) ? `${e.code}:${String(e.details.reason ?? "")}` : String(e)),
  );

describe("BundleStore", () => {
  it("installs by content address and lays the store out on disk", async () => {
    const bytes = await fixtureBundle({ name: "one", version: "1.0.0", tools: ["a", "b"] });
    const result = await store.install(bytes);
    expect(result.created).toBe(true);
    expect(result.bundle).toMatchObject({
      name: "one",
      version: "1.0.0",
      digest: sha256Digest(bytes),
      installedAt: "2026-01-02T03:04:05.000Z",
    });
    const hex = sha256Digest(bytes).slice(7);
    expect(await readFile(join(store.root, "blobs", "sha256", hex))).toEqual(bytes);
    const index = JSON.parse(
      await readFile(join(store.root, "index", "one", "1.0.0.json"), "utf8"),
    );
    expect(index.digest).toBe(sha256Digest(bytes));
    const dir = await store.unpackedDir("one", "1.0.0");
    expect(dir).toBe(join(store.root, "unpacked", hex));
    expect(await readFile(join(dir, "dist", "index.js"), "utf8")).toContain('name: "a"');
  });

  it("is idempotent for the same bytes and refuses the same version with other bytes", async () => {
    const bytes = await fixtureBundle({ name: "one", version: "1.0.0" });
    await store.install(bytes);
    const before = await snapshot(store.root);
    const again = await store.install(bytes);
    expect(again.created).toBe(false);
    expect(await snapshot(store.root)).toEqual(before);
    expect(
      await codeOf(
        store.install(await fixtureBundle({ name: "one", version: "1.0.0", tools: ["x"] })),
      ),
    ).toBe("BUNDLE_CONFLICT:version_exists");
  });

  it("looks bundles up by name, version and semver range", async () => {
    for (const version of ["1.0.0", "1.2.0", "2.0.0", "1.10.1"])
      await store.install(await fixtureBundle({ name: "lib", version }));
    expect(store.versions("lib")).toEqual(["1.0.0", "1.2.0", "1.10.1", "2.0.0"]);
    expect(store.resolve("lib", "^1.0.0").version).toBe("1.10.1");
    expect(store.resolve("lib").version).toBe("2.0.0");
    expect(store.resolve("lib", "~1.2").version).toBe("1.2.0");
    expect(store.get("lib", "1.2.0").version).toBe("1.2.0");
    expect(store.has("lib")).toBe(true);
    expect(store.has("lib", "3.0.0")).toBe(false);
    expect(() => store.resolve("lib", "^3")).toThrow(
      expect.objectContaining({ code: "BUNDLE_NOT_FOUND" }),
    );
    expect(() => store.get("nope", "1.0.0")).toThrow(
      expect.objectContaining({ code: "BUNDLE_NOT_FOUND" }),
    );
    const reopened = await openBundleStore({ dataDir });
    expect(reopened.list().map((b) => b.version)).toEqual(["1.0.0", "1.2.0", "1.10.1", "2.0.0"]);
  });

  it("resolves dependencies transitively and orders bundles for registration", async () => {
    await store.install(await fixtureBundle({ name: "base", version: "1.0.0" }));
    await store.install(await fixtureBundle({ name: "base", version: "1.4.0" }));
    await store.install(
      await fixtureBundle({ name: "mid", version: "2.0.0", dependencies: { base: "^1.1.0" } }),
    );
    const top = await store.install(
      await fixtureBundle({
        name: "top",
        version: "0.1.0",
        dependencies: { mid: "2.x", base: ">=1.0.0 <2" },
      }),
    );
    expect(top.dependencies.map((d) => `${d.name}@${d.version}`)).toEqual([
      "base@1.4.0",
      "mid@2.0.0",
    ]);
    expect(store.dependenciesOf("mid", "2.0.0").map((d) => `${d.name}@${d.version}`)).toEqual([
      "base@1.4.0",
    ]);
    const order = store.dependencyOrder().map((d) => `${d.name}@${d.version}`);
    expect(order.indexOf("base@1.4.0")).toBeLessThan(order.indexOf("mid@2.0.0"));
    expect(order.indexOf("mid@2.0.0")).toBeLessThan(order.indexOf("top@0.1.0"));
    expect(order).toHaveLength(4);
  });

  it("refuses to uninstall a bundle others depend on, then uninstalls and removes its content", async () => {
    const baseBytes = await fixtureBundle({ name: "base", version: "1.0.0" });
    await store.install(baseBytes);
    await store.install(
      await fixtureBundle({ name: "user", version: "1.0.0", dependencies: { base: "^1" } }),
    );
    expect(await codeOf(store.uninstall("base", "1.0.0"))).toBe("BUNDLE_CONFLICT:has_dependants");
    expect(await codeOf(store.uninstall("base", "9.9.9"))).toBe("BUNDLE_NOT_FOUND:");
    // Another satisfying version makes the old one removable.
    await store.install(await fixtureBundle({ name: "base", version: "1.1.0" }));
    await store.uninstall("base", "1.0.0");
    expect(store.versions("base")).toEqual(["1.1.0"]);
    const hex = sha256Digest(baseBytes).slice(7);
    const after = await snapshot(store.root);
    expect(Object.keys(after).some((p) => p.includes(hex))).toBe(false);
    await store.uninstall("user", "1.0.0");
    await store.uninstall("base", "1.1.0");
    expect(store.list()).toEqual([]);
    expect(await snapshot(store.root)).toEqual({
      blobs: "<dir>",
      "blobs/sha256": "<dir>",
      index: "<dir>",
      tmp: "<dir>",
      unpacked: "<dir>",
    });
  });

  it("verifies blobs on every read", async () => {
    const bytes = await fixtureBundle({ name: "one", version: "1.0.0" });
    await store.install(bytes);
    expect(await store.read("one", "1.0.0")).toEqual(bytes);
    const blob = join(store.root, "blobs", "sha256", sha256Digest(bytes).slice(7));
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] ?? 0) ^ 0xff;
    await writeFile(blob, damaged);
    expect(await codeOf(store.read("one", "1.0.0"))).toBe("BUNDLE_INTEGRITY:blob_corrupt");
    expect(await codeOf(store.verify("one", "1.0.0"))).toBe("BUNDLE_INTEGRITY:blob_corrupt");
    expect((await store.check()).map((i) => i.kind)).toEqual(["corrupt_blob"]);
  });

  it("rebuilds an altered unpacked copy from the verified blob", async () => {
    await store.install(await fixtureBundle({ name: "one", version: "1.0.0" }));
    const dir = await store.unpackedDir("one", "1.0.0");
    const entry = join(dir, "dist", "index.js");
    const original = await readFile(entry, "utf8");
    await chmod(entry, 0o644);
    await writeFile(entry, "export const evil = true;\n");
    await writeFile(join(dir, "dropped.js"), "planted");
    expect(await store.unpackedDir("one", "1.0.0")).toBe(dir);
    expect(await readFile(entry, "utf8")).toBe(original);
    expect(await snapshot(dir)).not.toHaveProperty("dropped.js");
  });

  it("garbage-collects orphan blobs and unpacked directories", async () => {
    const bytes = await fixtureBundle({ name: "one", version: "1.0.0" });
    await store.install(bytes);
    const orphan = join(store.root, "blobs", "sha256", "f".repeat(64));
    await writeFile(orphan, "orphan");
    expect((await store.check()).map((i) => i.kind)).toEqual(["orphan_blob"]);
    const result = await store.gc();
    expect(result.removedBlobs).toEqual([`sha256:${"f".repeat(64)}`]);
    expect(await store.check()).toEqual([]);
    expect(await store.read("one", "1.0.0")).toEqual(bytes);
  });

  it("ignores index entries that do not parse or whose blob is missing", async () => {
    await store.install(await fixtureBundle({ name: "one", version: "1.0.0" }));
    const two = await fixtureBundle({ name: "two", version: "1.0.0" });
    await store.install(two);
    await writeFile(join(store.root, "index", "one", "1.0.0.json"), "{ broken");
    await rm(join(store.root, "blobs", "sha256", sha256Digest(two).slice(7)));
    const reopened = await openBundleStore({ dataDir });
    expect(reopened.list()).toEqual([]);
    expect((await reopened.check()).map((i) => i.kind).sort()).toEqual([
      "bad_index_entry",
      "missing_blob",
      // one's blob and both unpacked copies are no longer referenced by a valid entry
      "orphan_blob",
      "orphan_unpacked",
      "orphan_unpacked",
    ]);
  });

  it("serialises concurrent installs", async () => {
    const bundles = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fixtureBundle({ name: `c${i % 5}`, version: `1.0.${i}` }),
      ),
    );
    await Promise.all(bundles.map((b) => store.install(b)));
    expect(store.list()).toHaveLength(20);
    const reopened = await openBundleStore({ dataDir });
    expect(reopened.list()).toHaveLength(20);
    expect(await reopened.check()).toEqual([]);
  });
});

describe("installMany", () => {
  it("installs dependencies first whatever the order given and reports refusals", async () => {
    const top = await fixtureBundle({ name: "top", version: "1.0.0", dependencies: { mid: "^1" } });
    const mid = await fixtureBundle({
      name: "mid",
      version: "1.0.0",
      dependencies: { base: "^1" },
    });
    const base = await fixtureBundle({ name: "base", version: "1.0.0" });
    const orphan = await fixtureBundle({
      name: "orphan",
      version: "1.0.0",
      dependencies: { nowhere: "^1" },
    });
    const result = await store.installMany([top, orphan, mid, base, Buffer.from("junk")]);
    expect(result.installed.map((r) => r.bundle.name)).toEqual(["base", "mid", "top"]);
    expect(result.failed.map((f) => [f.index, f.error.code])).toEqual([
      [1, "BUNDLE_DEPENDENCY"],
      [4, "BUNDLE_INVALID"],
    ]);
  });
});
