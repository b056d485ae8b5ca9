import { z } from "zod";
import { NameSchema } from "./json.ts";
import { McpServerSpecSchema } from "./manifest.ts";

/**
 * An MCP server the runtime configuration declares (trusted: a command runs on the host as the
 * runtime's user). Exactly one of `command` (stdio) and `url` (streamable HTTP, loopback only).
 */
export const McpServerConfigSchema = McpServerSpecSchema.extend({
  /** Working directory of a stdio server. */
  cwd: z.string().min(1).optional(),
  /** Timeout of one tool call, ms (default `mcp.toolTimeoutMs`). */
  timeoutMs: z.number().int().positive().max(86_400_000).optional(),
}).refine((s) => (s.command === undefined) !== (s.url === undefined), {
  message: "give exactly one of command (stdio) and url (streamable HTTP on loopback)",
});
export type McpServerConfigEntry = z.infer<typeof McpServerConfigSchema>;

/** The MCP client's configuration (`mcp` in aria.config.json; `ARIA_MCP_*` in the environment). */
export const McpConfigSchema = z.strictObject({
  /** Servers connected at start; their tools are `mcp:<name>/<tool>`. */
  servers: z
    .array(McpServerConfigSchema)
    .default([])
    .refine((list) => new Set(list.map((s) => s.name)).size === list.length, {
      message: "two MCP servers have the same name",
    }),
  /**
   * Whether bundles may declare stdio MCP servers (commands run on the host, outside any
   * container): false (default), true, or the names of the bundles allowed to.
   */
  allowBundleCommands: z.union([z.boolean(), z.array(NameSchema)]).default(false),
  /** Timeout of one MCP tool call, ms. */
  toolTimeoutMs: z.number().int().positive().max(86_400_000).default(60_000),
  /** Time to start/reach a server and finish the MCP handshake, ms. */
  connectTimeoutMs: z.number().int().positive().max(600_000).default(10_000),
  /** Restarts after a server goes away before it is given up. */
  maxRestarts: z.number().int().min(0).max(1000).default(5),
  /** First delay before a restart, ms (doubles up to `restartMaxDelayMs`). */
  restartDelayMs: z.number().int().positive().default(250),
  restartMaxDelayMs: z.number().int().positive().default(30_000),
});
export type McpConfig = z.infer<typeof McpConfigSchema>;
