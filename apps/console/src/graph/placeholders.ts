/**
 * A preview of a step's resolved input, computed in the browser from the plan's parameters, the
 * run's input and the earlier steps' outputs, by the placeholder rules of contracts §1:
 * `{{input.path}}`, `{{step_N_output.path}}`, `{{steps.ID.output.path}}`; a string that is exactly
 * one placeholder becomes the raw value, placeholders inside longer strings become text (JSON for
 * non-strings), `\{{` is a literal. A placeholder that cannot be resolved yet is left as written and
 * counted in `unresolved`.
 */

export interface PreviewScope {
  input?: unknown;
  /** Steps in declared order, with their outputs when they have one. */
  steps: Array<{ id: string; output?: unknown; hasOutput: boolean }>;
}

const MISSING = Symbol("missing");
const PLACEHOLDER = /(\\?)\{\{\s*([^}]*?)\s*\}\}/g;

function segments(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split(".")) {
    if (part === "") continue;
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return [part];
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(idx[1]!);
  }
  return out;
}

function walk(value: unknown, path: string[]): unknown {
  let node: unknown = value;
  for (const key of path) {
    if (node === null || typeof node !== "object") return MISSING;
    if (!(key in (node as Record<string, unknown>))) return MISSING;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function lookup(expr: string, scope: PreviewScope): unknown {
  const input = /^input(?:([.[].*))?$/.exec(expr);
  if (input)
    return scope.input === undefined ? MISSING : walk(scope.input, segments(input[1] ?? ""));
  const byIndex = /^step_(\d+)_output(?:([.[].*))?$/.exec(expr);
  if (byIndex) {
    const step = scope.steps[Number(byIndex[1]) - 1];
    return step?.hasOutput ? walk(step.output, segments(byIndex[2] ?? "")) : MISSING;
  }
  const byId = /^steps\.([^.[]+)\.output(?:([.[].*))?$/.exec(expr);
  if (byId) {
    const step = scope.steps.find((s) => s.id === byId[1]);
    return step?.hasOutput ? walk(step.output, segments(byId[2] ?? "")) : MISSING;
  }
  return MISSING;
}

/** Resolves `value` for display; `unresolved` counts placeholders left as written. */
export function previewResolved(
  value: unknown,
  scope: PreviewScope,
): { value: unknown; unresolved: number } {
  let unresolved = 0;
  const visit = (v: unknown): unknown => {
    if (typeof v === "string") {
      const whole = /^\{\{\s*([^}]*?)\s*\}\}$/.exec(v);
      if (whole) {
        const found = lookup(whole[1]!, scope);
        if (found === MISSING) {
          unresolved++;
          return v;
        }
        return found;
      }
      return v.replace(PLACEHOLDER, (text, escaped: string, expr: string) => {
        if (escaped) return text.slice(1);
        const found = lookup(expr, scope);
        if (found === MISSING) {
          unresolved++;
          return text;
        }
        return typeof found === "string" ? found : JSON.stringify(found);
      });
    }
    if (Array.isArray(v)) return v.map(visit);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, visit(inner)]));
    return v;
  };
  return { value: visit(value), unresolved };
}
