import { AriaError } from "@aria/errors";

/** One content block of an MCP tool result (the parts Aria reads). */
interface ContentBlock {
  type: string;
  text?: string;
  [key: string]: unknown;
}

/** The shape of an MCP `tools/call` result Aria reads. */
export interface McpCallResult {
  content?: ContentBlock[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  /** Older servers (protocol 2024-10-07) answer with `toolResult`. */
  toolResult?: unknown;
}

/** The text of a result's text blocks, joined by new lines. */
export function resultText(result: McpCallResult): string {
  return (result.content ?? [])
    .filter((block) => block.type === "text" && typeof block.text === "string")
    .map((block) => block.text as string)
    .join("\n");
}

/**
 * What an MCP tool result becomes as Aria tool output:
 * - `structuredContent` when the server gives it (what an `outputSchema` describes);
 * - otherwise, when every content block is text: the text, parsed when it is a JSON object or array;
 * - otherwise (images, audio, resources): `{content: [...]}` with the blocks as the server sent them.
 *
 * An `isError: true` result is not output: it throws MCP_TOOL_FAILED with the server's text.
 */
export function toToolOutput(server: string, tool: string, result: McpCallResult): unknown {
  if (result.isError === true) {
    const text = resultText(result);
    throw new AriaError("MCP_TOOL_FAILED", {
      message: `MCP tool '${tool}' of server '${server}' failed: ${text || "(no message)"}`,
      details: { server, tool, text: text.slice(0, 4000), reason: "tool_error" },
    });
  }
  if (result.structuredContent !== undefined) return result.structuredContent;
  if (result.content === undefined && "toolResult" in result) return result.toolResult;
  const content = result.content ?? [];
  if (content.every((block) => block.type === "text")) {
    const text = resultText(result);
    const trimmed = text.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return text;
      }
    }
    return text;
  }
  return { content };
}
