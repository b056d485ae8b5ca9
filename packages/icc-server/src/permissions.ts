import type { IccPermission, Permissions } from "@aria/core-types";
import type { IccTokenClaims, MintTokenInput } from "./token.ts";

/** The permission part of a token. */
export type TokenPermissions = Pick<
  MintTokenInput,
  "permissions" | "tools" | "agents" | "contextAccess"
>;

/** What a container gets when its tool declares no `permissions`: it may read its run's context. */
export const DEFAULT_TOKEN_PERMISSIONS: TokenPermissions = {
  permissions: ["context"],
  contextAccess: "read",
};

/** Every permission, no allow-lists (for trusted callers and tests). */
export const ALL_TOKEN_PERMISSIONS: TokenPermissions = {
  permissions: ["tools", "agents", "llm", "context"],
  contextAccess: "readwrite",
};

/**
 * Maps a tool manifest's `permissions` (`tools`/`agents`: true or a list of names, `llm`: boolean,
 * `context`: none|read|readwrite) to a token's permissions. Undefined gives `fallback` (default
 * `DEFAULT_TOKEN_PERMISSIONS`: context read only).
 */
export function permissionsFromManifest(
  manifest: Permissions | undefined,
  fallback: TokenPermissions = DEFAULT_TOKEN_PERMISSIONS,
): TokenPermissions {
  if (manifest === undefined) return fallback;
  const permissions: IccPermission[] = [];
  const out: TokenPermissions = { permissions };
  if (manifest.tools === true || (Array.isArray(manifest.tools) && manifest.tools.length > 0)) {
    permissions.push("tools");
    if (Array.isArray(manifest.tools)) out.tools = manifest.tools;
  }
  if (manifest.agents === true || (Array.isArray(manifest.agents) && manifest.agents.length > 0)) {
    permissions.push("agents");
    if (Array.isArray(manifest.agents)) out.agents = manifest.agents;
  }
  if (manifest.llm === true) permissions.push("llm");
  const context = manifest.context ?? "read";
  if (context !== "none") {
    permissions.push("context");
    out.contextAccess = context;
  }
  return out;
}

/**
 * Whether an allow-list admits a tool or agent: no list admits everything; entries are exact ids
 * (`BUNDLE/NAME`), bare names (matching a built-in, or the name of a bundle-less entry), `BUNDLE/*`
 * or `*`.
 */
export function allowListAdmits(
  list: readonly string[] | undefined,
  id: string,
  bundle: string | undefined,
): boolean {
  if (list === undefined) return true;
  for (const entry of list) {
    if (entry === "*" || entry === id) return true;
    if (bundle !== undefined && entry === `${bundle}/*`) return true;
  }
  return false;
}

/** Whether the claims carry a permission. */
export function hasPermission(claims: IccTokenClaims, permission: IccPermission): boolean {
  return claims.permissions.includes(permission);
}
