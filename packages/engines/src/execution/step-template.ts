import type { ExecutionStep } from "@aria/core-types";
import { type CompiledTemplate, compileTemplate } from "../placeholders/compile.ts";
import type { PlaceholderReference } from "../placeholders/parse.ts";
import type { PlaceholderSource } from "../placeholders/resolve.ts";

/**
 * The parts of a step that may hold placeholders: `params` (everywhere inside), and for container
 * and reasoning steps `command`, `env` and `prompt`.
 */
export interface CompiledStep {
  readonly step: ExecutionStep;
  readonly references: readonly PlaceholderReference[];
  /** The step with its templated fields resolved (always fresh objects: the plan is never shared). */
  render(source: PlaceholderSource): ExecutionStep;
}

/** Pre-parses a step's templated fields once. */
export function compileStep(step: ExecutionStep): CompiledStep {
  const params = compileTemplate(step.params ?? {});
  const command = step.command !== undefined ? compileTemplate(step.command) : undefined;
  const env = step.env !== undefined ? compileTemplate(step.env) : undefined;
  const prompt = step.prompt !== undefined ? compileTemplate(step.prompt) : undefined;
  const references = [
    ...params.references,
    ...(command?.references ?? []),
    ...(env?.references ?? []),
    ...(prompt?.references ?? []),
  ];
  return {
    step,
    references,
    render(source) {
      const out: ExecutionStep = {
        ...step,
        params: params.render(source) as ExecutionStep["params"],
      };
      if (command !== undefined) out.command = renderField(command, source) as string[];
      if (env !== undefined) out.env = renderField(env, source) as Record<string, string>;
      if (prompt !== undefined) out.prompt = renderField(prompt, source) as string;
      return out;
    },
  };
}

function renderField(template: CompiledTemplate, source: PlaceholderSource): unknown {
  return template.render(source);
}
