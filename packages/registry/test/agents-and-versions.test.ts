import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { InstalledBundle } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { createRegistries, type RegistryEvent, watchBundleSource } from "@aria/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caught, context, removeDir, tempDir, writeBundle } from "./fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempDir();
});
afterAll(() => removeDir(root));

const mathBundle = (version: string, factor: number) =>
  writeBundle(root, {
    name: "math",
    version,
    tools: [
      {
        name: "scale",
        handler: `async (input) => ({ value: input.value * ${factor} })`,
        inputSchema: {
          type: "object",
          properties: { value: { type: "number" } },
          required: ["value"],
        },
      },
    ],
  });

const reportsBundle = (version = "1.0.0") =>
  writeBundle(root, {
    name: "reports",
    version,
    dependencies: { math: "^1.0.0" },
    tools: [{ name: "render" }],
    agents: [
      {
        name: "analyst",
        description: "analyses",
        systemPrompt: "Analyse.",
        tools: ["render", "math/scale", "calculator"],
      },
      { name: "writer", description: "writes", systemPrompt: "Write.", tools: ["render"] },
    ],
    teams: [
      { name: "crew", description: "both", members: ["analyst", "writer"], strategy: "sequential" },
    ],
    pipelines: [
      {
        name: "flow",
        description: "scale then render",
        steps: [
          { id: "s", type: "tool", tool: "math/scale", params: { value: "{{input.value}}" } },
          {
            id: "r",
            type: "tool",
            tool: "render",
            params: { v: "{{steps.s.output.value}}" },
            dependsOn: ["s"],
          },
          { id: "a", type: "agent", agent: "analyst", params: { task: "look" }, dependsOn: ["r"] },
          { id: "t", type: "team", team: "crew", params: {} },
        ],
      },
    ],
  });

describe("agents, teams and pipelines from bundles", () => {
  it("registers them with qualified references and lists them", async () => {
    const registries = createRegistries();
    const math = await mathBundle("1.0.0", 2);
    const reports = await reportsBundle();
    await registries.registerBundle(math.installed, math.dir);
    const registered = await registries.registerBundle(reports.installed, reports.dir);
    expect(registered).toMatchObject({
      tools: ["reports/render"],
      agents: ["reports/analyst", "reports/writer"],
      teams: ["reports/crew"],
      pipelines: ["reports/flow"],
    });
    const { agents } = registries;
    expect(agents.getAgent("analyst")).toMatchObject({
      id: "reports/analyst",
      bundle: "reports",
      tools: ["reports/render", "math/scale", "calculator"],
    });
    expect(agents.getTeam("reports/crew").members).toEqual(["reports/analyst", "reports/writer"]);
    expect(agents.getPipeline("flow").steps.map((s) => s.tool ?? s.agent ?? s.team)).toEqual([
      "math/scale",
      "reports/render",
      "reports/analyst",
      "reports/crew",
    ]);
    expect(agents.listAgents().map((a) => a.id)).toEqual(["reports/analyst", "reports/writer"]);
    expect(agents.listTeams().map((t) => t.id)).toEqual(["reports/crew"]);
    expect(agents.listPipelines().map((p) => p.id)).toEqual(["reports/flow"]);
    expect(() => agents.getAgent("nobody")).toThrow(
      expect.objectContaining({ code: "AGENT_NOT_FOUND" }),
    );
    expect(() => agents.getTeam("nobody")).toThrow(
      expect.objectContaining({ code: "TEAM_NOT_FOUND" }),
    );
    expect(() => agents.getPipeline("nobody")).toThrow(
      expect.objectContaining({ code: "PIPELINE_NOT_FOUND" }),
    );
    // Every agent's tools resolve in the tool registry.
    for (const agent of agents.listAgents())
      for (const tool of agent.tools) expect(registries.tools.has(tool)).toBe(true);
    expect(agents.checkDependencies()).toEqual([]);
  });

  it("refuses a bundle whose references do not resolve across registries, registering nothing", async () => {
    const registries = createRegistries();
    const reports = await reportsBundle();
    const error = await caught(registries.registerBundle(reports.installed, reports.dir));
    expect(AriaError.is(error)).toBe(true);
    expect(error.code).toBe("BUNDLE_DEPENDENCY");
    expect(error.details.reason).toBe("unresolved_reference");
    expect((error.details.problems as string[]).some((p) => p.includes("math/scale"))).toBe(true);
    expect(registries.tools.has("reports/render")).toBe(false);
    expect(registries.agents.listAgents()).toEqual([]);
  });

  it("reports agents whose tools went away when a dependency is unregistered", async () => {
    const registries = createRegistries();
    const events: RegistryEvent[] = [];
    registries.agents.subscribe((e) => events.push(e));
    const math = await mathBundle("1.0.0", 2);
    const reports = await reportsBundle();
    await registries.registerBundle(math.installed, math.dir);
    await registries.registerBundle(reports.installed, reports.dir);
    registries.unregisterBundle("math");
    // Checks run once after a burst of changes (a microtask later).
    await Promise.resolve();
    const problems = registries.agents.checkDependencies();
    expect(problems.some((p) => p.includes("reports/analyst") && p.includes("math/scale"))).toBe(
      true,
    );
    expect(problems.some((p) => p.includes("reports/flow"))).toBe(true);
    const last = events.filter((e) => e.type === "dependencies.changed").at(-1) as Extract<
      RegistryEvent,
      { type: "dependencies.changed" }
    >;
    expect(last.problems).toEqual(problems);
  });

  it("registers agents, teams and pipelines directly, checking their references", () => {
    const { agents } = createRegistries();
    agents.registerAgent({
      name: "helper",
      description: "helps",
      systemPrompt: "Help.",
      tools: ["calculator"],
    });
    expect(agents.getAgent("helper")).toMatchObject({
      id: "helper",
      maxSteps: 8,
      tools: ["calculator"],
    });
    expect(() =>
      agents.registerAgent({ name: "bad", description: "x", systemPrompt: "x", tools: ["nope"] }),
    ).toThrow(expect.objectContaining({ code: "VALIDATION_FAILED" }));
    agents.registerTeam({
      name: "duo",
      description: "d",
      members: ["helper"],
      strategy: "parallel",
    });
    expect(() =>
      agents.registerTeam({
        name: "ghosts",
        description: "d",
        members: ["ghost"],
        strategy: "parallel",
      }),
    ).toThrow(/ghost/);
    agents.registerPipeline({
      name: "p",
      description: "d",
      steps: [{ id: "one", type: "tool", tool: "calculator", params: { expression: "1+1" } }],
    });
    expect(agents.getPipeline("p").steps[0]?.continueOnError).toBe(false);
    expect(() => agents.registerAgent({ name: "", description: "x", systemPrompt: "x" })).toThrow(
      expect.objectContaining({ code: "VALIDATION_FAILED" }),
    );
  });
});

describe("versions", () => {
  it("installs a new version and rolls back to the previous one, in both registries", async () => {
    const registries = createRegistries();
    const v1 = await mathBundle("1.0.0", 2);
    const v2 = await mathBundle("1.1.0", 10);
    await registries.registerBundle(v1.installed, v1.dir);
    await expect(registries.tools.execute("math/scale", { value: 3 }, context())).resolves.toEqual({
      value: 6,
    });
    await registries.registerBundle(v2.installed, v2.dir);
    expect(registries.versions("math")).toEqual({ versions: ["1.0.0", "1.1.0"], active: "1.1.0" });
    await expect(registries.tools.execute("scale", { value: 3 }, context())).resolves.toEqual({
      value: 30,
    });
    expect(registries.tools.resolve("scale").bundle?.version).toBe("1.1.0");
    // The old version stays addressable explicitly.
    await expect(
      registries.tools.execute("math@1.0.0/scale", { value: 3 }, context()),
    ).resolves.toEqual({ value: 6 });
    expect(registries.rollback("math")).toBe("1.0.0");
    await expect(registries.tools.execute("math/scale", { value: 3 }, context())).resolves.toEqual({
      value: 6,
    });
    expect(registries.agents.versions("math").active).toBe("1.0.0");
    expect(() => registries.rollback("math")).toThrow(
      expect.objectContaining({ code: "BUNDLE_NOT_FOUND" }),
    );
    registries.activate("math", "1.1.0");
    await expect(registries.tools.execute("math/scale", { value: 1 }, context())).resolves.toEqual({
      value: 10,
    });
    // Removing the active version falls back to the previous active one.
    registries.unregisterBundle("math", "1.1.0");
    expect(registries.versions("math")).toEqual({ versions: ["1.0.0"], active: "1.0.0" });
  });

  it("registers a store's bundles in dependency order with the highest version active", async () => {
    const registries = createRegistries();
    const bundles = [
      await mathBundle("1.0.0", 2),
      await mathBundle("1.2.0", 3),
      await reportsBundle(),
    ];
    const dirs = new Map<string, string>(
      bundles.map((b) => [`${b.installed.name}@${b.installed.version}`, b.dir]),
    );
    const order: InstalledBundle[] = bundles.map((b) => b.installed);
    const result = await registries.registerInstalled({
      dependencyOrder: () => order,
      unpackedDir: async (name, version) => dirs.get(`${name}@${version}`) as string,
    });
    expect(result.failed).toEqual([]);
    expect(result.registered.map((r) => `${r.name}@${r.version}`)).toEqual([
      "math@1.0.0",
      "math@1.2.0",
      "reports@1.0.0",
    ]);
    expect(registries.versions("math")).toEqual({ versions: ["1.0.0", "1.2.0"], active: "1.2.0" });
    await expect(registries.tools.execute("math/scale", { value: 1 }, context())).resolves.toEqual({
      value: 3,
    });
  });
});

describe("keeping registries in sync", () => {
  it("a follower mirrors registrations, activations, rollbacks and removals", async () => {
    const leader = createRegistries();
    const early = await mathBundle("1.0.0", 2);
    await leader.registerBundle(early.installed, early.dir);
    const follower = createRegistries({ builtins: false });
    const sync = follower.follow(leader);
    await sync.idle();
    expect(follower.tools.list().map((t) => t.id)).toEqual(leader.tools.list().map((t) => t.id));

    const later = await mathBundle("1.1.0", 5);
    const reports = await reportsBundle();
    await leader.registerBundle(later.installed, later.dir);
    await leader.registerBundle(reports.installed, reports.dir);
    await sync.idle();
    expect(follower.versions("math")).toEqual({ versions: ["1.0.0", "1.1.0"], active: "1.1.0" });
    expect(follower.agents.listAgents().map((a) => a.id)).toEqual([
      "reports/analyst",
      "reports/writer",
    ]);
    await expect(follower.tools.execute("math/scale", { value: 2 }, context())).resolves.toEqual({
      value: 10,
    });

    leader.rollback("math");
    await sync.idle();
    expect(follower.versions("math").active).toBe("1.0.0");
    await expect(follower.tools.execute("math/scale", { value: 2 }, context())).resolves.toEqual({
      value: 4,
    });

    leader.unregisterBundle("reports");
    await sync.idle();
    expect(follower.agents.listAgents()).toEqual([]);
    expect(follower.tools.has("reports/render")).toBe(false);

    sync.stop();
    const again = await reportsBundle("1.0.1");
    await leader.registerBundle(again.installed, again.dir);
    expect(follower.tools.has("reports/render")).toBe(false);
  });
});

describe("hot reload", () => {
  it("rebuilds and re-registers a bundle when its source changes", async () => {
    const source = await tempDir("aria-hot-");
    const out = await tempDir("aria-hot-out-");
    try {
      await writeFile(join(source, "factor.txt"), "2");
      const registries = createRegistries();
      const builds: string[] = [];
      const results: boolean[] = [];
      const { readFile } = await import("node:fs/promises");
      const reloader = watchBundleSource({
        dir: source,
        registries,
        debounceMs: 40,
        build: async (dir) => {
          const factor = (await readFile(join(dir, "factor.txt"), "utf8")).trim();
          if (!/^\d+$/.test(factor)) throw new Error(`not a number: ${factor}`);
          builds.push(factor);
          return writeBundle(out, {
            name: "hot",
            version: "0.0.1",
            tools: [{ name: "scale", handler: `async (input) => input.value * ${factor}` }],
          });
        },
        onReload: (r) => results.push(r.ok),
      });
      await reloader.ready;
      await expect(registries.tools.execute("hot/scale", { value: 5 }, context())).resolves.toBe(
        10,
      );

      await writeFile(join(source, "factor.txt"), "7");
      await waitFor(() => builds.includes("7"));
      await reloader.idle();
      await expect(registries.tools.execute("hot/scale", { value: 5 }, context())).resolves.toBe(
        35,
      );

      // A broken build keeps the previous one registered.
      await writeFile(join(source, "factor.txt"), "seven");
      await waitFor(() => results.length >= 3);
      await reloader.idle();
      expect(results.at(-1)).toBe(false);
      await expect(registries.tools.execute("hot/scale", { value: 5 }, context())).resolves.toBe(
        35,
      );

      // Changes to ignored paths do not rebuild.
      const count = builds.length;
      await writeFile(join(source, "bundle.aria"), "ignored");
      await new Promise((r) => setTimeout(r, 150));
      expect(builds.length).toBe(count);
      expect(reloader.reloads).toBe(2);
      reloader.close();
    } finally {
      await removeDir(source);
      await removeDir(out);
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(condition()).toBe(true);
}
