import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AriaError } from "@aria/errors";
import {
  type ContainerAuditEntry,
  containerLabels,
  createContainerManager,
  createContainerToolExecutor,
  DockerContainerBackend,
  LABELS,
  parseContainerSpec,
  type QuiltContainerManager,
  resolveContainerConfig,
} from "@aria/quilt-client";
import { requireDocker } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countingBackend } from "./helpers/counting-backend.ts";

// Real dockerd. Fails (never skips) when Docker is not reachable: requireDocker throws.

const exec = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const IMAGE = "aria-tool-runner:latest";
const tag = `${process.pid}-${randomBytes(3).toString("hex")}`;
const INSTANCE = `it-main-${tag}`;
/** Every instance id this suite labels containers with; afterAll checks none of them is left. */
const instances = new Set<string>([INSTANCE]);
const managers: QuiltContainerManager[] = [];
const audit: ContainerAuditEntry[] = [];
const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), "aqi-"));

let socketPath: string;
let docker: DockerContainerBackend;
let manager: QuiltContainerManager;

function newManager(
  options: Partial<Parameters<typeof createContainerManager>[0]> & { instanceId: string },
): QuiltContainerManager {
  instances.add(options.instanceId);
  const m = createContainerManager({
    backend: docker,
    stateDir: path.join(stateRoot, String(managers.length)),
    onAudit: (e) => audit.push(e),
    ...options,
  });
  managers.push(m);
  return m;
}

const until = async (check: () => boolean | Promise<boolean>, what: string, tries = 600) => {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const runContainers = (runId: string, instanceId = INSTANCE) =>
  docker.list({ [LABELS.instance]: instanceId, [LABELS.run]: runId });

beforeAll(async () => {
  socketPath = await requireDocker();
  // Builds the tool-runner image from this machine's Node binary (no registry); fast when present.
  await exec("bash", [path.join(repoRoot, "deploy/tool-runner/build-local.sh"), process.execPath], {
    env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` },
    timeout: 300_000,
  });
  docker = new DockerContainerBackend({ socketPath });
  manager = newManager({ instanceId: INSTANCE, pool: { idleTimeoutMs: 30_000 } });
  await manager.start();
});

afterAll(async () => {
  for (const m of managers) await m.close();
  await fsp.rm(stateRoot, { recursive: true, force: true });
  if (!docker) return;
  // No labelled container of this suite is left, whatever happened above.
  for (const instanceId of instances) {
    expect(
      await docker.list({ [LABELS.managed]: "true", [LABELS.instance]: instanceId }),
      instanceId,
    ).toEqual([]);
  }
});

const PROBE = `
const fs = require("fs");
const read = (f) => { try { return fs.readFileSync(f, "utf8").trim(); } catch { return undefined; } };
const status = fs.readFileSync("/proc/self/status", "utf8");
const field = (name) => (new RegExp(name + ":\\\\s*(\\\\S+)").exec(status) || [])[1];
const out = {
  procNetDev: fs.readFileSync("/proc/net/dev", "utf8").split("\\n").slice(2).map((l) => l.split(":")[0].trim()).filter(Boolean),
  sysClassNet: fs.readdirSync("/sys/class/net").sort(),
  capEff: field("CapEff"), capPrm: field("CapPrm"), capBnd: field("CapBnd"), noNewPrivs: field("NoNewPrivs"),
  uid: process.getuid(), gid: process.getgid(),
  pidsMax: read("/sys/fs/cgroup/pids/pids.max") ?? read("/sys/fs/cgroup/pids.max"),
  memoryLimit: read("/sys/fs/cgroup/memory/memory.limit_in_bytes") ?? read("/sys/fs/cgroup/memory.max"),
  cpuQuota: read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") ?? read("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us") ?? read("/sys/fs/cgroup/cpu.max"),
};
for (const [key, file] of [["root", "/probe"], ["etc", "/etc/probe"], ["tmp", "/tmp/probe"], ["workspace", "/workspace/probe"]]) {
  try { fs.writeFileSync(file, "x"); out[key + "Writable"] = true; } catch (e) { out[key + "Writable"] = false; out[key + "Error"] = e.code; }
}
out.workspaceOwner = fs.statSync("/workspace").uid;
console.log(JSON.stringify(out));
`;

type Probe = {
  procNetDev: string[];
  sysClassNet: string[];
  capEff: string;
  capPrm: string;
  capBnd: string;
  noNewPrivs: string;
  uid: number;
  gid: number;
  pidsMax: string;
  memoryLimit: string;
  cpuQuota: string;
  rootWritable: boolean;
  rootError?: string;
  etcWritable: boolean;
  tmpWritable: boolean;
  workspaceWritable: boolean;
  workspaceOwner: number;
};

describe("the increment-42 workload", () => {
  it("cold: create, start, result, exit 0", async () => {
    const result = await manager.run(
      {
        image: IMAGE,
        command: ["sh", "-c", 'echo "RESULT: $((INPUT + 1))"'],
        env: { INPUT: "42" },
        runId: "inc-cold",
      },
      { path: "cold" },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe("RESULT: 43");
    await manager.cleanupRun("inc-cold");
    expect(await runContainers("inc-cold")).toEqual([]);
  });

  it("warm: dispatched through the in-container runner of a pre-started container", async () => {
    const result = await manager.run(
      {
        image: IMAGE,
        command: ["node", "-e", "console.log('RESULT: ' + (Number(process.env.INPUT) + 1))"],
        env: { INPUT: "42" },
        runId: "inc-warm",
      },
      { path: "warm" },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe("RESULT: 43");
    expect(result.stats?.cpuMs).toBeGreaterThan(0);
    expect(result.stats?.memoryPeakBytes).toBeGreaterThan(0);
    await manager.cleanupRun("inc-warm");
  });

  it("a non-zero exit is a result, not an error; stdin reaches the workload", async () => {
    const failed = await manager.run(
      { image: IMAGE, command: ["sh", "-c", "echo oops >&2; exit 7"] },
      { path: "cold" },
    );
    expect(failed).toMatchObject({ exitCode: 7, stderr: "oops\n" });
    const echoed = await manager.run(
      { image: IMAGE, command: ["cat"], stdin: "from stdin" },
      { path: "cold" },
    );
    expect(echoed.stdout).toBe("from stdin");
  });
});

describe("hardening, verified from inside the container", () => {
  const check = (probe: Probe, limits: { memoryMb: number; pids: number; cpus: number }) => {
    // No network interface but lo.
    expect(probe.procNetDev).toEqual(["lo"]);
    expect(probe.sysClassNet).toEqual(["lo"]);
    // Read-only root; private writable /tmp and /workspace owned by the user.
    expect(probe.rootWritable).toBe(false);
    expect(probe.rootError).toBe("EROFS");
    expect(probe.etcWritable).toBe(false);
    expect(probe.tmpWritable).toBe(true);
    expect(probe.workspaceWritable).toBe(true);
    expect(probe.workspaceOwner).toBe(1000);
    // No capabilities at all, no-new-privileges, not root.
    expect(probe.capEff).toBe("0000000000000000");
    expect(probe.capPrm).toBe("0000000000000000");
    expect(probe.capBnd).toBe("0000000000000000");
    expect(probe.noNewPrivs).toBe("1");
    expect(probe.uid).toBe(1000);
    expect(probe.gid).toBe(1000);
    // Limits.
    expect(probe.pidsMax).toBe(String(limits.pids));
    expect(probe.memoryLimit).toBe(String(limits.memoryMb * 1024 * 1024));
    expect(probe.cpuQuota).toMatch(new RegExp(String(limits.cpus * 100_000)));
  };

  it("cold container", async () => {
    const result = await manager.run(
      { image: IMAGE, command: ["node", "-e", PROBE], memoryMb: 128, pids: 64, cpus: 0.5 },
      { path: "cold" },
    );
    expect(result.stderr).toBe("");
    check(JSON.parse(result.stdout), { memoryMb: 128, pids: 64, cpus: 0.5 });
  });

  it("warm container (limits include the runner's overhead)", async () => {
    const result = await manager.run(
      {
        image: IMAGE,
        command: ["node", "-e", PROBE],
        memoryMb: 128,
        pids: 64,
        cpus: 0.5,
        runId: "probe-warm",
      },
      { path: "warm" },
    );
    expect(result.stderr).toBe("");
    check(JSON.parse(result.stdout), { memoryMb: 128 + 48, pids: 64 + 16, cpus: 0.5 });
    await manager.cleanupRun("probe-warm");
  });

  it("network: true is a relaxation: host network, audited", async () => {
    const before = audit.length;
    const result = await manager.run(
      {
        image: IMAGE,
        command: ["node", "-e", PROBE],
        network: true,
        runId: "relaxed",
        stepId: "net",
      },
      { path: "cold" },
    );
    const probe = JSON.parse(result.stdout) as Probe;
    expect(probe.sysClassNet).toEqual(fs.readdirSync("/sys/class/net").sort());
    expect(probe.capEff).toBe("0000000000000000");
    const entry = audit.slice(before).find((e) => e.action === "container.hardening.relaxed");
    expect(entry).toMatchObject({
      runId: "relaxed",
      stepId: "net",
      instanceId: INSTANCE,
      relaxations: [{ setting: "network", value: "host" }],
    });
  });

  it("root is refused", async () => {
    await expect(manager.run({ image: IMAGE, command: ["id"], user: "0:0" })).rejects.toSatisfy(
      (e) => AriaError.hasCode(e, "VALIDATION_FAILED"),
    );
  });
});

describe("failures mapped to their codes", () => {
  const hog = ["node", "-e", "const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));"];

  it("OOM in a cold container: CONTAINER_OOM", async () => {
    await expect(
      manager.run(
        { image: IMAGE, command: hog, memoryMb: 48, runId: "oom-cold" },
        { path: "cold" },
      ),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_OOM"));
    await manager.cleanupRun("oom-cold");
    expect(await runContainers("oom-cold")).toEqual([]);
  });

  it("OOM in a warm container: CONTAINER_OOM, and the member is not reused", async () => {
    await expect(
      manager.run(
        { image: IMAGE, command: hog, memoryMb: 48, runId: "oom-warm" },
        { path: "warm" },
      ),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_OOM"));
    await manager.cleanupRun("oom-warm");
  });

  it("timeout: CONTAINER_TIMEOUT, the container is killed and removed", async () => {
    await expect(
      manager.run(
        { image: IMAGE, command: ["sleep", "60"], timeoutMs: 800, runId: "slow" },
        { path: "cold" },
      ),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_TIMEOUT"));
    await manager.cleanupRun("slow");
    expect(await runContainers("slow")).toEqual([]);
  });

  it("timeout in a warm container: CONTAINER_TIMEOUT", async () => {
    await expect(
      manager.run(
        { image: IMAGE, command: ["sleep", "60"], timeoutMs: 800, runId: "slow-warm" },
        { path: "warm" },
      ),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_TIMEOUT"));
    await manager.cleanupRun("slow-warm");
  });

  it("a missing image or executable: CONTAINER_START_FAILED, nothing left behind", async () => {
    await expect(
      manager.run({ image: "aria-no-such-image:none", command: ["true"], runId: "bad" }),
    ).rejects.toSatisfy(
      (e) =>
        AriaError.hasCode(e, "CONTAINER_START_FAILED") &&
        /build-local\.sh/.test((e as Error).message),
    );
    await expect(
      manager.run({ image: IMAGE, command: ["/no/such/binary"], runId: "bad" }, { path: "cold" }),
    ).rejects.toSatisfy((e) => AriaError.hasCode(e, "CONTAINER_START_FAILED"));
    await manager.cleanupRun("bad");
    expect(await runContainers("bad")).toEqual([]);
  });
});

describe("cancel", () => {
  it("an abort stops the container: RUN_CANCELLED, then it is removed", async () => {
    const controller = new AbortController();
    const running = manager.run(
      { image: IMAGE, command: ["sleep", "60"], runId: "cancel-me" },
      { path: "cold", signal: controller.signal },
    );
    let id = "";
    await until(async () => {
      const [c] = await runContainers("cancel-me");
      if (c?.state !== "running") return false;
      id = c.id;
      return true;
    }, "the container to run");
    controller.abort();
    await expect(running).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    const state = await docker.inspect(id).catch(() => undefined);
    expect(state?.running ?? false).toBe(false);
    await manager.cleanupRun("cancel-me");
    expect(await runContainers("cancel-me")).toEqual([]);
  });

  it("cleanupRun (the run's cancel) stops what it still runs", async () => {
    const running = manager.run(
      { image: IMAGE, command: ["sleep", "60"], runId: "cancel-run" },
      { path: "cold" },
    );
    const outcome = running.catch((error: unknown) => error);
    await until(
      async () => (await runContainers("cancel-run"))[0]?.state === "running",
      "the container to run",
    );
    await manager.cleanupRun("cancel-run");
    await expect(outcome).resolves.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    expect(await runContainers("cancel-run")).toEqual([]);
  });
});

describe("warm pool", () => {
  it("an acquire makes no Docker create or start call, and the job makes no exec", async () => {
    const counted = countingBackend(docker);
    const instanceId = `it-pool-${tag}`;
    instances.add(instanceId);
    const pooled = createContainerManager({
      backend: counted.backend,
      instanceId,
      stateDir: path.join(stateRoot, "pool"),
      pool: { maxMembers: 2 },
    });
    managers.push(pooled);
    await pooled.start();
    pooled.warm({ image: IMAGE, command: ["true"] }, 2);
    await until(() => pooled.pool.stats().idle === 2, "two warm members");
    const before = { ...counted.calls };
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
    const member = pooled.pool.tryAcquire(profile, "pool-run");
    expect(member).toBeDefined();
    expect(counted.calls).toEqual(before);
    pooled.pool.release(member!, { reusable: true });

    const result = await pooled.run({
      image: IMAGE,
      command: ["sh", "-c", 'echo "RESULT: $((INPUT + 1)) $ARIA_RUN_ID"'],
      env: { INPUT: "42" },
      runId: "pool-run",
    });
    expect(result.stdout.trim()).toBe("RESULT: 43 pool-run");
    expect(result.containerId).toBe(member!.containerId);
    expect(counted.calls.create).toBe(before.create);
    expect(counted.calls.start).toBe(before.start);
    expect(counted.calls.exec ?? 0).toBe(0);

    // Another run never gets the member that ran pool-run's code.
    const other = await pooled.run({ image: IMAGE, command: ["true"], runId: "pool-other" });
    expect(other.containerId).not.toBe(member!.containerId);
    await pooled.cleanupRun("pool-run");
    await until(
      async () => (await docker.inspect(member!.containerId).catch(() => undefined)) === undefined,
      "the member's removal",
    );
    await pooled.close();
  });

  it("a member that dies is replaced", async () => {
    const instanceId = `it-dead-member-${tag}`;
    const pooled = newManager({ instanceId, pool: { maxMembers: 2, sweepIntervalMs: 100 } });
    await pooled.start();
    pooled.warm({ image: IMAGE, command: ["true"] }, 1);
    await until(() => pooled.pool.stats().idle === 1, "a warm member");
    const [victim] = await docker.list({ [LABELS.instance]: instanceId });
    await docker.kill(victim!.id);
    await until(
      () => pooled.pool.stats().deadReplaced === 1 && pooled.pool.stats().idle === 1,
      "a replacement",
    );
    const result = await pooled.run({ image: IMAGE, command: ["sh", "-c", "echo alive"] });
    expect(result.stdout).toBe("alive\n");
    expect(result.containerId).not.toBe(victim!.id);
    await pooled.close();
  });
});

describe("bundle tools in containers", () => {
  let bundleDir: string;
  beforeAll(async () => {
    bundleDir = await fsp.mkdtemp(path.join(os.tmpdir(), "aqi-bundle-"));
    await fsp.mkdir(path.join(bundleDir, "dist"));
    await fsp.writeFile(
      path.join(bundleDir, "dist", "index.js"),
      `
import fs from "node:fs";
const canWrite = (file) => { try { fs.writeFileSync(file, "x"); return true; } catch { return false; } };
export const increment = {
  name: "increment",
  description: "Adds one",
  execution: "container",
  handler: async (input, context) => ({
    value: input.value + 1,
    uid: process.getuid(),
    runId: process.env.ARIA_RUN_ID,
    bundle: process.env.ARIA_BUNDLE_NAME,
    containerId: process.env.ARIA_CONTAINER_ID,
    attempt: context.attempt,
    bundleWritable: canWrite("/bundle/x"),
    workspaceWritable: canWrite("/workspace/x"),
  }),
};
export const wrong = { name: "wrong", description: "Returns a string", handler: () => "not an object" };
`,
    );
    await fsp.chmod(bundleDir, 0o755);
    await fsp.chmod(path.join(bundleDir, "dist"), 0o755);
  });
  afterAll(async () => {
    await fsp.rm(bundleDir, { recursive: true, force: true });
  });

  const executor = () =>
    createContainerToolExecutor({
      manager,
      resolveBundle: () => ({ dir: bundleDir, entry: "dist/index.js" }),
      validateOutput: (_schema, output) =>
        typeof output === "object" &&
        output !== null &&
        typeof (output as { value?: unknown }).value === "number"
          ? { valid: true }
          : { valid: false, errors: ["/value must be number"] },
    });
  const tool = (name: string) => ({
    id: `math/${name}`,
    name,
    bundle: { name: "math", version: "1.0.0", digest: "sha256:0f" },
    description: name,
    inputSchema: { type: "object" },
    outputSchema: {
      type: "object",
      properties: { value: { type: "number" } },
      required: ["value"],
    },
    execution: "container" as const,
    securityLevel: "limited" as const,
    resources: { memoryMb: 96, timeoutMs: 20_000 },
    network: false,
  });
  const context = (runId: string) => ({
    runId,
    stepId: "s1",
    attempt: 1,
    idempotencyKey: `${runId}:s1`,
    signal: new AbortController().signal,
  });

  it("runs the exported definition from the read-only bundle, output checked on the way out", async () => {
    const output = (await executor().execute(
      tool("increment"),
      { value: 42 },
      context("tool-run"),
    )) as Record<string, unknown>;
    expect(output).toMatchObject({
      value: 43,
      uid: 1000,
      runId: "tool-run",
      bundle: "math",
      attempt: 1,
      bundleWritable: false,
      workspaceWritable: true,
    });
    expect(String(output.containerId)).toMatch(/^aria-/);
    await expect(executor().execute(tool("wrong"), {}, context("tool-run"))).rejects.toSatisfy(
      (e) => AriaError.hasCode(e, "TOOL_OUTPUT_INVALID"),
    );
  });

  it("reuses a container within the run and bundle only", async () => {
    const bundle = {
      name: "math",
      version: "1.0.0",
      digest: "sha256:0f",
      dir: bundleDir,
      entry: "dist/index.js",
    };
    const a = await manager.runTool({
      runId: "tools-a",
      bundle,
      tool: "increment",
      input: { value: 1 },
    });
    const a2 = await manager.runTool({
      runId: "tools-a",
      bundle,
      tool: "increment",
      input: { value: 2 },
    });
    const b = await manager.runTool({
      runId: "tools-b",
      bundle,
      tool: "increment",
      input: { value: 3 },
    });
    expect(a2.containerId).toBe(a.containerId);
    expect(b.containerId).not.toBe(a.containerId);
    expect(a.stats?.memoryPeakBytes).toBeGreaterThan(0);
    await manager.cleanupRun("tools-a");
    await manager.cleanupRun("tools-b");
    await manager.settle();
    expect(await docker.inspect(a.containerId).catch(() => undefined)).toBeUndefined();
  });
});

describe("resources", () => {
  it("samples CPU and memory of a cold container while it runs", async () => {
    const result = await manager.run(
      {
        image: IMAGE,
        command: [
          "node",
          "-e",
          "const b = Buffer.alloc(64 << 20, 1); const t = Date.now(); while (Date.now() - t < 1500) {} console.log(b.length)",
        ],
        memoryMb: 256,
      },
      { path: "cold" },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stats?.cpuMs).toBeGreaterThan(0);
    expect(result.stats?.memoryPeakBytes).toBeGreaterThan(32 << 20);
  });

  it("the concurrency limit refuses or queues a container over it", async () => {
    const limited = newManager({
      instanceId: `it-limits-${tag}`,
      limits: { maxConcurrent: 1, onLimit: "reject" },
      pool: { enabled: false },
    });
    await limited.start();
    const first = limited
      .run({ image: IMAGE, command: ["sleep", "60"], runId: "lim" })
      .catch((error: unknown) => error);
    await until(() => limited.governor.usage().running === 1, "the first container");
    await expect(limited.run({ image: IMAGE, command: ["true"], runId: "lim2" })).rejects.toSatisfy(
      (e) => AriaError.hasCode(e, "CONTAINER_LIMIT_REACHED"),
    );
    await limited.cleanupRun("lim");
    await expect(first).resolves.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    await limited.close();
  });
});

describe("backend lifecycle calls", () => {
  it("create, start, exec with output and exit code, stats, logs, stop, remove", async () => {
    const spec = parseContainerSpec({
      image: IMAGE,
      command: ["sh", "-c", "echo started; sleep 60"],
    });
    const name = `aria-it-life-${tag}`;
    const { config } = resolveContainerConfig(spec, {
      name,
      labels: containerLabels({ instanceId: INSTANCE, bootId: "life", role: "workload" }),
    });
    const id = await docker.create(config);
    try {
      await docker.start(id);
      expect((await docker.inspect(id)).running).toBe(true);
      const executed = await docker.exec(id, ["sh", "-c", "echo out; echo err >&2; exit 3"]);
      expect(executed).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
      const stats = await docker.stats(id);
      expect(stats.memoryBytes).toBeGreaterThan(0);
      await docker.stop(id, { graceSeconds: 1 });
      expect((await docker.inspect(id)).running).toBe(false);
      expect((await docker.logs(id)).stdout).toBe("started\n");
    } finally {
      await docker.remove(id);
    }
    expect(await docker.inspect(id).catch((e) => e)).toSatisfy((e) => AriaError.is(e));
  });
});

describe("reaper", () => {
  it("removes containers of dead instances and of this instance's earlier process, keeps live ones", async () => {
    const dead = `it-dead-${tag}`;
    const live = `it-live-${tag}`;
    const mine = `it-restart-${tag}`;
    for (const id of [dead, live, mine]) instances.add(id);
    const make = async (instanceId: string, bootId: string) => {
      const spec = parseContainerSpec({ image: IMAGE, command: ["sleep", "60"] });
      const { config } = resolveContainerConfig(spec, {
        name: `aria-it-reap-${instanceId}-${bootId}`,
        labels: containerLabels({ instanceId, bootId, runId: "old-run", role: "workload" }),
      });
      return docker.create(config);
    };
    const ids = {
      dead: await make(dead, "old"),
      live: await make(live, "old"),
      mine: await make(mine, "old"),
    };
    const restarted = newManager({
      instanceId: mine,
      isInstanceAlive: (id) => id !== dead,
      pool: { enabled: false },
    });
    const report = await restarted.start();
    expect(report.removed).toContain(ids.dead);
    expect(report.removed).toContain(ids.mine);
    expect(report.removed).not.toContain(ids.live);
    expect((await docker.list({ [LABELS.instance]: live })).map((c) => c.id)).toEqual([ids.live]);
    expect(
      audit.filter((e) => e.action === "container.reaped" && e.instanceId === mine),
    ).toHaveLength(2);
    await docker.remove(ids.live);
    await restarted.close();
  });
});

describe("Docker unreachable", () => {
  it("a socket with nothing listening: CONTAINER_RUNTIME_UNAVAILABLE", async () => {
    const nowhere = createContainerManager({
      backend: new DockerContainerBackend({ socketPath: path.join(stateRoot, "nothing.sock") }),
      instanceId: `it-nowhere-${tag}`,
      stateDir: path.join(stateRoot, "nowhere"),
      pool: { enabled: false },
    });
    await expect(nowhere.run({ image: IMAGE, command: ["true"] })).rejects.toSatisfy((e) =>
      AriaError.hasCode(e, "CONTAINER_RUNTIME_UNAVAILABLE"),
    );
    await nowhere.close();
  });

  // A Unix-socket proxy in front of dockerd, to take the engine away while a workload runs.
  async function startProxy(name: string) {
    const proxyPath = path.join(stateRoot, name);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      const upstream = net.connect(socketPath);
      sockets.add(client);
      sockets.add(upstream);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(proxyPath, resolve));
    return {
      proxyPath,
      /** Stops accepting connections; `cut` also drops the open ones (a dead engine), else they hang on. */
      stop: (cut: boolean) => {
        // No new connections from now on (the socket file goes away at once).
        server.close();
        if (cut) for (const s of sockets) s.destroy();
      },
      dropAll: () => {
        for (const s of sockets) s.destroy();
      },
    };
  }

  for (const cut of [true, false]) {
    it(`the engine going away mid-run (${cut ? "connections cut" : "connections left hanging"}): CONTAINER_RUNTIME_UNAVAILABLE, not a hang; reaped after`, async () => {
      const proxy = await startProxy(cut ? "cut.sock" : "hang.sock");
      const instanceId = `it-proxy-${cut ? "cut" : "hang"}-${tag}`;
      instances.add(instanceId);
      const viaProxy = createContainerManager({
        backend: new DockerContainerBackend({ socketPath: proxy.proxyPath }),
        instanceId,
        stateDir: path.join(stateRoot, instanceId.slice(0, 20)),
        pool: { enabled: false },
        heartbeatMs: 300,
      });
      await viaProxy.start();
      const outcome = viaProxy
        .run({ image: IMAGE, command: ["sleep", "60"], timeoutMs: 120_000, runId: "cut" })
        .catch((e: unknown) => e);
      await until(
        async () => (await runContainers("cut", instanceId))[0]?.state === "running",
        "the container to run",
      );
      // Left hanging, only the liveness ping can notice the engine is gone.
      proxy.stop(cut);
      await expect(outcome).resolves.toSatisfy((e) =>
        AriaError.hasCode(e, "CONTAINER_RUNTIME_UNAVAILABLE"),
      );
      proxy.dropAll();
      await viaProxy.close();
      // The container was left behind (the engine was unreachable); the next start of the instance reaps it.
      const orphan = await runContainers("cut", instanceId);
      expect(orphan).toHaveLength(1);
      const restarted = newManager({ instanceId, pool: { enabled: false } });
      const report = await restarted.start();
      expect(report.removed).toEqual([orphan[0]!.id]);
    });
  }
});

describe("deployment Dockerfile", () => {
  it("builds offline on a local base and runs the runner as uid 1000", async () => {
    const image = `aria-tool-runner-dockerfile-test:${tag}`;
    await exec(
      "docker",
      [
        "build",
        "-q",
        "--build-arg",
        `BASE=${IMAGE}`,
        "-f",
        path.join(repoRoot, "deploy/tool-runner/Dockerfile"),
        "-t",
        image,
        path.join(repoRoot, "packages/quilt-client/runner"),
      ],
      {
        env: { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_BUILDKIT: "0" },
        timeout: 120_000,
      },
    );
    try {
      const built = newManager({
        instanceId: `it-dockerfile-${tag}`,
        toolImage: image,
        pool: { maxMembers: 1 },
      });
      await built.start();
      const result = await built.run(
        {
          image,
          command: ["sh", "-c", "echo $(id -u); test -f /opt/aria/runner.mjs && echo runner"],
        },
        { path: "warm" },
      );
      expect(result.stdout.trim().split("\n")).toEqual(["1000", "runner"]);
      await built.close();
    } finally {
      await exec("docker", ["rmi", "-f", image], {
        env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` },
      });
    }
  });
});
