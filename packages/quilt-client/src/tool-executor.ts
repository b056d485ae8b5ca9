import type {
  JsonSchema,
  RegisteredTool,
  ResourceRequest,
  ToolExecutionContext,
  ToolHandler,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { ContainerToolRequest, ContainerToolResult } from "./manager.ts";

/** The outcome of validating a value against a JSON Schema. */
export interface OutputValidation {
  valid: boolean;
  errors?: string[];
}

export interface ContainerToolExecutorDeps {
  /** The manager (or anything with its `runTool`). */
  manager: {
    runTool(
      request: ContainerToolRequest,
      options?: { signal?: AbortSignal },
    ): Promise<ContainerToolResult>;
  };
  /** Where a bundle is unpacked on the host, and its entry module relative to that folder. */
  resolveBundle(bundle: {
    name: string;
    version: string;
    digest: string;
  }): { dir: string; entry: string } | Promise<{ dir: string; entry: string }>;
  /** Validates an output against the tool's `outputSchema` (a maintained JSON Schema validator, e.g. ajv). */
  validateOutput?: (schema: JsonSchema, output: unknown) => OutputValidation;
  /** The bundle's resource defaults for its tools. */
  bundleDefaults?: (bundle: {
    name: string;
    version: string;
    digest: string;
  }) => ResourceRequest | undefined;
  /** Extra environment for the container (e.g. ARIA_SESSION_ID, ARIA_TASK); never an API key. */
  env?: (tool: RegisteredTool, context: ToolExecutionContext) => Record<string, string> | undefined;
  /** What the run's budget has left, for the resource calculation. */
  budget?: (
    context: ToolExecutionContext,
  ) => { remainingMs?: number; memoryMb?: number } | undefined;
  /** Receives each result's container metrics (duration, CPU, memory) for the run's metrics. */
  onResult?: (
    tool: RegisteredTool,
    context: ToolExecutionContext,
    result: ContainerToolResult,
  ) => void;
}

/** Runs `execution: "container"` bundle tools through the manager. */
export interface ContainerToolExecutor {
  execute(tool: RegisteredTool, input: unknown, context: ToolExecutionContext): Promise<unknown>;
  /** A registry handler for one tool. */
  handlerFor(tool: RegisteredTool): ToolHandler;
}

/**
 * Creates the executor for bundle tools with `execution: "container"`: the tool runs in a runner
 * container with its bundle mounted read-only at /bundle, and its output is checked against the
 * manifest's `outputSchema` on the way out (TOOL_OUTPUT_INVALID when it does not match).
 */
export function createContainerToolExecutor(
  deps: ContainerToolExecutorDeps,
): ContainerToolExecutor {
  const execute = async (
    tool: RegisteredTool,
    input: unknown,
    context: ToolExecutionContext,
  ): Promise<unknown> => {
    if (!tool.bundle) {
      throw new AriaError("TOOL_EXECUTION_FAILED", {
        message: `Tool '${tool.id}' has no bundle; only bundle tools run in containers`,
        context: { tool: tool.id, runId: context.runId, stepId: context.stepId },
      });
    }
    const location = await deps.resolveBundle(tool.bundle);
    const result = await deps.manager.runTool(
      {
        runId: context.runId,
        stepId: context.stepId,
        bundle: { ...tool.bundle, dir: location.dir, entry: location.entry },
        tool: tool.name,
        input,
        env: {
          ...deps.env?.(tool, context),
          ...(context.sessionId ? { ARIA_SESSION_ID: context.sessionId } : {}),
        },
        context: {
          attempt: context.attempt,
          idempotencyKey: context.idempotencyKey,
          ...(context.sessionId ? { sessionId: context.sessionId } : {}),
        },
        resources: tool.resources,
        bundleDefaults: deps.bundleDefaults?.(tool.bundle),
        budget: deps.budget?.(context),
        network: tool.network,
      },
      { signal: context.signal },
    );
    deps.onResult?.(tool, context, result);
    if (tool.outputSchema && deps.validateOutput) {
      const check = deps.validateOutput(tool.outputSchema, result.output);
      if (!check.valid) {
        throw new AriaError("TOOL_OUTPUT_INVALID", {
          message: `Tool '${tool.id}' returned output that does not match its outputSchema: ${(check.errors ?? []).join("; ")}`,
          context: {
            tool: tool.id,
            runId: context.runId,
            stepId: context.stepId,
            containerId: result.containerId,
          },
          details: { errors: check.errors ?? [] },
        });
      }
    }
    return result.output;
  };
  return {
    execute,
    handlerFor: (tool) => (input, context) => execute(tool, input, context),
  };
}
