import fs from "node:fs";
import type { Logger } from "@aria/core-types";
import { loadSigningKeys } from "@aria/icc-server";
import type { LlmHandler } from "@aria/llm";
import type { AuditLog } from "./audit.ts";

export interface CredentialWatcher {
  close(): void;
}

const read = (file: string) => fs.readFileSync(file, "utf8").trim();

/**
 * Rotation without a restart: secrets given as files (`*_FILE`, the container-secrets convention)
 * are watched; when one changes, the new value is applied — provider keys to the LLM handler, API
 * keys to the HTTP auth, the ICC keyring to the ICC server (list the old key after the new one,
 * `kid2:new,kid1:old`, so tokens signed with the old key stay valid until they expire). Values are
 * never logged; the audit log records which credential rotated.
 */
export function watchCredentials(deps: {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  audit: AuditLog;
  llm: LlmHandler;
  setApiKeys: (keys: string[]) => void;
  setIccKeyring: (keyring: ReturnType<typeof loadSigningKeys>["keyring"]) => void;
  intervalMs?: number;
}): CredentialWatcher {
  const watched: string[] = [];
  const watch = (variable: string, apply: (file: string) => void) => {
    const file = deps.env[variable];
    if (!file) return;
    watched.push(file);
    fs.watchFile(
      file,
      { interval: deps.intervalMs ?? 500, persistent: false },
      (current, previous) => {
        if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
        try {
          apply(file);
          deps.logger.info({ credential: variable }, "credential rotated");
          void deps.audit
            .record({
              actor: "runtime",
              action: "credentials.rotate",
              target: variable,
              outcome: "success",
            })
            .catch(() => undefined);
        } catch (error) {
          deps.logger.warn(
            { credential: variable, message: (error as Error).message },
            "credential rotation failed; the previous value stays in use",
          );
          void deps.audit
            .record({
              actor: "runtime",
              action: "credentials.rotate",
              target: variable,
              outcome: "failure",
            })
            .catch(() => undefined);
        }
      },
    );
  };
  watch("OPENAI_API_KEY_FILE", (file) => deps.llm.rotateApiKey("openai", read(file)));
  watch("ANTHROPIC_API_KEY_FILE", (file) => deps.llm.rotateApiKey("anthropic", read(file)));
  watch("ARIA_API_KEYS_FILE", (file) =>
    deps.setApiKeys(
      read(file)
        .split(",")
        .map((k) => k.trim())
        .filter((k) => k.length >= 16),
    ),
  );
  watch("ARIA_ICC_SIGNING_KEY_FILE", () => deps.setIccKeyring(loadSigningKeys(deps.env).keyring));
  return {
    close() {
      for (const file of watched) fs.unwatchFile(file);
    },
  };
}
