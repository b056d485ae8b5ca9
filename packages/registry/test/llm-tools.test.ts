// ponder and createPlan through the real @aria/llm handler against @aria/testkit's fake OpenAI server.
import { AriaError } from "@aria/errors";
import { createLlmHandler } from "@aria/llm";
import { createRegistries, type PonderResult } from "@aria/registry";
import { type FakeProviderServer, type FakeScript, reply, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { caught, context } from "./fixtures.ts";

const servers: FakeProviderServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(script: FakeScript) {
  const server = await startFakeOpenAI(script);
  servers.push(server);
  const llm = createLlmHandler({
    config: {
      providers: ["openai"],
      openai: { apiKey: "sk-test-registry", baseURL: server.baseURL },
    },
    cache: false,
    resilience: { maxRetries: 0 },
  });
  const registries = createRegistries({ builtins: { llm } });
  return { server, tools: registries.tools };
}

const assessment: PonderResult = {
  performance: "poor",
  quality: "wrong",
  suggestedImprovements: ["pass the radius as a number", "check the unit"],
  reasoning: "The step failed because the radius was the string 'seven'; the tool needs a number.",
  confidence: 0.82,
  action: "modify_parameters",
  modifiedParameters: { radius: 7 },
};

const userText = (server: FakeProviderServer, call: number) =>
  JSON.stringify((server.calls[call]?.body as { messages?: unknown[] } | undefined)?.messages);

describe("ponder", () => {
  it("returns the model's structured assessment, validated", async () => {
    const { server, tools } = await setup([reply.text(JSON.stringify(assessment))]);
    const output = await tools.execute(
      "ponder",
      {
        query: "Why did step 'area' fail and what now?",
        context: { step: "area", error: "radius must be a number", params: { radius: "seven" } },
      },
      context({ runId: "run-ponder" }),
    );
    expect(output).toEqual(assessment);
    expect(server.calls).toHaveLength(1);
    const body = server.calls[0]?.body as {
      response_format?: { type: string };
      temperature?: number;
    };
    expect(body.response_format).toEqual({ type: "json_object" });
    expect(userText(server, 0)).toContain("radius must be a number");
    expect(userText(server, 0)).toContain("suggestedImprovements");
  });

  it("sends a repair request when the reply does not match, and accepts the corrected one", async () => {
    const { server, tools } = await setup([
      reply.text('{"performance": "bad", "reasoning": "x"}'),
      reply.text(
        `Here you go:\n\`\`\`json\n${JSON.stringify({ ...assessment, action: "retry", modifiedParameters: undefined })}\n\`\`\``,
      ),
    ]);
    const output = (await tools.execute("ponder", { query: "assess" }, context())) as PonderResult;
    expect(output.action).toBe("retry");
    expect(server.calls).toHaveLength(2);
    expect(userText(server, 1)).toContain("cannot be used");
    expect(userText(server, 1)).toContain("performance");
  });

  it("thinks first with depth 'deep'", async () => {
    const { server, tools } = await setup([
      reply.text(
        JSON.stringify({
          observations: ["the radius was text"],
          analysis: "type error",
          alternatives: ["convert"],
          uncertainties: [],
        }),
      ),
      reply.text(JSON.stringify(assessment)),
    ]);
    await expect(
      tools.execute("ponder", { query: "assess", depth: "deep" }, context()),
    ).resolves.toEqual(assessment);
    expect(server.calls).toHaveLength(2);
    expect(userText(server, 1)).toContain("the radius was text");
  });

  it("fails with LLM_INVALID_RESPONSE when the model never answers validly", async () => {
    const { tools } = await setup("I think it went fine.");
    const error = await caught(tools.execute("ponder", { query: "assess" }, context()));
    expect(error.code).toBe("LLM_INVALID_RESPONSE");
  });

  it("passes provider failures through", async () => {
    const { tools } = await setup([reply.error(500)]);
    const error = await caught(tools.execute("ponder", { query: "assess" }, context()));
    expect(AriaError.is(error)).toBe(true);
    expect(error.code).toBe("LLM_UNAVAILABLE");
  });

  it("fails with LLM_NOT_CONFIGURED without an LLM client", async () => {
    const { tools } = createRegistries();
    const error = await caught(tools.execute("ponder", { query: "assess" }, context()));
    expect(error.code).toBe("LLM_NOT_CONFIGURED");
  });
});

describe("createPlan", () => {
  const available = [
    { name: "calculator-tools/circleArea", description: "area from radius" },
    { name: "calculator-tools/circleCircumference", description: "circumference from radius" },
    { name: "calculator-tools/formatReport", description: "writes a report" },
  ];

  it("returns validated steps, accepting the original planner's shape", async () => {
    const plan = {
      plan: [
        {
          step: 1,
          useTool: true,
          tool: "calculator-tools/circleArea",
          description: "area",
          parameters: { radius: 7.5 },
        },
        {
          step: 2,
          useTool: true,
          tool: "calculator-tools/circleCircumference",
          description: "circumference",
          parameters: { radius: 7.5 },
        },
        {
          step: 3,
          useTool: false,
          tool: "none",
          description: "Compare {{step_1_output.area}} and {{step_2_output.circumference}}",
        },
        {
          id: "report",
          type: "tool",
          tool: "calculator-tools/formatReport",
          description: "report",
          params: {
            title: "Circle",
            values: { area: "{{step_1_output.area}}" },
            notes: "{{step_3_output}}",
          },
          dependsOn: ["step_1", "step_3"],
        },
      ],
      reasoning: "area and circumference first, then compare, then report",
    };
    const { server, tools } = await setup([reply.text(JSON.stringify(plan))]);
    const output = (await tools.execute(
      "createPlan",
      { objective: "Analyse a circle of radius 7.5 and write a report", availableTools: available },
      context(),
    )) as {
      steps: Array<{
        id: string;
        type: string;
        tool?: string;
        prompt?: string;
        params: Record<string, unknown>;
      }>;
      reasoning: string;
    };
    expect(output.steps.map((s) => `${s.id}:${s.type}:${s.tool ?? "-"}`)).toEqual([
      "step_1:tool:calculator-tools/circleArea",
      "step_2:tool:calculator-tools/circleCircumference",
      "step_3:reasoning:-",
      "report:tool:calculator-tools/formatReport",
    ]);
    expect(output.steps[0]?.params).toEqual({ radius: 7.5 });
    expect(output.steps[2]?.prompt).toContain("{{step_1_output.area}}");
    expect(output.reasoning).toContain("compare");
    expect(userText(server, 0)).toContain("calculator-tools/circleArea");
    expect((server.calls[0]?.body as { temperature?: number } | undefined)?.temperature).toBe(0.1);
  });

  it("repairs a plan with an unknown tool or a forward reference, then gives up with PLAN_INVALID", async () => {
    const bad = {
      steps: [
        { id: "a", type: "tool", tool: "webSearch", params: { q: "{{step_2_output}}" } },
        { id: "b", type: "reasoning", prompt: "x" },
      ],
    };
    const good = {
      steps: [
        { id: "a", type: "tool", tool: "calculator-tools/circleArea", params: { radius: 1 } },
      ],
    };
    const repaired = await setup([
      reply.text(JSON.stringify(bad)),
      reply.text(JSON.stringify(good)),
    ]);
    const output = (await repaired.tools.execute(
      "createPlan",
      { objective: "area", availableTools: available },
      context(),
    )) as { steps: unknown[] };
    expect(output.steps).toHaveLength(1);
    expect(userText(repaired.server, 1)).toContain("webSearch");
    expect(userText(repaired.server, 1)).toContain("does not run before it");

    const hopeless = await setup(JSON.stringify(bad));
    const error = await caught(
      hopeless.tools.execute(
        "createPlan",
        { objective: "area", availableTools: available },
        context(),
      ),
    );
    expect(error.code).toBe("PLAN_INVALID");
    expect((error.details.problems as string[]).some((p) => p.includes("webSearch"))).toBe(true);
  });

  it("enforces maxSteps", async () => {
    const steps = Array.from({ length: 4 }, (_, i) => ({
      id: `s${i}`,
      type: "reasoning",
      prompt: `think ${i}`,
    }));
    const { tools } = await setup(JSON.stringify({ steps }));
    const error = await caught(
      tools.execute("createPlan", { objective: "think", maxSteps: 3 }, context()),
    );
    expect(error.code).toBe("PLAN_INVALID");
    expect(error.message).toContain("more than the 3 allowed");
  });
});
