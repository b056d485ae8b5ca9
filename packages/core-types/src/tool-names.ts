import { createHash } from "node:crypto";

const LLM_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The base LLM-safe form of a tool id (contracts §2): `/` becomes `__`, any other character outside
 * `[a-zA-Z0-9_-]` becomes `_` (`text-tools/wordCount` → `text-tools__wordCount`, `file.read` →
 * `file_read`), and names over 64 characters are shortened with a hash suffix. One mapping for the
 * registry and the engines, so a name means the same thing everywhere.
 */
export function toLlmToolName(id: string): string {
  if (LLM_NAME.test(id)) return id;
  const base = id.replaceAll("/", "__").replace(/[^a-zA-Z0-9_-]/g, "_");
  if (base.length <= 64 && LLM_NAME.test(base)) return base;
  return `${base.slice(0, 55)}_${shortHash(id)}`;
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/**
 * A one-to-one table between tool ids and the names shown to a model. Ids are assigned in sorted
 * order: the first id with a given base form gets it, later ones get the base form plus a hash of
 * the id, so no two ids ever share a name (and the table is the same whatever order ids come in).
 */
export class LlmToolNames {
  private readonly toLlm = new Map<string, string>();
  private readonly fromLlm = new Map<string, string>();

  constructor(ids: Iterable<string>) {
    for (const id of [...new Set(ids)].sort()) {
      let name = toLlmToolName(id);
      if (this.fromLlm.has(name)) name = `${name.slice(0, 55)}_${shortHash(id)}`;
      this.toLlm.set(id, name);
      this.fromLlm.set(name, id);
    }
  }

  /** The name shown to a model for a tool id (undefined when the id is not in the table). */
  llmName(id: string): string | undefined {
    return this.toLlm.get(id);
  }

  /** The tool id a model's name stands for (undefined when unknown). */
  toolId(llmName: string): string | undefined {
    return this.fromLlm.get(llmName);
  }

  /** Tool ids in the table. */
  ids(): string[] {
    return [...this.toLlm.keys()];
  }
}
