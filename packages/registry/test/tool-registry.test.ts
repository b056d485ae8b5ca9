import type { ContainerToolRequest } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import {
  createRegistries,
  createSecurityPolicy,
  type RegistryEvent,
  ToolRegistry,
  toLlmToolName,
} from "@aria/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caught, context, removeDir, tempDir, writeBundle } from "./fixtures.ts";

const codeOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(AriaError.is(error), String(error)).toBe(true);
  return (error as AriaError).code;
};

let root: string;
beforeAll(async () => {
  root = await tempDir();
});
afterAll(() => removeDir(root));

describe("built-in tools and addressing", () => {
  it("registers the built-ins the engines need", () => {
    const { tools } = createRegistries();
    expect(tools.list().map((t) => t.id)).toEqual([
      "calculator",
      "createPlan",
      "file.read",
      "file.write",
      "ponder",
    ]);
    expect(tools.resolve("file.write").securityLevel).toBe("limited");
  });

  it("runs the calculator on expressions and named operations", async () => {
    const { tools } = createRegistries();
    await expect(
      tools.execute("calculator", { expression: "2 * pi * 7.5" }, context()),
    ).resolves.toEqual({
      result: 2 * Math.PI * 7.5,
      expression: "2 * pi * 7.5",
    });
    await expect(
      tools.execute("calculator", { operation: "average", operands: [1, 2, 3, 4] }, context()),
    ).resolves.toEqual({
      result: 2.5,
      expression: "average(1, 2, 3, 4)",
    });
    await expect(
      tools.execute("calculator", { expression: "pi", precision: 2 }, context()),
    ).resolves.toMatchObject({ result: 3.14 });
    expect(await codeOf(tools.execute("calculator", { expression: "1 / 0" }, context()))).toBe(
      "TOOL_EXECUTION_FAILED",
    );
    expect(await codeOf(tools.execute("calculator", { expression: "2 +" }, context()))).toBe(
      "VALIDATION_FAILED",
    );
    expect(
      await codeOf(tools.execute("calculator", { operation: "power", operands: [2] }, context())),
    ).toBe("VALIDATION_FAILED");
  });

  it("validates input against the JSON Schema before running, with field-level details", async () => {
    const registry = new ToolRegistry();
    let ran = 0;
    registry.register({
      name: "greet",
      description: "greets",
      inputSchema: {
        type: "object",
        properties: {
          name: { type: "string", minLength: 1 },
          times: { type: "integer", minimum: 1 },
          email: { type: "string", format: "email" },
        },
        required: ["name"],
        additionalProperties: false,
      },
      handler: () => {
        ran += 1;
        return "hi";
      },
    });
    const error = await caught(
      registry.execute("greet", { times: 0, extra: true, email: "nope" }, context()),
    );
    expect(error.code).toBe("VALIDATION_FAILED");
    const issues = error.details.issues as Array<{ path: string; keyword: string }>;
    expect(issues.map((i) => `${i.path}:${i.keyword}`).sort()).toEqual([
      "/email:format",
      "/extra:additionalProperties",
      "/name:required",
      "/times:minimum",
    ]);
    expect(error.context.tool).toBe("greet");
    expect(ran).toBe(0);
    await expect(registry.execute("greet", { name: "Ada" }, context())).resolves.toBe("hi");
    expect(ran).toBe(1);
  });

  it("validates output against outputSchema", async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: "liar",
      description: "returns the wrong shape",
      inputSchema: { type: "object" },
      outputSchema: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
      handler: () => ({ n: "seven" }),
    });
    const error = await caught(registry.execute("liar", {}, context()));
    expect(error.code).toBe("TOOL_OUTPUT_INVALID");
    expect((error.details.issues as Array<{ path: string }>)[0]?.path).toBe("/n");
  });

  it("wraps handler failures, records statistics and reports timeouts", async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: "boom",
      description: "throws",
      inputSchema: {},
      handler: () => Promise.reject(new Error("kaput")),
    });
    registry.register({
      name: "slow",
      description: "never finishes in time",
      inputSchema: {},
      resources: { timeoutMs: 30 },
      handler: (_input, ctx) =>
        new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("aborted"))),
    });
    const error = await caught(registry.execute("boom", {}, context()));
    expect(error.code).toBe("TOOL_EXECUTION_FAILED");
    expect(error.message).toContain("kaput");
    expect(error.context).toMatchObject({ tool: "boom", runId: "run-1", stepId: "step-1" });
    expect(await codeOf(registry.execute("slow", {}, context()))).toBe("TOOL_TIMEOUT");
    expect(registry.statsOf("boom")).toMatchObject({
      calls: 1,
      failures: 1,
      lastErrorCode: "TOOL_EXECUTION_FAILED",
    });
    const result = await registry.invoke("boom", {}, context());
    expect(result.success).toBe(false);
    expect(result.error?.code).toBe("TOOL_EXECUTION_FAILED");
  });

  it("refuses a cancelled run before running", async () => {
    const registry = new ToolRegistry();
    registry.register({ name: "t", description: "t", inputSchema: {}, handler: () => 1 });
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(registry.execute("t", {}, context({ signal: controller.signal })))).toBe(
      "RUN_CANCELLED",
    );
  });

  it("enforces security levels through the policy", async () => {
    const privileged = {
      name: "root",
      description: "dangerous",
      inputSchema: {},
      securityLevel: "privileged" as const,
      handler: () => "done",
    };
    const strict = new ToolRegistry();
    strict.register(privileged);
    expect(await codeOf(strict.execute("root", {}, context()))).toBe("TOOL_FORBIDDEN");
    const allowing = new ToolRegistry({ policy: createSecurityPolicy({ allow: ["root"] }) });
    allowing.register(privileged);
    await expect(allowing.execute("root", {}, context())).resolves.toBe("done");
    const safeOnly = createRegistries({ policy: createSecurityPolicy({ maxLevel: "safe" }) });
    expect(
      await codeOf(safeOnly.tools.execute("file.write", { path: "a", content: "b" }, context())),
    ).toBe("TOOL_FORBIDDEN");
    const denying = new ToolRegistry({ policy: createSecurityPolicy({ deny: ["t"] }) });
    denying.register({ name: "t", description: "t", inputSchema: {}, handler: () => 1 });
    expect(await codeOf(denying.execute("t", {}, context()))).toBe("TOOL_FORBIDDEN");
  });
});

describe("bundle tools", () => {
  it("addresses BUNDLE/TOOL always and bare names when unambiguous", async () => {
    const registries = createRegistries();
    const a = await writeBundle(root, {
      name: "alpha",
      version: "1.0.0",
      tools: [{ name: "shared" }, { name: "onlyAlpha", handler: "async () => 'alpha'" }],
    });
    const b = await writeBundle(root, {
      name: "beta",
      version: "1.0.0",
      tools: [{ name: "shared", handler: "async () => 'beta'" }],
    });
    await registries.registerBundle(a.installed, a.dir);
    await registries.registerBundle(b.installed, b.dir);
    const { tools } = registries;
    expect(tools.resolve("alpha/shared").id).toBe("alpha/shared");
    expect(tools.resolve("onlyAlpha").id).toBe("alpha/onlyAlpha");
    expect(await codeOf(Promise.resolve().then(() => tools.resolve("shared")))).toBe(
      "TOOL_AMBIGUOUS",
    );
    expect(() => tools.resolve("shared")).toThrow(/alpha\/shared, beta\/shared/);
    expect(tools.has("gamma/shared")).toBe(false);
    expect(() => tools.resolve("nothing")).toThrow(
      expect.objectContaining({ code: "TOOL_NOT_FOUND" }),
    );
    await expect(tools.execute("beta/shared", {}, context())).resolves.toBe("beta");
    await expect(tools.execute("alpha@1.0.0/onlyAlpha", {}, context())).resolves.toBe("alpha");
    expect(tools.resolve("beta/shared").bundle).toEqual({
      name: "beta",
      version: "1.0.0",
      digest: b.installed.digest,
    });
  });

  it("maps tool ids to LLM-safe names one-to-one and back", async () => {
    const registries = createRegistries();
    const t = await writeBundle(root, {
      name: "text-tools",
      version: "1.0.0",
      tools: [{ name: "wordCount" }],
    });
    // A bundle whose tool id has the same base LLM form as another id.
    const c = await writeBundle(root, {
      name: "text",
      version: "1.0.0",
      tools: [{ name: "tools__wordCount" }],
    });
    await registries.registerBundle(t.installed, t.dir);
    await registries.registerBundle(c.installed, c.dir);
    const { tools } = registries;
    expect(toLlmToolName("text-tools/wordCount")).toBe("text-tools__wordCount");
    expect(tools.llmName("text-tools/wordCount")).toBe("text-tools__wordCount");
    expect(tools.llmName("file.read")).toBe("file_read");
    const names = tools.list().map((tool) => tools.llmName(tool.id));
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    for (const tool of tools.list())
      expect(tools.fromLlmName(tools.llmName(tool.id))).toBe(tool.id);
    expect(tools.resolve("text-tools__wordCount").id).toBe("text-tools/wordCount");
    const defs = tools.llmTools(["text-tools/wordCount", "calculator"]);
    expect(defs.map((d) => d.name)).toEqual(["text-tools__wordCount", "calculator"]);
    expect(toLlmToolName(`b/${"x".repeat(100)}`)).toMatch(/^[a-zA-Z0-9_-]{64}$/);
  });

  it("runs container tools through the injected executor, or fails with CONTAINER_RUNTIME_UNAVAILABLE", async () => {
    const spec = {
      name: "boxed",
      version: "1.0.0",
      tools: [{ name: "inBox", execution: "container" as const, noExport: true }],
    };
    const bundle = await writeBundle(root, spec);
    const without = createRegistries();
    await without.registerBundle(bundle.installed, bundle.dir);
    expect(await codeOf(without.tools.execute("boxed/inBox", {}, context()))).toBe(
      "CONTAINER_RUNTIME_UNAVAILABLE",
    );
    const seen: ContainerToolRequest[] = [];
    const withExecutor = createRegistries({
      containerExecutor: {
        executeTool: async (request) => {
          seen.push(request);
          return { ranIn: "container" };
        },
      },
    });
    await withExecutor.registerBundle(bundle.installed, bundle.dir);
    await expect(withExecutor.tools.execute("inBox", { x: 1 }, context())).resolves.toEqual({
      ranIn: "container",
    });
    expect(seen[0]).toMatchObject({
      input: { x: 1 },
      bundleDir: bundle.dir,
      exportName: "inBox",
      tool: { id: "boxed/inBox" },
    });
  });

  it("with eager loading, refuses a bundle whose in-process tool has no exported handler", async () => {
    const bundle = await writeBundle(root, {
      name: "broken",
      version: "1.0.0",
      tools: [{ name: "ghost", noExport: true }],
    });
    const registries = createRegistries({ loading: "eager" });
    const error = await caught(registries.registerBundle(bundle.installed, bundle.dir));
    expect(error.code).toBe("BUNDLE_INVALID");
    expect(error.details.reason).toBe("missing_export");
    expect(registries.tools.has("broken/ghost")).toBe(false);
  });

  it("with lazy loading, reports a missing exported handler on the tool's first execution", async () => {
    const bundle = await writeBundle(root, {
      name: "broken-lazy",
      version: "1.0.0",
      tools: [{ name: "ghost", noExport: true }],
    });
    const registries = createRegistries();
    await registries.registerBundle(bundle.installed, bundle.dir);
    expect(registries.tools.has("broken-lazy/ghost")).toBe(true);
    const error = await caught(registries.tools.execute("broken-lazy/ghost", {}, context()));
    expect(error.code).toBe("TOOL_EXECUTION_FAILED");
    expect(error.details.reason).toBe("missing_export");
    expect(error.context.tool).toBe("broken-lazy/ghost");
    expect(AriaError.is(error.cause) && error.cause.code).toBe("BUNDLE_INVALID");
  });

  it("emits change events", async () => {
    const registries = createRegistries();
    const events: RegistryEvent[] = [];
    registries.tools.subscribe((e) => events.push(e));
    const v1 = await writeBundle(root, {
      name: "evented",
      version: "1.0.0",
      tools: [{ name: "e" }],
    });
    await registries.registerBundle(v1.installed, v1.dir);
    registries.unregisterBundle("evented");
    expect(events.map((e) => e.type)).toEqual([
      "bundle.registered",
      "bundle.activated",
      "bundle.unregistered",
    ]);
    const first = events[0]?.seq ?? 0;
    expect(events.map((e) => e.seq)).toEqual([first, first + 1, first + 2]);
    expect(events.every((e) => e.source === "tools")).toBe(true);
  });
});
