import { createHash } from "node:crypto";

const LLM_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Splits `BUNDLE/NAME` or `BUNDLE@VERSION/NAME` (the version optional); bare names have no bundle. */
export function parseQualifiedName(ref: string): {
  bundle?: string;
  version?: string;
  name: string;
} {
  const slash = ref.indexOf("/");
  if (slash < 0) return { name: ref };
  const head = ref.slice(0, slash);
  const name = ref.slice(slash + 1);
  const at = head.indexOf("@");
  return at < 0
    ? { bundle: head, name }
    : { bundle: head.slice(0, at), version: head.slice(at + 1), name };
}

/** `BUNDLE/NAME` */
export function qualifiedName(bundle: string, name: string): string {
  return `${bundle}/${name}`;
}

/**
 * The base LLM-safe form of a tool id: `/` becomes `__`, any other character outside
 * `[a-zA-Z0-9_-]` becomes `_` (`text-tools/wordCount` → `text-tools__wordCount`, `file.read` →
 * `file_read`), and names over 64 characters are shortened with a hash suffix. The registry keeps a
 * table so that the mapping stays one-to-one even when two ids share a base form.
 */
export function toLlmToolName(id: string): string {
  const base = id.replaceAll("/", "__").replace(/[^a-zA-Z0-9_-]/g, "_");
  if (base.length <= 64 && LLM_NAME.test(base)) return base;
  return `${base.slice(0, 55)}_${shortHash(id)}`;
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/**
 * A one-to-one table between tool ids and the names shown to an LLM. Ids are assigned in sorted
 * order: the first id with a given base form gets it, later ones get the base form plus a hash of
 * the id, so the table never maps two ids to one name.
 */
export class LlmNameTable {
  private readonly toLlm = new Map<string, string>();
  private readonly fromLlm = new Map<string, string>();

  constructor(ids: Iterable<string>) {
    for (const id of [...ids].sort()) {
      let name = toLlmToolName(id);
      if (this.fromLlm.has(name)) name = `${name.slice(0, 55)}_${shortHash(id)}`;
      this.toLlm.set(id, name);
      this.fromLlm.set(name, id);
    }
  }

  /** The LLM name of a tool id (undefined when the id is unknown). */
  llmName(id: string): string | undefined {
    return this.toLlm.get(id);
  }

  /** The tool id an LLM name stands for (undefined when unknown). */
  toolId(llmName: string): string | undefined {
    return this.fromLlm.get(llmName);
  }
}
