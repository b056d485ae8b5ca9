import {
  AgentManifestSchema,
  BundleManifestSchema,
  ContainerSpecSchema,
  ContextSnapshotSchema,
  ConversationSchema,
  ErrorEnvelopeSchema,
  ExecutionMetricsSchema,
  ExecutionPlanSchema,
  IccAgentRequestSchema,
  IccContextSetRequestSchema,
  IccLlmRequestSchema,
  IccToolCallRequestSchema,
  LlmRequestSchema,
  LlmResponseSchema,
  PipelineManifestSchema,
  PipelineStepSpecSchema,
  RunEventSchema,
  RunStateSchema,
  RuntimeConfigSchema,
  StepResultSchema,
  TeamManifestSchema,
  ToolManifestSchema,
} from "@aria/core-types";
import { describe, expect, it } from "vitest";
import type { z } from "zod";

/** Returns the field paths and messages of a failed parse. */
function issues(schema: z.ZodType, value: unknown): Array<{ path: string; message: string }> {
  const result = schema.safeParse(value);
  expect(result.success).toBe(false);
  return result.success
    ? []
    : result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

const digest = `sha256:${"a".repeat(64)}`;

const manifest = {
  schemaVersion: 1,
  name: "text-tools",
  version: "1.2.0",
  description: "Text analysis tools",
  entry: "dist/index.js",
  dependencies: { "core-utils": "^1.0.0" },
  tools: [
    {
      name: "wordCount",
      description: "Counts words in a text",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
      outputSchema: { type: "object" },
      execution: "container",
      securityLevel: "limited",
      resources: { cpus: 0.5, memoryMb: 128, timeoutMs: 30000 },
      network: false,
    },
  ],
  agents: [
    {
      name: "analyst",
      description: "Analyses documents",
      systemPrompt: "You are ...",
      tools: ["wordCount"],
      llm: { provider: "openai", model: "gpt-4o-mini", temperature: 0.2, maxTokens: 1024 },
      maxSteps: 8,
    },
  ],
  teams: [
    {
      name: "review-team",
      description: "...",
      members: ["analyst", "writer"],
      strategy: "pipeline",
    },
  ],
  pipelines: [
    {
      name: "text-report",
      description: "...",
      inputSchema: { type: "object" },
      steps: [
        { id: "count", type: "tool", tool: "wordCount", params: { text: "{{input.text}}" } },
        {
          id: "summary",
          type: "agent",
          agent: "analyst",
          params: { task: "Summarise: {{input.text}}" },
          dependsOn: [],
        },
        {
          id: "report",
          type: "tool",
          tool: "formatReport",
          params: {
            words: "{{steps.count.output.words}}",
            summary: "{{steps.summary.output.text}}",
          },
          dependsOn: ["count", "summary"],
          retry: { attempts: 2 },
          continueOnError: false,
          timeoutMs: 10000,
        },
      ],
      output: "{{steps.report.output}}",
    },
  ],
  files: { "dist/index.js": digest },
};

describe("BundleManifestSchema", () => {
  it("accepts the contract's example manifest", () => {
    const parsed = BundleManifestSchema.parse(manifest);
    expect(parsed.tools[0]?.execution).toBe("container");
    expect(parsed.pipelines[0]?.steps).toHaveLength(3);
  });

  it("applies defaults for optional parts", () => {
    const parsed = BundleManifestSchema.parse({
      schemaVersion: 1,
      name: "empty",
      version: "0.1.0",
      files: {},
    });
    expect(parsed).toMatchObject({
      entry: "dist/index.js",
      tools: [],
      agents: [],
      teams: [],
      pipelines: [],
      dependencies: {},
    });
  });

  it("rejects an unknown schema version, naming the field", () => {
    expect(issues(BundleManifestSchema, { ...manifest, schemaVersion: 2 })).toContainEqual(
      expect.objectContaining({ path: "schemaVersion" }),
    );
  });

  it("rejects unknown fields in schemaVersion 1", () => {
    const found = issues(BundleManifestSchema, { ...manifest, surprise: true });
    expect(found[0]?.message).toMatch(/surprise/);
  });

  it("rejects a bad version, bad name and bad digest with field paths", () => {
    const found = issues(BundleManifestSchema, {
      ...manifest,
      name: "Bad Name",
      version: "1.2",
      files: { "dist/index.js": "md5:x" },
    });
    const paths = found.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "version", "files.dist/index.js"]));
  });

  it("carries the optional later-feature fields (needsApproval, guardrails, mcpServers, permissions)", () => {
    const parsed = BundleManifestSchema.parse({
      ...manifest,
      mcpServers: [{ name: "fs", command: ["mcp-fs"] }],
      tools: [
        {
          ...manifest.tools[0],
          needsApproval: true,
          permissions: { tools: ["x"], llm: true },
          guardrails: [{ kind: "pii" }],
        },
      ],
    });
    expect(parsed.tools[0]?.guardrails?.[0]).toEqual({ kind: "pii", on: "both", action: "block" });
  });
});

describe("tool, agent and team manifests", () => {
  it("rejects a tool without a description and a bad execution mode", () => {
    const paths = issues(ToolManifestSchema, { name: "t", inputSchema: {}, execution: "vm" }).map(
      (i) => i.path,
    );
    expect(paths).toEqual(expect.arrayContaining(["description", "execution"]));
  });
  it("rejects an agent with a temperature out of range", () => {
    expect(
      issues(AgentManifestSchema, { ...manifest.agents[0], llm: { temperature: 5 } }),
    ).toContainEqual(expect.objectContaining({ path: "llm.temperature" }));
  });
  it("keeps temperature 0", () => {
    expect(
      AgentManifestSchema.parse({ ...manifest.agents[0], llm: { temperature: 0 } }).llm
        ?.temperature,
    ).toBe(0);
  });
  it("accepts the five team strategies only", () => {
    for (const strategy of ["parallel", "sequential", "pipeline", "collaborative", "role_based"]) {
      expect(TeamManifestSchema.parse({ ...manifest.teams[0], strategy }).strategy).toBe(strategy);
    }
    expect(issues(TeamManifestSchema, { ...manifest.teams[0], strategy: "mob" })[0]?.path).toBe(
      "strategy",
    );
  });
});

describe("steps and plans", () => {
  it("accepts each of the six step kinds with their required fields", () => {
    const steps = [
      { id: "a", type: "tool", tool: "calc" },
      { id: "b", type: "agent", agent: "analyst" },
      { id: "c", type: "team", team: "review-team" },
      { id: "d", type: "container", image: "aria-tool-runner", command: ["node", "-e", "1"] },
      { id: "e", type: "pipeline", pipeline: "text-report" },
      { id: "f", type: "reasoning", prompt: "Think" },
    ];
    for (const step of steps) expect(PipelineStepSpecSchema.parse(step).type).toBe(step.type);
  });

  it("names the missing field of each kind", () => {
    expect(issues(PipelineStepSpecSchema, { id: "a", type: "tool" })).toContainEqual({
      path: "tool",
      message: "a 'tool' step needs 'tool'",
    });
    expect(
      issues(PipelineStepSpecSchema, { id: "d", type: "container", image: "x" }),
    ).toContainEqual(expect.objectContaining({ path: "command" }));
    expect(issues(PipelineStepSpecSchema, { id: "f", type: "reasoning" })).toContainEqual(
      expect.objectContaining({ path: "prompt" }),
    );
  });

  it("rejects bad step ids and unknown kinds", () => {
    const paths = issues(PipelineStepSpecSchema, { id: "has space", type: "teleport" }).map(
      (i) => i.path,
    );
    expect(paths).toEqual(expect.arrayContaining(["id", "type"]));
  });

  it("validates plans and pipelines", () => {
    const plan = ExecutionPlanSchema.parse({
      id: "p1",
      objective: "x",
      steps: [{ id: "s1", type: "tool", tool: "calc", params: { a: 1 } }],
    });
    expect(plan.revision).toBe(0);
    expect(issues(ExecutionPlanSchema, { id: "p1", steps: [] })[0]?.path).toBe("steps");
    expect(
      issues(PipelineManifestSchema, {
        name: "p",
        description: "d",
        steps: [{ id: "x", type: "tool" }],
      })[0]?.path,
    ).toBe("steps.0.tool");
  });
});

describe("results, runs, events and metrics", () => {
  const metrics = ExecutionMetricsSchema.parse({});
  it("parses step results and run state", () => {
    const step = StepResultSchema.parse({
      stepId: "a",
      index: 0,
      type: "tool",
      status: "succeeded",
      success: true,
      output: { n: 1 },
      metrics,
    });
    const run = RunStateSchema.parse({
      id: "run_1",
      status: "succeeded",
      target: { kind: "pipeline", name: "text-report" },
      steps: [step],
      metrics,
      cost: { usd: 0, inputTokens: 0, outputTokens: 0 },
      createdAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T00:00:00.000Z",
    });
    expect(run.version).toBe(0);
  });
  it("rejects a bad run status and event type", () => {
    expect(issues(RunStateSchema, { id: "r", status: "done" }).map((i) => i.path)).toContain(
      "status",
    );
    expect(
      issues(RunEventSchema, { runId: "r", seq: 0, type: "step.exploded", at: "now" })[0]?.path,
    ).toBe("type");
  });
  it("accepts the error envelope and rejects lowercase codes", () => {
    const body = {
      code: "TOOL_NOT_FOUND",
      category: "tool",
      severity: "medium",
      message: "m",
      userGuidance: "g",
      recoveryActions: ["r"],
    };
    expect(ErrorEnvelopeSchema.parse({ error: body }).error.details).toEqual({});
    expect(issues(ErrorEnvelopeSchema, { error: { ...body, code: "nope" } })[0]?.path).toBe(
      "error.code",
    );
  });
});

describe("LLM request and response", () => {
  it("accepts messages of every role with tool calls and results", () => {
    const req = LlmRequestSchema.parse({
      messages: [
        { role: "system", content: "s" },
        { role: "user", content: "u" },
        {
          role: "assistant",
          content: null,
          toolCalls: [{ id: "c1", name: "calc", arguments: { a: 1 } }],
        },
        { role: "tool", toolCallId: "c1", content: "2" },
      ],
      tools: [{ name: "calc", description: "d", parameters: { type: "object" } }],
      temperature: 0,
      responseFormat: "json",
    });
    expect(req.temperature).toBe(0);
  });
  it("rejects an empty message list, bad role and an LLM-unsafe tool name", () => {
    expect(issues(LlmRequestSchema, { messages: [] })[0]?.path).toBe("messages");
    expect(issues(LlmRequestSchema, { messages: [{ role: "robot", content: "x" }] })[0]?.path).toBe(
      "messages.0.role",
    );
    expect(
      issues(LlmRequestSchema, {
        messages: [{ role: "user", content: "x" }],
        tools: [{ name: "a/b", description: "", parameters: {} }],
      })[0]?.path,
    ).toBe("tools.0.name");
  });
  it("parses a response with usage defaults", () => {
    const res = LlmResponseSchema.parse({
      content: "hi",
      finishReason: "stop",
      usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
      model: "m",
      provider: "openai",
    });
    expect(res.usage.cachedInputTokens).toBe(0);
    expect(
      issues(LlmResponseSchema, {
        content: "x",
        finishReason: "stop",
        usage: {},
        model: "m",
        provider: "google",
      }).map((i) => i.path),
    ).toEqual(expect.arrayContaining(["usage.inputTokens", "provider"]));
  });
});

describe("containers, context, conversations and ICC", () => {
  it("hardens container specs by default", () => {
    const spec = ContainerSpecSchema.parse({ image: "img", command: ["true"] });
    expect(spec).toMatchObject({
      network: false,
      readOnlyRoot: true,
      user: "1000:1000",
      workingDir: "/workspace",
    });
    expect(
      issues(ContainerSpecSchema, { image: "img", command: [], memoryMb: -1 }).map((i) => i.path),
    ).toEqual(expect.arrayContaining(["command", "memoryMb"]));
  });
  it("parses context snapshots and conversations", () => {
    const snapshot = ContextSnapshotSchema.parse({
      schemaVersion: 1,
      runId: "r",
      memoryLimitBytes: 1024,
      memoryUsedBytes: 10,
      nextSeq: 1,
      workingMemory: [{ key: "k", value: 1, bytes: 10, createdAt: "t", seq: 0 }],
      history: [],
      insights: [],
      errors: [],
      takenAt: "t",
    });
    expect(snapshot.evictions).toBe(0);
    const conversation = ConversationSchema.parse({
      schemaVersion: 1,
      id: "c",
      state: "working",
      turns: [],
      createdAt: "t",
      updatedAt: "t",
    });
    expect(conversation.tokenEstimate).toBe(0);
    expect(issues(ConversationSchema, { ...conversation, state: "sleeping" })[0]?.path).toBe(
      "state",
    );
  });
  it("validates ICC bodies", () => {
    expect(IccToolCallRequestSchema.parse({}).parameters).toEqual({});
    expect(issues(IccAgentRequestSchema, { message: "" })[0]?.path).toBe("message");
    expect(
      issues(IccLlmRequestSchema, { messages: [{ role: "user", content: "x" }], temperature: 9 })[0]
        ?.path,
    ).toBe("temperature");
    expect(issues(IccContextSetRequestSchema, { value: 1 })[0]?.path).toBe("key");
  });
});

describe("RuntimeConfigSchema", () => {
  it("fills every default", () => {
    const config = RuntimeConfigSchema.parse({});
    expect(config).toMatchObject({ host: "127.0.0.1", port: 7070, dataDir: "./.aria" });
    expect(config.features).toEqual({
      planning: true,
      reflection: true,
      containers: true,
      caching: true,
      parallelSteps: true,
    });
    expect(config.limits.maxParallelSteps).toBe(8);
    expect(config.llm.providers).toEqual(["openai", "anthropic", "local"]);
  });
  it("names bad fields", () => {
    const paths = issues(RuntimeConfigSchema, {
      port: 70000,
      redisUrl: "http://x",
      llm: { providers: ["gemini"] },
      features: { planning: "yes" },
    }).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(["port", "redisUrl", "llm.providers.0", "features.planning"]),
    );
  });
});

describe("extractJson", () => {
  it("reads plain JSON, fenced JSON and JSON wrapped in prose, and nothing else", async () => {
    const { extractJson } = await import("@aria/core-types");
    expect(extractJson('{"a":1}')).toEqual({ a: 1 });
    expect(extractJson('Here:\n```json\n{"b":[1,2]}\n```\nDone.')).toEqual({ b: [1, 2] });
    expect(extractJson('I think {"c":true} is right')).toEqual({ c: true });
    expect(extractJson("[1, 2, 3] are the steps")).toEqual([1, 2, 3]);
    expect(extractJson("no json here")).toBeUndefined();
    expect(extractJson("   ")).toBeUndefined();
  });
});
