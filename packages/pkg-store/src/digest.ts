import { createHash } from "node:crypto";

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The hex part of a `sha256:<hex>` digest (throws on anything else). */
export function digestHex(digest: string): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!match?.[1]) throw new TypeError(`not a sha256 digest: ${digest}`);
  return match[1];
}

/**
 * JSON with object keys sorted at every level, so the same value always gives the same text
 * (manifests are written this way and signatures are computed over it).
 */
export function canonicalJson(value: unknown, indent = 0): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sortKeys(item);
    }
    return out;
  }
  return value;
}
