import fs from "node:fs/promises";
import path from "node:path";
import { ICC_BUNDLE_ENV, ICC_ENV } from "@aria/core-types";
import {
  createIccDispatchHook,
  permissionsFromManifest,
  prepareContainerSocketDir,
} from "@aria/icc-server";
import { afterEach, describe, expect, it } from "vitest";
import { type Fixture, startFixture } from "./helpers/fixture.ts";

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const isRoot = process.getuid!() === 0;
const owner = isRoot
  ? { uid: 1000, gid: 1000 }
  : { uid: process.getuid!(), gid: process.getgid!() };

describe("dispatch grants (quilt-client onDispatch)", () => {
  it("creates the container's socket, mints a scoped token, and revokes it on release", async () => {
    f = await startFixture();
    const socketDir = await prepareContainerSocketDir(
      path.join(f.dir, "ctr"),
      "aria-c-1",
      owner.uid,
      owner.gid,
    );
    const hook = createIccDispatchHook(f.server, (info) => ({
      sessionId: "session-A",
      task: `task for ${info.stepId}`,
      stepIndex: 1,
      totalSteps: 3,
      ...permissionsFromManifest({ tools: ["echo"], llm: true, context: "readwrite" }),
    }));
    const grant = await hook({
      containerName: "aria-c-1",
      socketDir,
      ...owner,
      runId: "run-A",
      stepId: "step-9",
      bundle: { name: "text-tools", version: "1.0.0", digest: "sha256:d" },
    });
    expect(grant).toBeDefined();
    const env = grant!.env;
    expect(Object.keys(env).sort()).toEqual([...ICC_ENV, ...ICC_BUNDLE_ENV].sort());
    expect(env).toMatchObject({
      ARIA_ICC_URL: "unix:///run/aria/icc.sock",
      ARIA_SESSION_ID: "session-A",
      ARIA_RUN_ID: "run-A",
      ARIA_STEP_ID: "step-9",
      ARIA_CONTAINER_ID: "aria-c-1",
      ARIA_TASK: "task for step-9",
      ARIA_STEP_INDEX: "1",
      ARIA_TOTAL_STEPS: "3",
      ARIA_BUNDLE_NAME: "text-tools",
    });
    expect(grant!.claims).toMatchObject({
      runId: "run-A",
      stepId: "step-9",
      containerId: "aria-c-1",
      permissions: ["tools", "llm", "context"],
      tools: ["echo"],
      contextAccess: "readwrite",
    });
    const socketPath = path.join(socketDir, "icc.sock");
    const stat = await fs.stat(socketPath);
    expect(stat.isSocket()).toBe(true);
    expect([stat.uid, stat.gid]).toEqual([owner.uid, owner.gid]);
    expect(stat.mode & 0o777).toBe(0o600);
    const auth = { authorization: `Bearer ${env.ARIA_ICC_TOKEN}` };
    const ok = await f.raw("POST", "/tools/echo", {
      headers: auth,
      body: "{}",
      socket: socketPath,
    });
    expect(ok.status).toBe(200);
    const forbidden = await f.raw("POST", "/tools/fail", {
      headers: auth,
      body: "{}",
      socket: socketPath,
    });
    expect(forbidden.status).toBe(403);
    await grant!.release();
    await grant!.release(); // idempotent
    await expect(fs.stat(socketPath)).rejects.toMatchObject({ code: "ENOENT" });
    const after = await f.raw("GET", "/context", { headers: auth });
    expect(after.status).toBe(401);
    expect(after.json.error.details.reason).toBe("revoked");
  });

  it("keeps a warm container's socket while another grant of it is live", async () => {
    f = await startFixture();
    const socketDir = await prepareContainerSocketDir(
      path.join(f.dir, "ctr"),
      "aria-w-1",
      owner.uid,
      owner.gid,
    );
    const info = { containerName: "aria-w-1", socketDir, ...owner, runId: "run-A", stepId: "s" };
    const first = await f.server.grant(info);
    const second = await f.server.grant({ ...info, stepId: "s2" });
    const socketPath = path.join(socketDir, "icc.sock");
    await first!.release();
    const auth = { authorization: `Bearer ${second!.env.ARIA_ICC_TOKEN}` };
    expect((await f.raw("GET", "/context", { headers: auth, socket: socketPath })).status).toBe(
      200,
    );
    // default permissions: context read only
    expect(second!.claims).toMatchObject({ permissions: ["context"], contextAccess: "read" });
    expect(
      (await f.raw("POST", "/tools/echo", { headers: auth, body: "{}", socket: socketPath }))
        .status,
    ).toBe(403);
    await second!.release();
    await expect(fs.stat(socketPath)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("gives no ICC to work without a run, and an http URL when there is no socket folder", async () => {
    f = await startFixture();
    expect(await f.server.grant({ containerName: "c", ...owner })).toBeUndefined();
    await expect(
      f.server.grant({ containerName: "c", ...owner, runId: "run-A" }),
    ).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    const tcp = await f.server.listen({ port: 0 });
    const grant = await f.server.grant({ containerName: "c", ...owner, runId: "run-A" });
    expect(grant!.env.ARIA_ICC_URL).toBe(tcp.url);
    await grant!.release();
    await tcp.close();
  });
});

describe("permissionsFromManifest", () => {
  it("maps manifest permissions to token permissions", () => {
    expect(permissionsFromManifest(undefined)).toEqual({
      permissions: ["context"],
      contextAccess: "read",
    });
    expect(permissionsFromManifest({})).toEqual({
      permissions: ["context"],
      contextAccess: "read",
    });
    expect(
      permissionsFromManifest({ tools: true, agents: ["a"], llm: true, context: "none" }),
    ).toEqual({
      permissions: ["tools", "agents", "llm"],
      agents: ["a"],
    });
    expect(permissionsFromManifest({ tools: [], llm: false, context: "readwrite" })).toEqual({
      permissions: ["context"],
      contextAccess: "readwrite",
    });
  });
});
