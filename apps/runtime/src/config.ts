import fs from "node:fs";
import path from "node:path";
import { type RuntimeConfig, RuntimeConfigSchema } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { z } from "zod";

/** Where each configuration field comes from in the environment (contracts §7). */
export const ENV_FIELDS: Record<string, string> = {
  host: "ARIA_HOST",
  port: "ARIA_PORT",
  dataDir: "ARIA_DATA_DIR",
  redisUrl: "REDIS_URL",
  dockerHost: "DOCKER_HOST",
  toolImage: "ARIA_TOOL_IMAGE",
  "llm.openai.apiKey": "OPENAI_API_KEY",
  "llm.openai.baseURL": "OPENAI_BASE_URL",
  "llm.anthropic.apiKey": "ANTHROPIC_API_KEY",
  "llm.anthropic.baseURL": "ANTHROPIC_BASE_URL",
  "llm.local.baseURL": "ARIA_LOCAL_LLM_URL",
  "llm.providers": "ARIA_LLM_PROVIDERS",
  apiKeys: "ARIA_API_KEYS",
  logLevel: "LOG_LEVEL",
  "features.planning": "ARIA_FEATURE_PLANNING",
  "features.reflection": "ARIA_FEATURE_REFLECTION",
  "features.containers": "ARIA_FEATURE_CONTAINERS",
  "features.caching": "ARIA_FEATURE_CACHING",
  "features.parallelSteps": "ARIA_FEATURE_PARALLEL_STEPS",
  examplesDir: "ARIA_EXAMPLES_DIR",
  hotReload: "ARIA_HOT_RELOAD",
  "mcp.servers": "ARIA_MCP_SERVERS",
  "mcp.allowBundleCommands": "ARIA_MCP_ALLOW_BUNDLE_COMMANDS",
  "mcp.toolTimeoutMs": "ARIA_MCP_TOOL_TIMEOUT_MS",
  "approvals.timeoutMs": "ARIA_APPROVAL_TIMEOUT_MS",
  "approvals.onTimeout": "ARIA_APPROVAL_ON_TIMEOUT",
  "approvals.rules": "ARIA_APPROVAL_RULES",
};

const LIST_FIELDS = new Set(["llm.providers", "apiKeys", "approvals.rules"]);
const NUMBER_FIELDS = new Set(["port", "approvals.timeoutMs", "mcp.toolTimeoutMs"]);
const BOOLEAN_FIELDS = new Set([
  ...Object.keys(ENV_FIELDS).filter((k) => k.startsWith("features.")),
  "hotReload",
]);
/** Environment values holding JSON (`ARIA_MCP_SERVERS='[{"name":"fs","command":["mcp-fs"]}]'`). */
const JSON_FIELDS = new Set(["mcp.servers"]);
/** true/false, or a comma-separated list (`ARIA_MCP_ALLOW_BUNDLE_COMMANDS=my-bundle,other`). */
const BOOLEAN_OR_LIST_FIELDS = new Set(["mcp.allowBundleCommands"]);
/** Environment values that are secrets: read from `NAME_FILE` too (the container-secrets convention). */
const FILE_CAPABLE = new Set(["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ARIA_API_KEYS"]);

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      value &&
      typeof value === "object" &&
      !Array.isArray(value) &&
      prev &&
      typeof prev === "object" &&
      !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

function configError(field: string, message: string, source: string, cause?: unknown): AriaError {
  return new AriaError("CONFIG_INVALID", {
    message: `Invalid configuration '${field}' (from ${source}): ${message}`,
    details: { field, source },
    context: { component: "config", operation: "load" },
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Reads the environment into the configuration's shape; a value that cannot be parsed names its variable. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(ENV_FIELDS)) {
    let raw = env[name];
    const fileName = env[`${name}_FILE`];
    if (raw === undefined && fileName && FILE_CAPABLE.has(name)) {
      try {
        raw = fs.readFileSync(fileName, "utf8").trim();
      } catch (error) {
        throw configError(field, `cannot read ${name}_FILE (${fileName})`, `${name}_FILE`, error);
      }
    }
    if (raw === undefined || raw === "") continue;
    let value: unknown = raw;
    if (JSON_FIELDS.has(field)) {
      try {
        value = JSON.parse(raw);
      } catch (error) {
        throw configError(field, `expected JSON: ${(error as Error).message}`, name, error);
      }
    } else if (BOOLEAN_OR_LIST_FIELDS.has(field)) {
      value = /^(1|0|true|false|yes|no|on|off)$/i.test(raw)
        ? /^(1|true|yes|on)$/i.test(raw)
        : raw
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
    } else if (LIST_FIELDS.has(field)) {
      value = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    } else if (NUMBER_FIELDS.has(field)) {
      if (!/^\d+$/.test(raw))
        throw configError(field, `expected a whole number, got '${raw}'`, name);
      value = Number(raw);
    } else if (BOOLEAN_FIELDS.has(field)) {
      if (!/^(1|0|true|false|yes|no|on|off)$/i.test(raw))
        throw configError(field, `expected true or false, got '${raw}'`, name);
      value = /^(1|true|yes|on)$/i.test(raw);
    }
    setPath(out, field, value);
  }
  return out;
}

function sourceOf(field: string, fileFields: Set<string>, configPath: string | undefined): string {
  const envName = ENV_FIELDS[field];
  if (envName) return envName;
  const top = field.split(".")[0]!;
  if (fileFields.has(top) && configPath) return configPath;
  return "defaults";
}

function flattenKeys(obj: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? flattenKeys(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of `aria.config.json`; default `$ARIA_CONFIG` or `./aria.config.json` when it exists. */
  configPath?: string;
  cwd?: string;
}

/**
 * Loads the runtime configuration: `aria.config.json` when present, then the environment on top
 * (environment first, contracts §7), validated with zod. A bad value throws CONFIG_INVALID naming the
 * field and where it came from.
 */
export function loadConfig(options: LoadConfigOptions = {}): RuntimeConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.configPath ?? env.ARIA_CONFIG;
  const candidate = explicit ? path.resolve(cwd, explicit) : path.join(cwd, "aria.config.json");
  let fromFile: Record<string, unknown> = {};
  let configPath: string | undefined;
  if (fs.existsSync(candidate)) {
    configPath = candidate;
    const text = fs.readFileSync(candidate, "utf8");
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
        throw new Error("the file must hold a JSON object");
      fromFile = parsed as Record<string, unknown>;
    } catch (error) {
      throw configError(
        "(file)",
        `${candidate} is not valid JSON: ${(error as Error).message}`,
        candidate,
        error,
      );
    }
  } else if (explicit) {
    throw configError("(file)", `configuration file ${candidate} does not exist`, "ARIA_CONFIG");
  }
  const merged = deepMerge(fromFile, configFromEnv(env));
  const result = RuntimeConfigSchema.safeParse(merged);
  if (!result.success) {
    const fileFields = new Set(flattenKeys(fromFile).map((k) => k.split(".")[0]!));
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const field = issue.path.map(String).join(".") || "(root)";
    const error = configError(field, issue.message, sourceOf(field, fileFields, configPath));
    error.details.issues = result.error.issues.map((i) => ({
      field: i.path.map(String).join("."),
      message: i.message,
    }));
    throw error;
  }
  return result.data;
}

/** The configuration with secrets replaced, for logs and the audit entry at start. */
export function describeConfig(config: RuntimeConfig): Record<string, unknown> {
  return {
    host: config.host,
    port: config.port,
    dataDir: config.dataDir,
    state: config.redisUrl ? "redis" : "memory",
    toolImage: config.toolImage,
    llmProviders: config.llm.providers,
    llmConfigured: {
      openai: Boolean(config.llm.openai.apiKey),
      anthropic: Boolean(config.llm.anthropic.apiKey),
      local: Boolean(config.llm.local.baseURL),
    },
    apiKeyCount: config.apiKeys.length,
    features: config.features,
    logLevel: config.logLevel,
    mcp: {
      servers: config.mcp.servers.map((s) => ({
        name: s.name,
        transport: s.command ? "stdio" : "http",
      })),
      allowBundleCommands: config.mcp.allowBundleCommands,
    },
  };
}
