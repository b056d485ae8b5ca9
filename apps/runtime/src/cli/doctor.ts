import type { RuntimeConfig } from "@aria/core-types";
import { DockerContainerBackend } from "@aria/quilt-client";
import { connectRedis, waitReady } from "../redis/connection.ts";

export interface Check {
  name: string;
  status: "ok" | "fail" | "warn" | "off";
  detail: string;
  fix?: string;
}

async function timed<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return Promise.race([
    fn(),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms),
    ),
  ]);
}

/** Checks the container engine, the tool image, Redis and each LLM provider; says how to fix each. */
export async function runDoctor(config: RuntimeConfig): Promise<Check[]> {
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  checks.push(
    major > 22 || (major === 22 && minor >= 12)
      ? { name: "node", status: "ok", detail: `Node ${process.versions.node}` }
      : {
          name: "node",
          status: "fail",
          detail: `Node ${process.versions.node} is older than 22.12`,
          fix: "Run ./scripts/setup.sh (installs Node 24 into .tools/)",
        },
  );

  if (!config.features.containers) {
    checks.push({ name: "docker", status: "off", detail: "features.containers is off" });
  } else {
    const backend = new DockerContainerBackend({
      ...(config.dockerHost ? { host: config.dockerHost } : {}),
      callTimeoutMs: 3000,
    });
    try {
      await backend.ping();
      checks.push({
        name: "docker",
        status: "ok",
        detail: `engine answers (${config.dockerHost ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock"})`,
      });
      const labels = await backend.imageLabels(config.toolImage);
      checks.push(
        labels
          ? {
              name: "tool image",
              status: "ok",
              detail: `${config.toolImage}${labels["aria.content-hash"] ? ` (content ${labels["aria.content-hash"].slice(0, 12)})` : ""}`,
            }
          : {
              name: "tool image",
              status: "fail",
              detail: `${config.toolImage} is not present`,
              fix: 'Build it: deploy/tool-runner/build-local.sh "$(command -v node)"',
            },
      );
    } catch (error) {
      checks.push({
        name: "docker",
        status: "fail",
        detail: (error as Error).message,
        fix: "Start Docker (e.g. dockerd --bridge=none --iptables=false) or set DOCKER_HOST; container steps fail until then, other steps still run",
      });
      checks.push({ name: "tool image", status: "off", detail: "not checked without Docker" });
    }
  }

  if (!config.redisUrl) {
    checks.push({
      name: "redis",
      status: "warn",
      detail: "REDIS_URL is not set: state is in memory and will not survive a restart",
      fix: "Set REDIS_URL=redis://HOST:6379 for durable state and scale-out",
    });
  } else {
    const redis = connectRedis(config.redisUrl, { name: "aria-doctor" });
    redis.on("error", () => undefined);
    try {
      await waitReady(redis, 3000);
      const info = await redis.info("persistence");
      const aof = /aof_enabled:1/.test(info);
      checks.push({
        name: "redis",
        status: aof ? "ok" : "warn",
        detail: `answers${aof ? ", AOF on" : ", AOF off"}`,
        ...(aof ? {} : { fix: "Enable appendonly yes for durability (see deploy/)" }),
      });
    } catch (error) {
      checks.push({
        name: "redis",
        status: "fail",
        detail: (error as Error).message,
        fix: "Check REDIS_URL and that redis-server runs and is reachable",
      });
    } finally {
      redis.disconnect();
    }
  }

  for (const provider of config.llm.providers) {
    const settings = config.llm[provider];
    const configured = provider === "local" ? Boolean(settings.baseURL) : Boolean(settings.apiKey);
    if (!configured) {
      const fix =
        provider === "openai"
          ? "Set OPENAI_API_KEY (or OPENAI_API_KEY_FILE)"
          : provider === "anthropic"
            ? "Set ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE)"
            : "Set ARIA_LOCAL_LLM_URL to an OpenAI-compatible server (Ollama, vLLM, llama.cpp)";
      checks.push({ name: `llm ${provider}`, status: "off", detail: "not configured", fix });
      continue;
    }
    const base =
      settings.baseURL ??
      (provider === "openai"
        ? "https://api.openai.com/v1"
        : provider === "anthropic"
          ? "https://api.anthropic.com"
          : "");
    const url =
      provider === "anthropic"
        ? `${base.replace(/\/$/, "")}/v1/models`
        : `${base.replace(/\/$/, "")}/models`;
    const headers: Record<string, string> =
      provider === "anthropic"
        ? { "x-api-key": settings.apiKey ?? "", "anthropic-version": "2023-06-01" }
        : settings.apiKey
          ? { authorization: `Bearer ${settings.apiKey}` }
          : {};
    const keyNote = provider === "local" ? "" : "key set; ";
    try {
      const res = await timed(4000, () => fetch(url, { headers }));
      await res.body?.cancel();
      checks.push(
        res.ok
          ? { name: `llm ${provider}`, status: "ok", detail: `${keyNote}${base} answers` }
          : res.status === 401 || res.status === 403
            ? {
                name: `llm ${provider}`,
                status: "fail",
                detail: `${keyNote}${base} refused the credentials (${res.status})`,
                fix: "Check the key (it is never printed)",
              }
            : {
                name: `llm ${provider}`,
                status: "warn",
                detail: `${keyNote}${base} answered ${res.status}`,
              },
      );
    } catch (error) {
      checks.push({
        name: `llm ${provider}`,
        status: "fail",
        detail: `${keyNote}${base} unreachable: ${(error as Error).message}`,
        fix: "Check the base URL and the network",
      });
    }
  }
  return checks;
}

export function formatChecks(checks: Check[]): string {
  const mark = { ok: "✓", fail: "✗", warn: "!", off: "–" } as const;
  return checks
    .map(
      (c) =>
        `${mark[c.status]} ${c.name.padEnd(12)} ${c.detail}${c.fix && c.status !== "ok" ? `\n    fix: ${c.fix}` : ""}`,
    )
    .join("\n");
}
