/**
 * Parsing of `{{...}}` placeholders (contracts §1). A string is parsed once into literal text and
 * references, and the parse is cached, so resolving the same template again costs a map lookup.
 */

/** One step of a path into a value: a key (dot segment or quoted bracket) or an array index (`[0]`). */
export type PathSegment = string | number;

/** What a placeholder refers to. */
export type PlaceholderReference =
  | {
      /** `{{step_N_output...}}`: the N-th step in declared order (1-based). */
      kind: "position";
      raw: string;
      position: number;
      path: readonly PathSegment[];
    }
  | {
      /** `{{steps.ID.output...}}`. */
      kind: "id";
      raw: string;
      stepId: string;
      path: readonly PathSegment[];
    }
  | {
      /** `{{input...}}`: the run's input. */
      kind: "input";
      raw: string;
      path: readonly PathSegment[];
    }
  | {
      /** Anything else between `{{` and `}}`: always an error when resolved. */
      kind: "invalid";
      raw: string;
      problem: string;
    };

/** A parsed string: literal text and references, in order. */
export interface ParsedString {
  /** Literal pieces and references in order (literal pieces have escapes already applied). */
  readonly parts: ReadonlyArray<string | PlaceholderReference>;
  /** The reference when the string is exactly one placeholder (its value keeps its type). */
  readonly lone: PlaceholderReference | undefined;
  /** The text when the string holds no placeholder (after `\{{` unescaping). */
  readonly literal: string | undefined;
}

const CACHE_LIMIT = 20_000;
const cache = new Map<string, ParsedString>();

/** Cheap pre-check: only strings containing `{{` can hold a placeholder or an escape. */
export function mayContainPlaceholder(text: string): boolean {
  return text.includes("{{");
}

/** Parses a string into literal parts and references (cached; the result is shared and frozen). */
export function parseString(text: string): ParsedString {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const parsed = parseUncached(text);
  // A bounded cache: templates come from plans and manifests, a small and repetitive set. When it
  // fills (many one-off strings), start over rather than pay for LRU bookkeeping on every hit.
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(text, parsed);
  return parsed;
}

/** Empties the parse cache (tests and benchmarks). */
export function clearPlaceholderCache(): void {
  cache.clear();
}

function parseUncached(text: string): ParsedString {
  const parts: Array<string | PlaceholderReference> = [];
  let literal = "";
  let i = 0;
  for (;;) {
    const open = text.indexOf("{{", i);
    if (open === -1) {
      literal += text.slice(i);
      break;
    }
    if (open > 0 && text.charCodeAt(open - 1) === 92 /* \ */) {
      // `\{{` is a literal `{{` (the backslash is dropped).
      literal += `${text.slice(i, open - 1)}{{`;
      i = open + 2;
      continue;
    }
    const close = text.indexOf("}}", open + 2);
    if (close === -1) {
      // An unterminated `{{` is not a placeholder: it stays text.
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, open);
    if (literal !== "") parts.push(literal);
    literal = "";
    parts.push(parseExpression(text.slice(open, close + 2), text.slice(open + 2, close)));
    i = close + 2;
  }
  if (literal !== "") parts.push(literal);
  const references = parts.filter((p): p is PlaceholderReference => typeof p !== "string");
  const lone = parts.length === 1 && references.length === 1 ? references[0] : undefined;
  return Object.freeze({
    parts: Object.freeze(parts),
    lone,
    literal: references.length === 0 ? parts.join("") : undefined,
  });
}

const STEP_POSITION = /^step_([0-9]+)_output/;
const STEP_ID = /^steps\.([a-zA-Z0-9_-]+)\.output/;
const INPUT = /^input/;

/** Parses the text between the braces (surrounding whitespace allowed). */
export function parseExpression(raw: string, inner: string): PlaceholderReference {
  const expression = inner.trim();
  let match = STEP_POSITION.exec(expression);
  if (match !== null) {
    const position = Number(match[1]);
    if (!Number.isSafeInteger(position) || position < 1) {
      return {
        kind: "invalid",
        raw,
        problem: "step numbers start at 1 (step_1_output is the first step)",
      };
    }
    const path = parsePath(expression.slice(match[0].length));
    if (typeof path === "string") return { kind: "invalid", raw, problem: path };
    return { kind: "position", raw, position, path };
  }
  match = STEP_ID.exec(expression);
  if (match !== null) {
    const path = parsePath(expression.slice(match[0].length));
    if (typeof path === "string") return { kind: "invalid", raw, problem: path };
    return { kind: "id", raw, stepId: match[1]!, path };
  }
  match = INPUT.exec(expression);
  if (match !== null) {
    const path = parsePath(expression.slice(match[0].length));
    if (typeof path === "string") return { kind: "invalid", raw, problem: path };
    return { kind: "input", raw, path };
  }
  return {
    kind: "invalid",
    raw,
    problem:
      "not a known reference (use step_N_output, steps.ID.output or input, or write \\{{ for literal braces)",
  };
}

/** Parses `.a.b[0]["c.d"].0`; returns the segments or a problem description. */
function parsePath(rest: string): PathSegment[] | string {
  const path: PathSegment[] = [];
  let i = 0;
  const n = rest.length;
  while (i < n) {
    const c = rest.charCodeAt(i);
    if (c === 46 /* . */) {
      let j = i + 1;
      while (j < n) {
        const d = rest.charCodeAt(j);
        if (d === 46 || d === 91 /* [ */ || d === 93 /* ] */ || d <= 32) break;
        j++;
      }
      if (j === i + 1) return `empty path segment at '${rest.slice(i)}'`;
      path.push(rest.slice(i + 1, j));
      i = j;
    } else if (c === 91 /* [ */) {
      const close = findBracketEnd(rest, i);
      if (close === -1) return `unclosed '[' in path '${rest}'`;
      const body = rest.slice(i + 1, close).trim();
      if (/^[0-9]+$/.test(body)) {
        path.push(Number(body));
      } else if (
        body.length >= 2 &&
        (body[0] === '"' || body[0] === "'") &&
        body[body.length - 1] === body[0]
      ) {
        path.push(body.slice(1, -1));
      } else {
        return `bracket segments are array indices or quoted keys, not '[${body}]'`;
      }
      i = close + 1;
    } else {
      return `unexpected '${rest.slice(i)}' after the reference (paths use .key, [0] or ["key"])`;
    }
  }
  return path;
}

function findBracketEnd(text: string, open: number): number {
  const quote = text[open + 1];
  if (quote === '"' || quote === "'") {
    const end = text.indexOf(quote, open + 2);
    if (end === -1) return -1;
    return text.indexOf("]", end + 1);
  }
  return text.indexOf("]", open + 1);
}

/** Formats a path for messages: `items[0].url`. */
export function formatPath(path: readonly PathSegment[], upTo = path.length): string {
  let out = "";
  for (let i = 0; i < upTo; i++) {
    const segment = path[i]!;
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[^.[\]\s]+$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
