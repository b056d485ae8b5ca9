import { randomBytes } from "node:crypto";
import { AriaError } from "@aria/errors";
import { type BundleStore, DEFAULT_BUNDLE_LIMITS, openBundleStore } from "@aria/pkg-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fixtureBundle,
  rawArchive,
  removeDir,
  snapshot,
  tempDir,
  validEntries,
} from "./fixtures.ts";

interface HostileCase {
  name: string;
  code: string;
  reason: string;
  bytes: () => Promise<Buffer>;
}

const base = { name: "hostile", version: "1.0.0" };

const corpus: HostileCase[] = [
  {
    name: "path traversal",
    code: "BUNDLE_UNSAFE",
    reason: "path_traversal",
    bytes: () =>
      rawArchive([...validEntries(base), { name: "dist/../../escape.js", content: "owned" }]),
  },
  {
    name: "absolute path",
    code: "BUNDLE_UNSAFE",
    reason: "absolute_path",
    bytes: () =>
      rawArchive([
        ...validEntries(base),
        { name: "/etc/cron.d/evil", content: "* * * * * root sh" },
      ]),
  },
  {
    name: "symbolic link",
    code: "BUNDLE_UNSAFE",
    reason: "symlink",
    bytes: () =>
      rawArchive([
        ...validEntries(base),
        { name: "dist/passwd", type: "symlink", linkname: "/etc/passwd" },
      ]),
  },
  {
    name: "hard link",
    code: "BUNDLE_UNSAFE",
    reason: "hardlink",
    bytes: () =>
      rawArchive([
        ...validEntries(base),
        { name: "dist/hard", type: "link", linkname: "/etc/shadow" },
      ]),
  },
  {
    name: "device file",
    code: "BUNDLE_UNSAFE",
    reason: "device",
    bytes: () =>
      rawArchive([...validEntries(base), { name: "dist/null", type: "character-device" }]),
  },
  {
    name: "oversized file",
    code: "BUNDLE_UNSAFE",
    reason: "file_too_large",
    // Random bytes do not compress, so this is a size problem and not a ratio problem.
    bytes: () => fixtureBundle({ ...base, extraFiles: { "data/big.bin": randomBytes(96 * 1024) } }),
  },
  {
    name: "decompression bomb",
    code: "BUNDLE_UNSAFE",
    reason: "compression_ratio",
    bytes: () =>
      fixtureBundle({ ...base, extraFiles: { "data/zeros.bin": Buffer.alloc(32 * 1024 * 1024) } }),
  },
  {
    name: "wrong hash",
    code: "BUNDLE_INTEGRITY",
    reason: "file_hash_mismatch",
    bytes: () =>
      rawArchive(
        validEntries(base).map((e) =>
          e.name === "dist/index.js" ? { ...e, content: "export const evil = 1;\n" } : e,
        ),
      ),
  },
  {
    name: "bad manifest JSON",
    code: "BUNDLE_INVALID",
    reason: "manifest_json",
    bytes: () =>
      rawArchive(
        validEntries(base).map((e) =>
          e.name === "manifest.json" ? { ...e, content: '{"schemaVersion": 1, "name": ' } : e,
        ),
      ),
  },
  {
    name: "unknown schema version",
    code: "BUNDLE_INVALID",
    reason: "unsupported_schema_version",
    bytes: () => fixtureBundle({ ...base, mutate: (m) => Object.assign(m, { schemaVersion: 2 }) }),
  },
  {
    name: "dependency cycle",
    code: "BUNDLE_DEPENDENCY",
    reason: "dependency_cycle",
    // beta@1.0.0 is installed, alpha@1.0.0 depends on it; beta@1.1.0 depending on alpha closes a cycle.
    bytes: () =>
      fixtureBundle({ name: "beta", version: "1.1.0", dependencies: { alpha: "^1.0.0" } }),
  },
  {
    name: "missing dependency",
    code: "BUNDLE_DEPENDENCY",
    reason: "missing_dependency",
    bytes: () => fixtureBundle({ ...base, dependencies: { "not-installed": "^2.0.0" } }),
  },
  // Beyond the required corpus: more ways to be wrong, each with its own reason.
  {
    name: "fifo",
    code: "BUNDLE_UNSAFE",
    reason: "device",
    bytes: () => rawArchive([...validEntries(base), { name: "dist/pipe", type: "fifo" }]),
  },
  {
    name: "duplicate entry",
    code: "BUNDLE_UNSAFE",
    reason: "duplicate_entry",
    bytes: () =>
      rawArchive([...validEntries(base), { name: "./dist/index.js", content: "export {};" }]),
  },
  {
    name: "file under a file",
    code: "BUNDLE_UNSAFE",
    reason: "path_conflict",
    bytes: () => rawArchive([...validEntries(base), { name: "dist/index.js/x", content: "x" }]),
  },
  {
    name: "unlisted file",
    code: "BUNDLE_INTEGRITY",
    reason: "unlisted_file",
    bytes: () =>
      rawArchive([...validEntries(base), { name: "dist/extra.js", content: "export {};" }]),
  },
  {
    name: "listed file missing",
    code: "BUNDLE_INTEGRITY",
    reason: "missing_file",
    bytes: () =>
      rawArchive(
        validEntries({
          ...base,
          mutate: (m) =>
            Object.assign(m.files as object, { "dist/gone.js": `sha256:${"0".repeat(64)}` }),
        }),
      ),
  },
  {
    name: "no manifest",
    code: "BUNDLE_INVALID",
    reason: "missing_manifest",
    bytes: () => rawArchive(validEntries(base).filter((e) => e.name !== "manifest.json")),
  },
  {
    name: "manifest with an unknown field",
    code: "BUNDLE_INVALID",
    reason: "manifest_schema",
    bytes: () =>
      fixtureBundle({ ...base, mutate: (m) => Object.assign(m, { postinstall: "rm -rf /" }) }),
  },
  {
    name: "agent naming a tool that does not exist",
    code: "BUNDLE_INVALID",
    reason: "cross_reference",
    bytes: () => fixtureBundle({ ...base, agents: [{ name: "helper", tools: ["nonexistent"] }] }),
  },
  {
    name: "dependency tool that the dependency lacks",
    code: "BUNDLE_DEPENDENCY",
    reason: "missing_reference",
    bytes: () =>
      fixtureBundle({
        ...base,
        dependencies: { beta: "^1.0.0" },
        agents: [{ name: "helper", tools: ["beta/nothing"] }],
      }),
  },
  {
    name: "not gzip",
    code: "BUNDLE_INVALID",
    reason: "not_gzip",
    bytes: async () => Buffer.from("PK\u0003\u0004 this is a zip file, not a tar.gz"),
  },
  {
    name: "corrupt tar",
    code: "BUNDLE_INVALID",
    reason: "corrupt_tar",
    bytes: async () =>
      (await import("node:zlib")).gzipSync(
        Buffer.concat([Buffer.from("x".repeat(100)), Buffer.alloc(412, 1)]),
      ),
  },
  {
    name: "same name and version, other contents",
    code: "BUNDLE_CONFLICT",
    reason: "version_exists",
    bytes: () => fixtureBundle({ name: "beta", version: "1.0.0", tools: ["other"] }),
  },
];

describe("hostile archives", () => {
  let dataDir: string;
  let store: BundleStore;

  beforeAll(async () => {
    dataDir = await tempDir();
    store = await openBundleStore({
      dataDir,
      limits: { ...DEFAULT_BUNDLE_LIMITS, fileBytes: 64 * 1024 },
    });
    await store.install(await fixtureBundle({ name: "beta", version: "1.0.0" }));
    await store.install(
      await fixtureBundle({ name: "alpha", version: "1.0.0", dependencies: { beta: "^1.0.0" } }),
    );
  });
  afterAll(() => removeDir(dataDir));

  it("has one distinct reason per kind of attack", () => {
    const reasons = corpus.filter((c) => c.name !== "fifo").map((c) => c.reason);
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  for (const hostile of corpus) {
    it(`refuses ${hostile.name} with ${hostile.code} (${hostile.reason}) and leaves the store unchanged`, async () => {
      const bytes = await hostile.bytes();
      const before = await snapshot(store.root);
      const listed = store.list().map((b) => `${b.name}@${b.version}:${b.digest}`);
      const error = await store.install(bytes).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(AriaError.is(error), `expected an AriaError, got ${String(error)}`).toBe(true);
      expect((error as AriaError).code).toBe(hostile.code);
      expect((error as AriaError).details.reason).toBe(hostile.reason);
      expect(await snapshot(store.root)).toEqual(before);
      expect(store.list().map((b) => `${b.name}@${b.version}:${b.digest}`)).toEqual(listed);
      // A fresh instance on the same directory sees the same store.
      const reopened = await openBundleStore({ dataDir });
      expect(reopened.list().map((b) => `${b.name}@${b.version}:${b.digest}`)).toEqual(listed);
      expect(await reopened.check()).toEqual([]);
    });
  }

  it("refuses archives over the archive size limit before reading them", async () => {
    const small = await openBundleStore({
      dataDir,
      limits: { ...DEFAULT_BUNDLE_LIMITS, archiveBytes: 512 },
    });
    const error = await small
      .install(
        await fixtureBundle({
          name: "big",
          version: "1.0.0",
          extraFiles: { "a.bin": randomBytes(4096) },
        }),
      )
      .catch((e) => e);
    expect(error.code).toBe("BUNDLE_UNSAFE");
    expect(error.details.reason).toBe("archive_too_large");
  });

  it("refuses too many files", async () => {
    const few = await openBundleStore({
      dataDir,
      limits: { ...DEFAULT_BUNDLE_LIMITS, fileCount: 3 },
    });
    const extraFiles = Object.fromEntries(
      Array.from({ length: 5 }, (_, i) => [`data/${i}.txt`, `file ${i}`]),
    );
    const error = await few
      .install(await fixtureBundle({ name: "many", version: "1.0.0", extraFiles }))
      .catch((e) => e);
    expect(error.code).toBe("BUNDLE_UNSAFE");
    expect(error.details.reason).toBe("too_many_files");
  });

  it("refuses an unpacked total over the limit", async () => {
    const tight = await openBundleStore({
      dataDir,
      limits: { ...DEFAULT_BUNDLE_LIMITS, unpackedBytes: 8 * 1024, fileBytes: 6 * 1024 },
    });
    const extraFiles = { "a.bin": randomBytes(5 * 1024), "b.bin": randomBytes(5 * 1024) };
    const error = await tight
      .install(await fixtureBundle({ name: "total", version: "1.0.0", extraFiles }))
      .catch((e) => e);
    expect(error.code).toBe("BUNDLE_UNSAFE");
    expect(error.details.reason).toBe("unpacked_too_large");
  });
});
