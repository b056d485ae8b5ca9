import { ICC_BUNDLE_ENV, ICC_ENV } from "@aria/core-types";
import { AriaError } from "@aria/errors";

/** The ICC URL a container sees when the socket folder is mounted at /run/aria (the default). */
export const CONTAINER_ICC_URL = "unix:///run/aria/icc.sock";
/** Where the per-container socket folder is mounted inside a container. */
export const CONTAINER_SOCKET_DIR = "/run/aria";
/** The socket's file name inside that folder. */
export const ICC_SOCKET_NAME = "icc.sock";

/** What `iccEnvironment` takes. */
export interface IccEnvironmentInput {
  /** `unix:///run/aria/icc.sock` (default) or `http://HOST:PORT`. */
  url?: string;
  token: string;
  sessionId?: string | undefined;
  runId: string;
  stepId: string;
  containerId: string;
  task?: string | undefined;
  /** 1-based position of the step in its plan or pipeline. */
  stepIndex?: number | undefined;
  totalSteps?: number | undefined;
  /** For bundle tools. */
  bundle?: { name: string; version: string; digest: string } | undefined;
}

const SECRET_NAME = /(API_?KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_?KEY|AUTH)/i;

/**
 * The environment injected into a container (contracts §4): exactly `ARIA_ICC_URL`,
 * `ARIA_ICC_TOKEN`, `ARIA_SESSION_ID`, `ARIA_RUN_ID`, `ARIA_STEP_ID`, `ARIA_CONTAINER_ID`,
 * `ARIA_TASK`, `ARIA_STEP_INDEX`, `ARIA_TOTAL_STEPS` (always all nine, empty when unknown), and
 * for bundle tools `ARIA_BUNDLE_NAME`, `ARIA_BUNDLE_VERSION`, `ARIA_BUNDLE_DIGEST`. Never an API key.
 */
export function iccEnvironment(input: IccEnvironmentInput): Record<string, string> {
  const url = input.url ?? CONTAINER_ICC_URL;
  if (!/^unix:\/\/\/\S+$/.test(url) && !/^http:\/\/[^/\s]+(:\d+)?\/?$/.test(url))
    throw new AriaError("VALIDATION_FAILED", {
      message: "ARIA_ICC_URL must be unix:///PATH or http://HOST:PORT",
      details: { field: "url" },
    });
  const values: Record<(typeof ICC_ENV)[number], string> = {
    ARIA_ICC_URL: url,
    ARIA_ICC_TOKEN: input.token,
    ARIA_SESSION_ID: input.sessionId ?? "",
    ARIA_RUN_ID: input.runId,
    ARIA_STEP_ID: input.stepId,
    ARIA_CONTAINER_ID: input.containerId,
    ARIA_TASK: input.task ?? "",
    ARIA_STEP_INDEX: input.stepIndex === undefined ? "" : String(input.stepIndex),
    ARIA_TOTAL_STEPS: input.totalSteps === undefined ? "" : String(input.totalSteps),
  };
  const env: Record<string, string> = {};
  for (const name of ICC_ENV) env[name] = values[name];
  if (input.bundle) {
    const bundle: Record<(typeof ICC_BUNDLE_ENV)[number], string> = {
      ARIA_BUNDLE_NAME: input.bundle.name,
      ARIA_BUNDLE_VERSION: input.bundle.version,
      ARIA_BUNDLE_DIGEST: input.bundle.digest,
    };
    for (const name of ICC_BUNDLE_ENV) env[name] = bundle[name];
  }
  for (const [name, value] of Object.entries(env))
    if (/[\0\r\n]/.test(value))
      throw new AriaError("VALIDATION_FAILED", {
        message: `${name} must not contain NUL, CR or LF`,
        details: { field: name },
      });
  return env;
}

/**
 * Drops variables that look like credentials (`*_API_KEY`, `*SECRET*`, `*PASSWORD*`, ...) from an
 * environment meant for a container; returns the kept variables and the names it dropped (to audit).
 * `ARIA_ICC_TOKEN` is kept: it is the container's own scoped, revocable token.
 */
export function stripSecrets(env: Record<string, string>): {
  env: Record<string, string>;
  dropped: string[];
} {
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (name !== "ARIA_ICC_TOKEN" && SECRET_NAME.test(name)) dropped.push(name);
    else kept[name] = value;
  }
  return { env: kept, dropped };
}
