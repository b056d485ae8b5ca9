import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { InstalledBundle } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { type BundleLoadEvent, createRegistries } from "@aria/registry";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { caught, context, removeDir, tempDir, writeBundle } from "./fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempDir("aria-registry-lazy-");
});
afterAll(() => removeDir(root));

/** The `NAME@VERSION` lines bundle modules appended to `marker` when they were evaluated. */
async function evaluated(marker: string): Promise<string[]> {
  if (!existsSync(marker)) return [];
  return (await readFile(marker, "utf8")).split("\n").filter((line) => line !== "");
}

/** N installed bundles with two in-process tools and an agent each, as a store would list them. */
async function installedSet(prefix: string, n: number, marker: string) {
  const bundles: Array<{ installed: InstalledBundle; dir: string }> = [];
  for (let i = 0; i < n; i++) {
    bundles.push(
      await writeBundle(root, {
        name: `${prefix}-${i}`,
        version: "1.0.0",
        loadMarker: marker,
        tools: [
          { name: "first", handler: `async (input) => ({ from: "${prefix}-${i}", input })` },
          { name: "second", handler: "async () => ({ second: true })" },
        ],
        agents: [{ name: "helper", description: "helps", systemPrompt: "Help.", tools: ["first"] }],
      }),
    );
  }
  const source = {
    dependencyOrder: () => bundles.map((b) => b.installed),
    unpackedDir: async (name: string) =>
      (bundles.find((b) => b.installed.name === name) as { dir: string }).dir,
  };
  return { bundles, source };
}

describe("lazy loading of bundle code", () => {
  it("registering many bundles reads their manifests and imports none of them", async () => {
    const marker = join(root, "none.log");
    const { source } = await installedSet("idle", 25, marker);
    const loads: BundleLoadEvent[] = [];
    const registries = createRegistries({ onBundleLoad: (e) => loads.push(e) });
    const { registered, failed } = await registries.registerInstalled(source);
    expect(failed).toEqual([]);
    expect(registered).toHaveLength(25);
    // Everything the manifests declare is there ...
    expect(registries.tools.resolve("idle-7/second").inputSchema).toEqual({ type: "object" });
    expect(registries.agents.getAgent("idle-7/helper").tools).toEqual(["idle-7/first"]);
    expect(registries.tools.llmTools().length).toBe(25 * 2 + 5);
    // ... and no bundle module has been evaluated.
    expect(await evaluated(marker)).toEqual([]);
    expect(loads).toEqual([]);
    expect(registries.tools.loadedBundles()).toEqual([]);
  });

  it("the first execution imports exactly that bundle, once", async () => {
    const marker = join(root, "first.log");
    const { source } = await installedSet("used", 10, marker);
    const loads: BundleLoadEvent[] = [];
    const registries = createRegistries({ onBundleLoad: (e) => loads.push(e) });
    await registries.registerInstalled(source);

    await expect(registries.tools.execute("used-3/first", { a: 1 }, context())).resolves.toEqual({
      from: "used-3",
      input: { a: 1 },
    });
    await registries.tools.execute("used-3/first", { a: 2 }, context());
    await expect(registries.tools.execute("used-3/second", {}, context())).resolves.toEqual({
      second: true,
    });
    expect(await evaluated(marker)).toEqual(["used-3@1.0.0"]);
    expect(loads.map((e) => e.name)).toEqual(["used-3"]);
    expect(registries.tools.loadedBundles().map((b) => b.name)).toEqual(["used-3"]);

    await registries.tools.execute("used-8/second", {}, context());
    expect(await evaluated(marker)).toEqual(["used-3@1.0.0", "used-8@1.0.0"]);
    expect(loads.map((e) => e.name)).toEqual(["used-3", "used-8"]);
  });

  it("concurrent first calls share one import", async () => {
    const marker = join(root, "concurrent.log");
    const { source } = await installedSet("busy", 3, marker);
    const loads: BundleLoadEvent[] = [];
    const registries = createRegistries({ onBundleLoad: (e) => loads.push(e) });
    await registries.registerInstalled(source);
    const outputs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        registries.tools.execute(i % 2 ? "busy-1/first" : "busy-1/second", { i }, context()),
      ),
    );
    expect(outputs).toHaveLength(20);
    expect(outputs[1]).toEqual({ from: "busy-1", input: { i: 1 } });
    expect(loads.map((e) => e.name)).toEqual(["busy-1"]);
    expect(await evaluated(marker)).toEqual(["busy-1@1.0.0"]);
  });

  it("a failed load is TOOL_EXECUTION_FAILED and is retried on the next call", async () => {
    const marker = join(root, "retry.log");
    const bundle = await writeBundle(root, {
      name: "flaky",
      version: "1.0.0",
      loadMarker: marker,
      tools: [{ name: "echo" }],
    });
    const entry = join(bundle.dir, "dist", "index.js");
    const good = await readFile(entry, "utf8");
    const loads: BundleLoadEvent[] = [];
    const registries = createRegistries({ onBundleLoad: (e) => loads.push(e) });

    await rm(entry);
    await registries.registerBundle(bundle.installed, bundle.dir);
    const missing = await caught(registries.tools.execute("flaky/echo", { n: 1 }, context()));
    expect(missing.code).toBe("TOOL_EXECUTION_FAILED");
    expect(missing.details).toMatchObject({ reason: "load_failed", bundle: "flaky@1.0.0" });
    expect(missing.context.tool).toBe("flaky/echo");
    expect(missing.message).toContain("could not be loaded from flaky@1.0.0");
    expect(AriaError.is(missing.cause) && missing.cause.code).toBe("BUNDLE_INVALID");

    // A module that fails to evaluate is not answered from Node's module cache on the retry.
    await writeFile(entry, 'throw new Error("boom at load");\n');
    const broken = await caught(registries.tools.execute("flaky/echo", { n: 2 }, context()));
    expect(broken.code).toBe("TOOL_EXECUTION_FAILED");
    expect(broken.message).toContain("boom at load");

    await writeFile(entry, good);
    await expect(registries.tools.execute("flaky/echo", { n: 3 }, context())).resolves.toEqual({
      n: 3,
    });
    expect(loads).toHaveLength(1);
    expect(await evaluated(marker)).toEqual(["flaky@1.0.0"]);
    expect(registries.tools.statsOf("flaky/echo")).toMatchObject({ calls: 3, failures: 2 });
  });

  it("a new build (new digest) of a loaded bundle is imported anew on its first use", async () => {
    const marker = join(root, "rebuild.log");
    const registries = createRegistries();
    const v1 = await writeBundle(root, {
      name: "rebuilt",
      version: "1.0.0",
      loadMarker: marker,
      tools: [{ name: "say", handler: 'async () => "one"' }],
    });
    await registries.registerBundle(v1.installed, v1.dir);
    await expect(registries.tools.execute("rebuilt/say", {}, context())).resolves.toBe("one");
    const v2 = await writeBundle(root, {
      name: "rebuilt",
      version: "1.0.0",
      loadMarker: marker,
      tools: [{ name: "say", handler: 'async () => "two"' }],
    });
    await registries.registerBundle(v2.installed, v2.dir);
    expect(registries.tools.loadedBundles()).toEqual([]);
    await expect(registries.tools.execute("rebuilt/say", {}, context())).resolves.toBe("two");
    expect(await evaluated(marker)).toEqual(["rebuilt@1.0.0", "rebuilt@1.0.0"]);
    expect(registries.tools.loadedBundles().map((b) => b.digest)).toEqual([v2.installed.digest]);
  });

  it("eager loading imports every bundle at registration", async () => {
    const marker = join(root, "eager.log");
    const { source } = await installedSet("eager", 5, marker);
    const loads: BundleLoadEvent[] = [];
    const registries = createRegistries({ loading: "eager", onBundleLoad: (e) => loads.push(e) });
    await registries.registerInstalled(source);
    expect(loads).toHaveLength(5);
    expect((await evaluated(marker)).sort()).toEqual(
      ["eager-0", "eager-1", "eager-2", "eager-3", "eager-4"].map((n) => `${n}@1.0.0`),
    );
    await registries.tools.execute("eager-2/first", {}, context());
    expect(loads).toHaveLength(5);
  });

  it("registering every installed bundle re-checks the agents' references once, not per bundle", async () => {
    const { source } = await installedSet("batched", 12, join(root, "batched.log"));
    const registries = createRegistries();
    await new Promise((resolve) => setImmediate(resolve)); // the built-ins' own re-check
    const check = vi.spyOn(registries.agents, "checkDependencies");
    await registries.registerInstalled(source);
    await new Promise((resolve) => setImmediate(resolve));
    expect(check).toHaveBeenCalledTimes(1);
    expect(registries.agents.checkDependencies()).toEqual([]);
  });
});
