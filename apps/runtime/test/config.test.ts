import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AriaError } from "@aria/errors";
import { loadConfig } from "@aria/runtime";
import { describe, expect, it } from "vitest";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "aria-config-"));

function configError(fn: () => unknown): AriaError {
  try {
    fn();
  } catch (error) {
    if (AriaError.is(error)) return error;
    throw error;
  }
  throw new Error("expected a configuration error");
}

describe("loadConfig", () => {
  it("uses the documented defaults with an empty environment", () => {
    const config = loadConfig({ env: {}, cwd: tmp() });
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 7070,
      dataDir: "./.aria",
      logLevel: "info",
    });
    expect(config.redisUrl).toBeUndefined();
  });

  it("reads every documented environment variable", () => {
    const config = loadConfig({
      cwd: tmp(),
      env: {
        ARIA_HOST: "::1",
        ARIA_PORT: "8081",
        ARIA_DATA_DIR: "/data",
        REDIS_URL: "redis://127.0.0.1:6390",
        DOCKER_HOST: "unix:///tmp/d.sock",
        ARIA_TOOL_IMAGE: "runner:1",
        OPENAI_API_KEY: "sk-test-0123456789",
        OPENAI_BASE_URL: "http://127.0.0.1:9999/v1",
        ANTHROPIC_API_KEY: "sk-ant-test",
        ANTHROPIC_BASE_URL: "http://127.0.0.1:9998",
        ARIA_LOCAL_LLM_URL: "http://127.0.0.1:11434/v1",
        ARIA_LLM_PROVIDERS: "anthropic, openai,local",
        ARIA_API_KEYS: "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb",
        LOG_LEVEL: "debug",
        ARIA_FEATURE_REFLECTION: "false",
      },
    });
    expect(config).toMatchObject({
      host: "::1",
      port: 8081,
      dataDir: "/data",
      redisUrl: "redis://127.0.0.1:6390",
      dockerHost: "unix:///tmp/d.sock",
      toolImage: "runner:1",
      logLevel: "debug",
      apiKeys: ["key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"],
    });
    expect(config.llm.providers).toEqual(["anthropic", "openai", "local"]);
    expect(config.llm.openai).toEqual({
      apiKey: "sk-test-0123456789",
      baseURL: "http://127.0.0.1:9999/v1",
    });
    expect(config.llm.local.baseURL).toBe("http://127.0.0.1:11434/v1");
    expect(config.features.reflection).toBe(false);
    expect(config.features.planning).toBe(true);
  });

  it("names the field and the variable of a bad value", () => {
    const port = configError(() => loadConfig({ env: { ARIA_PORT: "seventy" }, cwd: tmp() }));
    expect(port.code).toBe("CONFIG_INVALID");
    expect(port.message).toContain("'port'");
    expect(port.message).toContain("ARIA_PORT");

    const range = configError(() => loadConfig({ env: { ARIA_PORT: "70000" }, cwd: tmp() }));
    expect(range.details.field).toBe("port");
    expect(range.message).toContain("ARIA_PORT");

    const redis = configError(() =>
      loadConfig({ env: { REDIS_URL: "localhost:6379" }, cwd: tmp() }),
    );
    expect(redis.details.field).toBe("redisUrl");
    expect(redis.message).toContain("REDIS_URL");

    const provider = configError(() =>
      loadConfig({ env: { ARIA_LLM_PROVIDERS: "openai,gemini" }, cwd: tmp() }),
    );
    expect(provider.details.field).toBe("llm.providers.1");

    const flag = configError(() =>
      loadConfig({ env: { ARIA_FEATURE_CACHING: "maybe" }, cwd: tmp() }),
    );
    expect(flag.details.field).toBe("features.caching");

    const level = configError(() => loadConfig({ env: { LOG_LEVEL: "loud" }, cwd: tmp() }));
    expect(level.message).toContain("LOG_LEVEL");
  });

  it("reads aria.config.json under the environment, and names fields from the file", () => {
    const dir = tmp();
    fs.writeFileSync(
      path.join(dir, "aria.config.json"),
      JSON.stringify({
        port: 9090,
        limits: { maxParallelSteps: 3 },
        features: { containers: false },
      }),
    );
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config.port).toBe(9090);
    expect(config.limits.maxParallelSteps).toBe(3);
    expect(config.limits.maxSteps).toBe(50);
    expect(config.features.containers).toBe(false);
    expect(loadConfig({ env: { ARIA_PORT: "9191" }, cwd: dir }).port).toBe(9191);

    fs.writeFileSync(
      path.join(dir, "aria.config.json"),
      JSON.stringify({ limits: { maxParallelSteps: 0 } }),
    );
    const error = configError(() => loadConfig({ env: {}, cwd: dir }));
    expect(error.details.field).toBe("limits.maxParallelSteps");
    expect(error.message).toContain("aria.config.json");
  });

  it("rejects an unknown field and invalid JSON in the file", () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, "aria.config.json"), JSON.stringify({ prot: 1 }));
    expect(configError(() => loadConfig({ env: {}, cwd: dir })).message).toMatch(/prot/);
    fs.writeFileSync(path.join(dir, "aria.config.json"), "{ not json");
    expect(configError(() => loadConfig({ env: {}, cwd: dir })).message).toMatch(/not valid JSON/);
    expect(
      configError(() => loadConfig({ env: { ARIA_CONFIG: "missing.json" }, cwd: dir })).message,
    ).toMatch(/does not exist/);
  });

  it("reads secrets from *_FILE variables", () => {
    const dir = tmp();
    const file = path.join(dir, "openai-key");
    fs.writeFileSync(file, "sk-from-file-0123456789\n");
    expect(loadConfig({ env: { OPENAI_API_KEY_FILE: file }, cwd: dir }).llm.openai.apiKey).toBe(
      "sk-from-file-0123456789",
    );
    const error = configError(() =>
      loadConfig({ env: { OPENAI_API_KEY_FILE: path.join(dir, "nope") }, cwd: dir }),
    );
    expect(error.message).toContain("OPENAI_API_KEY_FILE");
  });
});
