import type { AgentManifest } from "@aria/core-types";
import {
  applyGuardrails,
  type CompiledGuardrail,
  compileGuardrails,
  type GuardrailCheck,
  type GuardrailDirection,
  type GuardrailTrip,
} from "./guardrails.ts";
import type { SchemaValidator } from "./validation.ts";

/** An agent as the guard reads it: its manifest and, for a bundle agent, where it came from. */
export type GuardedAgent = AgentManifest & { id: string; bundle?: string; bundleVersion?: string };

export interface AgentGuardrailsDeps {
  /** Finds an agent by the name a step uses. */
  getAgent(name: string): GuardedAgent;
  validator: SchemaValidator;
  /** Resolves a `custom` check exported by the agent's bundle. */
  resolveCustom?: (agent: GuardedAgent, exportName: string) => Promise<GuardrailCheck>;
  /** Told of every trip (the runtime turns it into `guardrail.tripped`). */
  onGuardrail?: (trip: GuardrailTrip) => void;
}

/**
 * Guardrails on agents: the same composable checks as on tools (schema, size, regex, PII,
 * custom; block / redact / warn), on what an agent step is given (its task and parameters) and
 * on what it answers. Compiled once per agent registration. A check sees the value and the
 * agent's name, run and step: never credentials or provider keys.
 */
export class AgentGuardrails {
  private readonly deps: AgentGuardrailsDeps;
  private readonly compiled = new WeakMap<GuardedAgent, CompiledGuardrail[]>();

  constructor(deps: AgentGuardrailsDeps) {
    this.deps = deps;
  }

  /** Whether the agent has any guardrail (cheap; lets callers skip work). */
  has(agent: string): boolean {
    return (this.deps.getAgent(agent).guardrails?.length ?? 0) > 0;
  }

  /**
   * Checks `value` on one side of an agent step and returns what to continue with (redacted when
   * a `redact` guardrail tripped). A `block` throws `GUARDRAIL_TRIPPED`.
   */
  async check(
    agentName: string,
    on: GuardrailDirection,
    value: unknown,
    context: { runId: string; stepId: string },
  ): Promise<unknown> {
    const agent = this.deps.getAgent(agentName);
    if (!agent.guardrails || agent.guardrails.length === 0) return value;
    let guardrails = this.compiled.get(agent);
    if (guardrails === undefined) {
      const resolve = this.deps.resolveCustom;
      guardrails = compileGuardrails(`agent:${agent.id}`, agent.guardrails, {
        validator: this.deps.validator,
        ...(resolve !== undefined
          ? { resolveCustom: (exportName: string) => resolve(agent, exportName) }
          : {}),
      });
      this.compiled.set(agent, guardrails);
    }
    return applyGuardrails(
      guardrails,
      value,
      { tool: `agent:${agent.id}`, on, runId: context.runId, stepId: context.stepId },
      this.deps.onGuardrail,
    );
  }
}
