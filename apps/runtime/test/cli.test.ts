import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const cli = path.resolve(import.meta.dirname, "../src/cli.ts");
const examples = path.resolve(import.meta.dirname, "../../../examples");

function aria(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    process.execPath,
    ["--conditions=@aria/source", "--import", "tsx", cli, ...args],
    {
      env: { ...process.env, LOG_LEVEL: "warn", ARIA_PORT: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, out, err })));
}

describe("aria run (no server running: starts one in-process)", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-cli-"));
  const env = {
    ARIA_DATA_DIR: dataDir,
    ARIA_EXAMPLES_DIR: examples,
    ARIA_FEATURE_CONTAINERS: "false",
  };

  it("runs a pipeline, prints plain progress lines off a terminal, exits 0", async () => {
    const { code, out, err } = await aria(
      [
        "run",
        "--pipeline",
        "text-report",
        "--input",
        '{"text":"Hello world. Hello again!","title":"Greeting"}',
      ],
      env,
    );
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toMatch(/^run run_/m);
    expect(out).toMatch(/… count started/);
    expect(out).toMatch(/✓ count/);
    expect(out).toMatch(/✓ report/);
    expect(out).toMatch(/✓ succeeded in/);
    expect(out).toContain("Greeting");
  }, 60_000);

  it("prints the run as JSON with --json", async () => {
    const { code, out } = await aria(
      ["run", "--json", "--pipeline", "text-report", "--input", '{"text":"one two"}'],
      env,
    );
    expect(code).toBe(0);
    const run = JSON.parse(out) as {
      status: string;
      steps: Array<{ stepId: string; output: { words?: number } }>;
    };
    expect(run.status).toBe("succeeded");
    expect(run.steps[0]?.output.words).toBe(2);
  }, 60_000);

  it("a run that waits for approval without a server: says why and exits 1 instead of hanging", async () => {
    const { code, out, err } = await aria(
      ["run", "--pipeline", "approved-report", "--input", '{"radius":2}'],
      env,
    );
    expect(code).toBe(1);
    expect(out).toMatch(/✓ area/);
    expect(err).toContain("step report waits for a person's approval");
    expect(err).toContain("aria serve");
  }, 60_000);

  it("exits 1 on a failed run and names the error", async () => {
    const { code, err } = await aria(
      ["run", "--pipeline", "text-report", "--input", '{"title":"no text"}'],
      env,
    );
    expect(code).toBe(1);
    expect(err).toMatch(/failed: VALIDATION_FAILED/);
  }, 60_000);

  it("exits 2 on bad usage", async () => {
    expect((await aria(["run"], env)).code).toBe(2);
    expect((await aria(["run", "--pipeline", "x", "--input", "{bad"], env)).code).toBe(2);
    expect((await aria(["run", "--agent", "analyst"], env)).code).toBe(2);
    expect((await aria(["frobnicate"], env)).code).toBe(2);
  }, 60_000);

  it("lists tools and runs, also as JSON", async () => {
    const tools = await aria(["tools", "--json"], env);
    expect(tools.code).toBe(0);
    expect((JSON.parse(tools.out) as Array<{ id: string }>).map((t) => t.id)).toContain(
      "text-tools/wordCount",
    );
    const runs = await aria(["runs"], { ...env, ARIA_EXAMPLES_DIR: "" });
    expect(runs.code).toBe(0);
  }, 60_000);
});

describe("aria doctor", () => {
  it("reports each dependency with how to fix it, never a key's value", async () => {
    const { code, out } = await aria(["doctor", "--json"], {
      DOCKER_HOST: "unix:///nonexistent/docker.sock",
      OPENAI_API_KEY: "sk-doctor-secret-0123456789",
      OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
      REDIS_URL: "",
    });
    expect(code).toBe(1);
    const checks = JSON.parse(out) as Array<{
      name: string;
      status: string;
      fix?: string;
      detail: string;
    }>;
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName.docker?.status).toBe("fail");
    expect(byName.docker?.fix).toMatch(/dockerd|DOCKER_HOST/);
    expect(byName.redis?.status).toBe("warn");
    expect(byName["llm openai"]?.status).toBe("fail");
    expect(byName["llm openai"]?.detail).toMatch(/key set/);
    expect(byName["llm anthropic"]?.status).toBe("off");
    expect(out).not.toContain("sk-doctor-secret");
  }, 60_000);
});
