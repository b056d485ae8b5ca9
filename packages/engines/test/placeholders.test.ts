import {
  compileTemplate,
  listPlaceholderReferences,
  type PlaceholderScope,
  resolvePlaceholders,
} from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";

const scope: PlaceholderScope = {
  steps: [
    {
      id: "search",
      success: true,
      output: {
        items: [{ url: "https://a.example", rank: 1 }, { url: "https://b.example" }],
        total: 2,
      },
    },
    { id: "count", success: true, output: 42 },
    { id: "broken", success: false, output: undefined },
    { id: "text", success: true, output: "hello" },
    { id: "flag", success: true, output: false },
    { id: "nothing", success: true, output: null },
  ],
  input: { text: "some words here", tags: ["x", "y"], n: 3 },
};

function unresolved(fn: () => unknown): AriaError {
  try {
    fn();
  } catch (error) {
    expect(AriaError.is(error)).toBe(true);
    const e = error as AriaError;
    expect(e.code).toBe("PLACEHOLDER_UNRESOLVED");
    return e;
  }
  throw new Error("expected PLACEHOLDER_UNRESOLVED");
}

describe("resolvePlaceholders: forms (contracts §1 table)", () => {
  it("{{step_N_output}} is the N-th step in declared order, 1-based", () => {
    expect(resolvePlaceholders("{{step_2_output}}", scope)).toBe(42);
    expect(resolvePlaceholders("{{step_1_output}}", scope)).toEqual(scope.steps[0]!.output);
  });

  it("paths: object keys, bracket indices and numeric segments", () => {
    expect(resolvePlaceholders("{{step_1_output.total}}", scope)).toBe(2);
    expect(resolvePlaceholders("{{step_1_output.items[0].url}}", scope)).toBe("https://a.example");
    expect(resolvePlaceholders("{{step_1_output.items.1.url}}", scope)).toBe("https://b.example");
    expect(resolvePlaceholders('{{step_1_output["items"][1]["url"]}}', scope)).toBe(
      "https://b.example",
    );
  });

  it("{{steps.ID.output}} and {{steps.ID.output.path}} by step id", () => {
    expect(resolvePlaceholders("{{steps.count.output}}", scope)).toBe(42);
    expect(resolvePlaceholders("{{steps.search.output.items[1].url}}", scope)).toBe(
      "https://b.example",
    );
  });

  it("{{input}} and {{input.path}}", () => {
    expect(resolvePlaceholders("{{input}}", scope)).toEqual(scope.input);
    expect(resolvePlaceholders("{{input.text}}", scope)).toBe("some words here");
    expect(resolvePlaceholders("{{input.tags[1]}}", scope)).toBe("y");
  });
});

describe("resolvePlaceholders: rules", () => {
  it("a lone placeholder keeps its type (number, boolean, object, array, null)", () => {
    const out = resolvePlaceholders(
      {
        n: "{{steps.count.output}}",
        b: "{{steps.flag.output}}",
        o: "{{step_1_output.items[0]}}",
        a: "{{step_1_output.items}}",
        z: "{{steps.nothing.output}}",
        s: "{{steps.text.output}}",
      },
      scope,
    );
    expect(out).toEqual({
      n: 42,
      b: false,
      o: { url: "https://a.example", rank: 1 },
      a: [{ url: "https://a.example", rank: 1 }, { url: "https://b.example" }],
      z: null,
      s: "hello",
    });
  });

  it("embedded placeholders become text: strings as they are, everything else as JSON", () => {
    expect(resolvePlaceholders("count={{steps.count.output}}", scope)).toBe("count=42");
    expect(resolvePlaceholders("say {{steps.text.output}}!", scope)).toBe("say hello!");
    expect(resolvePlaceholders("first: {{step_1_output.items[0]}}", scope)).toBe(
      'first: {"url":"https://a.example","rank":1}',
    );
    expect(
      resolvePlaceholders("flag {{steps.flag.output}} / {{steps.nothing.output}}", scope),
    ).toBe("flag false / null");
  });

  it("several placeholders with paths in one string all resolve (fixes the greedy match)", () => {
    expect(
      resolvePlaceholders("{{step_1_output.total}} {{step_1_output.items[1].url}}", scope),
    ).toBe("2 https://b.example");
    expect(resolvePlaceholders("{{input.n}}{{input.n}}{{steps.count.output}}", scope)).toBe("3342");
  });

  it("resolves nested objects and array elements, strings directly inside arrays included (fixes)", () => {
    const out = resolvePlaceholders(
      {
        list: ["{{steps.count.output}}", "n={{input.n}}", { deep: ["{{steps.text.output}}"] }],
        keep: 7,
      },
      scope,
    );
    expect(out).toEqual({ list: [42, "n=3", { deep: ["hello"] }], keep: 7 });
  });

  it("allows whitespace inside the braces", () => {
    expect(resolvePlaceholders("{{ step_2_output }}", scope)).toBe(42);
    expect(resolvePlaceholders("x {{  steps.search.output.items[0].url   }} y", scope)).toBe(
      "x https://a.example y",
    );
  });

  it("\\{{ is a literal {{", () => {
    expect(resolvePlaceholders("\\{{step_2_output}}", scope)).toBe("{{step_2_output}}");
    expect(resolvePlaceholders("a \\{{ b }} and {{step_2_output}}", scope)).toBe(
      "a {{ b }} and 42",
    );
    expect(resolvePlaceholders(["\\{{input}}"], scope)).toEqual(["{{input}}"]);
  });

  it("leaves strings without placeholders and non-string values alone", () => {
    expect(
      resolvePlaceholders({ a: "plain", b: 1, c: true, d: null, e: "{ single }" }, scope),
    ).toEqual({
      a: "plain",
      b: 1,
      c: true,
      d: null,
      e: "{ single }",
    });
  });

  it("never mutates its inputs and never shares structure with the scope", () => {
    const params = { a: ["{{step_1_output.items}}"], b: { c: "{{input}}" } };
    const before = structuredClone(params);
    const scopeBefore = structuredClone(scope);
    const out = resolvePlaceholders(params, scope) as {
      a: Array<Array<{ url: string }>>;
      b: { c: { tags: string[] } };
    };
    expect(params).toEqual(before);
    out.a[0]![0]!.url = "changed";
    out.b.c.tags.push("z");
    expect(scope).toEqual(scopeBefore);
  });

  it("does not let a __proto__ key pollute prototypes", () => {
    const params = JSON.parse('{"__proto__": {"polluted": "{{steps.count.output}}"}}');
    const out = resolvePlaceholders(params, scope) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toEqual({ polluted: 42 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("resolvePlaceholders: PLACEHOLDER_UNRESOLVED", () => {
  it("names a missing step by position", () => {
    const e = unresolved(() => resolvePlaceholders({ x: "{{step_9_output.a}}" }, scope));
    expect(e.message).toContain("{{step_9_output.a}}");
    expect(e.message).toContain("no step 9");
    expect(e.details).toMatchObject({
      placeholder: "{{step_9_output.a}}",
      reason: "missing_step",
      step: "step_9",
      stepIndex: 9,
    });
  });

  it("names a missing step by id", () => {
    const e = unresolved(() => resolvePlaceholders("x {{steps.nope.output}} y", scope));
    expect(e.details).toMatchObject({
      placeholder: "{{steps.nope.output}}",
      reason: "missing_step",
      step: "nope",
    });
  });

  it("names a failed step", () => {
    const e = unresolved(() => resolvePlaceholders("{{step_3_output.value}}", scope));
    expect(e.message).toContain("'broken'");
    expect(e.details).toMatchObject({ reason: "step_failed", step: "broken", stepIndex: 3 });
    const byId = unresolved(() => resolvePlaceholders("{{steps.broken.output}}", scope));
    expect(byId.details).toMatchObject({ reason: "step_failed", step: "broken" });
  });

  it("names the path segment that is missing", () => {
    const e = unresolved(() => resolvePlaceholders("{{step_1_output.items[0].title}}", scope));
    expect(e.message).toContain("no key 'title'");
    expect(e.details).toMatchObject({
      placeholder: "{{step_1_output.items[0].title}}",
      reason: "missing_path",
      step: "search",
      segment: "title",
      path: "items[0].title",
    });
    const index = unresolved(() =>
      resolvePlaceholders("{{steps.search.output.items[5].url}}", scope),
    );
    expect(index.details).toMatchObject({ segment: "[5]", reason: "missing_path" });
    expect(index.message).toContain("out of range (length 2)");
    const scalar = unresolved(() => resolvePlaceholders("{{steps.count.output.value}}", scope));
    expect(scalar.details).toMatchObject({ segment: "value", step: "count" });
    const input = unresolved(() => resolvePlaceholders("{{input.missing}}", scope));
    expect(input.details).toMatchObject({ reason: "missing_path", segment: "missing" });
  });

  it("refuses {{input}} when the run has none", () => {
    const e = unresolved(() => resolvePlaceholders("{{input.x}}", { steps: [] }));
    expect(e.details).toMatchObject({ reason: "missing_input" });
  });

  it("never leaves an unknown reference as literal text", () => {
    const e = unresolved(() => resolvePlaceholders("Hello {{name}}", scope));
    expect(e.details).toMatchObject({ placeholder: "{{name}}", reason: "invalid_reference" });
    unresolved(() => resolvePlaceholders("{{step_0_output}}", scope));
    unresolved(() => resolvePlaceholders("{{step_1_outputs}}", scope));
    unresolved(() => resolvePlaceholders("{{step_1_output.items[x]}}", scope));
  });
});

describe("listPlaceholderReferences and compileTemplate", () => {
  it("lists every reference in nested values, in order", () => {
    const refs = listPlaceholderReferences({
      a: "{{step_1_output.x}} and {{steps.b.output}}",
      b: ["{{input.q}}", { c: "{{bad}}" }],
      d: 1,
    });
    expect(refs.map((r) => r.kind)).toEqual(["position", "id", "input", "invalid"]);
    expect(refs[0]).toMatchObject({ position: 1, path: ["x"] });
    expect(refs[1]).toMatchObject({ stepId: "b", path: [] });
  });

  it("a compiled template renders like resolvePlaceholders, repeatedly", () => {
    const template = compileTemplate({
      u: "{{step_1_output.items[0].url}}",
      n: "{{step_2_output}}",
      k: [1, { z: 2 }],
    });
    expect(template.dynamic).toBe(true);
    const source = {
      stepCount: 2,
      hasInput: false,
      input: undefined,
      stepAt: (p: number) => scope.steps[p - 1],
      stepById: () => undefined,
    };
    const first = template.render(source) as { k: unknown[] };
    const second = template.render(source) as { k: unknown[] };
    expect(first).toEqual({ u: "https://a.example", n: 42, k: [1, { z: 2 }] });
    expect(second).toEqual(first);
    expect(second.k).not.toBe(first.k);
    expect(compileTemplate({ a: 1 }).dynamic).toBe(false);
  });
});
