import type { RegisteredTool } from "@aria/core-types";
import type { ToolRegistry } from "../tool-registry.ts";
import { calculatorTool } from "./calculator.ts";
import { createPlanTool } from "./create-plan.ts";
import { fileReadTool, fileWriteTool } from "./file-tools.ts";
import type { LlmToolOptions } from "./llm-json.ts";
import { ponderTool } from "./ponder.ts";

/** Options of `registerBuiltinTools`. */
export type BuiltinToolOptions = LlmToolOptions;

/**
 * Registers the built-in tools the engines need: `calculator`, `file.read`, `file.write` (confined
 * to the run's workspace), and the LLM-backed `ponder` and `createPlan` (they fail with
 * LLM_NOT_CONFIGURED when no LLM client is given).
 */
export function registerBuiltinTools(
  registry: ToolRegistry,
  options: BuiltinToolOptions = {},
): RegisteredTool[] {
  return [
    calculatorTool(),
    fileReadTool(),
    fileWriteTool(),
    ponderTool(options),
    createPlanTool(options),
  ].map((tool) => registry.register(tool, { replace: true }));
}
