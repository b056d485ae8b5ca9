import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AriaError } from "@aria/errors";
import {
  type ContainerAuditEntry,
  createContainerManager,
  createContainerToolExecutor,
  type QuiltContainerManager,
} from "@aria/quilt-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessBackend } from "./helpers/process-backend.ts";

// The manager and warm pool on a backend that runs "containers" as host processes (the real
// runner script included), so their logic is tested without Docker. Isolation is tested with the
// real engine in containers.integration.test.ts.

let backend: ProcessBackend;
let manager: QuiltContainerManager;
let stateDir: string;
let audit: ContainerAuditEntry[];

const IMAGE = "aria-tool-runner:latest";
const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
};

beforeEach(async () => {
  backend = new ProcessBackend();
  stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "aq-"));
  audit = [];
  manager = createContainerManager({
    backend,
    instanceId: "unit",
    stateDir,
    onAudit: (e) => audit.push(e),
    pool: { maxMembers: 4, sweepIntervalMs: 20, idleTimeoutMs: 200, demandWindowMs: 400 },
    heartbeatMs: 50,
  });
  await manager.start();
});

afterEach(async () => {
  await manager.close();
  expect(backend.existing()).toEqual([]);
  await fs.rm(stateDir, { recursive: true, force: true });
});

describe("cold path", () => {
  it("runs a workload and returns exit code and output; the container is removed", async () => {
    const result = await manager.run({
      image: "any",
      command: ["sh", "-c", "echo RESULT: $((42+1)); echo warn >&2; exit 3"],
      runId: "r1",
    });
    expect(result).toMatchObject({
      exitCode: 3,
      stdout: "RESULT: 43\n",
      stderr: "warn\n",
      oomKilled: false,
      timedOut: false,
    });
    await manager.cleanupRun("r1");
    expect(backend.existing()).toEqual([]);
  });
  it("feeds stdin", async () => {
    const result = await manager.run({ image: "any", command: ["cat"], stdin: "hello" });
    expect(result.stdout).toBe("hello");
  });
  it("kills the container on timeout: CONTAINER_TIMEOUT", async () => {
    await expect(
      manager.run({ image: "any", command: ["sleep", "30"], timeoutMs: 100, runId: "r2" }),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_TIMEOUT"));
    expect(backend.calls.kill).toBe(1);
    await manager.cleanupRun("r2");
    expect(backend.existing()).toEqual([]);
  });
  it("stops the container on cancel: RUN_CANCELLED", async () => {
    const controller = new AbortController();
    const running = manager.run(
      { image: "any", command: ["sleep", "30"], runId: "r3" },
      { signal: controller.signal },
    );
    await until(() => (backend.calls.start ?? 0) > 0, "start");
    controller.abort();
    await expect(running).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    await manager.cleanupRun("r3");
    expect(backend.existing()).toEqual([]);
  });
  it("cleanupRun cancels what the run still has running", async () => {
    const running = manager.run({ image: "any", command: ["sleep", "30"], runId: "r4" });
    await until(() => (backend.calls.start ?? 0) > 0, "start");
    await manager.cleanupRun("r4");
    await expect(running).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    expect(backend.existing()).toEqual([]);
  });
  it("audits relaxations", async () => {
    await manager.run({ image: "any", command: ["true"], network: true, runId: "r5", stepId: "s" });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: "container.hardening.relaxed",
      runId: "r5",
      stepId: "s",
      relaxations: [{ setting: "network" }],
    });
  });
  it("applies the runtime's caps to a workload's own limits", async () => {
    const capped = createContainerManager({
      backend,
      instanceId: "capped",
      stateDir,
      caps: { maxMemoryMb: 64, maxCpus: 0.5 },
      pool: { enabled: false },
    });
    await capped.run({ image: "any", command: ["true"], memoryMb: 512, cpus: 2, pids: 50 });
    expect(backend.configs.at(-1)).toMatchObject({ memoryMb: 64, cpus: 0.5, pids: 50 });
    await capped.close();
  });
  it("maps a backend that refuses to create to its error and leaves nothing behind", async () => {
    backend.failCreate = Object.assign(
      new AriaError("CONTAINER_START_FAILED", { message: "no such image" }),
    );
    await expect(manager.run({ image: "missing", command: ["true"] })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_START_FAILED"),
    );
    expect(await fs.readdir(stateDir)).toEqual([]);
    expect(manager.metrics().failures.CONTAINER_START_FAILED).toBe(1);
  });
});

describe("ICC plug-in point (onDispatch)", () => {
  it("gives each container its own socket folder (container uid, 0700), injects env and releases at the end", async () => {
    const seen: Array<{ socketDir?: string | undefined; containerName: string; warm: boolean }> =
      [];
    let released = 0;
    const withIcc = createContainerManager({
      backend,
      instanceId: "icc",
      stateDir,
      pool: { enabled: false },
      onDispatch: async (info) => {
        const stat = await fs.stat(info.socketDir!);
        expect(stat.mode & 0o777).toBe(0o700);
        if (process.getuid?.() === 0) expect(stat.uid).toBe(info.uid);
        seen.push(info);
        return {
          env: { ARIA_ICC_URL: "unix:///run/aria/icc.sock", ARIA_ICC_TOKEN: "t0k" },
          release: () => {
            released += 1;
          },
        };
      },
    });
    const result = await withIcc.run({
      image: "any",
      command: ["sh", "-c", "echo $ARIA_ICC_URL $ARIA_ICC_TOKEN $ARIA_CONTAINER_ID"],
      runId: "icc-run",
    });
    expect(seen).toHaveLength(1);
    expect(result.stdout.trim()).toBe(`unix:///run/aria/icc.sock t0k ${seen[0]!.containerName}`);
    expect(backend.configs.at(-1)!.mounts).toContainEqual({
      source: seen[0]!.socketDir,
      target: "/run/aria",
      readOnly: false,
    });
    expect(released).toBe(1);
    await withIcc.cleanupRun("icc-run");
    await expect(fs.stat(seen[0]!.socketDir!)).rejects.toThrow();
    await withIcc.close();
  });
});

describe("warm pool", () => {
  const profileSpec = { image: IMAGE, command: ["true"] };
  // The process backend runs the runner on the host, where /workspace does not exist.
  const cwd = { workingDir: os.tmpdir() };

  it("an acquire makes no create or start call; the job reaches the runner; the member serves only its run", async () => {
    manager.warm(profileSpec, 2);
    await until(() => manager.pool.stats().idle >= 2, "two idle members");
    const before = { create: backend.calls.create, start: backend.calls.start };
    const profile = {
      image: IMAGE,
      cpus: 1,
      memoryMb: 256 + 48,
      pids: 128 + 16,
      network: false,
      readOnlyRoot: true,
      user: "1000:1000",
      mounts: [],
    };
    const member = manager.pool.tryAcquire(profile, "runA");
    expect(member).toBeDefined();
    expect({ create: backend.calls.create, start: backend.calls.start }).toEqual(before);
    manager.pool.release(member!, { reusable: true });

    const a1 = await manager.run({
      image: IMAGE,
      command: ["sh", "-c", "echo $GREETING-$ARIA_RUN_ID"],
      env: { GREETING: "hi" },
      runId: "runA",
      ...cwd,
    });
    expect(a1.stdout).toBe("hi-runA\n");
    expect(a1.containerId).toBe(member!.containerId);
    const a2 = await manager.run({
      image: IMAGE,
      command: ["sh", "-c", "echo again"],
      runId: "runA",
      ...cwd,
    });
    expect(a2.containerId).toBe(member!.containerId);
    const b1 = await manager.run({
      image: IMAGE,
      command: ["sh", "-c", "echo b"],
      runId: "runB",
      stdin: "",
      ...cwd,
    });
    expect(b1.containerId).not.toBe(member!.containerId);
    expect(backend.calls.exec ?? 0).toBe(0);

    await manager.cleanupRun("runA");
    expect(backend.existing()).not.toContain(member!.containerId);
  });

  it("replaces a member that died while idle", async () => {
    manager.warm(profileSpec, 1);
    await until(() => manager.pool.stats().idle >= 1, "an idle member");
    const [first] = backend.existing();
    backend.crash(first!);
    await until(
      () =>
        manager.pool.stats().deadReplaced === 1 &&
        manager.pool.stats().idle === 1 &&
        !backend.existing().includes(first!),
      "replacement",
    );
  });

  it("a job whose runner dies fails with CONTAINER_EXEC_FAILED and the member is not reused", async () => {
    manager.warm(profileSpec, 1);
    await until(() => manager.pool.stats().idle >= 1, "an idle member");
    const result = manager.run({ image: IMAGE, command: ["sleep", "30"], runId: "rx", ...cwd });
    await until(() => manager.pool.stats().leased === 1, "leased");
    const member = backend.existing()[0]!;
    backend.crash(member);
    await expect(result).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_EXEC_FAILED"));
    await until(() => !backend.existing().includes(member), "removal");
  });

  it("timeouts and cancels inside a warm member destroy it", async () => {
    manager.warm(profileSpec, 1);
    await until(() => manager.pool.stats().idle >= 1, "an idle member");
    await expect(
      manager.run({ image: IMAGE, command: ["sleep", "30"], timeoutMs: 100, runId: "rt", ...cwd }),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_TIMEOUT"));
    await until(() => manager.pool.stats().idle >= 1, "a refill");
    const controller = new AbortController();
    const running = manager.run(
      { image: IMAGE, command: ["sleep", "30"], runId: "rc", ...cwd },
      { signal: controller.signal },
    );
    await until(() => manager.pool.stats().leased === 1, "leased");
    controller.abort();
    await expect(running).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    expect(manager.pool.stats().reserved).toBe(0);
  });

  it("sizes a key from demand and lets idle members time out", async () => {
    const profile = {
      image: IMAGE,
      cpus: 1,
      memoryMb: 304,
      pids: 144,
      network: false,
      readOnlyRoot: true,
      user: "1000:1000",
      mounts: [],
    };
    expect(manager.pool.target(profile)).toBe(0);
    for (let i = 0; i < 5; i++) manager.pool.tryAcquire(profile, undefined);
    expect(manager.pool.target(profile)).toBeGreaterThan(0);
    await until(() => manager.pool.stats().idle > 0, "demand-driven members");
  });

  it("an idle key without demand shrinks to nothing", async () => {
    const profile = {
      image: IMAGE,
      cpus: 1,
      memoryMb: 304,
      pids: 144,
      network: false,
      readOnlyRoot: true,
      user: "1000:1000",
      mounts: [],
    };
    manager.pool.tryAcquire(profile, undefined);
    await until(() => manager.pool.stats().idle > 0, "a member");
    await until(
      () => manager.pool.stats().idle === 0 && manager.pool.stats().keys === 0,
      "shrink after the idle timeout",
    );
  });

  it("refill failures back off instead of spinning", async () => {
    backend.failCreate = new Error("engine says no");
    manager.warm(profileSpec, 2);
    await new Promise((r) => setTimeout(r, 150));
    expect(backend.calls.create ?? 0).toBeLessThanOrEqual(6);
    backend.failCreate = undefined;
  });
});

describe("bundle tools", () => {
  let bundleDir: string;
  beforeEach(async () => {
    bundleDir = await fs.mkdtemp(path.join(os.tmpdir(), "aq-bundle-"));
    await fs.mkdir(path.join(bundleDir, "dist"));
    await fs.writeFile(
      path.join(bundleDir, "dist", "index.js"),
      [
        "export const increment = { name: 'increment', description: 'adds one', handler: async (input, ctx) => ({ value: input.value + 1, run: process.env.ARIA_RUN_ID, bundle: process.env.ARIA_BUNDLE_NAME, key: ctx.idempotencyKey }) };",
        "export const tools = [{ name: 'fails', handler: () => { throw Object.assign(new Error('nope'), { code: 'E_NOPE' }); } }];",
        "export default { name: 'badOutput', handler: () => ({ value: 'not a number' }) };",
      ].join("\n"),
    );
  });
  afterEach(async () => {
    await fs.rm(bundleDir, { recursive: true, force: true });
  });
  const bundle = () => ({
    name: "math",
    version: "1.0.0",
    digest: "sha256:abc",
    dir: bundleDir,
    entry: "dist/index.js",
  });

  it("runs an exported tool definition, reusing the container within the run only", async () => {
    const r1 = await manager.runTool({
      runId: "t1",
      stepId: "s1",
      bundle: bundle(),
      tool: "increment",
      input: { value: 42 },
      context: { idempotencyKey: "k1" },
    });
    expect(r1.output).toEqual({ value: 43, run: "t1", bundle: "math", key: "k1" });
    const r2 = await manager.runTool({
      runId: "t1",
      bundle: bundle(),
      tool: "increment",
      input: { value: 1 },
    });
    expect(r2.containerId).toBe(r1.containerId);
    const r3 = await manager.runTool({
      runId: "t2",
      bundle: bundle(),
      tool: "increment",
      input: { value: 1 },
    });
    expect(r3.containerId).not.toBe(r1.containerId);
  });

  it("maps a handler's failure to TOOL_EXECUTION_FAILED and a missing tool to TOOL_NOT_FOUND", async () => {
    await expect(
      manager.runTool({ runId: "t3", bundle: bundle(), tool: "fails", input: {} }),
    ).rejects.toSatisfy(
      (e) => AriaError.hasCode(e, "TOOL_EXECUTION_FAILED") && e.details.code === "E_NOPE",
    );
    await expect(
      manager.runTool({ runId: "t3", bundle: bundle(), tool: "nope", input: {} }),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "TOOL_NOT_FOUND"));
  });

  it("refuses a bundle entry outside the bundle", async () => {
    await expect(
      manager.runTool({ bundle: { ...bundle(), entry: "../x.js" }, tool: "increment", input: {} }),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "BUNDLE_INVALID"));
  });

  it("the executor validates output against the tool's outputSchema", async () => {
    const executor = createContainerToolExecutor({
      manager,
      resolveBundle: () => ({ dir: bundleDir, entry: "dist/index.js" }),
      validateOutput: (schema, output) => {
        const type = (schema as { properties: { value: { type: string } } }).properties.value.type;
        const ok = typeof (output as { value: unknown }).value === type;
        return ok ? { valid: true } : { valid: false, errors: [`/value must be ${type}`] };
      },
    });
    const tool = (name: string) => ({
      id: `math/${name}`,
      name,
      bundle: { name: "math", version: "1.0.0", digest: "sha256:abc" },
      description: name,
      inputSchema: { type: "object" },
      outputSchema: { type: "object", properties: { value: { type: "number" } } },
      execution: "container" as const,
      securityLevel: "limited" as const,
      network: false,
    });
    const context = {
      runId: "t4",
      stepId: "s",
      attempt: 1,
      idempotencyKey: "k",
      signal: new AbortController().signal,
    };
    await expect(executor.execute(tool("increment"), { value: 1 }, context)).resolves.toMatchObject(
      { value: 2 },
    );
    await expect(executor.handlerFor(tool("badOutput"))({}, context)).rejects.toSatisfy(
      (e) =>
        AriaError.hasCode(e, "TOOL_OUTPUT_INVALID") &&
        (e.details.errors as string[])[0] === "/value must be number",
    );
  });
});

describe("reaper", () => {
  it("removes this instance's containers from an earlier process and dead instances' ones", async () => {
    const old = createContainerManager({
      backend,
      instanceId: "unit",
      stateDir,
      pool: { enabled: false },
    });
    const dead = createContainerManager({
      backend,
      instanceId: "dead",
      stateDir,
      pool: { enabled: false },
    });
    const live = createContainerManager({
      backend,
      instanceId: "live",
      stateDir,
      pool: { enabled: false },
    });
    // Leave one long-running container from each, as a crash would.
    const pending = [old, dead, live].map((m) =>
      m.run({ image: "any", command: ["sleep", "30"] }).catch(() => undefined),
    );
    await until(() => (backend.calls.start ?? 0) >= 3, "three containers");
    const fresh = createContainerManager({
      backend,
      instanceId: "unit",
      stateDir,
      isInstanceAlive: (id) => id === "live",
      pool: { enabled: false },
    });
    const report = await fresh.reap();
    expect(report.removed).toHaveLength(2);
    expect(report.kept).toBe(1);
    const left = await backend.list({});
    expect(left.map((c) => c.labels["aria.instance"])).toEqual(["live"]);
    await live.close();
    await Promise.all(pending);
    await Promise.all([old.close(), dead.close(), fresh.close()]);
  });
});
