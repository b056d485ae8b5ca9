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
  return new StepTemplate(step);
}

class StepTemplate implements CompiledStep {
  readonly step: ExecutionStep;
  readonly references: readonly PlaceholderReference[];
  private readonly params: CompiledTemplate;
  private readonly command: CompiledTemplate | undefined;
  private readonly env: CompiledTemplate | undefined;
  private readonly prompt: CompiledTemplate | undefined;

  constructor(step: ExecutionStep) {
    this.step = step;
    this.params = compileTemplate(step.params ?? {});
    this.command = step.command !== undefined ? compileTemplate(step.command) : undefined;
    this.env = step.env !== undefined ? compileTemplate(step.env) : undefined;
    this.prompt = step.prompt !== undefined ? compileTemplate(step.prompt) : undefined;
    this.references =
      this.command === undefined && this.env === undefined && this.prompt === undefined
        ? this.params.references
        : [
            ...this.params.references,
            ...(this.command?.references ?? []),
            ...(this.env?.references ?? []),
            ...(this.prompt?.references ?? []),
          ];
  }

  render(source: PlaceholderSource): ExecutionStep {
    const out: ExecutionStep = {
      ...this.step,
      params: this.params.render(source) as ExecutionStep["params"],
    };
    if (this.command !== undefined) out.command = this.command.render(source) as string[];
    if (this.env !== undefined) out.env = this.env.render(source) as Record<string, string>;
    if (this.prompt !== undefined) out.prompt = this.prompt.render(source) as string;
    return out;
  }
}
