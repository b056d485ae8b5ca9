import { SchemaValidator } from "@aria/registry";
import { describe, expect, it } from "vitest";

describe("SchemaValidator.applyDefaults", () => {
  it("fills defaults in a copy and leaves the input alone", () => {
    const validator = new SchemaValidator();
    const schema = {
      type: "object",
      properties: { text: { type: "string" }, title: { type: "string", default: "Text report" } },
      required: ["text"],
    };
    const input = { text: "hello" };
    expect(validator.applyDefaults(schema, input)).toEqual({ text: "hello", title: "Text report" });
    expect(input).toEqual({ text: "hello" });
    expect(validator.applyDefaults(schema, { text: "a", title: "Mine" })).toEqual({
      text: "a",
      title: "Mine",
    });
    expect(validator.applyDefaults(schema, "scalar")).toBe("scalar");
  });
});
