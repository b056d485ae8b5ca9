// `aria bundle ...` end to end: pack the example bundles with the CLI functions, inspect and install
// them, and check that the registries list and run what they define.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openBundleStore } from "@aria/pkg-store";
import { createRegistries } from "@aria/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bundleCommand,
  bundleInspect,
  bundleInstall,
  bundleList,
  bundlePack,
} from "../src/cli/bundle.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const calculatorDir = join(repo, "examples", "calculator-tools");
const textDir = join(repo, "examples", "text-tools");

function sink() {
  let text = "";
  return {
    write: (chunk: string) => {
      text += chunk;
      return true;
    },
    get text() {
      return text;
    },
  };
}

const sha256 = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

let work: string;
let dataDir: string;
let calcFile: string;
let textFile: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "aria-cli-bundle-"));
  dataDir = join(work, "data");
  calcFile = join(work, "calculator-tools.aria");
  textFile = join(work, "text-tools.aria");
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("aria bundle pack | inspect | install | list", () => {
  it("packs both examples reproducibly", async () => {
    const out = sink();
    expect(await bundlePack([calculatorDir, "-o", calcFile], out)).toBe(0);
    expect(out.text).toContain("packed calculator-tools@1.0.0");
    expect(out.text).toContain("5 tool(s), 0 agent(s)");
    const again = join(work, "again.aria");
    expect(await bundlePack([calculatorDir, "-o", again], sink())).toBe(0);
    expect(await sha256(again)).toBe(await sha256(calcFile));

    const json = sink();
    expect(await bundlePack([textDir, "--out", textFile, "--json"], json)).toBe(0);
    const packed = JSON.parse(json.text);
    expect(packed).toMatchObject({ name: "text-tools", version: "1.0.0", file: textFile });
    expect(packed.digest).toBe(`sha256:${await sha256(textFile)}`);
  });

  it("inspects and verifies", async () => {
    const out = sink();
    expect(await bundleInspect([textFile], out)).toBe(0);
    expect(out.text).toContain("text-tools@1.0.0");
    expect(out.text).toMatch(/integrity\s+verified/);
    expect(out.text).toMatch(/depends on\s+calculator-tools \^1\.0\.0/);
    expect(out.text).toMatch(/analyst\s+tools: wordCount, topKeywords, readingTime, calculator/);
    expect(out.text).toMatch(/circle-analysis\s+4 step\(s\)/);
    const json = sink();
    expect(await bundleInspect([calcFile, "--json"], json)).toBe(0);
    expect(JSON.parse(json.text).tools.map((t: { name: string }) => t.name)).toEqual([
      "add",
      "circleArea",
      "circleCircumference",
      "formatReport",
      "multiply",
    ]);
  });

  it("installs dependencies first whatever the order given, and lists them", async () => {
    const out = sink();
    expect(await bundleInstall([textFile, calcFile, "--data-dir", dataDir], out)).toBe(0);
    expect(out.text.indexOf("installed calculator-tools@1.0.0")).toBeLessThan(
      out.text.indexOf("installed text-tools@1.0.0"),
    );
    const list = sink();
    expect(await bundleList(["--json"], list, { dataDir })).toBe(0);
    const { bundles } = JSON.parse(list.text);
    expect(bundles.map((b: { name: string; version: string }) => `${b.name}@${b.version}`)).toEqual(
      ["calculator-tools@1.0.0", "text-tools@1.0.0"],
    );
    const text = sink();
    expect(await bundleList([], text, { dataDir })).toBe(0);
    expect(text.text).toMatch(/text-tools\s+1\.0\.0\s+3\s+2\s+1\s+2/);
    const twice = sink();
    expect(await bundleInstall([calcFile], twice, { dataDir })).toBe(0);
    expect(twice.text).toContain("already installed calculator-tools@1.0.0");
  });

  it("registers the installed bundles: tools, agents, teams and pipelines, all resolving", async () => {
    const store = await openBundleStore({ dataDir });
    const registries = createRegistries();
    const { registered, failed } = await registries.registerInstalled(store);
    expect(failed).toEqual([]);
    expect(registered.map((r) => r.name)).toEqual(["calculator-tools", "text-tools"]);
    const { tools, agents } = registries;
    expect(tools.list().map((t) => t.id)).toEqual([
      "calculator",
      "calculator-tools/add",
      "calculator-tools/circleArea",
      "calculator-tools/circleCircumference",
      "calculator-tools/formatReport",
      "calculator-tools/multiply",
      "createPlan",
      "file.read",
      "file.write",
      "ponder",
      "text-tools/readingTime",
      "text-tools/topKeywords",
      "text-tools/wordCount",
    ]);
    expect(agents.listAgents().map((a) => a.id)).toEqual([
      "text-tools/analyst",
      "text-tools/writer",
    ]);
    expect(agents.listTeams().map((t) => t.id)).toEqual(["text-tools/review-team"]);
    expect(agents.listPipelines().map((p) => p.id)).toEqual([
      "calculator-tools/approved-report",
      "text-tools/circle-analysis",
      "text-tools/text-report",
    ]);
    expect(agents.getAgent("analyst").tools).toEqual([
      "text-tools/wordCount",
      "text-tools/topKeywords",
      "text-tools/readingTime",
      "calculator",
      "calculator-tools/circleArea",
      "calculator-tools/circleCircumference",
    ]);
    expect(agents.checkDependencies()).toEqual([]);
  });

  it("runs the bundles' real code: the circle analysis tool steps and the text tools", async () => {
    const store = await openBundleStore({ dataDir });
    const registries = createRegistries();
    await registries.registerInstalled(store);
    const workspace = await mkdtemp(join(work, "ws-"));
    const ctx = {
      runId: "r",
      stepId: "s",
      attempt: 1,
      idempotencyKey: "k",
      signal: new AbortController().signal,
      workspaceDir: workspace,
    };
    const { tools } = registries;
    const area = (await tools.execute("circleArea", { radius: 7.5 }, ctx)) as { area: number };
    const circumference = (await tools.execute(
      "calculator-tools/circleCircumference",
      { radius: 7.5 },
      ctx,
    )) as { circumference: number };
    expect(area.area).toBeCloseTo(176.7145867644, 9);
    expect(circumference.circumference).toBeCloseTo(47.1238898038, 9);
    const report = (await tools.execute(
      "calculator-tools/formatReport",
      {
        title: "Circle analysis",
        values: { radius: 7.5, area: area.area, circumference: circumference.circumference },
        fileName: "circle_analysis.txt",
      },
      ctx,
    )) as { path: string; report: string };
    expect(report.path).toBe("circle_analysis.txt");
    const written = await readFile(join(workspace, "circle_analysis.txt"), "utf8");
    expect(written).toContain("area          : 176.7146");
    expect(written).toContain("circumference : 47.1239");
    await expect(
      tools.execute("calculator-tools/add", { numbers: [1, 2, 3.5] }, ctx),
    ).resolves.toEqual({ sum: 6.5 });
    await expect(
      tools.execute("text-tools/wordCount", { text: "The cat sat. The cat ran!" }, ctx),
    ).resolves.toEqual({
      words: 6,
      uniqueWords: 4,
      sentences: 2,
      characters: 25,
    });
    await expect(
      tools.execute("topKeywords", { text: "cats and dogs and cats", limit: 1 }, ctx),
    ).resolves.toEqual({ keywords: [{ word: "cats", count: 2 }] });
    const invalid = await tools.execute("circleArea", { radius: -1 }, ctx).then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(invalid?.code).toBe("VALIDATION_FAILED");
    // Every step of the pipelines names something registered.
    for (const pipeline of registries.agents.listPipelines()) {
      for (const step of pipeline.steps) {
        if (step.type === "tool") expect(tools.has(step.tool as string), step.tool).toBe(true);
        if (step.type === "agent")
          expect(registries.agents.getAgent(step.agent as string).id).toBe(step.agent);
      }
    }
  });

  it("refuses a damaged archive with its error code and leaves the store as it was", async () => {
    const damaged = join(work, "damaged.aria");
    const bytes = await readFile(calcFile);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff;
    await writeFile(damaged, bytes);
    const before = sink();
    await bundleList(["--json"], before, { dataDir });
    const out = sink();
    expect(await bundleInstall([damaged, "--json"], out, { dataDir })).toBe(1);
    const result = JSON.parse(out.text);
    expect(result.installed).toEqual([]);
    expect(result.failed[0].error.code).toMatch(/^BUNDLE_(INVALID|INTEGRITY)$/);
    const after = sink();
    await bundleList(["--json"], after, { dataDir });
    expect(after.text).toBe(before.text);
    const inspect = sink();
    expect(await bundleInspect([damaged], inspect)).toBe(1);
    expect(inspect.text).toMatch(/aria bundle inspect: BUNDLE_/);
  });

  it("refuses to uninstall a dependency in use", async () => {
    const out = sink();
    expect(await bundleCommand(["uninstall", "calculator-tools", "1.0.0"], out, { dataDir })).toBe(
      1,
    );
    expect(out.text).toContain("BUNDLE_CONFLICT");
    expect(out.text).toContain("text-tools@1.0.0");
  });

  it("signs with a generated key and verifies with its public key", async () => {
    const keys = join(work, "keys");
    const out = sink();
    expect(await bundleCommand(["keygen", keys, "--json"], out)).toBe(0);
    const { keyId, privateKey, publicKey } = JSON.parse(out.text);
    const signed = join(work, "signed.aria");
    expect(await bundlePack([calculatorDir, "-o", signed, "--sign", privateKey], sink())).toBe(0);
    const inspect = sink();
    expect(await bundleInspect([signed, "--trusted-key", publicKey], inspect)).toBe(0);
    expect(inspect.text).toContain(`verified (key ${keyId})`);
  });

  it("answers bad usage with status 2", async () => {
    const err = sink();
    expect(await bundleCommand(["pack"], sink(), { err })).toBe(2);
    expect(err.text).toContain("pack takes one directory");
    expect(await bundleCommand(["frobnicate"], sink(), { err })).toBe(2);
    expect(await bundlePack([calculatorDir, "--bogus"], sink(), { err })).toBe(2);
    const help = sink();
    expect(await bundleCommand(["help"], help)).toBe(0);
    expect(help.text).toContain("Usage: aria bundle");
  });
});
