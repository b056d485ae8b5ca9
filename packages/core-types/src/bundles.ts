import type { RegisteredTool, ToolExecutionContext } from "./interfaces.ts";

/**
 * Key of the `Symbol.for(...)` marker that `@aria/sdk` puts on every definition it returns. The
 * packer and the registry find definitions among a bundle's exports by this marker; `Symbol.for`
 * makes it survive the copy of the SDK that esbuild inlines into each bundle.
 */
export const ARIA_DEFINITION_KEY = "aria.definition";

/**
 * Names of the built-in tools every runtime registers (in `@aria/registry`). Agents and pipelines
 * of a bundle may name them without a bundle prefix; the packer accepts them as known tools.
 */
export const BUILTIN_TOOL_NAMES = [
  "calculator",
  "file.read",
  "file.write",
  "ponder",
  "createPlan",
] as const;
export type BuiltinToolName = (typeof BUILTIN_TOOL_NAMES)[number];

/** The kinds of definition a bundle's entry module exports. */
export type DefinitionKind = "tool" | "agent" | "team" | "pipeline";

/** What a container tool execution needs to know about the bundle that ships the tool. */
export interface ContainerToolRequest {
  tool: RegisteredTool;
  input: unknown;
  context: ToolExecutionContext;
  /** The unpacked bundle on the host (mount it read-only), when the tool comes from a bundle. */
  bundleDir?: string;
  /** The export of the bundle's entry module that holds the tool definition. */
  exportName?: string;
}

/**
 * Runs tools whose manifest says `execution: "container"`. The registry calls it for those tools;
 * the container backend implements it. Returns the tool's output (validated by the registry).
 */
export interface ContainerToolExecutor {
  executeTool(request: ContainerToolRequest): Promise<unknown>;
}
