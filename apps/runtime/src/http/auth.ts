import { createHash, timingSafeEqual } from "node:crypto";
import { AriaError } from "@aria/errors";
import type { MiddlewareHandler } from "hono";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** A stable, non-reversible id for an API key (rate limits and audit entries use it, never the key). */
export function keyId(key: string): string {
  return `key_${digest(key).toString("hex").slice(0, 12)}`;
}

/**
 * Bearer API keys (contracts §3): with keys configured, every route but the `open` ones needs
 * `Authorization: Bearer KEY`. Keys are compared as SHA-256 digests in constant time. The caller's
 * key id is stored in `c.var.principal` for rate limits and the audit log.
 */
export function apiKeyAuth(
  keys: string[] | (() => string[]),
  open: string[] = ["/health"],
): MiddlewareHandler<{ Variables: { principal: string } }> {
  // Keys can rotate at run time (a function): digests are recomputed when the list changes.
  let source: string[] | undefined;
  let digests: Buffer[] = [];
  return async (c, next) => {
    const current = typeof keys === "function" ? keys() : keys;
    if (current !== source) {
      source = current;
      digests = current.map(digest);
    }
    if (digests.length === 0) {
      c.set("principal", "anonymous");
      return next();
    }
    if (open.includes(c.req.path)) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new AriaError("UNAUTHORIZED", {
        message: header
          ? "The Authorization header is not a Bearer token"
          : "Missing Authorization: Bearer KEY",
        context: { component: "http", operation: "auth" },
      });
    }
    const presented = digest(match[1]!);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, presented) || ok;
    if (!ok)
      throw new AriaError("UNAUTHORIZED", {
        message: "The API key is not valid",
        context: { component: "http", operation: "auth" },
      });
    c.set("principal", keyId(match[1]!));
    return next();
  };
}
