/**
 * The container backend seam. The manager, the warm pool and the reaper speak only this interface, so
 * a Kubernetes or remote-Quilt backend can be added beside the Docker one without touching them.
 * Every method takes a `CallOptions` with a signal; implementations apply their own per-call timeout
 * and throw AriaErrors (`CONTAINER_RUNTIME_UNAVAILABLE`, `CONTAINER_START_FAILED`, ...).
 */

/** A bind mount of a host path into the container. */
export interface ContainerMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** A private, size-limited tmpfs owned by the container user. */
export interface ContainerTmpfs {
  target: string;
  sizeMb: number;
  mode: string;
}

/**
 * A fully resolved, backend-neutral container description: what `resolveContainerConfig` produces
 * from a `ContainerSpec` after applying the hardening defaults. Backends map it to their own API
 * (`toDockerCreateOptions` for Docker).
 */
export interface ContainerConfig {
  /** Unique name; also exported to the workload as `ARIA_CONTAINER_ID`. */
  name: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  workingDir: string;
  uid: number;
  gid: number;
  cpus: number;
  memoryMb: number;
  pids: number;
  /** `none`: only `lo`. `host`: the relaxation `network: true` (loopback services such as ICC over HTTP). */
  network: "none" | "host";
  readOnlyRoot: boolean;
  tmpfs: ContainerTmpfs[];
  mounts: ContainerMount[];
  labels: Record<string, string>;
  /** Keep stdin open so `writeStdin` can feed the workload before it starts. */
  openStdin: boolean;
  /** Maximum bytes of stdout+stderr the backend keeps for `logs`. */
  maxLogBytes: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the backend's default per-call timeout. */
  timeoutMs?: number;
}

/** What `inspect` reports about a container's state. */
export interface ContainerState {
  id: string;
  name: string;
  running: boolean;
  status: string;
  exitCode: number;
  oomKilled: boolean;
  error?: string;
  labels: Record<string, string>;
}

/** One container as `list` reports it. */
export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: string;
  createdAt: number;
}

/** A resource usage sample. */
export interface ContainerStatsSample {
  /** Total CPU time the container has used so far. */
  cpuMs?: number;
  memoryBytes?: number;
  memoryPeakBytes?: number;
}

export interface ContainerLogs {
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A container engine. */
export interface ContainerBackend {
  /** A short name for audit, errors and metrics (`docker`, `kubernetes`, ...). */
  readonly kind: string;
  /** Resolves when the engine answers; throws CONTAINER_RUNTIME_UNAVAILABLE otherwise. */
  ping(options?: CallOptions): Promise<void>;
  /** Creates the container; resolves with its id. */
  create(config: ContainerConfig, options?: CallOptions): Promise<string>;
  /** Feeds `data` to stdin and closes it (only for `openStdin` containers, before `start`). */
  writeStdin(id: string, data: string, options?: CallOptions): Promise<void>;
  start(id: string, options?: CallOptions): Promise<void>;
  /** Resolves with the exit status once the container is not running. No timeout of its own. */
  wait(id: string, options?: CallOptions): Promise<{ exitCode: number }>;
  inspect(id: string, options?: CallOptions): Promise<ContainerState>;
  logs(id: string, options?: CallOptions & { maxBytes?: number }): Promise<ContainerLogs>;
  /** One resource usage sample (no streaming). */
  stats(id: string, options?: CallOptions): Promise<ContainerStatsSample>;
  /**
   * Runs a command in a running container. Slow (tens of ms) compared with dispatching through the
   * in-container runner; meant for diagnostics, never the hot path.
   */
  exec(
    id: string,
    command: string[],
    options?: CallOptions & { env?: Record<string, string> },
  ): Promise<ExecResult>;
  kill(id: string, options?: CallOptions & { signal?: string }): Promise<void>;
  stop(id: string, options?: CallOptions & { graceSeconds?: number }): Promise<void>;
  /** Force-removes the container; a container already gone is not an error. */
  remove(id: string, options?: CallOptions): Promise<void>;
  /** Containers (running or not) carrying all the given labels. */
  list(labels: Record<string, string>, options?: CallOptions): Promise<ContainerSummary[]>;
  /** The image's labels, or undefined when the image is not present. */
  imageLabels(image: string, options?: CallOptions): Promise<Record<string, string> | undefined>;
  close?(): Promise<void>;
}
