import type { Logger } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  getDefaultEnvironment,
  StdioClientTransport,
} from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import { loopbackUrl } from "./loopback.ts";
import { type McpCallResult, toToolOutput } from "./results.ts";

/** JSON-RPC error codes of the MCP SDK (`ErrorCode`) Aria tells apart. */
const CONNECTION_CLOSED = -32000;
const REQUEST_TIMEOUT = -32001;

/** Where a server is: connecting (first start or a restart), up, down (a restart is scheduled), failed (gave up), closed. */
export type McpServerState = "connecting" | "up" | "down" | "failed" | "closed";

/** An MCP server to connect to: a stdio command or a streamable HTTP URL on loopback. */
export interface McpServerConfig {
  /** The server's name: its tools are `mcp:<name>/<tool>`. */
  name: string;
  /** Executable and arguments, spawned with the MCP stdio transport. */
  command?: string[];
  /** A streamable HTTP endpoint on loopback (127.0.0.0/8, ::1, localhost). */
  url?: string;
  /** Extra environment of a stdio server (added to the SDK's safe default environment). */
  env?: Record<string, string>;
  /** Working directory of a stdio server (a bundle's servers run in its unpacked directory). */
  cwd?: string;
  /** Timeout of one tool call, in ms (default: the manager's `toolTimeoutMs`). */
  timeoutMs?: number;
}

/** How a connection reconnects. */
export interface McpRestartOptions {
  /** Restarts after a loss before giving up (state `failed`); default 5. */
  maxRestarts?: number;
  /** First delay before a restart, ms (default 250); doubles with jitter (cockatiel). */
  initialDelayMs?: number;
  /** Longest delay between restarts, ms (default 30 000). */
  maxDelayMs?: number;
  /** A server up this long (ms) before it went away gets its restart budget back (default 60 000). */
  stableMs?: number;
}

/** Collaborators and settings of one connection. */
export interface McpConnectionDeps {
  config: McpServerConfig;
  /** Time allowed for spawning/reaching the server and the MCP handshake, ms (default 10 000). */
  connectTimeoutMs?: number;
  restart?: McpRestartOptions;
  logger?: Logger;
  /** The server's tools after every (re)connection and every `tools/list_changed`. */
  onTools: (tools: Tool[]) => void;
  /** Every state change (readiness, metrics). */
  onState?: (state: McpServerState, detail?: string) => void;
  /** The client's version in the MCP handshake. */
  clientVersion?: string;
  /**
   * How often an HTTP server is pinged while up, ms (default 15 000; 0 turns it off), so a server
   * that went away is noticed (and restarted) without waiting for the next call. A stdio server's
   * exit is noticed at once.
   */
  pingIntervalMs?: number;
}

/** A snapshot of a connection for `/ready` and the API. */
export interface McpConnectionStatus {
  name: string;
  transport: "stdio" | "http";
  state: McpServerState;
  restarts: number;
  /** The stdio server's process id while it runs. */
  pid?: number;
  lastError?: string;
  /** When the next restart is due (epoch ms), while `down`. */
  nextAttemptAt?: number;
}

const STDERR_LINES = 20;

/**
 * One MCP server: connects with the official SDK client (stdio or streamable HTTP), lists its tools
 * (all pages), follows `notifications/tools/list_changed`, calls tools with a timeout and the
 * caller's AbortSignal, and restarts the server with exponential backoff (cockatiel) when it goes
 * away (the stdio process exits, the HTTP endpoint refuses), up to `maxRestarts`. While it is not up,
 * calls fail at once with MCP_SERVER_UNAVAILABLE: a dead server never hangs a run.
 */
export class McpServerConnection {
  readonly name: string;
  readonly transportKind: "stdio" | "http";
  private readonly deps: McpConnectionDeps;
  private readonly url: URL | undefined;
  private client: Client | undefined;
  private transport: Transport | undefined;
  private stateValue: McpServerState = "connecting";
  private restarts = 0;
  private backoff: IBackoff<unknown> | undefined;
  private upSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private nextAttemptAt: number | undefined;
  private lastError: string | undefined;
  private readonly stderr: string[] = [];
  private closed = false;

  constructor(deps: McpConnectionDeps) {
    const { config } = deps;
    this.deps = deps;
    this.name = config.name;
    if (config.command && config.url) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `MCP server '${config.name}' declares both a command and a URL; give one`,
        details: { issues: [{ path: "/command", message: "command and url are exclusive" }] },
      });
    }
    if (config.url !== undefined) {
      this.url = loopbackUrl(config.name, config.url);
      this.transportKind = "http";
    } else if (config.command && config.command.length > 0) {
      this.transportKind = "stdio";
    } else {
      throw new AriaError("VALIDATION_FAILED", {
        message: `MCP server '${config.name}' has neither a command nor a URL`,
        details: { issues: [{ path: "/command", message: "give a command or a url" }] },
      });
    }
  }

  /** The current state. */
  get state(): McpServerState {
    return this.stateValue;
  }

  /** A snapshot for readiness and the API. */
  status(): McpConnectionStatus {
    const pid =
      this.transport instanceof StdioClientTransport
        ? (this.transport.pid ?? undefined)
        : undefined;
    return {
      name: this.name,
      transport: this.transportKind,
      state: this.stateValue,
      restarts: this.restarts,
      ...(pid !== undefined && this.stateValue === "up" ? { pid } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.nextAttemptAt !== undefined && this.stateValue === "down"
        ? { nextAttemptAt: this.nextAttemptAt }
        : {}),
    };
  }

  /**
   * Connects for the first time. With `retry: false` a failure is thrown (MCP_SERVER_UNAVAILABLE)
   * and the connection is closed; with `retry: true` it is logged and restarts are scheduled, so
   * the server comes up later on its own.
   */
  async start(options: { retry: boolean }): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      const failure = this.unavailable(`could not be started: ${describe(error)}`, error);
      if (!options.retry) {
        await this.close();
        throw failure;
      }
      this.deps.logger?.warn(
        { server: this.name, error: failure.message },
        "MCP server not available at start; retrying in the background",
      );
      this.scheduleRestart();
    }
  }

  private setState(state: McpServerState, detail?: string): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.deps.onState?.(state, detail);
  }

  private makeTransport(): Transport {
    const { config } = this.deps;
    if (this.url) return new StreamableHTTPClientTransport(this.url);
    const [command, ...args] = config.command as string[];
    const transport = new StdioClientTransport({
      command: command as string,
      args,
      // Only the SDK's safe variables (PATH, HOME, ...): provider keys never reach an MCP server.
      env: { ...getDefaultEnvironment(), ...config.env },
      stderr: "pipe",
      ...(config.cwd ? { cwd: config.cwd } : {}),
    });
    let partial = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        this.stderr.push(line);
        if (this.stderr.length > STDERR_LINES) this.stderr.shift();
        this.deps.logger?.debug({ server: this.name, stderr: line }, "MCP server stderr");
      }
    });
    return transport;
  }

  private async connect(): Promise<void> {
    this.setState("connecting");
    const client = new Client(
      { name: "aria-runtime", version: this.deps.clientVersion ?? "0.1.0" },
      {
        capabilities: {},
        listChanged: {
          tools: {
            autoRefresh: false,
            debounceMs: 50,
            onChanged: () => void this.refreshTools(client),
          },
        },
      },
    );
    const transport = this.makeTransport();
    client.onclose = () => this.lost(client, "the connection closed");
    client.onerror = (error) =>
      this.deps.logger?.debug({ server: this.name, error: String(error) }, "MCP transport error");
    const timeoutMs = this.deps.connectTimeoutMs ?? 10_000;
    this.client = client;
    this.transport = transport;
    try {
      await withTimeout(
        client.connect(transport, { timeout: timeoutMs }),
        timeoutMs,
        `no MCP handshake within ${timeoutMs} ms`,
      );
      const tools = await listAllTools(client, timeoutMs);
      if (this.closed || this.client !== client) throw new Error("closed while connecting");
      this.upSince = Date.now();
      this.lastError = undefined;
      this.nextAttemptAt = undefined;
      this.setState("up");
      this.startPinging(client);
      this.deps.logger?.info(
        { server: this.name, tools: tools.length, transport: this.transportKind },
        "MCP server connected",
      );
      this.deps.onTools(tools);
    } catch (error) {
      if (this.client === client) {
        this.client = undefined;
        this.transport = undefined;
      }
      // Kills a stdio child that started but did not finish the handshake.
      await client.close().catch(() => undefined);
      this.lastError = describe(error);
      throw error;
    }
  }

  private async refreshTools(client: Client): Promise<void> {
    if (this.client !== client || this.stateValue !== "up") return;
    try {
      const tools = await listAllTools(client, this.deps.connectTimeoutMs ?? 10_000);
      if (this.client === client) this.deps.onTools(tools);
    } catch (error) {
      this.deps.logger?.warn(
        { server: this.name, error: describe(error) },
        "MCP server's tool list could not be refreshed",
      );
    }
  }

  /** Pings an HTTP server while this client is current; a failed ping counts as the server gone. */
  private startPinging(client: Client): void {
    const every = this.deps.pingIntervalMs ?? 15_000;
    if (this.transportKind !== "http" || every <= 0) return;
    if (this.pinger) clearInterval(this.pinger);
    let busy = false;
    this.pinger = setInterval(() => {
      if (this.client !== client || this.stateValue !== "up") {
        clearInterval(this.pinger);
        this.pinger = undefined;
        return;
      }
      if (busy) return;
      busy = true;
      client
        .ping({ timeout: Math.max(1000, Math.min(every, this.deps.connectTimeoutMs ?? 10_000)) })
        .catch((error: unknown) => this.lost(client, `a ping failed: ${describe(error)}`))
        .finally(() => {
          busy = false;
        });
    }, every);
    this.pinger.unref();
  }

  /** The server went away (process exit, refused request): schedule a restart. */
  private lost(client: Client, reason: string): void {
    // While connecting, a failure is handled by the connect attempt itself.
    if (this.client !== client || this.closed || this.stateValue === "connecting") return;
    this.client = undefined;
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
    const transport = this.transport;
    this.transport = undefined;
    void client.close().catch(() => undefined);
    void transport?.close().catch(() => undefined);
    const tail = this.stderr.length > 0 ? ` (stderr: ${this.stderr.slice(-3).join(" | ")})` : "";
    this.lastError = `${reason}${tail}`;
    this.deps.logger?.warn({ server: this.name, reason: this.lastError }, "MCP server went away");
    if (this.upSince > 0 && Date.now() - this.upSince >= (this.deps.restart?.stableMs ?? 60_000)) {
      this.restarts = 0;
      this.backoff = undefined;
    }
    this.upSince = 0;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.closed) return;
    const max = this.deps.restart?.maxRestarts ?? 5;
    if (this.restarts >= max) {
      this.setState("failed", this.lastError);
      this.deps.logger?.error(
        { server: this.name, restarts: this.restarts, lastError: this.lastError },
        "MCP server gave up: restart limit reached",
      );
      return;
    }
    this.backoff = this.backoff
      ? this.backoff.next(undefined)
      : new ExponentialBackoff({
          initialDelay: this.deps.restart?.initialDelayMs ?? 250,
          maxDelay: this.deps.restart?.maxDelayMs ?? 30_000,
        }).next();
    const delay = this.backoff.duration;
    this.restarts += 1;
    this.nextAttemptAt = Date.now() + delay;
    this.setState("down", this.lastError);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.connect().catch((error: unknown) => {
        this.lastError = describe(error);
        this.scheduleRestart();
      });
    }, delay);
    this.timer.unref();
  }

  private unavailable(why: string, cause?: unknown): AriaError {
    return new AriaError("MCP_SERVER_UNAVAILABLE", {
      message: `MCP server '${this.name}' ${why}`,
      details: {
        server: this.name,
        state: this.stateValue,
        restarts: this.restarts,
        ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
        ...(this.stderr.length > 0 ? { stderr: this.stderr.slice(-5) } : {}),
      },
      ...(cause !== undefined ? { cause } : {}),
    });
  }

  /** Why calls fail while the server is not up. */
  private notUp(): AriaError {
    switch (this.stateValue) {
      case "failed":
        return this.unavailable(
          `is down and was given up after ${this.restarts} restarts: ${this.lastError ?? "unknown error"}`,
        );
      case "closed":
        return this.unavailable("has been closed");
      case "connecting":
        return this.unavailable("is (re)starting; try again shortly");
      default: {
        const wait = Math.max(0, (this.nextAttemptAt ?? Date.now()) - Date.now());
        return this.unavailable(
          `is down (${this.lastError ?? "unknown error"}); restart ${this.restarts} is due in ${wait} ms`,
        );
      }
    }
  }

  /**
   * Calls a tool: fails at once when the server is not up; a server that does not answer within
   * `timeoutMs` is TOOL_TIMEOUT (the request is cancelled on the server); `signal` cancels; an
   * `isError` result is MCP_TOOL_FAILED with the server's text; a lost transport is
   * MCP_SERVER_UNAVAILABLE and schedules a restart.
   */
  async callTool(
    tool: string,
    args: unknown,
    options: { signal?: AbortSignal; timeoutMs: number },
  ): Promise<unknown> {
    const client = this.client;
    if (this.stateValue !== "up" || !client) throw this.notUp();
    let result: McpCallResult;
    try {
      result = (await client.callTool(
        {
          name: tool,
          arguments: (args !== null && typeof args === "object" ? args : {}) as Record<
            string,
            unknown
          >,
        },
        undefined,
        {
          timeout: options.timeoutMs,
          ...(options.signal ? { signal: options.signal } : {}),
        },
      )) as McpCallResult;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const code = (error as { code?: unknown }).code;
      if (isMcpError(error) && code === REQUEST_TIMEOUT) {
        throw new AriaError("TOOL_TIMEOUT", {
          message: `MCP tool '${tool}' of server '${this.name}' did not answer within ${options.timeoutMs} ms`,
          details: { server: this.name, tool, timeoutMs: options.timeoutMs },
          cause: error,
        });
      }
      if (isMcpError(error) && code !== CONNECTION_CLOSED) {
        throw new AriaError("MCP_TOOL_FAILED", {
          message: `MCP tool '${tool}' of server '${this.name}' failed: ${(error as Error).message}`,
          details: { server: this.name, tool, rpcCode: code, reason: "protocol_error" },
          cause: error,
        });
      }
      // The transport failed (process gone, connection refused): the server is down.
      this.lost(client, `a call failed: ${describe(error)}`);
      throw this.unavailable(`is not reachable: ${describe(error)}`, error);
    }
    return toToolOutput(this.name, tool, result);
  }

  /** Stops restarting and closes the client (a stdio server's process is ended). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
    const client = this.client;
    this.client = undefined;
    this.transport = undefined;
    this.setState("closed");
    if (client) await client.close().catch(() => undefined);
  }
}

function isMcpError(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === "McpError" &&
    typeof (error as { code?: unknown }).code === "number"
  );
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const inner = cause instanceof Error ? `: ${cause.message}` : "";
    return `${error.message}${inner}`;
  }
  return String(error);
}

async function listAllTools(client: Client, timeoutMs: number): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const result = await client.listTools(cursor === undefined ? {} : { cursor }, {
      timeout: timeoutMs,
    });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
