/**
 * ICC from inside real containers (dockerd, the tool-runner image): the container manager of
 * @aria/quilt-client calls the ICC server's dispatch hook, which creates the container's socket in
 * its /run/aria folder and injects the contract environment with a scoped token. Code inside uses the
 * @aria/sdk client (bundled by esbuild, mounted read-only). Fails, never skips, without Docker.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ICC_BUNDLE_ENV, ICC_ENV } from "@aria/core-types";
import {
  createIccDispatchHook,
  type IccDispatchInfo,
  permissionsFromManifest,
} from "@aria/icc-server";
import {
  createContainerManager,
  DockerContainerBackend,
  LABELS,
  type QuiltContainerManager,
} from "@aria/quilt-client";
import { requireDocker } from "@aria/testkit";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, startFixture } from "./helpers/fixture.ts";

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const IMAGE = "aria-tool-runner:latest";
const INSTANCE = `icc-it-${process.pid}-${randomBytes(3).toString("hex")}`;
/** A fake provider key present in the runtime's own environment during the test. */
const SECRET = `${["sk", "aria", "icc", "leak", "check"].join("-")}-${randomBytes(12).toString("hex")}`;

let f: Fixture;
let docker: DockerContainerBackend;
let manager: QuiltContainerManager;
let work: string;
let bundleDir: string;
let workloadDir: string;
const saved = { openai: process.env.OPENAI_API_KEY, anthropic: process.env.ANTHROPIC_API_KEY };
const dispatched: IccDispatchInfo[] = [];

async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [path.join(here, "fixtures", entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    conditions: ["@aria/source"],
    outfile,
    logLevel: "error",
  });
  await fs.chmod(outfile, 0o644);
}

beforeAll(async () => {
  const socketPath = await requireDocker();
  await exec("bash", [path.join(repoRoot, "deploy/tool-runner/build-local.sh"), process.execPath], {
    env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` },
    timeout: 300_000,
  });
  // The runtime holds provider keys; none of them may reach a container.
  process.env.OPENAI_API_KEY = SECRET;
  process.env.ANTHROPIC_API_KEY = SECRET;

  work = await fs.mkdtemp(path.join(os.tmpdir(), "icci-"));
  await fs.chmod(work, 0o755);
  bundleDir = path.join(work, "bundle");
  workloadDir = path.join(work, "workload");
  await fs.mkdir(path.join(bundleDir, "dist"), { recursive: true, mode: 0o755 });
  await fs.mkdir(workloadDir, { mode: 0o755 });
  await fs.chmod(bundleDir, 0o755);
  await fs.chmod(path.join(bundleDir, "dist"), 0o755);
  await bundle("icc-bundle.ts", path.join(bundleDir, "dist", "index.js"));
  await bundle("icc-workload.ts", path.join(workloadDir, "workload.mjs"));

  f = await startFixture();
  docker = new DockerContainerBackend({ socketPath });
  manager = createContainerManager({
    backend: docker,
    instanceId: INSTANCE,
    stateDir: path.join(work, "s"),
    pool: { enabled: false },
    // The wiring the runtime's composition root does: every dispatch gets a socket and a token.
    onDispatch: createIccDispatchHook(f.server, (info) => {
      dispatched.push(info);
      return {
        sessionId: "session-A",
        task: "task of A",
        stepIndex: 2,
        totalSteps: 3,
        ...(info.stepId === "bundle-step"
          ? permissionsFromManifest({
              tools: ["echo", "text-tools/*"],
              agents: true,
              llm: true,
              context: "readwrite",
            })
          : permissionsFromManifest({ tools: ["echo"], context: "read" })),
      };
    }),
  });
  await manager.start();
}, 300_000);

afterAll(async () => {
  await manager?.close();
  await f?.close();
  if (saved.openai === undefined) delete process.env.OPENAI_API_KEY;
  else process.env.OPENAI_API_KEY = saved.openai;
  if (saved.anthropic === undefined) delete process.env.ANTHROPIC_API_KEY;
  else process.env.ANTHROPIC_API_KEY = saved.anthropic;
  if (docker)
    expect(await docker.list({ [LABELS.managed]: "true", [LABELS.instance]: INSTANCE })).toEqual(
      [],
    );
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe("ICC from inside a container", () => {
  it("lets a bundle tool call another tool, the LLM and an agent, and write the run's context", async () => {
    const result = await manager.runTool({
      runId: "run-A",
      stepId: "bundle-step",
      bundle: {
        name: "text-tools",
        version: "1.0.0",
        digest: `sha256:${"a".repeat(64)}`,
        dir: bundleDir,
        entry: "dist/index.js",
      },
      tool: "iccProbe",
      input: { text: "three little words" },
    });
    const output = result.output as {
      env: Record<string, string | undefined>;
      echo: unknown;
      words: { words: number };
      llm: { content: string; usage: { totalTokens: number } };
      agent: { success: boolean; response: string };
      context: { runId: string; task: string; workingMemory: Record<string, unknown> };
      tools: string[];
      forbidden: string;
      leaks: {
        envNames: string[];
        keyNames: string[];
        valuesWithMarker: string[];
        files: { hits: string[]; scanned: number };
      };
    };

    // every injected variable, with the values of this run, step, container and bundle
    for (const name of [...ICC_ENV, ...ICC_BUNDLE_ENV]) expect(output.env[name], name).toBeTruthy();
    expect(output.env).toMatchObject({
      ARIA_ICC_URL: "unix:///run/aria/icc.sock",
      ARIA_SESSION_ID: "session-A",
      ARIA_RUN_ID: "run-A",
      ARIA_STEP_ID: "bundle-step",
      ARIA_CONTAINER_ID: dispatched.at(-1)!.containerName,
      ARIA_TASK: "task of A",
      ARIA_STEP_INDEX: "2",
      ARIA_TOTAL_STEPS: "3",
      ARIA_BUNDLE_NAME: "text-tools",
      ARIA_BUNDLE_VERSION: "1.0.0",
      ARIA_BUNDLE_DIGEST: `sha256:${"a".repeat(64)}`,
    });

    // what the container saw
    expect(output.echo).toEqual({ echoed: { from: "container" } });
    expect(output.words).toEqual({ words: 3 });
    expect(output.llm.content).toMatch(/^answer \d+$/);
    expect(output.agent).toMatchObject({
      success: true,
      response: expect.stringMatching(/^answer/),
    });
    expect(output.context.task).toBe("task of A");
    expect(output.context.workingMemory.fromContainer).toEqual({
      words: 3,
      llm: output.llm.content,
      agent: output.agent.response,
    });
    expect(output.tools).toEqual(["echo", "text-tools/wordCount"]);
    expect(output.forbidden).toBe("ICC_FORBIDDEN");

    // and the run sees all of it: tool calls, LLM usage and the agent bound to run-A, the value in
    // its working memory, an audit entry for each call from this container
    expect(f.tools.calls.map((c) => [c.name, c.context.runId, c.context.stepId])).toEqual([
      ["echo", "run-A", "bundle-step"],
      ["text-tools/wordCount", "run-A", "bundle-step"],
    ]);
    expect(f.llm.requests.map((r) => r.runId)).toEqual(["run-A", "run-A"]);
    expect(f.agents.calls[0]!.request).toMatchObject({
      parentRunId: "run-A",
      stepId: "bundle-step",
    });
    expect(f.contexts.runs["run-A"]!.workingMemory.fromContainer).toEqual(
      output.context.workingMemory.fromContainer,
    );
    expect(f.contexts.runs["run-B"]!.workingMemory).not.toHaveProperty("fromContainer");
    const actor = `container:${output.env.ARIA_CONTAINER_ID}`;
    expect(
      f.audit.entries.filter((e) => e.actor === actor).map((e) => [e.action, e.outcome]),
    ).toEqual([
      ["icc.tools.call", "success"],
      ["icc.tools.call", "success"],
      ["icc.llm.complete", "success"],
      ["icc.agents.invoke", "success"],
      ["icc.context.set", "success"],
      ["icc.context.get", "success"],
      ["icc.tools.list", "success"],
      ["icc.tools.call", "failure"],
    ]);

    // no provider key anywhere in the container: not in its environment, not in any file
    expect(output.leaks.keyNames).toEqual([]);
    expect(output.leaks.valuesWithMarker).toEqual([]);
    expect(output.leaks.files.hits).toEqual([]);
    expect(output.leaks.files.scanned).toBeGreaterThan(5);

    // the token died with the work: it is revoked and the socket is gone
    const after = await f.raw("GET", "/context", {
      headers: { authorization: `Bearer ${output.env.ARIA_ICC_TOKEN}` },
    });
    expect(after.status).toBe(401);
    expect(after.json.error.details.reason).toBe("revoked");
  });

  it("injects the environment into a cold workload container and keeps it within its permissions", async () => {
    const before = f.tools.calls.length;
    const run = await manager.run(
      {
        image: IMAGE,
        command: ["node", "/probe/workload.mjs"],
        runId: "run-A",
        stepId: "workload-step",
        mounts: [{ source: workloadDir, target: "/probe", readOnly: true }],
        timeoutMs: 60_000,
      },
      { path: "cold" },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as {
      uid: number;
      injected: Record<string, string>;
      health: unknown;
      context: Record<string, unknown>;
      echo: unknown;
      forbiddenTool: string;
      forbiddenLlm: string;
      forbiddenWrite: string;
      leaks: {
        envNames: string[];
        keyNames: string[];
        valuesWithMarker: string[];
        files: { hits: string[] };
      };
    };
    expect(result.uid).toBe(1000);
    // the contract's variables in the process environment (no bundle: no bundle variables), beside
    // the image's own ARIA_RUNNER_SOCKET
    for (const name of ICC_ENV) expect(result.injected[name], name).toBeTruthy();
    expect(result.leaks.envNames.filter((n) => n.startsWith("ARIA_")).sort()).toEqual(
      [...ICC_ENV, "ARIA_RUNNER_SOCKET"].sort(),
    );
    expect(result.injected).toMatchObject({
      ARIA_ICC_URL: "unix:///run/aria/icc.sock",
      ARIA_RUN_ID: "run-A",
      ARIA_STEP_ID: "workload-step",
      ARIA_SESSION_ID: "session-A",
    });
    expect(result.health).toEqual({ status: "ok" });
    expect(result.context).toMatchObject({
      runId: "run-A",
      stepId: "workload-step",
      task: "task of A",
    });
    expect(result.echo).toEqual({ echoed: { from: "workload" } });
    expect(result.forbiddenTool).toBe("ICC_FORBIDDEN 403");
    expect(result.forbiddenLlm).toBe("ICC_FORBIDDEN 403");
    expect(result.forbiddenWrite).toBe("ICC_FORBIDDEN 403");
    expect(f.tools.calls.slice(before).map((c) => c.name)).toEqual(["echo"]);
    expect(result.leaks.keyNames).toEqual([]);
    expect(result.leaks.valuesWithMarker).toEqual([]);
    expect(result.leaks.files.hits).toEqual([]);
    const socketDir = dispatched.at(-1)!.socketDir!;
    await expect(fs.stat(path.join(socketDir, "icc.sock"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("has a leak scan that does find a key put there on purpose (control)", async () => {
    const planted = path.join(work, "planted");
    await fs.mkdir(planted, { mode: 0o755 });
    await fs.writeFile(path.join(planted, "config.txt"), `key=${SECRET}\n`, { mode: 0o644 });
    const run = await manager.run(
      {
        image: IMAGE,
        command: ["node", "/probe/workload.mjs"],
        runId: "run-A",
        stepId: "control-step",
        env: { OPENAI_API_KEY: SECRET },
        mounts: [
          { source: workloadDir, target: "/probe", readOnly: true },
          { source: planted, target: "/planted", readOnly: true },
        ],
        timeoutMs: 60_000,
      },
      { path: "cold" },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const leaks = (
      JSON.parse(run.stdout.trim().split("\n").at(-1)!) as {
        leaks: { keyNames: string[]; valuesWithMarker: string[]; files: { hits: string[] } };
      }
    ).leaks;
    expect(leaks.keyNames).toContain("OPENAI_API_KEY");
    expect(new Set(leaks.valuesWithMarker)).toEqual(new Set([SECRET]));
    expect(leaks.files.hits).toEqual(["/planted/config.txt"]);
  });
});
