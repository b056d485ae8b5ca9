import { defineProject, mergeConfig, type ViteUserConfig } from "vitest/config";

/** Conditions that make every `@aria/*` import resolve to its TypeScript source (no build needed). */
export const sourceConditions = ["@aria/source", "module", "node", "development|production"];

/** True when the real services (Redis, dockerd) were started and integration tests must run. */
export const integration = process.env.ARIA_INTEGRATION === "1";

/**
 * The shared vitest project preset. Unit tests live in `test/*.test.ts`; `*.integration.test.ts`
 * run only with `ARIA_INTEGRATION=1` (set by `.ci/run` after it starts Redis and dockerd), and then
 * one file at a time with longer timeouts.
 */
export function ariaProject(overrides: ViteUserConfig = {}) {
  const base: ViteUserConfig = {
    resolve: { conditions: sourceConditions },
    ssr: { resolve: { conditions: sourceConditions, externalConditions: sourceConditions } },
    test: {
      include: ["test/**/*.test.ts"],
      exclude: integration
        ? ["**/node_modules/**"]
        : ["**/node_modules/**", "test/**/*.integration.test.ts"],
      testTimeout: integration ? 120_000 : 20_000,
      hookTimeout: integration ? 180_000 : 30_000,
      fileParallelism: !integration,
    },
  };
  return defineProject(mergeConfig(base, overrides));
}
