import { execFileSync } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AriaError } from "@aria/errors";
import {
  generateSigningKeyPair,
  inspectBundle,
  openBundle,
  openBundleStore,
  packBundle,
  sha256Digest,
} from "@aria/pkg-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, tempDir } from "./fixtures.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const calculatorDir = join(repoRoot, "examples", "calculator-tools");
const textDir = join(repoRoot, "examples", "text-tools");

let out: string;
beforeAll(async () => {
  out = await tempDir("aria-pack-");
});
afterAll(() => removeDir(out));

const failure = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(AriaError.is(error), String(error)).toBe(true);
  return error as AriaError;
};

/** A bundle project that does not use the SDK: definitions written by hand with the marker. */
async function project(
  name: string,
  source: string,
  pkg: Record<string, unknown> = {},
): Promise<string> {
  const dir = join(out, name);
  await mkdir(join(dir, "src"), { recursive: true });
  await writeFile(
    join(dir, "package.json"),
    JSON.stringify({ name: `@scope/${name}`, version: "0.3.0", ...pkg }),
  );
  await writeFile(join(dir, "src", "index.js"), source);
  return dir;
}

const TOOL = (name: string, extra = "") => `
export const ${name} = {
  [Symbol.for("aria.definition")]: "tool",
  toManifest: () => ({ name: "${name}", description: "tool ${name}", inputSchema: { type: "object" }, ${extra} }),
  handler: async (input) => input,
};`;

describe("packBundle on the example bundles", () => {
  it("packs calculator-tools reproducibly: same input, same bytes", async () => {
    const first = await packBundle(calculatorDir, { out: join(out, "calc-1.aria") });
    const second = await packBundle(calculatorDir, { out: join(out, "calc-2.aria") });
    expect(first.digest).toBe(second.digest);
    expect(sha256Digest(await readFile(join(out, "calc-1.aria")))).toBe(
      sha256Digest(await readFile(join(out, "calc-2.aria"))),
    );
    expect(first.digest).toBe(sha256Digest(first.bytes));
    expect(first.outPath).toBe(join(out, "calc-1.aria"));
  });

  it("derives the manifest from the SDK definitions", async () => {
    const { manifest, summary } = await packBundle(calculatorDir, { write: false });
    expect(manifest.name).toBe("calculator-tools");
    expect(manifest.version).toBe("1.0.0");
    expect(manifest.entry).toBe("dist/index.js");
    expect(manifest.tools.map((t) => t.name)).toEqual([
      "add",
      "circleArea",
      "circleCircumference",
      "formatReport",
      "multiply",
    ]);
    const area = manifest.tools.find((t) => t.name === "circleArea");
    expect(area?.inputSchema).toEqual({
      type: "object",
      properties: { radius: { type: "number", minimum: 0, description: "the circle's radius" } },
      required: ["radius"],
    });
    expect(area?.outputSchema).toMatchObject({ type: "object", required: ["radius", "area"] });
    expect(area?.export).toBe("circleArea");
    expect(Object.keys(manifest.files)).toEqual(["dist/index.js", "dist/package.json"]);
    expect(summary.verified).toBe(true);
  });

  it("packs text-tools with agents, a team, pipelines, a dependency and extra files", async () => {
    const { manifest, bytes } = await packBundle(textDir, { out: join(out, "text.aria") });
    expect(manifest.dependencies).toEqual({ "calculator-tools": "^1.0.0" });
    expect(manifest.agents.map((a) => a.name)).toEqual(["analyst", "writer"]);
    expect(manifest.agents[0]?.tools).toContain("calculator-tools/circleArea");
    expect(manifest.teams).toEqual([
      expect.objectContaining({
        name: "review-team",
        members: ["analyst", "writer"],
        strategy: "sequential",
      }),
    ]);
    expect(manifest.pipelines.map((p) => p.name)).toEqual(["circle-analysis", "text-report"]);
    const circle = manifest.pipelines[0];
    expect(circle?.steps.map((s) => `${s.type}:${s.tool ?? s.agent}`)).toEqual([
      "tool:calculator-tools/circleArea",
      "tool:calculator-tools/circleCircumference",
      "agent:analyst",
      "tool:calculator-tools/formatReport",
    ]);
    expect(circle?.inputSchema).toEqual({
      type: "object",
      properties: { radius: { type: "number", minimum: 0 } },
      required: ["radius"],
    });
    expect(Object.keys(manifest.files)).toEqual([
      "dist/index.js",
      "dist/package.json",
      "prompts/analyst.md",
    ]);
    const opened = await openBundle(bytes);
    expect(opened.files.get("prompts/analyst.md")?.toString()).toContain("careful analyst");
  });

  it("inlines everything: the built entry runs from a directory with no node_modules", async () => {
    const { bytes } = await packBundle(calculatorDir, { write: false });
    const opened = await openBundle(bytes);
    const isolated = await tempDir("aria-isolated-");
    try {
      // Unpack it as the store does (dist/package.json included) into a directory with no node_modules.
      await mkdir(join(isolated, "dist"));
      for (const name of ["dist/index.js", "dist/package.json"])
        await writeFile(join(isolated, name), opened.files.get(name) as Buffer);
      const script = `const m = await import(${JSON.stringify(join(isolated, "dist", "index.js"))}); console.log(JSON.stringify(await m.circleArea.handler({ radius: 2 })));`;
      const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: isolated,
        encoding: "utf8",
      });
      expect(JSON.parse(output)).toEqual({ radius: 2, area: Math.PI * 4 });
    } finally {
      await removeDir(isolated);
    }
  });

  it("installs what it packs, dependencies first", async () => {
    const dataDir = await tempDir("aria-pack-store-");
    try {
      const store = await openBundleStore({ dataDir });
      const text = await packBundle(textDir, { write: false });
      const calc = await packBundle(calculatorDir, { write: false });
      const refused = await failure(store.install(text.bytes));
      expect(refused.code).toBe("BUNDLE_DEPENDENCY");
      const { installed, failed } = await store.installMany([text.bytes, calc.bytes]);
      expect(failed).toEqual([]);
      expect(installed.map((r) => r.bundle.name)).toEqual(["calculator-tools", "text-tools"]);
      expect(installed[1]?.dependencies.map((d) => d.name)).toEqual(["calculator-tools"]);
    } finally {
      await removeDir(dataDir);
    }
  });

  it("signs when given a key", async () => {
    const keys = generateSigningKeyPair();
    const { bytes } = await packBundle(calculatorDir, {
      write: false,
      signingKey: { privateKey: keys.privateKeyPem },
    });
    const summary = await inspectBundle(bytes, {
      trustedKeys: [{ publicKey: keys.publicKeyPem }],
      requireSignature: true,
    });
    expect(summary.signature).toEqual({ signed: true, verified: true, keyId: keys.keyId });
  });
});

describe("packBundle refusals", () => {
  it("uses aria.entry and the package name without its scope", async () => {
    const dir = await project("custom-entry", "", { aria: { entry: "lib/main.js" } });
    await mkdir(join(dir, "lib"), { recursive: true });
    await writeFile(join(dir, "lib", "main.js"), TOOL("ping"));
    const { manifest } = await packBundle(dir, { write: false });
    expect(manifest.name).toBe("custom-entry");
    expect(manifest.version).toBe("0.3.0");
    expect(manifest.tools.map((t) => t.name)).toEqual(["ping"]);
  });

  it("needs a package.json with name and version", async () => {
    const dir = await project("no-version", TOOL("ping"), { version: undefined });
    const error = await failure(packBundle(dir, { write: false }));
    expect([error.code, error.details.reason]).toEqual(["BUNDLE_INVALID", "package_json"]);
  });

  it("reports build errors with their location", async () => {
    const dir = await project("syntax", "export const broken = {;\n");
    const error = await failure(packBundle(dir, { write: false }));
    expect([error.code, error.details.reason]).toEqual(["BUNDLE_INVALID", "build_failed"]);
    expect(error.message).toContain("src/index.js:1");
  });

  it("reports an entry that throws when loaded", async () => {
    const dir = await project("throws", `${TOOL("ping")}\nthrow new Error("boom at import");\n`);
    const error = await failure(packBundle(dir, { write: false }));
    expect([error.code, error.details.reason]).toEqual(["BUNDLE_INVALID", "load_failed"]);
    expect(error.message).toContain("boom at import");
  });

  it("refuses an entry without definitions", async () => {
    const dir = await project("empty", "export const x = 1;\n");
    const error = await failure(packBundle(dir, { write: false }));
    expect([error.code, error.details.reason]).toEqual(["BUNDLE_INVALID", "no_definitions"]);
  });

  it("validates cross references and semver ranges", async () => {
    const agent = `
export const helper = {
  [Symbol.for("aria.definition")]: "agent",
  toManifest: () => ({ name: "helper", description: "helps", systemPrompt: "Help.", tools: ["ping", "missing", "calculator", "stranger/tool"] }),
};`;
    const dir = await project("refs", TOOL("ping") + agent, {
      aria: { dependencies: { dep: "not a range!" } },
    });
    const error = await failure(packBundle(dir, { write: false }));
    expect([error.code, error.details.reason]).toEqual(["BUNDLE_INVALID", "cross_reference"]);
    const problems = error.details.problems as string[];
    expect(problems.some((p) => p.includes("'missing'"))).toBe(true);
    expect(
      problems.some(
        (p) => p.includes("'stranger/tool'") && p.includes("not a declared dependency"),
      ),
    ).toBe(true);
    expect(problems.some((p) => p.includes("invalid semver range"))).toBe(true);
    expect(problems.some((p) => p.includes("'calculator'"))).toBe(false);
  });

  it("validates pipeline steps, dependsOn and placeholders", async () => {
    const pipeline = `
export const flow = {
  [Symbol.for("aria.definition")]: "pipeline",
  toManifest: () => ({ name: "flow", description: "flows", steps: [
    { id: "a", type: "tool", tool: "ping", params: { x: "{{steps.nope.output}}" } },
    { id: "b", type: "agent", agent: "ghost", dependsOn: ["a", "zzz"], params: { y: "{{step_9_output.v}}" } },
    { id: "c", type: "tool", tool: "ping", dependsOn: ["d"] },
    { id: "d", type: "tool", tool: "ping", dependsOn: ["c"] },
  ] }),
};`;
    const dir = await project("pipes", TOOL("ping") + pipeline);
    const error = await failure(packBundle(dir, { write: false }));
    const problems = (error.details.problems as string[]).join("\n");
    expect(problems).toContain("unknown step 'nope'");
    expect(problems).toContain("names agent 'ghost'");
    expect(problems).toContain("unknown step 'zzz'");
    expect(problems).toContain("step 9");
    expect(problems).toContain("cycle");
  });

  it("refuses two exports defining the same name", async () => {
    const dir = await project(
      "dupes",
      `${TOOL("ping")}\nexport const other = { ...ping, [Symbol.for("aria.definition")]: "tool" };\n`,
    );
    const error = await failure(packBundle(dir, { write: false }));
    expect(error.message).toContain("both define a tool named 'ping'");
  });

  it("copies aria.files and refuses files outside the bundle", async () => {
    const dir = await project("with-files", TOOL("ping"), { aria: { files: ["data"] } });
    await mkdir(join(dir, "data", "nested"), { recursive: true });
    await writeFile(join(dir, "data", "nested", "table.csv"), "a,b\n1,2\n");
    const { manifest } = await packBundle(dir, { write: false });
    expect(Object.keys(manifest.files)).toEqual([
      "data/nested/table.csv",
      "dist/index.js",
      "dist/package.json",
    ]);
    const outside = await project("outside", TOOL("ping"), {
      aria: { files: ["../with-files/package.json"] },
    });
    const error = await failure(packBundle(outside, { write: false }));
    expect(error.details.reason).toBe("files");
    await copyFile(join(dir, "package.json"), join(dir, "copy.json"));
  });
});

describe("development builds", () => {
  it("packs and unpacks without a store, reusing the directory of an unchanged build", async () => {
    const { buildDevBundle } = await import("@aria/pkg-store");
    const outDir = join(out, "dev");
    const first = await buildDevBundle(calculatorDir, { outDir });
    expect(first.installed.name).toBe("calculator-tools");
    expect(first.dir.startsWith(outDir)).toBe(true);
    expect(await readFile(join(first.dir, "dist", "index.js"), "utf8")).toContain("circleArea");
    const second = await buildDevBundle(calculatorDir, { outDir });
    expect(second.dir).toBe(first.dir);
    expect(second.installed.digest).toBe(first.installed.digest);
  });
});
