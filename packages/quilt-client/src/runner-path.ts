import { fileURLToPath } from "node:url";

/**
 * Path of the in-container runner script shipped with this package (`runner/aria-runner.mjs`). The
 * tool-runner image copies it to /opt/aria/runner.mjs.
 */
export function runnerScriptPath(): string {
  return fileURLToPath(new URL("../runner/aria-runner.mjs", import.meta.url));
}
