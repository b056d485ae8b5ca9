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

/** The registry's name for the shared one-to-one tool-id ↔ LLM-name table (contracts §2). */
export { LlmToolNames as LlmNameTable, toLlmToolName } from "@aria/core-types";
