import type { RegisteredTool, SecurityLevel, ToolExecutionContext } from "@aria/core-types";

/** What a security policy decided about one execution. */
export type PolicyDecision = { allow: true } | { allow: false; reason: string };

/**
 * Decides whether a tool may run in a context. Called by `ToolRegistry.execute` after input
 * validation's tool lookup and before anything runs; a refusal is `TOOL_FORBIDDEN`.
 */
export type SecurityPolicy = (
  tool: RegisteredTool,
  context: ToolExecutionContext,
) => PolicyDecision;

/** Options of the default policy. */
export interface SecurityPolicyOptions {
  /** The highest security level that runs without being listed in `allow` (default `limited`). */
  maxLevel?: SecurityLevel;
  /** Tool ids allowed whatever their level. */
  allow?: readonly string[];
  /** Tool ids never allowed. */
  deny?: readonly string[];
  /** Whether tools that ask for network access may run (default true; each use is audited elsewhere). */
  allowNetwork?: boolean;
}

const RANK: Record<SecurityLevel, number> = { safe: 0, limited: 1, privileged: 2 };

/** The rank of a security level (`safe` 0, `limited` 1, `privileged` 2). */
export function securityRank(level: SecurityLevel): number {
  return RANK[level];
}

/**
 * The default policy: tools up to `maxLevel` run, `privileged` ones only when listed in `allow`,
 * denied ids never, and network tools only when `allowNetwork`.
 */
export function createSecurityPolicy(options: SecurityPolicyOptions = {}): SecurityPolicy {
  const maxLevel = options.maxLevel ?? "limited";
  const allow = new Set(options.allow ?? []);
  const deny = new Set(options.deny ?? []);
  const allowNetwork = options.allowNetwork ?? true;
  return (tool) => {
    if (deny.has(tool.id)) return { allow: false, reason: `tool '${tool.id}' is denied by policy` };
    if (tool.network && !allowNetwork)
      return {
        allow: false,
        reason: `tool '${tool.id}' needs network access, which the policy forbids`,
      };
    if (RANK[tool.securityLevel] > RANK[maxLevel] && !allow.has(tool.id)) {
      return {
        allow: false,
        reason: `tool '${tool.id}' is '${tool.securityLevel}', above the policy's '${maxLevel}' (allow it by id to run it)`,
      };
    }
    return { allow: true };
  };
}
