import { spawnSync } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openBundleStore, sha256Digest } from "@aria/pkg-store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixtureBundle, removeDir, snapshot, tempDir } from "./fixtures.ts";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDir();
});
afterEach(() => removeDir(dataDir));

function crashInstall(bundlePath: string, point: "afterBlobWrite" | "afterUnpack") {
  return spawnSync(
    process.execPath,
    [
      "--conditions=@aria/source",
      "--import",
      "tsx",
      join(here, "crash-child.ts"),
      dataDir,
      bundlePath,
      point,
    ],
    { cwd: repoRoot, encoding: "utf8", timeout: 60_000 },
  );
}

describe("a crash between blob write and index update", () => {
  for (const point of ["afterBlobWrite", "afterUnpack"] as const) {
    it(`(${point}, SIGKILL in a child process) leaves a consistent store with no partial entry`, async () => {
      const store = await openBundleStore({ dataDir });
      await store.install(await fixtureBundle({ name: "kept", version: "1.0.0" }));
      const bytes = await fixtureBundle({ name: "crashed", version: "1.0.0" });
      const bundlePath = join(dataDir, "crashed.aria");
      await writeFile(bundlePath, bytes);

      const child = crashInstall(bundlePath, point);
      expect(child.signal, child.stderr).toBe("SIGKILL");
      expect(child.stdout).not.toContain("installed without crashing");

      // The blob made it to disk; the index did not.
      const hex = sha256Digest(bytes).slice(7);
      expect(await readdir(join(dataDir, "bundles", "blobs", "sha256"))).toContain(hex);
      const reopened = await openBundleStore({ dataDir });
      expect(reopened.list().map((b) => b.name)).toEqual(["kept"]);
      expect(reopened.has("crashed")).toBe(false);
      expect(() => reopened.get("crashed", "1.0.0")).toThrow(
        expect.objectContaining({ code: "BUNDLE_NOT_FOUND" }),
      );
      const issues = (await reopened.check()).map((i) => i.kind).sort();
      expect(issues).toEqual(
        point === "afterBlobWrite" ? ["orphan_blob"] : ["orphan_blob", "orphan_unpacked"],
      );

      const gc = await reopened.gc();
      expect(gc.removedBlobs).toEqual([`sha256:${hex}`]);
      expect(await reopened.check()).toEqual([]);

      // The install can simply be repeated.
      const again = await reopened.install(bytes);
      expect(again.created).toBe(true);
      const final = await openBundleStore({ dataDir });
      expect(final.list().map((b) => b.name)).toEqual(["crashed", "kept"]);
      expect(await final.check()).toEqual([]);
      expect((await final.read("crashed", "1.0.0")).equals(bytes)).toBe(true);
    });
  }

  it("an install that fails after writing the blob removes what it wrote", async () => {
    const store = await openBundleStore({
      dataDir,
      faults: {
        afterUnpack: () => {
          throw new Error("disk full (simulated)");
        },
      },
    });
    const before = await snapshot(store.root);
    await expect(
      store.install(await fixtureBundle({ name: "failing", version: "1.0.0" })),
    ).rejects.toThrow("disk full");
    expect(await snapshot(store.root)).toEqual(before);
    expect(store.list()).toEqual([]);
  });

  it("temporary files of an interrupted write are removed at open", async () => {
    const store = await openBundleStore({ dataDir });
    await writeFile(join(store.root, "tmp", ".1.0.0.json.123.abc.tmp"), '{"half":');
    const reopened = await openBundleStore({ dataDir });
    expect(await readdir(join(reopened.root, "tmp"))).toEqual([]);
    expect(reopened.list()).toEqual([]);
  });
});
