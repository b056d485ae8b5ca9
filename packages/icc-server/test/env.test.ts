import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ICC_BUNDLE_ENV, ICC_ENV } from "@aria/core-types";
import { iccEnvironment, prepareContainerSocketDir, stripSecrets } from "@aria/icc-server";
import { describe, expect, it } from "vitest";

describe("iccEnvironment", () => {
  it("gives exactly the contract's variables, all of them present", () => {
    const env = iccEnvironment({
      token: "aria1.k.p.s",
      runId: "r1",
      stepId: "s1",
      containerId: "c1",
      sessionId: "sess",
      task: "Count words",
      stepIndex: 2,
      totalSteps: 5,
    });
    expect(Object.keys(env).sort()).toEqual([...ICC_ENV].sort());
    expect(env).toEqual({
      ARIA_ICC_URL: "unix:///run/aria/icc.sock",
      ARIA_ICC_TOKEN: "aria1.k.p.s",
      ARIA_SESSION_ID: "sess",
      ARIA_RUN_ID: "r1",
      ARIA_STEP_ID: "s1",
      ARIA_CONTAINER_ID: "c1",
      ARIA_TASK: "Count words",
      ARIA_STEP_INDEX: "2",
      ARIA_TOTAL_STEPS: "5",
    });
    const minimal = iccEnvironment({ token: "t", runId: "r", stepId: "s", containerId: "c" });
    expect(Object.keys(minimal).sort()).toEqual([...ICC_ENV].sort());
    expect(minimal.ARIA_TASK).toBe("");
  });

  it("adds the bundle variables for bundle tools, and an http URL when asked", () => {
    const env = iccEnvironment({
      url: "http://127.0.0.1:7071",
      token: "t",
      runId: "r",
      stepId: "s",
      containerId: "c",
      bundle: { name: "text-tools", version: "1.2.0", digest: "sha256:abc" },
    });
    expect(Object.keys(env).sort()).toEqual([...ICC_ENV, ...ICC_BUNDLE_ENV].sort());
    expect(env).toMatchObject({
      ARIA_ICC_URL: "http://127.0.0.1:7071",
      ARIA_BUNDLE_NAME: "text-tools",
      ARIA_BUNDLE_VERSION: "1.2.0",
      ARIA_BUNDLE_DIGEST: "sha256:abc",
    });
  });

  it("refuses bad URLs and values with line breaks", () => {
    const base = { token: "t", runId: "r", stepId: "s", containerId: "c" };
    expect(() => iccEnvironment({ ...base, url: "ftp://x" })).toThrow(/ARIA_ICC_URL/);
    expect(() => iccEnvironment({ ...base, task: "a\nARIA_ICC_TOKEN=x" })).toThrow(/ARIA_TASK/);
  });

  it("strips variables that look like credentials", () => {
    expect(
      stripSecrets({
        ARIA_ICC_TOKEN: "t",
        OPENAI_API_KEY: "sk-1",
        ANTHROPIC_API_KEY: "sk-2",
        DB_PASSWORD: "p",
        MY_SECRET: "s",
        INPUT: "42",
      }),
    ).toEqual({
      env: { ARIA_ICC_TOKEN: "t", INPUT: "42" },
      dropped: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DB_PASSWORD", "MY_SECRET"],
    });
  });
});

describe("prepareContainerSocketDir", () => {
  it("creates <base>/<key> owned by the container's uid and gid with mode 0700", async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), "icc-d-"));
    const isRoot = process.getuid!() === 0;
    const uid = isRoot ? 1000 : process.getuid!();
    const gid = isRoot ? 1000 : process.getgid!();
    const dir = await prepareContainerSocketDir(base, "ctr-1", uid, gid);
    expect(dir).toBe(path.join(base, "ctr-1"));
    const stat = await fs.stat(dir);
    expect(stat.isDirectory()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o700);
    expect([stat.uid, stat.gid]).toEqual([uid, gid]);
    // idempotent
    expect(await prepareContainerSocketDir(base, "ctr-1", uid, gid)).toBe(dir);
    await fs.rm(base, { recursive: true });
  });

  it("refuses keys that are not plain names and paths too long for a socket", async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), "icc-d-"));
    for (const key of ["..", "../x", "a/b", "", ".hidden", "a\0b"])
      await expect(prepareContainerSocketDir(base, key, 1000, 1000)).rejects.toMatchObject({
        code: "VALIDATION_FAILED",
      });
    await expect(prepareContainerSocketDir(base, "k", -1, 0)).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
    await expect(
      prepareContainerSocketDir(path.join(base, "x".repeat(120)), "k", 1000, 1000),
    ).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    await fs.rm(base, { recursive: true });
  });
});
