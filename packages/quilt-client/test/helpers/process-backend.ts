import { type ChildProcess, spawn } from "node:child_process";
import type {
  CallOptions,
  ContainerBackend,
  ContainerConfig,
  ContainerLogs,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  ExecResult,
} from "@aria/quilt-client";
import { runnerScriptPath } from "@aria/quilt-client";

interface Proc {
  id: string;
  config: ContainerConfig;
  child?: ChildProcess;
  stdout: Buffer[];
  stderr: Buffer[];
  exit?: number;
  exited: Promise<number>;
  resolveExit: (code: number) => void;
  stdin?: string;
}

/**
 * A `ContainerBackend` for unit tests that runs each "container" as a host process: the runner
 * command starts the real runner script with its socket in the mounted socket folder. No isolation
 * at all; it only exercises the manager's and pool's logic without Docker. Counts every call.
 */
export class ProcessBackend implements ContainerBackend {
  readonly kind = "process";
  readonly calls: Record<string, number> = {};
  #procs = new Map<string, Proc>();
  #seq = 0;
  /** Every config `create` received. */
  readonly configs: ContainerConfig[] = [];
  /** Set to make `create` fail (e.g. to test backoff). */
  failCreate: Error | undefined;

  #count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  async ping(): Promise<void> {
    this.#count("ping");
  }

  async create(config: ContainerConfig, _options?: CallOptions): Promise<string> {
    this.#count("create");
    if (this.failCreate) throw this.failCreate;
    this.configs.push(config);
    this.#seq += 1;
    const id = `proc${this.#seq}`;
    let resolveExit: (code: number) => void = () => {};
    const exited = new Promise<number>((resolve) => {
      resolveExit = resolve;
    });
    this.#procs.set(id, { id, config, stdout: [], stderr: [], exited, resolveExit });
    return id;
  }

  async writeStdin(id: string, data: string): Promise<void> {
    this.#count("writeStdin");
    const proc = this.#procs.get(id);
    if (proc) proc.stdin = data;
  }

  async start(id: string): Promise<void> {
    this.#count("start");
    const proc = this.#procs.get(id);
    if (!proc) throw new Error(`no such process container ${id}`);
    const { config } = proc;
    let [file, ...args] = config.command;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...config.env,
    };
    if (file === "node") file = process.execPath;
    args = args.map((a) => (a === "/opt/aria/runner.mjs" ? runnerScriptPath() : a));
    const socketMount = config.mounts.find((m) => m.target === "/run/aria");
    if (socketMount) env.ARIA_RUNNER_SOCKET = `${socketMount.source}/runner.sock`;
    const bundle = config.mounts.find((m) => m.target === "/bundle");
    if (bundle) env.ARIA_RUNNER_BUNDLE_ROOT = bundle.source;
    const child = spawn(file!, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    proc.child = child;
    child.stdout?.on("data", (c: Buffer) => proc.stdout.push(c));
    child.stderr?.on("data", (c: Buffer) => proc.stderr.push(c));
    child.on("exit", (code, signal) => {
      proc.exit = code ?? (signal === "SIGKILL" ? 137 : 143);
      proc.resolveExit(proc.exit);
    });
    child.on("error", () => {
      proc.exit = 127;
      proc.resolveExit(127);
    });
    child.stdin?.on("error", () => {});
    child.stdin?.end(proc.stdin ?? "");
  }

  async wait(id: string, options?: CallOptions): Promise<{ exitCode: number }> {
    this.#count("wait");
    const proc = this.#procs.get(id);
    if (!proc) throw new Error(`no such process container ${id}`);
    const aborted = new Promise<never>((_, reject) => {
      options?.signal?.addEventListener("abort", () => reject(new Error("wait aborted")), {
        once: true,
      });
    });
    return { exitCode: await Promise.race([proc.exited, aborted]) };
  }

  async inspect(id: string): Promise<ContainerState> {
    this.#count("inspect");
    const proc = this.#procs.get(id);
    if (!proc) throw new Error(`no such process container ${id}`);
    return {
      id,
      name: proc.config.name,
      running: proc.child !== undefined && proc.exit === undefined,
      status: proc.exit === undefined ? "running" : "exited",
      exitCode: proc.exit ?? 0,
      oomKilled: false,
      labels: proc.config.labels,
    };
  }

  async logs(id: string): Promise<ContainerLogs> {
    this.#count("logs");
    const proc = this.#procs.get(id);
    return {
      stdout: Buffer.concat(proc?.stdout ?? []).toString("utf8"),
      stderr: Buffer.concat(proc?.stderr ?? []).toString("utf8"),
      truncated: false,
    };
  }

  async stats(): Promise<ContainerStatsSample> {
    this.#count("stats");
    return {};
  }

  async exec(): Promise<ExecResult> {
    this.#count("exec");
    throw new Error("exec is not supported by the process backend");
  }

  async kill(id: string): Promise<void> {
    this.#count("kill");
    this.#procs.get(id)?.child?.kill("SIGKILL");
  }

  async stop(id: string): Promise<void> {
    this.#count("stop");
    this.#procs.get(id)?.child?.kill("SIGTERM");
  }

  async remove(id: string): Promise<void> {
    this.#count("remove");
    const proc = this.#procs.get(id);
    if (!proc) return;
    if (proc.child && proc.exit === undefined) {
      proc.child.kill("SIGKILL");
      await proc.exited;
    }
    this.#procs.delete(id);
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    this.#count("list");
    return [...this.#procs.values()]
      .filter((p) => Object.entries(labels).every(([k, v]) => p.config.labels[k] === v))
      .map((p) => ({
        id: p.id,
        name: p.config.name,
        labels: p.config.labels,
        state: p.exit === undefined ? "running" : "exited",
        createdAt: 0,
      }));
  }

  async imageLabels(): Promise<Record<string, string> | undefined> {
    this.#count("imageLabels");
    return {};
  }

  /** Kills a "container" behind the manager's back (a member dying). */
  crash(id: string): void {
    this.#procs.get(id)?.child?.kill("SIGKILL");
  }

  /** Ids of processes that exist (created and not removed). */
  existing(): string[] {
    return [...this.#procs.keys()];
  }
}
