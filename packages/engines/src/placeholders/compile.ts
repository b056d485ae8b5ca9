import {
  mayContainPlaceholder,
  type ParsedString,
  type PlaceholderReference,
  parseString,
} from "./parse.ts";
import { copyValue, type PlaceholderSource, renderParsed, setOwn } from "./resolve.ts";

/**
 * A value pre-parsed once (a step's parameters, a pipeline's output mapping) and rendered many
 * times. Parts without placeholders are kept as constants, so rendering only walks what changes.
 */
export interface CompiledTemplate {
  /** Every reference the value contains, in document order (invalid ones included). */
  readonly references: readonly PlaceholderReference[];
  /** True when the value holds at least one placeholder (or an escape to unescape). */
  readonly dynamic: boolean;
  /** Resolves the template against a source; throws `PLACEHOLDER_UNRESOLVED` like `resolvePlaceholders`. */
  render(source: PlaceholderSource): unknown;
}

/** `{}` (most steps' parameters): one shared template rendering a fresh empty object. */
const EMPTY_OBJECT: CompiledTemplate = Object.freeze({
  references: Object.freeze([]) as readonly PlaceholderReference[],
  dynamic: false,
  render: () => ({}),
});

type Node =
  | { t: 0; value: unknown } // constant: copied on render when it is an object
  | { t: 1; parsed: ParsedString } // string with placeholders or escapes
  | { t: 2; items: Node[] }
  | { t: 3; keys: string[]; values: Node[] };

/** Pre-parses `value` into a {@link CompiledTemplate}. The value is not kept by reference mutably. */
export function compileTemplate(value: unknown): CompiledTemplate {
  if (isEmptyPlainObject(value)) return EMPTY_OBJECT;
  const references: PlaceholderReference[] = [];
  return new Template(compileNode(value, references), references);
}

function isEmptyPlainObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const _ in value) return false;
  return true;
}

class Template implements CompiledTemplate {
  readonly references: readonly PlaceholderReference[];
  readonly dynamic: boolean;
  private readonly root: Node;

  constructor(root: Node, references: readonly PlaceholderReference[]) {
    this.root = root;
    this.references = references;
    this.dynamic = root.t !== 0;
  }

  render(source: PlaceholderSource): unknown {
    return renderNode(this.root, source);
  }
}

function compileNode(value: unknown, references: PlaceholderReference[]): Node {
  if (typeof value === "string") {
    if (!mayContainPlaceholder(value)) return { t: 0, value };
    const parsed = parseString(value);
    for (const part of parsed.parts) if (typeof part !== "string") references.push(part);
    return { t: 1, parsed };
  }
  if (typeof value !== "object" || value === null) return { t: 0, value };
  if (Array.isArray(value)) {
    const items = value.map((item) => compileNode(item, references));
    if (items.every((n) => n.t === 0)) return { t: 0, value: copyValue(value) };
    return { t: 2, items };
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return { t: 0, value };
  const keys = Object.keys(value);
  const values = keys.map((key) =>
    compileNode((value as Record<string, unknown>)[key], references),
  );
  if (values.every((n) => n.t === 0)) return { t: 0, value: copyValue(value) };
  return { t: 3, keys, values };
}

function renderNode(node: Node, source: PlaceholderSource): unknown {
  switch (node.t) {
    case 0:
      return copyValue(node.value);
    case 1:
      return renderParsed(node.parsed, source);
    case 2: {
      const out = new Array(node.items.length);
      for (let i = 0; i < node.items.length; i++) out[i] = renderNode(node.items[i]!, source);
      return out;
    }
    case 3: {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < node.keys.length; i++)
        setOwn(out, node.keys[i]!, renderNode(node.values[i]!, source));
      return out;
    }
  }
}

/**
 * Lists the placeholder references a value contains (nested objects and arrays included), in
 * document order. Graph validation uses it for implicit dependencies and the coordinator for
 * protecting referenced outputs from memory eviction.
 */
export function listPlaceholderReferences(value: unknown): PlaceholderReference[] {
  const out: PlaceholderReference[] = [];
  collect(value, out);
  return out;
}

function collect(value: unknown, out: PlaceholderReference[]): void {
  if (typeof value === "string") {
    if (!mayContainPlaceholder(value)) return;
    for (const part of parseString(value).parts) if (typeof part !== "string") out.push(part);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) collect(item, out);
    return;
  }
  for (const key of Object.keys(value)) collect((value as Record<string, unknown>)[key], out);
}
