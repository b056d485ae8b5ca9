import { z } from "zod";

/** Any JSON value. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON value (validated recursively). */
export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ]),
);

/** A JSON Schema document (kept as an open object; validated by a JSON Schema validator where used). */
export const JsonSchemaSchema = z.record(z.string(), z.unknown());
export type JsonSchema = z.infer<typeof JsonSchemaSchema>;

/** A name usable for bundles, tools, agents, teams and pipelines. */
export const NameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[a-zA-Z][a-zA-Z0-9_.-]*$/,
    "must start with a letter and use only letters, digits, '_', '.', '-'",
  );

/** A `sha256:<64 hex>` content address. */
export const DigestSchema = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 lowercase hex>");
export type Digest = z.infer<typeof DigestSchema>;
