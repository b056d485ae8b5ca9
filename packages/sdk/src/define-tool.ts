import type {
  ExecutionMode,
  GuardrailSpec,
  JsonSchema,
  Permissions,
  ResourceRequest,
  SecurityLevel,
  ToolExecutionContext,
} from "@aria/core-types";
import { z } from "zod";
import { type SdkIssue, SdkValidationError } from "./errors.ts";
import { checkName, checkText, DEFINITION_MARKER } from "./marker.ts";

/** A guardrail as an author writes it (fields with defaults may be left out). */
export type GuardrailConfig = Partial<GuardrailSpec> & Pick<GuardrailSpec, "kind">;

/** What a tool handler receives beside its input. */
export type ToolContext = ToolExecutionContext;

/** The options of `defineTool`. The handler's input type comes from the `input` schema. */
export interface ToolConfig<I extends z.ZodType, O extends z.ZodType> {
  /** Unique within the bundle; addressed as `BUNDLE/NAME` by the runtime. */
  name: string;
  /** What the tool does; LLMs read it to choose tools. */
  description: string;
  /** The input schema; it becomes the manifest's JSON Schema `inputSchema`. */
  input: I;
  /** The output schema (optional); the runtime validates outputs against it. */
  output?: O;
  /** `inprocess` (default) or `container`. */
  execution?: ExecutionMode;
  /** `safe` (default), `limited` or `privileged`; the runtime's policy decides what may run. */
  securityLevel?: SecurityLevel;
  /** CPU, memory, PID and time limits (used for container execution and timeouts). */
  resources?: ResourceRequest;
  /** Container network access (off by default; turning it on is audited). */
  network?: boolean;
  /** Ask a human before each execution. */
  needsApproval?: boolean;
  /** What the tool's container may call back over ICC. */
  permissions?: Permissions;
  guardrails?: GuardrailConfig[];
  /** The implementation. `input` is already parsed by the `input` schema (defaults applied). */
  handler: (input: z.output<I>, context: ToolContext) => Promise<z.input<O>> | z.input<O>;
}

/** The manifest entry of a tool (what `aria bundle pack` writes into `manifest.json`). */
export interface ToolManifestEntry {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  execution: ExecutionMode;
  securityLevel: SecurityLevel;
  resources?: ResourceRequest;
  network: boolean;
  needsApproval?: boolean;
  permissions?: Permissions;
  guardrails?: GuardrailConfig[];
}

/** A tool made by `defineTool`: a plain object the packer finds among the entry module's exports. */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly [DEFINITION_MARKER]: "tool";
  readonly kind: "tool";
  readonly name: string;
  readonly description: string;
  readonly input: I;
  readonly output: O | undefined;
  readonly execution: ExecutionMode;
  readonly securityLevel: SecurityLevel;
  readonly resources: ResourceRequest | undefined;
  readonly network: boolean;
  readonly needsApproval: boolean | undefined;
  readonly permissions: Permissions | undefined;
  readonly guardrails: GuardrailConfig[] | undefined;
  /**
   * Parses the input with the `input` schema, runs the author's handler, and parses its result with
   * the `output` schema. Throws `SdkValidationError` when either does not match. The context may be
   * partial (handy in tests); missing fields get neutral defaults.
   */
  readonly handler: (input: z.input<I>, context?: Partial<ToolContext>) => Promise<z.output<O>>;
  /** The manifest entry, with the zod schemas turned into JSON Schema by this SDK's zod. */
  toManifest(): ToolManifestEntry;
}

/** Any tool definition, whatever its schemas. */
// biome-ignore lint/suspicious/noExplicitAny: the handler's parameter types vary per tool
export type AnyToolDefinition = ToolDefinition<any, any>;

/** JSON Schema of a zod schema as the runtime stores it (no `$schema` key; draft 2020-12 dialect). */
export function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  return rest;
}

function issuesOf(error: z.ZodError): SdkIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
    code: issue.code,
  }));
}

function isZodSchema(value: unknown): value is z.ZodType {
  return (
    typeof value === "object" &&
    value !== null &&
    "_zod" in value &&
    typeof (value as z.ZodType).safeParseAsync === "function"
  );
}

function fullContext(context: Partial<ToolContext> | undefined, name: string): ToolContext {
  return {
    runId: context?.runId ?? "local",
    stepId: context?.stepId ?? name,
    attempt: context?.attempt ?? 1,
    idempotencyKey: context?.idempotencyKey ?? `local:${name}`,
    signal: context?.signal ?? new AbortController().signal,
    ...(context?.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
    ...(context?.workspaceDir !== undefined ? { workspaceDir: context.workspaceDir } : {}),
  };
}

/**
 * Defines a tool. The handler's `input` parameter is typed from the `input` zod schema, and its
 * return type from the `output` schema when there is one.
 *
 * @example
 * export const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers",
 *   input: z.object({ a: z.number(), b: z.number() }),
 *   output: z.object({ sum: z.number() }),
 *   handler: ({ a, b }) => ({ sum: a + b }),
 * });
 */
export function defineTool<I extends z.ZodType, O extends z.ZodType = z.ZodUnknown>(
  config: ToolConfig<I, O>,
): ToolDefinition<I, O> {
  checkName("tool", config.name);
  checkText("tool", config.name, "description", config.description);
  if (!isZodSchema(config.input))
    throw new TypeError(`tool '${config.name}': 'input' must be a zod schema`);
  if (config.output !== undefined && !isZodSchema(config.output)) {
    throw new TypeError(`tool '${config.name}': 'output' must be a zod schema`);
  }
  if (typeof config.handler !== "function")
    throw new TypeError(`tool '${config.name}': 'handler' must be a function`);
  const { name, input, output, handler } = config;

  const run = async (raw: z.input<I>, context?: Partial<ToolContext>): Promise<z.output<O>> => {
    const parsedInput = await input.safeParseAsync(raw);
    if (!parsedInput.success) {
      throw new SdkValidationError(
        "VALIDATION_FAILED",
        `tool '${name}': invalid input`,
        issuesOf(parsedInput.error),
      );
    }
    const result = await handler(parsedInput.data as z.output<I>, fullContext(context, name));
    if (output === undefined) return result as z.output<O>;
    const parsedOutput = await output.safeParseAsync(result);
    if (!parsedOutput.success) {
      throw new SdkValidationError(
        "TOOL_OUTPUT_INVALID",
        `tool '${name}': output does not match its schema`,
        issuesOf(parsedOutput.error),
      );
    }
    return parsedOutput.data as z.output<O>;
  };

  const definition: ToolDefinition<I, O> = {
    [DEFINITION_MARKER]: "tool",
    kind: "tool",
    name,
    description: config.description,
    input,
    output,
    execution: config.execution ?? "inprocess",
    securityLevel: config.securityLevel ?? "safe",
    resources: config.resources,
    network: config.network ?? false,
    needsApproval: config.needsApproval,
    permissions: config.permissions,
    guardrails: config.guardrails,
    handler: run,
    toManifest(): ToolManifestEntry {
      return {
        name,
        description: config.description,
        inputSchema: toJsonSchema(input, "input"),
        ...(output !== undefined ? { outputSchema: toJsonSchema(output, "output") } : {}),
        execution: definition.execution,
        securityLevel: definition.securityLevel,
        ...(config.resources !== undefined ? { resources: config.resources } : {}),
        network: definition.network,
        ...(config.needsApproval !== undefined ? { needsApproval: config.needsApproval } : {}),
        ...(config.permissions !== undefined ? { permissions: config.permissions } : {}),
        ...(config.guardrails !== undefined ? { guardrails: config.guardrails } : {}),
      };
    },
  };
  return Object.freeze(definition);
}
