import { createHash } from "node:crypto";

/** What an MCP tool of the runtime stands for. */
export type McpTargetKind = "tool" | "agent" | "team" | "pipeline";

const KINDS: ReadonlySet<string> = new Set<McpTargetKind>(["tool", "agent", "team", "pipeline"]);

/** The longest tool name MCP clients are asked to accept (spec: 1 to 128 characters). */
export const MCP_NAME_MAX = 128;
const LEGAL = /^[A-Za-z0-9_.-]{1,128}$/;
const PLAIN = /[A-Za-z0-9.-]/;

/**
 * Encodes a runtime id (`text-tools/wordCount`, `file.read`, `mcp:docs/search`) into the characters
 * MCP allows in tool names (`[A-Za-z0-9_.-]`). `_` is the escape character, so the code is
 * prefix-free and therefore one-to-one and reversible:
 *
 * - letters, digits, `.` and `-` stay as they are;
 * - `/` becomes `__` (the same form LLM tool names use: `text-tools__wordCount`);
 * - `_` becomes `_-`;
 * - any other UTF-16 code unit becomes `_x` and four lowercase hex digits (`:` → `_x003a`).
 */
export function encodeId(id: string): string {
  let out = "";
  for (const ch of id) {
    if (PLAIN.test(ch)) out += ch;
    else if (ch === "/") out += "__";
    else if (ch === "_") out += "_-";
    else
      for (let i = 0; i < ch.length; i++)
        out += `_x${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

/** The inverse of {@link encodeId}; undefined when `text` is not an encoding. */
export function decodeId(text: string): string | undefined {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch !== "_") {
      if (!PLAIN.test(ch)) return undefined;
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === "_") out += "/";
    else if (next === "-") out += "_";
    else if (next === "x" && /^[0-9a-f]{4}$/.test(text.slice(i + 2, i + 6))) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
      i += 4;
    } else return undefined;
    i += 1;
  }
  return out.length > 0 ? out : undefined;
}

/**
 * The MCP tool name of a runtime target: `KIND.` and the encoded id
 * (`tool.text-tools__wordCount`, `pipeline.text-tools__text-report`, `agent.text-tools__analyst`).
 * Kinds contain no `.`, so the first `.` ends the kind. A name that would pass 128 characters is
 * cut at an escape boundary and ends in `_h` and 8 hex digits of the id's SHA-256: `_h` is never a
 * valid escape, so such a name cannot equal the encoding of another id (the server resolves it
 * through its current list).
 */
export function mcpToolName(kind: McpTargetKind, id: string): string {
  const full = `${kind}.${encodeId(id)}`;
  if (full.length <= MCP_NAME_MAX) return full;
  const suffix = `_h${createHash("sha256").update(`${kind}:${id}`).digest("hex").slice(0, 8)}`;
  let cut = MCP_NAME_MAX - suffix.length;
  // Do not cut inside an escape: back up to just after a plain character or a whole escape.
  let i = kind.length + 1;
  let safe = i;
  while (i < cut) {
    const step = full[i] === "_" ? (full[i + 1] === "x" ? 6 : 2) : 1;
    if (i + step > cut) break;
    i += step;
    safe = i;
  }
  cut = safe;
  return `${full.slice(0, cut)}${suffix}`;
}

/** The target an MCP tool name stands for, or undefined when it is not the encoding of one. */
export function parseMcpToolName(name: string): { kind: McpTargetKind; id: string } | undefined {
  if (!LEGAL.test(name)) return undefined;
  const dot = name.indexOf(".");
  if (dot < 0) return undefined;
  const kind = name.slice(0, dot);
  if (!KINDS.has(kind)) return undefined;
  const id = decodeId(name.slice(dot + 1));
  return id === undefined ? undefined : { kind: kind as McpTargetKind, id };
}
