import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { AriaError } from "@aria/errors";
import { type IccKeyring, parseSigningKeys } from "./token.ts";

/** A fresh keyring with one random 256-bit key (for a single runtime instance). */
export function generateKeyring(kid = `k${randomBytes(4).toString("hex")}`): IccKeyring {
  return { activeKid: kid, keys: { [kid]: randomBytes(32).toString("base64url") } };
}

/**
 * The keyring from the environment: `ARIA_ICC_SIGNING_KEY`, else the file named by
 * `ARIA_ICC_SIGNING_KEY_FILE` (re-read on every call, so a rotated file takes effect when the
 * runtime calls this again and `setKeyring`s the result), else a random keyring (`generated: true`):
 * fine for one instance, but replicas that verify each other's tokens need a shared key.
 */
export function loadSigningKeys(env: Record<string, string | undefined> = process.env): {
  keyring: IccKeyring;
  source: "env" | "file" | "generated";
} {
  const inline = env.ARIA_ICC_SIGNING_KEY;
  if (inline !== undefined && inline.trim() !== "")
    return { keyring: parseSigningKeys(inline), source: "env" };
  const file = env.ARIA_ICC_SIGNING_KEY_FILE;
  if (file !== undefined && file.trim() !== "") {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      throw new AriaError("CONFIG_INVALID", {
        message: `ARIA_ICC_SIGNING_KEY_FILE cannot be read: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
        details: { field: "ARIA_ICC_SIGNING_KEY_FILE" },
        cause: error,
      });
    }
    return { keyring: parseSigningKeys(text), source: "file" };
  }
  return { keyring: generateKeyring(), source: "generated" };
}
