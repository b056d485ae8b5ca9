import { AriaError } from "@aria/errors";
import {
  containerLabels,
  demuxLogs,
  isConnectionError,
  LABELS,
  parseContainerSpec,
  parseUser,
  resolveContainerConfig,
  toDockerCreateOptions,
} from "@aria/quilt-client";
import { describe, expect, it } from "vitest";

const labels = containerLabels({
  instanceId: "inst-1",
  bootId: "b00t",
  runId: "run-1",
  stepId: "s1",
  role: "workload",
});

function resolve(
  input: Parameters<typeof parseContainerSpec>[0],
  extra: Partial<Parameters<typeof resolveContainerConfig>[1]> = {},
) {
  return resolveContainerConfig(parseContainerSpec(input), {
    name: "aria-test-c1",
    labels,
    ...extra,
  });
}

describe("spec → Docker create options (default hardening)", () => {
  const { config, relaxations } = resolve({
    image: "aria-tool-runner:latest",
    command: ["sh", "-c", "echo hi"],
    env: { A: "1" },
  });
  const options = toDockerCreateOptions(config);

  it("has no network: engine networking disabled and NetworkMode none", () => {
    expect(options.NetworkDisabled).toBe(true);
    expect(options.HostConfig.NetworkMode).toBe("none");
  });
  it("mounts the root file system read-only with private tmpfs /tmp and /workspace owned by the user", () => {
    expect(options.HostConfig.ReadonlyRootfs).toBe(true);
    expect(Object.keys(options.HostConfig.Tmpfs).sort()).toEqual(["/tmp", "/workspace"]);
    for (const value of Object.values(options.HostConfig.Tmpfs)) {
      expect(value).toContain("uid=1000");
      expect(value).toContain("gid=1000");
      expect(value).toContain("nosuid");
      expect(value).toMatch(/size=\d+m/);
    }
  });
  it("drops every capability, sets no-new-privileges and is never privileged", () => {
    expect(options.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(options.HostConfig.CapAdd).toEqual([]);
    expect(options.HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(options.HostConfig.Privileged).toBe(false);
  });
  it("limits PIDs, memory (no swap on top) and CPU from the spec's defaults", () => {
    expect(options.HostConfig.PidsLimit).toBe(128);
    expect(options.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(options.HostConfig.MemorySwap).toBe(options.HostConfig.Memory);
    expect(options.HostConfig.NanoCpus).toBe(1e9);
  });
  it("runs as the non-root user 1000:1000 in /workspace", () => {
    expect(options.User).toBe("1000:1000");
    expect(options.WorkingDir).toBe("/workspace");
  });
  it("passes command, environment and labels through", () => {
    expect(options.Cmd).toEqual(["sh", "-c", "echo hi"]);
    expect(options.Env).toContain("A=1");
    expect(options.Labels[LABELS.managed]).toBe("true");
    expect(options.Labels[LABELS.instance]).toBe("inst-1");
    expect(options.Labels[LABELS.run]).toBe("run-1");
    expect(options.Labels[LABELS.step]).toBe("s1");
    expect(options.name).toBe("aria-test-c1");
  });
  it("reports no relaxation for a default spec", () => {
    expect(relaxations).toEqual([]);
  });
  it("keeps stdin closed unless the spec gives stdin", () => {
    expect(options.OpenStdin).toBe(false);
    const withStdin = toDockerCreateOptions(
      resolve({ image: "x", command: ["cat"], stdin: "data" }).config,
    );
    expect(withStdin.OpenStdin).toBe(true);
    expect(withStdin.StdinOnce).toBe(true);
  });
});

describe("limits from the spec", () => {
  it("maps cpus, memory and pids", () => {
    const options = toDockerCreateOptions(
      resolve({ image: "x", command: ["true"], cpus: 0.5, memoryMb: 64, pids: 32 }).config,
    );
    expect(options.HostConfig.NanoCpus).toBe(5e8);
    expect(options.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(options.HostConfig.PidsLimit).toBe(32);
    expect(options.HostConfig.Tmpfs["/tmp"]).toContain("size=64m");
  });
  it("uses the spec's uid and gid for the user and the tmpfs owners", () => {
    const options = toDockerCreateOptions(
      resolve({ image: "x", command: ["true"], user: "2000:3000" }).config,
    );
    expect(options.User).toBe("2000:3000");
    expect(options.HostConfig.Tmpfs["/workspace"]).toContain("uid=2000,gid=3000");
  });
});

describe("relaxations", () => {
  it("network: true uses the host network and is reported", () => {
    const { config, relaxations } = resolve({ image: "x", command: ["true"], network: true });
    const options = toDockerCreateOptions(config);
    expect(options.HostConfig.NetworkMode).toBe("host");
    expect(options.NetworkDisabled).toBe(false);
    expect(relaxations.map((r) => r.setting)).toEqual(["network"]);
  });
  it("a writable root and a writable mount are reported", () => {
    const { config, relaxations } = resolve({
      image: "x",
      command: ["true"],
      readOnlyRoot: false,
      mounts: [{ source: "/srv/data", target: "/data", readOnly: false }],
    });
    expect(toDockerCreateOptions(config).HostConfig.ReadonlyRootfs).toBe(false);
    expect(relaxations.map((r) => r.setting)).toEqual(["readOnlyRoot", "writableMount"]);
  });
  it("read-only mounts are not relaxations and are mounted read-only", () => {
    const { config, relaxations } = resolve({
      image: "x",
      command: ["true"],
      mounts: [{ source: "/srv/b", target: "/bundle" }],
    });
    expect(relaxations).toEqual([]);
    expect(toDockerCreateOptions(config).HostConfig.Mounts).toEqual([
      { Type: "bind", Source: "/srv/b", Target: "/bundle", ReadOnly: true },
    ]);
  });
  it("the socket folder is mounted writable at /run/aria", () => {
    const { config } = resolve({ image: "x", command: ["true"] }, { socketDir: "/tmp/aria-q/c1" });
    expect(toDockerCreateOptions(config).HostConfig.Mounts).toContainEqual({
      Type: "bind",
      Source: "/tmp/aria-q/c1",
      Target: "/run/aria",
      ReadOnly: false,
    });
  });
});

describe("refusals", () => {
  it("never runs as root", () => {
    for (const user of ["0", "0:0", "1000:0", "0:1000"]) {
      expect(() => resolve({ image: "x", command: ["true"], user })).toThrowError(/root/);
    }
    expect(() => parseUser("root")).toThrowError(AriaError);
  });
  it("needs numeric users", () => {
    expect(() => parseUser("aria")).toThrowError(/numeric/);
    expect(parseUser("1234")).toEqual({ uid: 1234, gid: 1234 });
  });
  it("refuses mounts over reserved paths and relative paths", () => {
    expect(() =>
      resolve({ image: "x", command: ["true"], mounts: [{ source: "/a", target: "/run/aria" }] }),
    ).toThrowError(/reserved/);
    expect(() =>
      resolve({ image: "x", command: ["true"], mounts: [{ source: "/a", target: "/" }] }),
    ).toThrowError(/reserved/);
    expect(() =>
      resolve({ image: "x", command: ["true"], mounts: [{ source: "a", target: "/data" }] }),
    ).toThrowError(/absolute/);
  });
  it("invalid specs are VALIDATION_FAILED", () => {
    try {
      parseContainerSpec({ image: "", command: [] });
      expect.unreachable();
    } catch (error) {
      expect(AriaError.hasCode(error, "VALIDATION_FAILED")).toBe(true);
    }
  });
  it("user labels cannot override the runtime's labels", () => {
    const l = containerLabels({
      instanceId: "i",
      bootId: "b",
      role: "workload",
      extra: { "aria.instance": "evil", team: "x" },
    });
    expect(l[LABELS.instance]).toBe("i");
    expect(l.team).toBe("x");
  });
});

describe("helpers", () => {
  it("demultiplexes Docker's log frames and caps their size", () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(body.length, 4);
      return Buffer.concat([header, body]);
    };
    const raw = Buffer.concat([frame(1, "out1 "), frame(2, "err"), frame(1, "out2")]);
    expect(demuxLogs(raw, 1000)).toEqual({ stdout: "out1 out2", stderr: "err", truncated: false });
    expect(demuxLogs(raw, 6)).toEqual({ stdout: "out1 ", stderr: "e", truncated: true });
  });
  it("tells connection errors from engine answers", () => {
    expect(
      isConnectionError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })),
    ).toBe(true);
    expect(
      isConnectionError(Object.assign(new Error("connect ENOENT /x.sock"), { code: "ENOENT" })),
    ).toBe(true);
    expect(isConnectionError(new Error("socket hang up"))).toBe(true);
    expect(isConnectionError(Object.assign(new Error("no such image"), { statusCode: 404 }))).toBe(
      false,
    );
  });
});
