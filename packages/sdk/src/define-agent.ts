import type { AgentLlm, McpServerSpec, TeamStrategy } from "@aria/core-types";
import type { AnyToolDefinition, GuardrailConfig } from "./define-tool.ts";
import { checkName, checkText, DEFINITION_MARKER } from "./marker.ts";

/** The options of `defineAgent`. */
export interface AgentConfig {
  name: string;
  description: string;
  /** The agent's system prompt (replaces the runtime's template entirely). */
  systemPrompt: string;
  /**
   * The tools the agent may call: tool definitions of this bundle, their names, qualified names of
   * a dependency's tools (`other-bundle/tool`), or built-in tools (`calculator`, `file.read`, ...).
   */
  tools?: Array<string | AnyToolDefinition>;
  llm?: AgentLlm;
  /** The tool-calling loop's guard (default 8). */
  maxSteps?: number;
  needsApproval?: boolean;
  guardrails?: GuardrailConfig[];
  mcpServers?: McpServerSpec[];
}

/** The manifest entry of an agent. */
export interface AgentManifestEntry {
  name: string;
  description: string;
  systemPrompt: string;
  tools: string[];
  llm?: AgentLlm;
  maxSteps: number;
  needsApproval?: boolean;
  guardrails?: GuardrailConfig[];
  mcpServers?: McpServerSpec[];
}

/** An agent made by `defineAgent`. */
export interface AgentDefinition extends AgentManifestEntry {
  readonly [DEFINITION_MARKER]: "agent";
  readonly kind: "agent";
  toManifest(): AgentManifestEntry;
}

/** The options of `defineTeam`. */
export interface TeamConfig {
  name: string;
  description: string;
  /** Member agents: definitions of this bundle or agent names (`other-bundle/agent` for a dependency's). */
  members: Array<string | AgentDefinition>;
  strategy: TeamStrategy;
  /** Role descriptions by member name (for the `role_based` strategy). */
  roles?: Record<string, string>;
}

/** The manifest entry of a team. */
export interface TeamManifestEntry {
  name: string;
  description: string;
  members: string[];
  strategy: TeamStrategy;
  roles?: Record<string, string>;
}

/** A team made by `defineTeam`. */
export interface TeamDefinition extends TeamManifestEntry {
  readonly [DEFINITION_MARKER]: "team";
  readonly kind: "team";
  toManifest(): TeamManifestEntry;
}

const refName = (value: string | { name: string }): string =>
  typeof value === "string" ? value : value.name;

/**
 * Defines an agent: an LLM with a system prompt and a set of tools, run as a tool-calling loop.
 *
 * @example
 * export const analyst = defineAgent({
 *   name: "analyst",
 *   description: "Analyses texts",
 *   systemPrompt: "You analyse texts with the tools you have.",
 *   tools: [wordCount, "calculator"],
 * });
 */
export function defineAgent(config: AgentConfig): AgentDefinition {
  checkName("agent", config.name);
  checkText("agent", config.name, "description", config.description);
  checkText("agent", config.name, "systemPrompt", config.systemPrompt);
  const entry: AgentManifestEntry = {
    name: config.name,
    description: config.description,
    systemPrompt: config.systemPrompt,
    tools: (config.tools ?? []).map(refName),
    ...(config.llm !== undefined ? { llm: config.llm } : {}),
    maxSteps: config.maxSteps ?? 8,
    ...(config.needsApproval !== undefined ? { needsApproval: config.needsApproval } : {}),
    ...(config.guardrails !== undefined ? { guardrails: config.guardrails } : {}),
    ...(config.mcpServers !== undefined ? { mcpServers: config.mcpServers } : {}),
  };
  return Object.freeze({
    ...entry,
    [DEFINITION_MARKER]: "agent" as const,
    kind: "agent" as const,
    toManifest: () => ({ ...entry, tools: [...entry.tools] }),
  });
}

/**
 * Defines a team of agents working on one task with a strategy: `parallel`, `sequential`,
 * `pipeline`, `collaborative` or `role_based`.
 */
export function defineTeam(config: TeamConfig): TeamDefinition {
  checkName("team", config.name);
  checkText("team", config.name, "description", config.description);
  if (!Array.isArray(config.members) || config.members.length === 0) {
    throw new TypeError(`team '${config.name}' needs at least one member`);
  }
  const entry: TeamManifestEntry = {
    name: config.name,
    description: config.description,
    members: config.members.map(refName),
    strategy: config.strategy,
    ...(config.roles !== undefined ? { roles: config.roles } : {}),
  };
  return Object.freeze({
    ...entry,
    [DEFINITION_MARKER]: "team" as const,
    kind: "team" as const,
    toManifest: () => ({ ...entry, members: [...entry.members] }),
  });
}
