/**
 * Writes docs/troubleshooting.md from the error catalogue, so there is one entry per error code and
 * the page never drifts from the code. Run: pnpm docs:errors
 */
import fs from "node:fs";
import path from "node:path";
import { ERROR_CATALOG, ERROR_CODES } from "@aria/errors";

const lines = [
  "# Troubleshooting: one entry per error code",
  "",
  "Every error the runtime returns has this shape (HTTP answers, CLI `--json`, run results):",
  "",
  "```json",
  '{ "error": { "code": "TOOL_NOT_FOUND", "category": "tool", "severity": "medium", "message": "...",',
  '  "userGuidance": "...", "recoveryActions": ["..."], "retryable": false, "details": {}, "context": {} } }',
  "```",
  "",
  "`code` is stable: switch on it. `context` says where it happened (component, operation, run, step,",
  "container, tool, agent). `retryable` says whether the same request can succeed later. This page is",
  "generated from `packages/errors/src/catalog.ts` (`pnpm docs:errors`).",
  "",
  "| code | HTTP | category | severity | retryable |",
  "|---|---|---|---|---|",
  ...ERROR_CODES.map((code) => {
    const e = ERROR_CATALOG[code];
    return `| [\`${code}\`](#${code.toLowerCase()}) | ${e.httpStatus} | ${e.category} | ${e.severity} | ${e.retryable ? "yes" : "no"} |`;
  }),
  "",
];
for (const code of ERROR_CODES) {
  const e = ERROR_CATALOG[code];
  lines.push(
    `## ${code}`,
    "",
    e.guidance,
    "",
    "What to do:",
    "",
    ...e.recoveryActions.map((a) => `- ${a}`),
    "",
  );
}
const out = path.resolve(import.meta.dirname, "../docs/troubleshooting.md");
fs.writeFileSync(out, `${lines.join("\n")}\n`);
console.log(`wrote ${out} (${ERROR_CODES.length} codes)`);
