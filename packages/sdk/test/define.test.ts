import {
  DEFINITION_MARKER,
  defineAgent,
  definePipeline,
  defineTeam,
  defineTool,
  isDefinition,
  SdkValidationError,
} from "@aria/sdk";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";

const add = defineTool({
  name: "add",
  description: "Adds two numbers",
  input: z.object({ a: z.number(), b: z.number().default(0) }),
  output: z.object({ sum: z.number() }),
  handler: (input) => {
    expectTypeOf(input).toEqualTypeOf<{ a: number; b: number }>();
    return { sum: input.a + input.b };
  },
});

describe("defineTool", () => {
  it("types the handler from the zod schemas and applies defaults", async () => {
    expectTypeOf(add.handler).parameter(0).toEqualTypeOf<{ a: number; b?: number | undefined }>();
    expectTypeOf(add.handler).returns.resolves.toEqualTypeOf<{ sum: number }>();
    await expect(add.handler({ a: 2 })).resolves.toEqual({ sum: 2 });
    await expect(add.handler({ a: 2, b: 3.5 })).resolves.toEqual({ sum: 5.5 });
  });

  it("carries the marker and defaults", () => {
    expect(add[DEFINITION_MARKER]).toBe("tool");
    expect(isDefinition(add, "tool")).toBe(true);
    expect(isDefinition(add, "agent")).toBe(false);
    expect(isDefinition({ name: "add" })).toBe(false);
    expect(add.execution).toBe("inprocess");
    expect(add.securityLevel).toBe("safe");
    expect(add.network).toBe(false);
    expect(Object.isFrozen(add)).toBe(true);
  });

  it("derives the manifest entry with JSON Schema for input (io: input) and output", () => {
    const entry = add.toManifest();
    expect(entry).toEqual({
      name: "add",
      description: "Adds two numbers",
      inputSchema: {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number", default: 0 } },
        required: ["a"],
      },
      outputSchema: {
        type: "object",
        properties: { sum: { type: "number" } },
        required: ["sum"],
        additionalProperties: false,
      },
      execution: "inprocess",
      securityLevel: "safe",
      network: false,
    });
  });

  it("rejects bad input and output with SdkValidationError carrying the catalogue code", async () => {
    const bad = defineTool({
      name: "bad",
      description: "Returns the wrong shape",
      input: z.object({ n: z.number().int() }),
      output: z.object({ ok: z.boolean() }),
      // @ts-expect-error the output schema wants { ok: boolean }
      handler: () => ({ ok: "yes" }),
    });
    const inputError = await bad.handler({ n: 1.5 }).catch((e: unknown) => e);
    expect(inputError).toBeInstanceOf(SdkValidationError);
    expect((inputError as SdkValidationError).code).toBe("VALIDATION_FAILED");
    expect((inputError as SdkValidationError).issues[0]?.path).toBe("n");
    const outputError = await bad.handler({ n: 1 }).catch((e: unknown) => e);
    expect((outputError as SdkValidationError).code).toBe("TOOL_OUTPUT_INVALID");
  });

  it("passes a full context to the handler", async () => {
    const seen = defineTool({
      name: "seen",
      description: "Echoes the context",
      input: z.object({}),
      handler: (_input, context) => ({
        runId: context.runId,
        key: context.idempotencyKey,
        ws: context.workspaceDir,
      }),
    });
    await expect(
      seen.handler({}, { runId: "r1", idempotencyKey: "k", workspaceDir: "/w" }),
    ).resolves.toEqual({
      runId: "r1",
      key: "k",
      ws: "/w",
    });
  });

  it("refuses invalid definitions", () => {
    const handler = () => ({});
    expect(() =>
      defineTool({ name: "1bad", description: "x", input: z.object({}), handler }),
    ).toThrow(/name/);
    expect(() =>
      defineTool({ name: "ok", description: " ", input: z.object({}), handler }),
    ).toThrow(/description/);
    const notZod = { type: "object" } as unknown as z.ZodObject;
    expect(() => defineTool({ name: "ok", description: "d", input: notZod, handler })).toThrow(
      /zod/,
    );
    expect(() =>
      defineTool({ name: "ok", description: "d", input: z.date(), handler }).toManifest(),
    ).toThrow();
  });
});

describe("defineAgent, defineTeam, definePipeline", () => {
  const analyst = defineAgent({
    name: "analyst",
    description: "Analyses",
    systemPrompt: "You analyse.",
    tools: [add, "calculator", "other-bundle/tool"],
  });

  it("normalises tool and member references to names", () => {
    expect(analyst.tools).toEqual(["add", "calculator", "other-bundle/tool"]);
    expect(analyst.maxSteps).toBe(8);
    expect(analyst.toManifest()).toEqual({
      name: "analyst",
      description: "Analyses",
      systemPrompt: "You analyse.",
      tools: ["add", "calculator", "other-bundle/tool"],
      maxSteps: 8,
    });
    const team = defineTeam({
      name: "crew",
      description: "A crew",
      members: [analyst, "writer"],
      strategy: "sequential",
    });
    expect(isDefinition(team, "team")).toBe(true);
    expect(team.toManifest()).toEqual({
      name: "crew",
      description: "A crew",
      members: ["analyst", "writer"],
      strategy: "sequential",
    });
    expect(() =>
      defineTeam({ name: "empty", description: "none", members: [], strategy: "parallel" }),
    ).toThrow(/member/);
    expect(() => defineAgent({ name: "a", description: "d", systemPrompt: "" })).toThrow(
      /systemPrompt/,
    );
  });

  it("derives a pipeline manifest with step references by name and the input schema", () => {
    const flow = definePipeline({
      name: "sum-flow",
      description: "Adds then analyses",
      input: z.object({ a: z.number() }),
      steps: [
        { id: "sum", type: "tool", tool: add, params: { a: "{{input.a}}", b: 1 } },
        {
          id: "look",
          type: "agent",
          agent: analyst,
          params: { task: "Look at {{steps.sum.output.sum}}" },
          dependsOn: ["sum"],
        },
      ],
      output: "{{steps.look.output}}",
    });
    expect(isDefinition(flow, "pipeline")).toBe(true);
    const manifest = flow.toManifest();
    expect(manifest.steps.map((s) => s.tool ?? s.agent)).toEqual(["add", "analyst"]);
    expect(manifest.inputSchema).toEqual({
      type: "object",
      properties: { a: { type: "number" } },
      required: ["a"],
    });
    expect(manifest.output).toBe("{{steps.look.output}}");
    expect(() =>
      definePipeline({
        name: "dup",
        description: "d",
        steps: [
          { id: "x", type: "tool", tool: "add" },
          { id: "x", type: "tool", tool: "add" },
        ],
      }),
    ).toThrow(/two steps/);
  });
});
