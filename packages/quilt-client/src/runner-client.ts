import net from "node:net";

/** The name of the runner's socket inside the per-container folder. */
export const RUNNER_SOCKET_NAME = "runner.sock";

/** The runner's usage report for one job (cgroup deltas measured inside the container). */
export interface RunnerStats {
  cpuMs?: number;
  memoryPeakBytes?: number;
  oomKilled?: boolean;
}

export interface RunnerError {
  name: string;
  message: string;
  code?: string;
  kind: "spawn" | "tool" | "protocol" | "runner";
  stack?: string;
}

/** The runner's answer to an `exec` job. */
export interface RunnerExecReply {
  id: string;
  ok: true;
  exitCode: number;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
  stats?: RunnerStats;
}

/** The runner's answer to a `tool` job. */
export interface RunnerToolReply {
  id: string;
  ok: true;
  output: unknown;
  durationMs: number;
  stats?: RunnerStats;
}

export interface RunnerFailureReply {
  id: string;
  ok: false;
  error: RunnerError;
  durationMs?: number;
  stats?: RunnerStats;
}

export type RunnerJob =
  | { type: "ping" }
  | {
      type: "exec";
      command: string[];
      env?: Record<string, string>;
      cwd?: string;
      stdin?: string;
      timeoutMs?: number;
      maxOutputBytes?: number;
    }
  | {
      type: "tool";
      entry: string;
      tool: string;
      input: unknown;
      env?: Record<string, string>;
      context?: Record<string, unknown>;
    };

type Reply = { id: string; ok: boolean; [key: string]: unknown };
type AnyReply = RunnerExecReply | RunnerToolReply | RunnerFailureReply | Reply;

/** Raised when the connection to the runner ends (the container died or was removed). */
export class RunnerGoneError extends Error {
  override readonly name = "RunnerGoneError";
}

/**
 * A persistent connection to one container's in-container runner, over the Unix socket in its
 * mounted folder. Jobs are newline-delimited JSON; several may be in flight, matched by id.
 */
export class RunnerConnection {
  readonly socketPath: string;
  #socket: net.Socket | undefined;
  #buffer = "";
  #nextId = 1;
  #pending = new Map<
    string,
    { resolve: (reply: AnyReply) => void; reject: (error: Error) => void }
  >();
  #closed = false;
  #onClose: Array<(error: Error) => void> = [];

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Connects, retrying while the runner has not created its socket yet, and resolves once the
   * runner has said `ready`. Rejects when `signal` aborts first.
   */
  async connect(
    signal: AbortSignal,
    retryEveryMs = 3,
  ): Promise<{ pid: number; node: string; cgroup: string | null }> {
    for (;;) {
      if (signal.aborted) throw signal.reason ?? new Error("aborted");
      try {
        return await this.#tryConnect(signal);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ECONNREFUSED") throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, retryEveryMs));
    }
  }

  #tryConnect(signal: AbortSignal): Promise<{ pid: number; node: string; cgroup: string | null }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.socketPath);
      let ready = false;
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason ?? new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      socket.setNoDelay(true);
      socket.once("error", (error) => {
        signal.removeEventListener("abort", onAbort);
        if (!ready) reject(error);
      });
      socket.on("data", (chunk: Buffer) => {
        this.#buffer += chunk.toString("utf8");
        let newline = this.#buffer.indexOf("\n");
        while (newline >= 0) {
          const line = this.#buffer.slice(0, newline);
          this.#buffer = this.#buffer.slice(newline + 1);
          newline = this.#buffer.indexOf("\n");
          if (!line) continue;
          let message: Reply & { type?: string };
          try {
            message = JSON.parse(line);
          } catch {
            continue;
          }
          if (!ready && message.type === "ready") {
            ready = true;
            this.#socket = socket;
            signal.removeEventListener("abort", onAbort);
            resolve(message as unknown as { pid: number; node: string; cgroup: string | null });
            continue;
          }
          const waiter = typeof message.id === "string" ? this.#pending.get(message.id) : undefined;
          if (waiter) {
            this.#pending.delete(message.id);
            waiter.resolve(message);
          }
        }
      });
      socket.on("close", () => {
        if (!ready) {
          signal.removeEventListener("abort", onAbort);
          const error = Object.assign(new Error("runner closed the connection before ready"), {
            code: "ECONNREFUSED",
          });
          reject(error);
          return;
        }
        this.#markClosed(new RunnerGoneError("the in-container runner went away"));
      });
    });
  }

  #markClosed(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
    for (const listener of this.#onClose) listener(error);
  }

  /** Called once when the connection ends. */
  onClose(listener: (error: Error) => void): void {
    this.#onClose.push(listener);
  }

  /** Sends one job and resolves with the runner's reply. */
  send(job: Extract<RunnerJob, { type: "exec" }>): Promise<RunnerExecReply | RunnerFailureReply>;
  send(job: Extract<RunnerJob, { type: "tool" }>): Promise<RunnerToolReply | RunnerFailureReply>;
  send(job: Extract<RunnerJob, { type: "ping" }>): Promise<Reply>;
  send(job: RunnerJob): Promise<AnyReply> {
    const socket = this.#socket;
    if (!socket || this.#closed)
      return Promise.reject(new RunnerGoneError("the in-container runner is not connected"));
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ v: 1, id, ...job })}\n`);
    });
  }

  /** Closes the connection (pending jobs are rejected). */
  close(): void {
    this.#socket?.destroy();
    this.#markClosed(new RunnerGoneError("connection closed by the runtime"));
  }
}
