import type { JsonSchema } from "@aria/core-types";
import type { McpTarget } from "./backend.ts";

/** The arguments of an agent or a team: the task, in words. */
export const TASK_SCHEMA: JsonSchema = {
  type: "object",
  properties: {
    task: { type: "string", minLength: 1, description: "What to do, in plain words" },
  },
  required: ["task"],
  additionalProperties: false,
};

/** The field a non-object schema is wrapped in (MCP arguments are always an object). */
export const WRAPPED_FIELD = "input";

/**
 * MCP tool arguments are a JSON object, so an `inputSchema` that is not an object schema is
 * wrapped as `{input: SCHEMA}` (and unwrapped again before the call). No schema means any object.
 */
export function argumentSchema(schema: JsonSchema | undefined): {
  schema: JsonSchema;
  wrapped: boolean;
} {
  if (schema === undefined) return { schema: { type: "object" }, wrapped: false };
  if ((schema as { type?: unknown }).type === "object") return { schema, wrapped: false };
  const { $schema: _dialect, ...inner } = schema as Record<string, unknown>;
  return {
    schema: {
      type: "object",
      properties: { [WRAPPED_FIELD]: inner },
      required: [WRAPPED_FIELD],
      additionalProperties: false,
    },
    wrapped: true,
  };
}

/** The runtime's lists in the shapes `/v1/tools`, `/v1/agents`, `/v1/teams`, `/v1/pipelines` answer. */
export interface RuntimeLists {
  tools: Array<{
    id: string;
    description: string;
    inputSchema: JsonSchema;
    needsApproval?: boolean;
  }>;
  agents: Array<{ id: string; description: string; needsApproval?: boolean }>;
  teams: Array<{ id: string; description: string }>;
  pipelines: Array<{ id: string; description: string; inputSchema?: JsonSchema }>;
}

/** Turns the runtime's lists into MCP targets (the same for both backends). */
export function targetsFrom(lists: RuntimeLists): McpTarget[] {
  const withSchema = (
    kind: "tool" | "pipeline",
    item: { id: string; description: string; inputSchema?: JsonSchema; needsApproval?: boolean },
  ) => {
    const { schema, wrapped } = argumentSchema(item.inputSchema);
    return target(kind, item, schema, wrapped);
  };
  return [
    ...lists.tools.map((t) => withSchema("tool", t)),
    ...lists.agents.map((a) => target("agent", a, TASK_SCHEMA, false)),
    ...lists.teams.map((t) => target("team", t, TASK_SCHEMA, false)),
    ...lists.pipelines.map((p) => withSchema("pipeline", p)),
  ];
}

function target(
  kind: McpTarget["kind"],
  item: { id: string; description: string; needsApproval?: boolean },
  inputSchema: JsonSchema,
  wrapped: boolean,
): McpTarget {
  return {
    kind,
    id: item.id,
    description: item.description,
    inputSchema,
    wrapped,
    ...(item.needsApproval ? { needsApproval: true } : {}),
  };
}

/** The value a target runs with: the tool or pipeline input (unwrapped), or the agent's task. */
export function callInput(
  target: McpTarget,
  args: Record<string, unknown>,
): { task?: string; input?: unknown } {
  if (target.kind === "agent" || target.kind === "team") return { task: String(args.task ?? "") };
  return { input: target.wrapped ? args[WRAPPED_FIELD] : args };
}
