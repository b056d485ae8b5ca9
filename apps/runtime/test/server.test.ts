import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger, startServer } from "@aria/runtime";
import { afterAll, describe, expect, it } from "vitest";

const silent = createLogger(
  "silent",
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  }),
);

describe("the HTTP app", () => {
  it("answers /health, /ready and a JSON 404", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({ dockerHost: "unix:///nonexistent/docker.sock" }),
      silent,
    );
    const health = await runtime.app.request("/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", version: "0.1.0" });

    const ready = await runtime.app.request("/ready");
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as {
      status: string;
      dependencies: Record<string, { status: string; detail?: string }>;
    };
    expect(body.status).toBe("ready");
    expect(body.dependencies.store?.status).toBe("up");
    expect(body.dependencies.containerEngine?.status).toBe("down");
    expect(body.dependencies.containerEngine?.detail).toMatch(/dockerd|DOCKER_HOST/);
    expect(body.dependencies["llm.openai"]?.status).toBe("disabled");

    const missing = await runtime.app.request("/v1/nothing-here", { method: "POST" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/application\/json/);
    const error = (await missing.json()) as { error: Record<string, unknown> };
    expect(error.error).toMatchObject({
      code: "NOT_FOUND",
      category: "not_found",
      severity: "low",
      message: "No route for POST /v1/nothing-here",
    });
    expect(error.error.userGuidance).toBeTypeOf("string");
    expect(error.error.recoveryActions).toBeInstanceOf(Array);
    expect(JSON.stringify(error)).not.toMatch(/stack|at .*\.ts/);
    await runtime.close();
  });

  it("reports disabled containers when the feature is off", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({ features: { containers: false } }),
      silent,
    );
    const body = (await (await runtime.app.request("/ready")).json()) as {
      dependencies: Record<string, { status: string }>;
    };
    expect(body.dependencies.containerEngine?.status).toBe("disabled");
    await runtime.close();
  });
});

describe("the server process", () => {
  const started: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of started) await stop();
  });

  it("serves on a real port and closes cleanly", async () => {
    const server = await startServer(RuntimeConfigSchema.parse({ port: 0 }), silent);
    started.push(() => server.close());
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    await server.close();
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it("starts from the CLI, answers, and exits 0 on SIGTERM", async () => {
    const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
    const child = spawn(
      process.execPath,
      ["--conditions=@aria/source", "--import", "tsx", cli, "serve"],
      {
        env: { ...process.env, ARIA_PORT: "0", LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start line: ${out}`)), 20_000);
      child.stdout.on("data", () => {
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    expect((await fetch(`${url}/health`)).status).toBe(200);
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });

  it("refuses to start on a bad value, naming the field, exit 1", async () => {
    const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
    const child = spawn(
      process.execPath,
      ["--conditions=@aria/source", "--import", "tsx", cli, "serve"],
      {
        env: { ...process.env, ARIA_PORT: "not-a-port" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(err).toContain("'port'");
    expect(err).toContain("ARIA_PORT");
  });

  it("exits 2 on bad usage", async () => {
    const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
    const child = spawn(
      process.execPath,
      ["--conditions=@aria/source", "--import", "tsx", cli, "frobnicate"],
      { stdio: "ignore" },
    );
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
  });
});
