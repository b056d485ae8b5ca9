import { AriaError } from "@aria/errors";
import type { Context } from "hono";
import type { z } from "zod";

/** Reads the raw body with a size limit: 413 PAYLOAD_TOO_LARGE past it, without reading further. */
export async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, declared);
  const body = c.req.raw.body;
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes, total);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function tooLarge(maxBytes: number, seen: number): AriaError {
  return new AriaError("PAYLOAD_TOO_LARGE", {
    message: `The body is larger than ${maxBytes} bytes`,
    details: { maxBytes, receivedAtLeast: seen },
    context: { component: "http", operation: "read-body" },
  });
}

/** Turns zod issues into the `details.issues` list of a VALIDATION_FAILED error. */
export function validationError(error: z.ZodError, what = "body"): AriaError {
  const issues = error.issues.map((i) => ({
    field: i.path.map(String).join(".") || "(root)",
    message: i.message,
  }));
  const first = issues[0];
  return new AriaError("VALIDATION_FAILED", {
    message: first ? `Invalid ${what}: '${first.field}' ${first.message}` : `Invalid ${what}`,
    details: { issues },
    context: { component: "http", operation: "validate" },
  });
}

/** Reads, parses and validates a JSON body: 413, INVALID_JSON or VALIDATION_FAILED on bad input. */
export async function jsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  maxBytes: number,
): Promise<z.infer<S>> {
  const bytes = await readBody(c, maxBytes);
  let value: unknown = {};
  if (bytes.byteLength > 0) {
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new AriaError("INVALID_JSON", {
        message: `The body is not valid JSON: ${(error as Error).message}`,
        context: { component: "http", operation: "parse-body" },
      });
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error);
  return result.data;
}
