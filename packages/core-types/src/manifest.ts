import { z } from "zod";
import { DigestSchema, JsonSchemaSchema, JsonValueSchema, NameSchema } from "./json.ts";
import { ExecutionModeSchema, ResourceRequestSchema, SecurityLevelSchema } from "./resources.ts";

/** Guardrail reference in a manifest: a built-in check or a custom one exported by the bundle. */
export const GuardrailSpecSchema = z.strictObject({
  kind: z.enum(["schema", "size", "regex", "pii", "custom"]),
  on: z.enum(["input", "output", "both"]).default("both"),
  action: z.enum(["block", "redact", "warn"]).default("block"),
  pattern: z.string().optional(),
  maxBytes: z.number().int().positive().optional(),
  schema: JsonSchemaSchema.optional(),
  export: z.string().optional(),
});
export type GuardrailSpec = z.infer<typeof GuardrailSpecSchema>;

/** An MCP server an agent or bundle uses: a stdio command or a streamable HTTP URL on loopback. */
export const McpServerSpecSchema = z.strictObject({
  name: NameSchema,
  command: z.array(z.string()).min(1).optional(),
  url: z.string().url().optional(),
  env: z.record(z.string(), z.string()).optional(),
});
export type McpServerSpec = z.infer<typeof McpServerSpecSchema>;

/**
 * A step's approval policy: how long a pending approval may wait (`timeoutMs`) and what its
 * timeout decides (`onTimeout`: `reject`, the default, or `approve`).
 */
export const ApprovalPolicySchema = z.strictObject({
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(30 * 86_400_000)
    .optional(),
  onTimeout: z.enum(["reject", "approve"]).optional(),
});
export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;

/** Which ICC capabilities a tool's container may use. */
export const PermissionsSchema = z.strictObject({
  tools: z.union([z.boolean(), z.array(z.string())]).optional(),
  agents: z.union([z.boolean(), z.array(z.string())]).optional(),
  llm: z.boolean().optional(),
  context: z.enum(["none", "read", "readwrite"]).optional(),
});
export type Permissions = z.infer<typeof PermissionsSchema>;

export const ToolManifestSchema = z.strictObject({
  name: NameSchema,
  description: z.string().min(1),
  inputSchema: JsonSchemaSchema,
  outputSchema: JsonSchemaSchema.optional(),
  execution: ExecutionModeSchema.default("inprocess"),
  securityLevel: SecurityLevelSchema.default("safe"),
  resources: ResourceRequestSchema.optional(),
  network: z.boolean().default(false),
  export: z.string().optional(),
  needsApproval: z.boolean().optional(),
  guardrails: z.array(GuardrailSpecSchema).optional(),
  permissions: PermissionsSchema.optional(),
});
export type ToolManifest = z.infer<typeof ToolManifestSchema>;

export const LlmProviderNameSchema = z.enum(["openai", "anthropic", "local"]);
export type LlmProviderName = z.infer<typeof LlmProviderNameSchema>;

export const AgentLlmSchema = z.strictObject({
  provider: LlmProviderNameSchema.optional(),
  model: z.string().min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
});
export type AgentLlm = z.infer<typeof AgentLlmSchema>;

export const AgentManifestSchema = z.strictObject({
  name: NameSchema,
  description: z.string().min(1),
  systemPrompt: z.string().min(1),
  tools: z.array(z.string().min(1)).default([]),
  llm: AgentLlmSchema.optional(),
  maxSteps: z.number().int().positive().max(1000).default(8),
  needsApproval: z.boolean().optional(),
  guardrails: z.array(GuardrailSpecSchema).optional(),
  mcpServers: z.array(McpServerSpecSchema).optional(),
});
export type AgentManifest = z.infer<typeof AgentManifestSchema>;

export const TeamStrategySchema = z.enum([
  "parallel",
  "sequential",
  "pipeline",
  "collaborative",
  "role_based",
]);
export type TeamStrategy = z.infer<typeof TeamStrategySchema>;

export const TeamManifestSchema = z.strictObject({
  name: NameSchema,
  description: z.string().min(1),
  members: z.array(z.string().min(1)).min(1),
  strategy: TeamStrategySchema,
  roles: z.record(z.string(), z.string()).optional(),
});
export type TeamManifest = z.infer<typeof TeamManifestSchema>;

/** Step kinds in manifests and plans (contracts §2). */
export const StepKindSchema = z.enum([
  "tool",
  "agent",
  "team",
  "container",
  "pipeline",
  "reasoning",
]);
export type StepKind = z.infer<typeof StepKindSchema>;

export const RetrySpecSchema = z.strictObject({
  attempts: z.number().int().min(1).max(20),
  backoffMs: z.number().int().min(0).max(600_000).optional(),
  maxBackoffMs: z.number().int().min(0).max(600_000).optional(),
});
export type RetrySpec = z.infer<typeof RetrySpecSchema>;

const StepIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[a-zA-Z0-9_-]+$/, "step ids use only letters, digits, '_' and '-'");

/**
 * One step of a pipeline or a plan. The fields a kind needs are checked by `superRefine`:
 * `tool` needs `tool`, `agent` needs `agent`, `team` needs `team`, `pipeline` needs `pipeline`,
 * `container` needs `image` and `command`, `reasoning` needs `prompt` (or `params.prompt`).
 */
export const PipelineStepSpecSchema = z
  .strictObject({
    id: StepIdSchema,
    type: StepKindSchema,
    description: z.string().optional(),
    tool: z.string().min(1).optional(),
    agent: z.string().min(1).optional(),
    team: z.string().min(1).optional(),
    pipeline: z.string().min(1).optional(),
    image: z.string().min(1).optional(),
    command: z.array(z.string()).min(1).optional(),
    env: z.record(z.string(), z.string()).optional(),
    resources: ResourceRequestSchema.optional(),
    network: z.boolean().optional(),
    prompt: z.string().optional(),
    params: z.record(z.string(), JsonValueSchema).default({}),
    dependsOn: z.array(StepIdSchema).optional(),
    retry: RetrySpecSchema.optional(),
    continueOnError: z.boolean().default(false),
    timeoutMs: z.number().int().positive().max(86_400_000).optional(),
    needsApproval: z.boolean().optional(),
    /** How long the approval may wait and what happens then (needs `needsApproval` or a rule). */
    approval: ApprovalPolicySchema.optional(),
  })
  .superRefine((step, ctx) => {
    const need = (field: keyof typeof step) => {
      if (step[field] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `a '${step.type}' step needs '${String(field)}'`,
        });
      }
    };
    switch (step.type) {
      case "tool":
        need("tool");
        break;
      case "agent":
        need("agent");
        break;
      case "team":
        need("team");
        break;
      case "pipeline":
        need("pipeline");
        break;
      case "container":
        need("image");
        need("command");
        break;
      case "reasoning":
        if (step.prompt === undefined && typeof step.params.prompt !== "string") {
          ctx.addIssue({
            code: "custom",
            path: ["prompt"],
            message: "a 'reasoning' step needs 'prompt'",
          });
        }
        break;
    }
  });
export type PipelineStepSpec = z.infer<typeof PipelineStepSpecSchema>;

/** The fields a step may have, in declaration order (plans written by a model are cleaned to these). */
export const PIPELINE_STEP_KEYS = Object.keys(PipelineStepSpecSchema.shape) as ReadonlyArray<
  keyof PipelineStepSpec
>;
export type PipelineStepSpecInput = z.input<typeof PipelineStepSpecSchema>;

export const PipelineManifestSchema = z.strictObject({
  name: NameSchema,
  description: z.string().min(1),
  inputSchema: JsonSchemaSchema.optional(),
  steps: z.array(PipelineStepSpecSchema).min(1),
  output: JsonValueSchema.optional(),
  maxParallel: z.number().int().positive().max(1024).optional(),
});
export type PipelineManifest = z.infer<typeof PipelineManifestSchema>;

/** `manifest.json` at the root of a `.aria` bundle, schema version 1 (contracts §2). */
export const BundleManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  name: z
    .string()
    .min(1)
    .max(128)
    .regex(
      /^[a-z0-9][a-z0-9._-]*$/,
      "bundle names are lowercase letters, digits, '.', '_' and '-'",
    ),
  version: z
    .string()
    .regex(
      /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/,
      "must be a semantic version (1.2.3)",
    ),
  description: z.string().default(""),
  entry: z.string().min(1).default("dist/index.js"),
  dependencies: z.record(z.string(), z.string()).default({}),
  tools: z.array(ToolManifestSchema).default([]),
  agents: z.array(AgentManifestSchema).default([]),
  teams: z.array(TeamManifestSchema).default([]),
  pipelines: z.array(PipelineManifestSchema).default([]),
  mcpServers: z.array(McpServerSpecSchema).optional(),
  files: z.record(z.string(), DigestSchema),
  signature: z
    .strictObject({
      keyId: z.string().min(1),
      algorithm: z.literal("ed25519"),
      value: z.string().min(1),
    })
    .optional(),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;
export type BundleManifestInput = z.input<typeof BundleManifestSchema>;

/** What the store knows about an installed bundle. */
export const InstalledBundleSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  digest: DigestSchema,
  installedAt: z.string(),
  manifest: BundleManifestSchema,
});
export type InstalledBundle = z.infer<typeof InstalledBundleSchema>;
