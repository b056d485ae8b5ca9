import { describe, expect, it } from "vitest";
import { previewResolved } from "../src/graph/placeholders.ts";

const scope = {
  input: { text: "hi", n: 2, items: [{ url: "u0" }] },
  steps: [
    { id: "a", output: { label: "A", list: [1, 2] }, hasOutput: true },
    { id: "b", hasOutput: false },
  ],
};

describe("previewResolved", () => {
  it("keeps the type of a whole-string placeholder and renders embedded ones as text", () => {
    expect(
      previewResolved(
        {
          n: "{{input.n}}",
          list: "{{ steps.a.output.list }}",
          text: "say {{input.text}} to {{step_1_output.label}} with {{steps.a.output.list}}",
          url: "{{input.items[0].url}}",
          dotted: "{{input.items.0.url}}",
          nested: ["{{step_1_output}}", { deep: "{{input}}" }],
          literal: "\\{{input.text}}",
        },
        scope,
      ),
    ).toEqual({
      value: {
        n: 2,
        list: [1, 2],
        text: "say hi to A with [1,2]",
        url: "u0",
        dotted: "u0",
        nested: [{ label: "A", list: [1, 2] }, { deep: scope.input }],
        literal: "{{input.text}}",
      },
      unresolved: 0,
    });
  });

  it("leaves what cannot be resolved yet as written, and counts it", () => {
    expect(
      previewResolved(
        { a: "{{steps.b.output.x}}", b: "x {{input.missing}} y", c: "{{nope}}" },
        scope,
      ),
    ).toEqual({
      value: { a: "{{steps.b.output.x}}", b: "x {{input.missing}} y", c: "{{nope}}" },
      unresolved: 3,
    });
  });
});
