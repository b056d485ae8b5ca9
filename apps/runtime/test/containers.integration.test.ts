import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { requireDocker } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
let runtime: Runtime;

type Json = Record<string, unknown>;
const post = (url: string, body: unknown) =>
  runtime.app.request(url, { method: "POST", body: JSON.stringify(body) });

beforeAll(async () => {
  await requireDocker();
  await run(path.join(root, "deploy/tool-runner/build-local.sh"), [process.execPath], {
    cwd: root,
    timeout: 180_000,
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-ctr-"));
  runtime = await composeRuntime(
    RuntimeConfigSchema.parse({ dataDir, examplesDir: path.join(root, "examples") }),
    silent,
  );
}, 240_000);

afterAll(async () => {
  const instance = runtime?.instanceId;
  await runtime?.close();
  if (instance) {
    const { stdout } = await run("docker", [
      "ps",
      "-aq",
      "--filter",
      `label=aria.instance=${instance}`,
    ]);
    expect(stdout.trim()).toBe("");
  }
});

describe("containers through the runtime", () => {
  it("reports the container engine and the tool image as ready", async () => {
    const ready = (await (await runtime.app.request("/ready")).json()) as {
      dependencies: { containerEngine: { status: string } };
    };
    expect(ready.dependencies.containerEngine.status).toBe("up");
  });

  it("runs the increment workload: 42 in, RESULT: 43 out", async () => {
    const res = await post("/v1/runs?wait=true", { pipeline: "increment", input: { n: 42 } });
    const body = (await res.json()) as Json;
    expect(body.status).toBe("succeeded");
    expect(body.result).toBe(43);
    const compute = (body.steps as Json[]).find((s) => s.stepId === "compute")!;
    expect((compute.output as Json).exitCode).toBe(0);
    expect((compute.output as Json).stdout).toContain("RESULT: 43");
  }, 60_000);

  it("runs a bundle tool inside a hardened container", async () => {
    const res = await post(`/v1/tools/${encodeURIComponent("container-demo/sandboxInfo")}/invoke`, {
      input: { note: "hi" },
    });
    const body = (await res.json()) as Json;
    expect(body.success).toBe(true);
    expect(body.output).toEqual({
      uid: 1000,
      interfaces: ["lo"],
      rootWritable: false,
      workspaceWritable: true,
      note: "hi",
    });
  }, 60_000);
});

describe("ICC from inside a container, through the runtime", () => {
  it("a bundle tool calls another tool and writes the run's context; it sees the contract's variables and no key", async () => {
    const res = await post("/v1/runs?wait=true", {
      pipeline: "call-back",
      input: { numbers: [20, 22] },
    });
    const body = (await res.json()) as Json;
    expect(body.status).toBe("succeeded");
    const output = body.result as {
      sum: number;
      stored: boolean;
      variables: string[];
      secretsSeen: boolean;
    };
    expect(output.sum).toBe(42);
    expect(output.stored).toBe(true);
    expect(output.variables).toEqual(
      expect.arrayContaining([
        "ARIA_ICC_URL",
        "ARIA_ICC_TOKEN",
        "ARIA_RUN_ID",
        "ARIA_STEP_ID",
        "ARIA_CONTAINER_ID",
        "ARIA_STEP_INDEX",
        "ARIA_TOTAL_STEPS",
      ]),
    );
    expect(output.secretsSeen).toBe(false);
    const { entries } = (await (await runtime.app.request("/v1/audit?action=icc.")).json()) as {
      entries: Array<{ action: string; outcome: string }>;
    };
    expect(entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(["icc.tools.call", "icc.context.set"]),
    );
  }, 60_000);
});
