import { z } from "zod";
import { LlmProviderNameSchema } from "./manifest.ts";
import { McpConfigSchema } from "./mcp.ts";

/** Feature flags (contracts §7). */
export const FeatureFlagsSchema = z.strictObject({
  planning: z.boolean().default(true),
  reflection: z.boolean().default(true),
  containers: z.boolean().default(true),
  caching: z.boolean().default(true),
  parallelSteps: z.boolean().default(true),
});
export type FeatureFlags = z.infer<typeof FeatureFlagsSchema>;

/** Limits and budgets. Every one is enforced where it applies. */
export const LimitsSchema = z.strictObject({
  maxSteps: z.number().int().positive().max(100_000).default(50),
  maxParallelSteps: z.number().int().positive().max(1024).default(8),
  maxPlanRevisions: z.number().int().min(0).max(100).default(3),
  maxReflectionRounds: z.number().int().min(0).max(100).default(3),
  maxTokensPerRun: z.number().int().positive().default(1_000_000),
  maxCostPerRunUsd: z.number().positive().default(10),
  workingMemoryBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  stepTimeoutMs: z.number().int().positive().default(300_000),
  runTimeoutMs: z.number().int().positive().default(3_600_000),
  requestBodyBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  bundleArchiveBytes: z
    .number()
    .int()
    .positive()
    .default(50 * 1024 * 1024),
  bundleFileBytes: z
    .number()
    .int()
    .positive()
    .default(20 * 1024 * 1024),
  bundleUnpackedBytes: z
    .number()
    .int()
    .positive()
    .default(200 * 1024 * 1024),
  bundleFileCount: z.number().int().positive().default(10_000),
  maxConcurrentContainers: z.number().int().positive().default(16),
  rateLimitPerMinute: z.number().int().positive().default(600),
  /** How long a worker holds a run without renewing before another may take it over. */
  runLeaseMs: z.number().int().min(1000).max(600_000).default(15_000),
  /** Runs one worker process executes at once. */
  workerConcurrency: z.number().int().positive().max(10_000).default(32),
});
export type Limits = z.infer<typeof LimitsSchema>;

const ProviderSchema = z.strictObject({
  apiKey: z.string().min(1).optional(),
  baseURL: z.string().url().optional(),
  model: z.string().min(1).optional(),
});

/**
 * What one model can do, for models whose abilities the runtime cannot guess (local ones): native
 * tool calling, a JSON response mode, and the context window in tokens. Unset fields use the LLM
 * handler's defaults (see docs/local-inference.md).
 */
export const ModelCapabilitiesSchema = z.strictObject({
  toolCalling: z.boolean().optional(),
  jsonMode: z.boolean().optional(),
  contextTokens: z.number().int().positive().optional(),
});
export type ModelCapabilitiesInput = z.infer<typeof ModelCapabilitiesSchema>;

export const LogLevelSchema = z.enum([
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "silent",
]);

/** The runtime's configuration, validated at start (contracts §7). */
export const ApprovalsConfigSchema = z.strictObject({
  timeoutMs: z.number().int().positive().default(86_400_000),
  onTimeout: z.enum(["reject", "approve"]).default("reject"),
  rules: z.array(z.string().min(1)).default([]),
  sweepIntervalMs: z.number().int().positive().default(5_000),
});
export type ApprovalsConfig = z.infer<typeof ApprovalsConfigSchema>;

export const RuntimeConfigSchema = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65_535).default(7070),
  dataDir: z.string().min(1).default("./.aria"),
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
    .optional(),
  dockerHost: z.string().optional(),
  toolImage: z.string().min(1).default("aria-tool-runner:latest"),
  llm: z
    .strictObject({
      providers: z.array(LlmProviderNameSchema).default(["openai", "anthropic", "local"]),
      openai: ProviderSchema.default({}),
      anthropic: ProviderSchema.default({}),
      local: ProviderSchema.default({}),
      timeoutMs: z.number().int().positive().default(60_000),
      maxRetries: z.number().int().min(0).max(10).default(2),
      prices: z
        .record(
          z.string(),
          z.strictObject({
            inputPerMTok: z.number().min(0),
            outputPerMTok: z.number().min(0),
            cachedInputPerMTok: z.number().min(0).optional(),
            cacheWritePerMTok: z.number().min(0).optional(),
          }),
        )
        .default({}),
      /** Capabilities per model name (tool calling, JSON mode, context size), mainly for local models. */
      models: z.record(z.string(), ModelCapabilitiesSchema).default({}),
    })
    .default({
      providers: ["openai", "anthropic", "local"],
      openai: {},
      anthropic: {},
      local: {},
      timeoutMs: 60_000,
      maxRetries: 2,
      prices: {},
      models: {},
    }),
  apiKeys: z.array(z.string().min(16, "API keys must be at least 16 characters")).default([]),
  logLevel: LogLevelSchema.default("info"),
  features: FeatureFlagsSchema.default({
    planning: true,
    reflection: true,
    containers: true,
    caching: true,
    parallelSteps: true,
  }),
  limits: LimitsSchema.default(LimitsSchema.parse({})),
  examplesDir: z.string().optional(),
  /** Development: watch the bundle sources in `examplesDir` and re-register them on every change. */
  hotReload: z.boolean().default(false),
  /** The MCP client: servers connected at start, the bundle command policy, timeouts, restarts. */
  mcp: McpConfigSchema.default(McpConfigSchema.parse({})),
  /**
   * Human approval: default wait and what its timeout decides (a step's `approval` wins), policy
   * rules that require approval (`tool:NAME`, `agent:NAME`, `team:NAME`, `pipeline:NAME`,
   * `type:KIND`, `*` wildcards), and how often expired approvals are swept.
   */
  approvals: ApprovalsConfigSchema.default(ApprovalsConfigSchema.parse({})),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type RuntimeConfigInput = z.input<typeof RuntimeConfigSchema>;
