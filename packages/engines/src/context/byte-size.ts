import { AriaError } from "@aria/errors";

/**
 * The size the working memory charges for one entry: the UTF-8 bytes of the key plus the UTF-8
 * bytes of `JSON.stringify(value)` (`undefined` counts as `null`, 4 bytes). This is what the entry
 * costs once serialised into a checkpoint or a snapshot, and it is deterministic, so tests can assert
 * exact numbers.
 */
export function entryBytes(key: string, value: unknown): number {
  return Buffer.byteLength(key, "utf8") + jsonBytes(value);
}

/** UTF-8 bytes of `JSON.stringify(value)`; throws VALIDATION_FAILED for values JSON cannot hold. */
export function jsonBytes(value: unknown): number {
  if (value === undefined) return 4;
  if (value === null) return 4;
  if (typeof value === "boolean") return value ? 4 : 5;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new AriaError("VALIDATION_FAILED", {
      message: `A working-memory value is not JSON-serialisable: ${(error as Error).message}`,
      cause: error,
    });
  }
  return json === undefined ? 4 : Buffer.byteLength(json, "utf8");
}
