import { describe, expect, it } from "vitest";
import { buildValue, describeSchema, initialDraft, setDraft } from "../src/form/schema-model.ts";

const schema = {
  type: "object",
  properties: {
    text: { type: "string", description: "the text", minLength: 1 },
    count: { type: "integer", minimum: 1, maximum: 10, default: 3 },
    ratio: { type: "number" },
    loud: { type: "boolean", default: true },
    mode: { type: "string", enum: ["fast", "slow"] },
    tags: { type: "array", items: { type: "string" } },
    numbers: { type: "array", items: { type: "number" }, minItems: 1 },
    nested: {
      type: "object",
      properties: { depth: { type: "integer" } },
      required: ["depth"],
    },
    meta: { type: "object", additionalProperties: {} },
    note: { type: ["string", "null"] },
    choice: { anyOf: [{ type: "integer" }, { type: "null" }] },
  },
  required: ["text", "count", "numbers", "nested"],
};

describe("describeSchema", () => {
  it("maps each JSON Schema shape to a field kind", () => {
    const spec = describeSchema(schema);
    expect(spec.kind).toBe("object");
    if (spec.kind !== "object") return;
    const kinds = Object.fromEntries(spec.fields.map((f) => [f.name, f.spec.kind]));
    expect(kinds).toEqual({
      text: "string",
      count: "integer",
      ratio: "number",
      loud: "boolean",
      mode: "enum",
      tags: "array",
      numbers: "array",
      nested: "object",
      meta: "json",
      note: "string",
      choice: "integer",
    });
    const byName = new Map(spec.fields.map((f) => [f.name, f.spec]));
    expect(byName.get("text")).toMatchObject({
      required: true,
      description: "the text",
      minLength: 1,
    });
    expect(byName.get("ratio")?.required).toBe(false);
    expect(byName.get("note")?.nullable).toBe(true);
    expect(byName.get("choice")?.nullable).toBe(true);
  });

  it("falls back to raw JSON for shapes the form does not generate", () => {
    expect(describeSchema({ type: "array", items: { type: "object" } }).kind).toBe("json");
    expect(describeSchema({ oneOf: [{ type: "string" }, { type: "number" }] }).kind).toBe("json");
    expect(describeSchema({}).kind).toBe("json");
    expect(describeSchema({ const: "x" })).toMatchObject({ kind: "enum", options: ["x"] });
  });
});

describe("initialDraft and buildValue", () => {
  it("starts from the defaults and builds typed values", () => {
    const spec = describeSchema(schema);
    let draft = initialDraft(spec);
    expect(draft).toMatchObject({ count: "3", loud: true, text: "", tags: [] });
    draft = setDraft(draft, ["text"], "hello");
    draft = setDraft(draft, ["ratio"], "0.5");
    draft = setDraft(draft, ["mode"], "1");
    draft = setDraft(draft, ["numbers"], ["1", "2.5"]);
    draft = setDraft(draft, ["nested", "depth"], "4");
    draft = setDraft(draft, ["meta"], '{"k": [1]}');
    const result = buildValue(spec, draft);
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(true);
    expect(result.value).toEqual({
      text: "hello",
      count: 3,
      ratio: 0.5,
      loud: true,
      mode: "slow",
      numbers: [1, 2.5],
      nested: { depth: 4 },
      meta: { k: [1] },
    });
  });

  it("reports each invalid field by its path", () => {
    const spec = describeSchema(schema);
    let draft = initialDraft(spec);
    draft = setDraft(draft, ["count"], "2.5");
    draft = setDraft(draft, ["ratio"], "abc");
    draft = setDraft(draft, ["numbers"], ["1", "x"]);
    draft = setDraft(draft, ["meta"], "{nope");
    const result = buildValue(spec, draft);
    expect(result.ok).toBe(false);
    expect(Object.keys(result.errors).sort()).toEqual([
      "count",
      "meta",
      "nested.depth",
      "numbers.1",
      "ratio",
      "text",
    ]);
    expect(result.errors.count).toBe("Enter a whole number");
    expect(result.errors["nested.depth"]).toBe("Required");
    expect(result.errors.meta).toMatch(/^Not valid JSON/);
  });

  it("checks bounds and patterns", () => {
    const spec = describeSchema({
      type: "object",
      properties: {
        n: { type: "number", minimum: 0, maximum: 1 },
        code: { type: "string", pattern: "^[a-z]+$" },
        list: { type: "array", items: { type: "integer" }, maxItems: 1 },
      },
    });
    const result = buildValue(spec, { n: "2", code: "ABC", list: ["1", "2"] });
    expect(result.errors).toEqual({
      n: "At most 1",
      code: "Must match ^[a-z]+$",
      list: "At most 1 items",
    });
  });

  it("round-trips a value through the draft (the JSON toggle)", () => {
    const spec = describeSchema(schema);
    const value = {
      text: "t",
      count: 2,
      loud: false,
      mode: "fast",
      tags: ["a", "b"],
      numbers: [3],
      nested: { depth: 1 },
      note: "n",
    };
    const result = buildValue(spec, initialDraft(spec, value));
    expect(result.ok).toBe(true);
    expect(result.value).toEqual(value);
  });
});
