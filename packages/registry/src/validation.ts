import type { JsonSchema } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import * as ajvFormats from "ajv-formats";

/** One field-level validation problem. */
export interface ValidationIssue {
  /** JSON Pointer of the offending value (`/items/0/url`; empty for the root). */
  path: string;
  message: string;
  keyword: string;
  params: Record<string, unknown>;
}

type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;
const addFormats = ((ajvFormats as unknown as { default?: FormatsPlugin }).default ??
  ajvFormats) as unknown as FormatsPlugin;

/**
 * Compiles and caches JSON Schema validators (draft 2020-12, what zod's `toJSONSchema` writes; older
 * drafts' keywords used by hand-written manifests work too). Uses ajv, the maintained, fastest
 * JSON Schema validator for Node, with ajv-formats for `format`.
 */
export class SchemaValidator {
  private readonly ajv: Ajv2020;
  private readonly cache = new WeakMap<object, ValidateFunction>();
  private readonly byText = new Map<string, ValidateFunction>();
  private readonly defaults = new Map<string, ValidateFunction>();
  private defaultsAjv: Ajv2020 | undefined;

  constructor() {
    this.ajv = new Ajv2020({
      allErrors: true,
      strict: false,
      validateFormats: true,
      coerceTypes: false,
      useDefaults: false,
    });
    addFormats(this.ajv);
  }

  private compile(schema: JsonSchema): ValidateFunction {
    let validate = this.cache.get(schema);
    if (!validate) {
      const { $schema: _dialect, ...rest } = schema as Record<string, unknown>;
      // Many tools share schema shapes: compile each distinct schema text once (ajv compiles are
      // about half a millisecond each).
      const key = JSON.stringify(rest);
      validate = this.byText.get(key);
      if (!validate) {
        validate = this.ajv.compile(rest);
        this.byText.set(key, validate);
      }
      this.cache.set(schema, validate);
    }
    return validate;
  }

  /**
   * A copy of `value` with the schema's `default`s filled in (the input is not mutated). Pipelines
   * rely on it: `z.string().default(...)` in a bundle becomes a JSON Schema default that the
   * runtime must apply before `{{input.x}}` resolves.
   */
  applyDefaults(schema: JsonSchema, value: unknown): unknown {
    if (value === null || typeof value !== "object") return value;
    const { $schema: _dialect, ...rest } = schema as Record<string, unknown>;
    const key = JSON.stringify(rest);
    let fill = this.defaults.get(key);
    if (!fill) {
      this.defaultsAjv ??= new Ajv2020({
        allErrors: true,
        strict: false,
        validateFormats: false,
        useDefaults: true,
      });
      fill = this.defaultsAjv.compile(rest);
      this.defaults.set(key, fill);
    }
    const copy = structuredClone(value);
    fill(copy);
    return copy;
  }

  /** Checks that a schema compiles; throws a plain error naming the problem otherwise. */
  check(schema: JsonSchema): void {
    this.compile(schema);
  }

  /** The issues of `value` against `schema` (empty when it is valid). */
  issues(schema: JsonSchema, value: unknown): ValidationIssue[] {
    const validate = this.compile(schema);
    if (validate(value)) return [];
    return (validate.errors ?? []).map(toIssue);
  }

  /** Throws `code` (VALIDATION_FAILED or TOOL_OUTPUT_INVALID) with field-level details when invalid. */
  assert(
    schema: JsonSchema,
    value: unknown,
    code: "VALIDATION_FAILED" | "TOOL_OUTPUT_INVALID",
    what: string,
    context: Record<string, unknown>,
  ): void {
    const issues = this.issues(schema, value);
    if (issues.length === 0) return;
    const summary = issues
      .slice(0, 3)
      .map((i) => `${i.path || "(root)"} ${i.message}`)
      .join("; ");
    throw new AriaError(code, { message: `${what}: ${summary}`, details: { issues }, context });
  }
}

function toIssue(error: ErrorObject): ValidationIssue {
  // A missing required property is reported at its parent; name the property itself.
  const missing =
    error.keyword === "required"
      ? `/${String((error.params as { missingProperty?: string }).missingProperty)}`
      : "";
  const extra =
    error.keyword === "additionalProperties"
      ? `/${String((error.params as { additionalProperty?: string }).additionalProperty)}`
      : "";
  return {
    path: `${error.instancePath}${missing}${extra}`,
    message: error.message ?? error.keyword,
    keyword: error.keyword,
    params: error.params as Record<string, unknown>,
  };
}
