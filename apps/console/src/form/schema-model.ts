/**
 * JSON Schema → form model. `describeSchema` turns a schema into a tree of field specs the form
 * renders (object, string, number, integer, boolean, enum, array of primitives; anything else is a
 * raw-JSON field); `initialDraft` gives the form's starting state (defaults applied); `buildValue`
 * turns the draft back into a value, with one message per invalid field.
 */

export type JsonSchema = Record<string, unknown>;

interface Common {
  title: string;
  description?: string;
  required: boolean;
  /** The schema allows `null` (`type: [..., "null"]` or `anyOf` with null). */
  nullable: boolean;
  default?: unknown;
}

export type FieldSpec =
  | (Common & {
      kind: "string";
      format?: string;
      minLength?: number;
      maxLength?: number;
      pattern?: string;
      multiline: boolean;
    })
  | (Common & { kind: "number" | "integer"; minimum?: number; maximum?: number })
  | (Common & { kind: "boolean" })
  | (Common & { kind: "enum"; options: unknown[] })
  | (Common & {
      kind: "array";
      item: "string" | "number" | "integer" | "boolean";
      minItems?: number;
      maxItems?: number;
    })
  | (Common & { kind: "object"; fields: Array<{ name: string; spec: FieldSpec }> })
  | (Common & { kind: "json" });

/** The form's state: strings for text and numbers (as typed), booleans, lists, nested objects. */
export type Draft = string | boolean | Draft[] | { [key: string]: Draft } | null;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `type` without `null`, and whether null was allowed (also through `anyOf`/`oneOf`). */
function unwrap(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  for (const key of ["anyOf", "oneOf"] as const) {
    const options = schema[key];
    if (Array.isArray(options)) {
      const nonNull = options.filter((o) => !(isObject(o) && o.type === "null"));
      if (nonNull.length === 1 && nonNull.length < options.length && isObject(nonNull[0])) {
        const { [key]: _drop, ...rest } = schema;
        const inner = unwrap({ ...rest, ...nonNull[0] });
        return { schema: inner.schema, nullable: true };
      }
    }
  }
  const type = schema.type;
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== "null");
    if (rest.length === 1)
      return { schema: { ...schema, type: rest[0] }, nullable: rest.length < type.length };
  }
  return { schema, nullable: false };
}

const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

/** Describes a JSON Schema as a form field (`name` is the property name, used as a fallback title). */
export function describeSchema(input: unknown, name = "", required = true): FieldSpec {
  const raw: JsonSchema = isObject(input) ? input : {};
  const { schema, nullable } = unwrap(raw);
  const common: Common = {
    title: typeof schema.title === "string" ? schema.title : name,
    ...(typeof schema.description === "string" ? { description: schema.description } : {}),
    required,
    nullable,
    ...(schema.default !== undefined ? { default: schema.default } : {}),
  };
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return { ...common, kind: "enum", options: schema.enum };
  if (schema.const !== undefined) return { ...common, kind: "enum", options: [schema.const] };
  const type = schema.type ?? (isObject(schema.properties) ? "object" : undefined);
  switch (type) {
    case "string": {
      const maxLength = num(schema.maxLength);
      return {
        ...common,
        kind: "string",
        ...(typeof schema.format === "string" ? { format: schema.format } : {}),
        ...(num(schema.minLength) !== undefined ? { minLength: num(schema.minLength)! } : {}),
        ...(maxLength !== undefined ? { maxLength } : {}),
        ...(typeof schema.pattern === "string" ? { pattern: schema.pattern } : {}),
        multiline: maxLength === undefined || maxLength > 200,
      };
    }
    case "number":
    case "integer": {
      const minimum = num(schema.minimum) ?? num(schema.exclusiveMinimum);
      const maximum = num(schema.maximum) ?? num(schema.exclusiveMaximum);
      return {
        ...common,
        kind: type as "number" | "integer",
        ...(minimum !== undefined ? { minimum } : {}),
        ...(maximum !== undefined ? { maximum } : {}),
      };
    }
    case "boolean":
      return { ...common, kind: "boolean" };
    case "array": {
      const items = isObject(schema.items) ? unwrap(schema.items).schema : undefined;
      const itemType = items?.type;
      if (
        items &&
        !Array.isArray(items.enum) &&
        (itemType === "string" ||
          itemType === "number" ||
          itemType === "integer" ||
          itemType === "boolean")
      ) {
        return {
          ...common,
          kind: "array",
          item: itemType,
          ...(num(schema.minItems) !== undefined ? { minItems: num(schema.minItems)! } : {}),
          ...(num(schema.maxItems) !== undefined ? { maxItems: num(schema.maxItems)! } : {}),
        };
      }
      return { ...common, kind: "json" };
    }
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : undefined;
      // An open map (no properties, or extra keys allowed by a schema) is edited as JSON.
      if (!properties || Object.keys(properties).length === 0) return { ...common, kind: "json" };
      const requiredList = Array.isArray(schema.required) ? schema.required.map(String) : [];
      return {
        ...common,
        kind: "object",
        fields: Object.entries(properties).map(([key, sub]) => ({
          name: key,
          spec: describeSchema(sub, key, requiredList.includes(key)),
        })),
      };
    }
    default:
      return { ...common, kind: "json" };
  }
}

const text = (value: unknown): string =>
  value === undefined || value === null ? "" : typeof value === "string" ? value : String(value);

/** The form's starting state for a spec, from `value` when given, else the schema's defaults. */
export function initialDraft(spec: FieldSpec, value?: unknown): Draft {
  const v = value !== undefined ? value : spec.default;
  switch (spec.kind) {
    case "string":
    case "number":
    case "integer":
      return text(v);
    case "boolean":
      return v === true;
    case "enum": {
      const index = spec.options.findIndex((o) => JSON.stringify(o) === JSON.stringify(v));
      return index === -1 ? "" : String(index);
    }
    case "array":
      return Array.isArray(v)
        ? v.map((item) => (spec.item === "boolean" ? item === true : text(item)))
        : [];
    case "object": {
      const source = isObject(v) ? v : {};
      const out: Record<string, Draft> = {};
      for (const field of spec.fields)
        out[field.name] = initialDraft(field.spec, source[field.name]);
      return out;
    }
    case "json":
      return v === undefined ? "" : JSON.stringify(v, null, 2);
  }
}

export interface BuildResult {
  ok: boolean;
  value: unknown;
  /** Messages by field path (`a.b`, `items.2`; `""` for the root). */
  errors: Record<string, string>;
}

const OMIT = Symbol("omit");

function primitive(
  kind: "string" | "number" | "integer" | "boolean",
  raw: Draft,
  path: string,
  errors: Record<string, string>,
): unknown {
  if (kind === "boolean") return raw === true;
  const s = typeof raw === "string" ? raw : "";
  if (kind === "string") return s;
  const n = Number(s.trim());
  if (s.trim() === "" || !Number.isFinite(n)) {
    errors[path] = "Enter a number";
    return OMIT;
  }
  if (kind === "integer" && !Number.isInteger(n)) {
    errors[path] = "Enter a whole number";
    return OMIT;
  }
  return n;
}

function build(
  spec: FieldSpec,
  draft: Draft,
  path: string,
  errors: Record<string, string>,
): unknown {
  const emptyText = typeof draft === "string" && draft.trim() === "";
  switch (spec.kind) {
    case "string": {
      const s = typeof draft === "string" ? draft : "";
      if (s === "") {
        if (spec.required && !spec.nullable && (spec.minLength ?? 0) > 0) {
          errors[path] = "Required";
          return OMIT;
        }
        if (!spec.required) return OMIT;
        return spec.nullable ? null : "";
      }
      if (spec.minLength !== undefined && s.length < spec.minLength)
        errors[path] = `At least ${spec.minLength} characters`;
      else if (spec.maxLength !== undefined && s.length > spec.maxLength)
        errors[path] = `At most ${spec.maxLength} characters`;
      else if (spec.pattern !== undefined) {
        try {
          if (!new RegExp(spec.pattern, "u").test(s)) errors[path] = `Must match ${spec.pattern}`;
        } catch {
          // A pattern JavaScript cannot compile is left to the server's validation.
        }
      }
      return s;
    }
    case "number":
    case "integer": {
      if (emptyText) {
        if (spec.required && !spec.nullable) errors[path] = "Required";
        return spec.nullable && spec.required ? null : OMIT;
      }
      const n = primitive(spec.kind, draft, path, errors);
      if (typeof n === "number") {
        if (spec.minimum !== undefined && n < spec.minimum)
          errors[path] = `At least ${spec.minimum}`;
        if (spec.maximum !== undefined && n > spec.maximum)
          errors[path] = `At most ${spec.maximum}`;
      }
      return n;
    }
    case "boolean":
      return draft === true;
    case "enum": {
      if (emptyText || draft === null) {
        if (spec.required && !spec.nullable) errors[path] = "Choose a value";
        return spec.nullable && spec.required ? null : OMIT;
      }
      return spec.options[Number(draft)];
    }
    case "array": {
      const items = Array.isArray(draft) ? draft : [];
      const out: unknown[] = [];
      items.forEach((item, i) => {
        const v = primitive(spec.item, item, `${path ? `${path}.` : ""}${i}`, errors);
        if (v !== OMIT) out.push(v);
      });
      if (spec.minItems !== undefined && out.length < spec.minItems)
        errors[path] = `At least ${spec.minItems} item${spec.minItems === 1 ? "" : "s"}`;
      if (spec.maxItems !== undefined && out.length > spec.maxItems)
        errors[path] = `At most ${spec.maxItems} items`;
      if (out.length === 0 && !spec.required) return OMIT;
      return out;
    }
    case "object": {
      const source = isObject(draft) ? (draft as Record<string, Draft>) : {};
      const out: Record<string, unknown> = {};
      for (const field of spec.fields) {
        const v = build(
          field.spec,
          source[field.name] ?? initialDraft(field.spec),
          path ? `${path}.${field.name}` : field.name,
          errors,
        );
        if (v !== OMIT) out[field.name] = v;
      }
      return out;
    }
    case "json": {
      if (emptyText || draft === null) {
        if (spec.required && !spec.nullable) errors[path] = "Required (JSON)";
        return OMIT;
      }
      try {
        return JSON.parse(typeof draft === "string" ? draft : JSON.stringify(draft));
      } catch (error) {
        errors[path] = `Not valid JSON: ${(error as Error).message}`;
        return OMIT;
      }
    }
  }
}

/** Turns a draft into the value to submit; `ok` is false when any field is invalid. */
export function buildValue(spec: FieldSpec, draft: Draft): BuildResult {
  const errors: Record<string, string> = {};
  const value = build(spec, draft, "", errors);
  return {
    ok: Object.keys(errors).length === 0,
    value: value === OMIT ? undefined : value,
    errors,
  };
}

/** Sets the value at `path` (keys and indices) in a draft, returning a new draft. */
export function setDraft(draft: Draft, path: Array<string | number>, value: Draft): Draft {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === "number") {
    const list = Array.isArray(draft) ? [...draft] : [];
    list[head] = setDraft(list[head] ?? null, rest, value);
    return list;
  }
  const obj = isObject(draft) ? { ...(draft as Record<string, Draft>) } : {};
  obj[head!] = setDraft(obj[head!] ?? null, rest, value);
  return obj;
}
