import { PassThrough } from "node:stream";
import { AriaError, containerError } from "@aria/errors";
import Docker from "dockerode";
import type {
  CallOptions,
  ContainerBackend,
  ContainerConfig,
  ContainerLogs,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  ExecResult,
} from "./backend.ts";

/** The subset of the Docker Engine API create body this backend sends. */
export interface DockerCreateOptions {
  name: string;
  Image: string;
  Cmd: string[];
  Env: string[];
  WorkingDir: string;
  User: string;
  Labels: Record<string, string>;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Tty: false;
  NetworkDisabled: boolean;
  HostConfig: {
    NetworkMode: string;
    ReadonlyRootfs: boolean;
    Tmpfs: Record<string, string>;
    Mounts: Array<{ Type: "bind"; Source: string; Target: string; ReadOnly: boolean }>;
    CapDrop: string[];
    CapAdd: string[];
    SecurityOpt: string[];
    PidsLimit: number;
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    Privileged: false;
    AutoRemove: false;
    LogConfig: { Type: string; Config: Record<string, string> };
  };
}

/**
 * Maps a resolved `ContainerConfig` to the Docker create body. Pure: the unit tests check every
 * hardening setting here without a Docker engine.
 */
export function toDockerCreateOptions(config: ContainerConfig): DockerCreateOptions {
  const tmpfs: Record<string, string> = {};
  for (const t of config.tmpfs) {
    tmpfs[t.target] =
      `rw,nosuid,nodev,size=${t.sizeMb}m,uid=${config.uid},gid=${config.gid},mode=${t.mode}`;
  }
  const memory = config.memoryMb * 1024 * 1024;
  return {
    name: config.name,
    Image: config.image,
    Cmd: config.command,
    Env: Object.entries(config.env).map(([key, value]) => `${key}=${value}`),
    WorkingDir: config.workingDir,
    User: `${config.uid}:${config.gid}`,
    Labels: config.labels,
    AttachStdin: config.openStdin,
    AttachStdout: false,
    AttachStderr: false,
    OpenStdin: config.openStdin,
    StdinOnce: config.openStdin,
    Tty: false,
    // No network at all: the engine skips network allocation (about 90 ms faster to start than a
    // libnetwork "none" sandbox here) and the container gets a fresh namespace with only `lo`.
    NetworkDisabled: config.network === "none",
    HostConfig: {
      NetworkMode: config.network,
      ReadonlyRootfs: config.readOnlyRoot,
      Tmpfs: tmpfs,
      Mounts: config.mounts.map((m) => ({
        Type: "bind",
        Source: m.source,
        Target: m.target,
        ReadOnly: m.readOnly,
      })),
      CapDrop: ["ALL"],
      CapAdd: [],
      SecurityOpt: ["no-new-privileges"],
      PidsLimit: config.pids,
      Memory: memory,
      // Equal to Memory: no swap on top of the limit, so a memory hog is OOM-killed, not swapped.
      MemorySwap: memory,
      NanoCpus: Math.round(config.cpus * 1e9),
      Privileged: false,
      AutoRemove: false,
      LogConfig: {
        Type: "json-file",
        Config: {
          "max-size": String(Math.max(1024 * 1024, config.maxLogBytes * 2)),
          "max-file": "1",
        },
      },
    },
  };
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "ECONNRESET",
  "EPIPE",
  "EACCES",
  "ENOTCONN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ECONNABORTED",
  "ERR_SOCKET_CLOSED",
  "UND_ERR_SOCKET",
]);

interface DockerishError {
  code?: string;
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | string | null;
  message?: string;
  name?: string;
}

function dockerMessage(error: DockerishError): string {
  if (error.json && typeof error.json === "object" && typeof error.json.message === "string")
    return error.json.message;
  if (typeof error.json === "string" && error.json.trim()) return error.json.trim();
  return error.message ?? String(error);
}

/** True for errors that mean "the engine is not there" rather than "the engine said no". */
export function isConnectionError(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  const e = error as DockerishError;
  if (e.statusCode !== undefined) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  return /socket hang up|connect E|ECONNRESET|EPIPE|other side closed/i.test(e.message ?? "");
}

export interface DockerBackendOptions {
  /** A ready dockerode client (takes precedence over the connection fields below). */
  docker?: Docker;
  /** Unix socket of the engine. Default: DOCKER_HOST when it is `unix://...`, else /var/run/docker.sock. */
  socketPath?: string;
  /** `DOCKER_HOST`-style address (`unix:///path` or `tcp://127.0.0.1:2375`). */
  host?: string;
  /** Per-call timeout for every API call but `wait` (default 15 s). */
  callTimeoutMs?: number;
}

/**
 * `ContainerBackend` over the Docker Engine API through dockerode. Each call runs with a timeout
 * (an AbortSignal on the HTTP request) and maps failures: no engine on the socket, a connection cut
 * mid-call or no answer in time → CONTAINER_RUNTIME_UNAVAILABLE; the engine refusing a create or
 * start → CONTAINER_START_FAILED.
 */
export class DockerContainerBackend implements ContainerBackend {
  readonly kind = "docker";
  readonly docker: Docker;
  readonly address: string;
  readonly #callTimeoutMs: number;

  constructor(options: DockerBackendOptions = {}) {
    this.#callTimeoutMs = options.callTimeoutMs ?? 15_000;
    if (options.docker) {
      this.docker = options.docker;
      this.address = "custom";
      return;
    }
    const host = options.host ?? (options.socketPath ? undefined : process.env.DOCKER_HOST);
    if (host && !host.startsWith("unix://")) {
      const url = new URL(host.replace(/^tcp:/, "http:"));
      this.docker = new Docker({
        host: url.hostname,
        port: Number(url.port || 2375),
        protocol: "http",
      });
      this.address = host;
    } else {
      const socketPath =
        options.socketPath ?? (host ? host.slice("unix://".length) : "/var/run/docker.sock");
      this.docker = new Docker({ socketPath });
      this.address = `unix://${socketPath}`;
    }
  }

  async #call<T>(
    operation: string,
    options: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
    extra: { image?: string; container?: string; noTimeout?: boolean } = {},
  ): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.#callTimeoutMs;
    const timeout = !extra.noTimeout && timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [options?.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    try {
      return await fn(signal);
    } catch (error) {
      throw this.#mapError(error, operation, {
        timedOut: timeout?.aborted === true,
        cancelled: options?.signal?.aborted === true,
        timeoutMs,
        ...extra,
      });
    }
  }

  #mapError(
    error: unknown,
    operation: string,
    info: {
      timedOut: boolean;
      cancelled: boolean;
      timeoutMs: number;
      image?: string;
      container?: string;
    },
  ): AriaError {
    if (AriaError.is(error)) return error;
    const context = {
      component: "quilt-client",
      operation: `docker.${operation}`,
      ...(info.container ? { containerId: info.container } : {}),
    };
    if (info.cancelled) {
      return new AriaError("RUN_CANCELLED", {
        message: `Cancelled during docker ${operation}`,
        context,
        cause: error,
      });
    }
    if (info.timedOut) {
      return containerError.unavailable(
        `Docker did not answer ${operation} within ${info.timeoutMs} ms (${this.address})`,
        {
          context,
          cause: error,
        },
      );
    }
    if (isConnectionError(error)) {
      const e = error as DockerishError;
      return containerError.unavailable(
        `${e.code ?? "connection lost"} on ${this.address} during ${operation}`,
        {
          context,
          cause: error,
          details: { address: this.address },
        },
      );
    }
    const e = error as DockerishError;
    const message = dockerMessage(e);
    if (operation === "create" || operation === "start" || operation === "attach") {
      const hint =
        e.statusCode === 404 && /image/i.test(message)
          ? " (build the tool image with deploy/tool-runner/build-local.sh)"
          : "";
      return containerError.startFailed(info.image ?? "?", `${message}${hint}`, {
        context,
        cause: error,
        details: { statusCode: e.statusCode },
      });
    }
    return containerError.execFailed(-1, `docker ${operation} failed: ${message}`, {
      context,
      cause: error,
      details: { statusCode: e.statusCode },
    });
  }

  ping(options?: CallOptions): Promise<void> {
    return this.#call("ping", { timeoutMs: 3_000, ...options }, async (abortSignal) => {
      await (this.docker.ping as (options: { abortSignal: AbortSignal }) => Promise<unknown>)({
        abortSignal,
      });
    });
  }

  create(config: ContainerConfig, options?: CallOptions): Promise<string> {
    return this.#call(
      "create",
      options,
      async (abortSignal) => {
        const container = await this.docker.createContainer({
          ...toDockerCreateOptions(config),
          abortSignal,
        } as unknown as Docker.ContainerCreateOptions);
        return container.id;
      },
      { image: config.image },
    );
  }

  writeStdin(id: string, data: string, options?: CallOptions): Promise<void> {
    return this.#call(
      "attach",
      options,
      async (abortSignal) => {
        const stream = (await this.docker.getContainer(id).attach({
          stream: true,
          stdin: true,
          stdout: false,
          stderr: false,
          hijack: true,
          abortSignal,
        } as Docker.ContainerAttachOptions)) as NodeJS.ReadWriteStream;
        // The engine reads stdin once the container starts; ending the stream closes it (StdinOnce).
        stream.end(data);
      },
      { container: id },
    );
  }

  start(id: string, options?: CallOptions): Promise<void> {
    return this.#call(
      "start",
      options,
      async (abortSignal) => {
        await this.docker.getContainer(id).start({ abortSignal });
      },
      { container: id },
    );
  }

  wait(id: string, options?: CallOptions): Promise<{ exitCode: number }> {
    return this.#call(
      "wait",
      options,
      async (abortSignal) => {
        const result = (await this.docker
          .getContainer(id)
          .wait({ condition: "not-running", abortSignal })) as {
          StatusCode: number;
        };
        return { exitCode: result.StatusCode };
      },
      { container: id, noTimeout: true },
    );
  }

  inspect(id: string, options?: CallOptions): Promise<ContainerState> {
    return this.#call(
      "inspect",
      options,
      async (abortSignal) => {
        const info = await this.docker.getContainer(id).inspect({ abortSignal });
        return {
          id: info.Id,
          name: info.Name.replace(/^\//, ""),
          running: info.State.Running,
          status: info.State.Status,
          exitCode: info.State.ExitCode,
          oomKilled: info.State.OOMKilled,
          ...(info.State.Error ? { error: info.State.Error } : {}),
          labels: info.Config.Labels ?? {},
        };
      },
      { container: id },
    );
  }

  logs(id: string, options?: CallOptions & { maxBytes?: number }): Promise<ContainerLogs> {
    return this.#call(
      "logs",
      options,
      async (abortSignal) => {
        const raw = (await this.docker.getContainer(id).logs({
          stdout: true,
          stderr: true,
          follow: false,
          abortSignal,
        } as Docker.ContainerLogsOptions & { follow: false })) as unknown as Buffer;
        return demuxLogs(
          Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)),
          options?.maxBytes ?? 4 * 1024 * 1024,
        );
      },
      { container: id },
    );
  }

  stats(id: string, options?: CallOptions): Promise<ContainerStatsSample> {
    return this.#call(
      "stats",
      options,
      async (abortSignal) => {
        const s = (await this.docker.getContainer(id).stats({
          stream: false,
          "one-shot": true,
          abortSignal,
        } as {
          stream: false;
        })) as unknown as {
          cpu_stats?: { cpu_usage?: { total_usage?: number } };
          memory_stats?: { usage?: number; max_usage?: number };
        };
        const sample: ContainerStatsSample = {};
        const cpuNs = s.cpu_stats?.cpu_usage?.total_usage;
        if (cpuNs) sample.cpuMs = cpuNs / 1e6;
        if (s.memory_stats?.usage) sample.memoryBytes = s.memory_stats.usage;
        if (s.memory_stats?.max_usage) sample.memoryPeakBytes = s.memory_stats.max_usage;
        return sample;
      },
      { container: id },
    );
  }

  exec(
    id: string,
    command: string[],
    options?: CallOptions & { env?: Record<string, string> },
  ): Promise<ExecResult> {
    return this.#call(
      "exec",
      options,
      async (abortSignal) => {
        const container = this.docker.getContainer(id);
        const exec = await container.exec({
          Cmd: command,
          AttachStdout: true,
          AttachStderr: true,
          Env: Object.entries(options?.env ?? {}).map(([k, v]) => `${k}=${v}`),
          abortSignal,
        } as Docker.ExecCreateOptions);
        const stream = await exec.start({
          hijack: true,
          stdin: false,
          abortSignal,
        } as Docker.ExecStartOptions);
        const out = new PassThrough();
        const err = new PassThrough();
        const outChunks: Buffer[] = [];
        const errChunks: Buffer[] = [];
        out.on("data", (c: Buffer) => outChunks.push(c));
        err.on("data", (c: Buffer) => errChunks.push(c));
        this.docker.modem.demuxStream(stream, out, err);
        await new Promise<void>((resolve, reject) => {
          stream.on("end", () => resolve());
          stream.on("close", () => resolve());
          stream.on("error", reject);
        });
        const info = await exec.inspect({ abortSignal } as Docker.ExecInspectOptions);
        return {
          exitCode: info.ExitCode ?? -1,
          stdout: Buffer.concat(outChunks).toString("utf8"),
          stderr: Buffer.concat(errChunks).toString("utf8"),
        };
      },
      { container: id },
    );
  }

  kill(id: string, options?: CallOptions & { signal?: string }): Promise<void> {
    return this.#call(
      "kill",
      options,
      async (abortSignal) => {
        try {
          await this.docker
            .getContainer(id)
            .kill({ signal: options?.signal ?? "SIGKILL", abortSignal });
        } catch (error) {
          // 409: not running any more; 404: already gone. Both are what a kill wants.
          const status = (error as DockerishError).statusCode;
          if (status === 409 || status === 404) return;
          throw error;
        }
      },
      { container: id },
    );
  }

  stop(id: string, options?: CallOptions & { graceSeconds?: number }): Promise<void> {
    return this.#call(
      "stop",
      {
        ...options,
        timeoutMs:
          (options?.timeoutMs ?? this.#callTimeoutMs) + (options?.graceSeconds ?? 1) * 1000,
      },
      async (abortSignal) => {
        try {
          await this.docker.getContainer(id).stop({ t: options?.graceSeconds ?? 1, abortSignal });
        } catch (error) {
          const status = (error as DockerishError).statusCode;
          if (status === 304 || status === 404) return;
          throw error;
        }
      },
      { container: id },
    );
  }

  remove(id: string, options?: CallOptions): Promise<void> {
    return this.#call(
      "remove",
      options,
      async (abortSignal) => {
        try {
          await this.docker.getContainer(id).remove({ force: true, v: true, abortSignal });
        } catch (error) {
          const e = error as DockerishError;
          // Already gone, or a removal already in progress.
          if (e.statusCode === 404) return;
          if (e.statusCode === 409 && /already in progress/i.test(dockerMessage(e))) return;
          throw error;
        }
      },
      { container: id },
    );
  }

  list(labels: Record<string, string>, options?: CallOptions): Promise<ContainerSummary[]> {
    return this.#call("list", options, async (abortSignal) => {
      const filters = JSON.stringify({
        label: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
      });
      const items = await this.docker.listContainers({
        all: true,
        filters,
        abortSignal,
      } as Docker.ContainerListOptions);
      return items.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? "").replace(/^\//, ""),
        labels: c.Labels ?? {},
        state: c.State,
        createdAt: c.Created * 1000,
      }));
    });
  }

  imageLabels(image: string, options?: CallOptions): Promise<Record<string, string> | undefined> {
    return this.#call(
      "image",
      options,
      async (abortSignal) => {
        try {
          const image_ = this.docker.getImage(image) as unknown as {
            inspect(options: {
              abortSignal: AbortSignal;
            }): Promise<{ Config?: { Labels?: Record<string, string> | null } }>;
          };
          const info = await image_.inspect({ abortSignal });
          return info.Config?.Labels ?? {};
        } catch (error) {
          if ((error as DockerishError).statusCode === 404) return undefined;
          throw error;
        }
      },
      { image },
    );
  }
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into stdout and stderr. */
export function demuxLogs(raw: Buffer, maxBytes: number): ContainerLogs {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  let truncated = false;
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const stream = raw[offset];
    const length = raw.readUInt32BE(offset + 4);
    const frame = raw.subarray(offset + 8, offset + 8 + length);
    offset += 8 + length;
    if (size >= maxBytes) {
      truncated = true;
      continue;
    }
    const piece = frame.length > maxBytes - size ? frame.subarray(0, maxBytes - size) : frame;
    if (piece.length < frame.length) truncated = true;
    size += piece.length;
    (stream === 2 ? err : out).push(piece);
  }
  return {
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
    truncated,
  };
}
