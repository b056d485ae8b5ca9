import net from "node:net";
import {
  ErrorEnvelopeSchema,
  type IccAgentInfo,
  IccAgentListResponseSchema,
  type IccAgentResponse,
  IccAgentResponseSchema,
  type IccContextField,
  type IccContextResponse,
  IccContextResponseSchema,
  IccContextSetResponseSchema,
  IccHealthResponseSchema,
  type IccLlmRequest,
  type IccLlmResponse,
  IccLlmResponseSchema,
  type IccToolCallResponse,
  IccToolCallResponseSchema,
  type IccToolInfo,
  IccToolListResponseSchema,
  type LlmMessageInput,
} from "@aria/core-types";

/**
 * Codes this client uses beside the runtime's own error codes (which it passes through from the
 * ICC error envelope, e.g. `ICC_UNAUTHORIZED`, `TOOL_EXECUTION_FAILED`, `RATE_LIMITED`).
 */
export type IccClientCode = "ICC_NOT_CONFIGURED" | "ICC_CONNECTION_FAILED" | "ICC_INVALID_RESPONSE";

/** An error from an ICC call: `code` is the runtime's error code (or an `IccClientCode`). */
export class IccError extends Error {
  readonly code: string;
  /** The HTTP status (0 when no answer arrived). */
  readonly status: number;
  readonly retryable: boolean;
  /** The error envelope's body as the runtime sent it, when there was one. */
  readonly body: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: {
      status?: number;
      retryable?: boolean;
      body?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "IccError";
    this.code = code;
    this.status = options.status ?? 0;
    this.retryable = options.retryable ?? false;
    this.body = options.body;
  }
}

/** Options of one call. */
export interface IccCallOptions {
  signal?: AbortSignal;
  /** Client-side limit on the whole exchange (default 10 minutes; the server has its own limits). */
  requestTimeoutMs?: number;
}

/** What `llm.complete` takes (messages as the LLM layer accepts them). */
export type IccLlmCompleteRequest = Omit<IccLlmRequest, "messages"> & {
  messages: LlmMessageInput[];
};

/** The ICC client container code uses (contracts §4). */
export interface AriaIccClient {
  tools: {
    /** Runs a tool of the runtime and returns its result; a failed tool throws `IccError` with its code. */
    call<T = unknown>(
      name: string,
      parameters?: Record<string, unknown>,
      options?: IccCallOptions & { timeoutMs?: number; idempotencyKey?: string },
    ): Promise<T>;
    /** The same, answering the full `{success, result, error?, executionTimeMs}`. */
    invoke(
      name: string,
      parameters?: Record<string, unknown>,
      options?: IccCallOptions & { timeoutMs?: number; idempotencyKey?: string },
    ): Promise<IccToolCallResponse>;
    /** The tools this container's token may call, with their schemas. */
    list(options?: IccCallOptions): Promise<IccToolInfo[]>;
  };
  agents: {
    /** Runs an agent as a child of this container's run. */
    invoke(
      name: string,
      message: string,
      options?: IccCallOptions & { context?: Record<string, unknown>; maxTurns?: number },
    ): Promise<IccAgentResponse>;
    list(options?: IccCallOptions): Promise<IccAgentInfo[]>;
  };
  llm: {
    /** One completion through the runtime's LLM handler (no provider key in the container). */
    complete(request: IccLlmCompleteRequest, options?: IccCallOptions): Promise<IccLlmResponse>;
  };
  context: {
    /** The run's context; `include` selects fields. */
    get(
      include?: IccContextField | readonly IccContextField[],
      options?: IccCallOptions,
    ): Promise<IccContextResponse>;
    /** Stores a value in the run's working memory. */
    set(key: string, value: unknown, options?: IccCallOptions): Promise<void>;
  };
  health(options?: IccCallOptions): Promise<{ status: string }>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

type Target = { socketPath: string } | { host: string; port: number };

const TOKEN_PATTERN = /^[A-Za-z0-9._-]{1,8192}$/;

function parseUrl(url: string): Target {
  if (url.startsWith("unix://")) {
    const socketPath = url.slice("unix://".length);
    if (!socketPath.startsWith("/"))
      throw new IccError(
        "ICC_NOT_CONFIGURED",
        `ARIA_ICC_URL '${url}' must be unix:///ABSOLUTE/PATH`,
      );
    return { socketPath };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new IccError("ICC_NOT_CONFIGURED", `ARIA_ICC_URL '${url}' is not a URL`);
  }
  if (parsed.protocol !== "http:")
    throw new IccError("ICC_NOT_CONFIGURED", `ARIA_ICC_URL '${url}' must be unix:// or http://`);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 80 : Number(parsed.port),
  };
}

const IDEMPOTENCY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Largest answer accepted (a runaway answer must not exhaust the container's memory). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/** Idle keep-alive connections kept per client. */
const MAX_IDLE = 16;
const CRLF2 = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** One HTTP/1.1 answer: status and body bytes. */
interface Answer {
  status: number;
  body: Buffer;
}

/**
 * Parses one HTTP/1.1 response from the start of `buffer`. Returns undefined while it is incomplete,
 * the answer with the number of bytes it used, or `closeDelimited` when the body runs until the
 * connection closes (no Content-Length, not chunked). Throws on a malformed response.
 */
function parseAnswer(
  buffer: Buffer,
  closed: boolean,
): { answer: Answer; used: number; keepAlive: boolean } | undefined {
  let start = 0;
  for (;;) {
    const end = buffer.indexOf(CRLF2, start);
    if (end < 0) return undefined;
    const head = buffer.toString("latin1", start, end);
    const lines = head.split("\r\n");
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (statusLine === null) throw new Error("not an HTTP/1.1 answer");
    const status = Number(statusLine[1]);
    let length: number | undefined;
    let chunked = false;
    let keepAlive = lines[0]!.startsWith("HTTP/1.1");
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error("malformed header line");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") {
        if (!/^\d+$/.test(value) || (length !== undefined && length !== Number(value)))
          throw new Error("bad Content-Length");
        length = Number(value);
      } else if (name === "transfer-encoding") chunked = /(^|,)\s*chunked\s*$/i.test(value);
      else if (name === "connection") keepAlive = !/close/i.test(value) && keepAlive;
    }
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart; // an interim answer: the real one follows
      continue;
    }
    if (status === 204 || status === 304)
      return { answer: { status, body: Buffer.alloc(0) }, used: bodyStart, keepAlive };
    if (chunked) {
      const parts: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = buffer.indexOf(CRLF, at);
        if (lineEnd < 0) return undefined;
        const size = Number.parseInt(
          buffer.toString("latin1", at, lineEnd).split(";")[0]!.trim(),
          16,
        );
        if (!Number.isInteger(size) || size < 0) throw new Error("bad chunk size");
        if (size === 0) {
          // trailers, then an empty line
          let trailer = lineEnd + 2;
          for (;;) {
            const next = buffer.indexOf(CRLF, trailer);
            if (next < 0) return undefined;
            if (next === trailer)
              return { answer: { status, body: Buffer.concat(parts) }, used: next + 2, keepAlive };
            trailer = next + 2;
          }
        }
        if (buffer.length < lineEnd + 2 + size + 2) return undefined;
        parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
    }
    if (length !== undefined) {
      if (buffer.length < bodyStart + length) return undefined;
      return {
        answer: { status, body: buffer.subarray(bodyStart, bodyStart + length) },
        used: bodyStart + length,
        keepAlive,
      };
    }
    if (!closed) return undefined; // the body runs until the connection closes
    return {
      answer: { status, body: buffer.subarray(bodyStart) },
      used: buffer.length,
      keepAlive: false,
    };
  }
}

/**
 * A small HTTP/1.1 client on node:net sockets (Unix or TCP) with keep-alive: one request per
 * connection at a time, idle connections reused and unref'd (they never keep a process alive).
 * It does what node:http's client does for these calls at a fraction of its CPU per call, which is
 * most of an ICC round trip's latency inside a container.
 */
function createTransport(target: Target) {
  const idle: net.Socket[] = [];
  const connect = () =>
    "socketPath" in target ? net.connect(target.socketPath) : net.connect(target.port, target.host);
  const forget = (socket: net.Socket) => {
    const i = idle.indexOf(socket);
    if (i >= 0) idle.splice(i, 1);
  };
  const park = (socket: net.Socket) => {
    if (idle.length >= MAX_IDLE) {
      socket.destroy();
      return;
    }
    socket.unref();
    idle.push(socket);
  };
  return {
    exchange(bytes: Buffer, path: string, options: IccCallOptions): Promise<Answer> {
      return new Promise<Answer>((resolve, reject) => {
        if (options.signal?.aborted) {
          reject(
            new IccError("RUN_CANCELLED", "the ICC call was aborted", {
              cause: options.signal.reason,
            }),
          );
          return;
        }
        let socket = idle.pop();
        while (socket !== undefined && (socket.destroyed || !socket.writable)) socket = idle.pop();
        const fresh = socket === undefined;
        const conn = socket ?? connect();
        conn.ref();
        let buffer: Buffer = Buffer.alloc(0);
        let settled = false;
        const finish = (error: IccError | undefined, answer?: Answer, keepAlive = false) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", onAbort);
          conn.off("data", onData);
          conn.off("end", onEnd);
          conn.off("error", onError);
          conn.off("close", onClose);
          if (error !== undefined || !keepAlive) conn.destroy();
          else park(conn);
          if (error !== undefined) reject(error);
          else resolve(answer!);
        };
        const cut = (detail: string, cause?: unknown) =>
          new IccError(
            "ICC_CONNECTION_FAILED",
            `cannot reach the runtime over ICC (${path}): ${detail}`,
            {
              ...(cause !== undefined ? { cause } : {}),
            },
          );
        const tryParse = (closed: boolean) => {
          let parsed: ReturnType<typeof parseAnswer>;
          try {
            parsed = parseAnswer(buffer, closed);
          } catch (error) {
            finish(invalid(path, (error as Error).message));
            return;
          }
          if (parsed === undefined) {
            if (closed) finish(cut("the connection closed before a whole answer arrived"));
            return;
          }
          // Anything after the answer means the stream is out of step: do not reuse it.
          finish(undefined, parsed.answer, parsed.keepAlive && parsed.used === buffer.length);
        };
        const onData = (chunk: Buffer) => {
          buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
          if (buffer.length > MAX_ANSWER_BYTES) finish(invalid(path, "answer too large"));
          else tryParse(false);
        };
        const onEnd = () => tryParse(true);
        const onClose = () => tryParse(true);
        const onError = (error: Error) => finish(cut(error.message, error));
        const onAbort = () =>
          finish(
            new IccError("RUN_CANCELLED", "the ICC call was aborted", {
              cause: options.signal?.reason,
            }),
          );
        const timer = setTimeout(
          () => finish(cut(`no answer within ${options.requestTimeoutMs ?? 600_000} ms`)),
          options.requestTimeoutMs ?? 600_000,
        );
        options.signal?.addEventListener("abort", onAbort, { once: true });
        conn.on("data", onData);
        conn.on("end", onEnd);
        conn.on("error", onError);
        conn.on("close", onClose);
        if (fresh) {
          // idle connections drop out of the pool as soon as the server closes them
          conn.on("close", () => forget(conn));
          conn.on("error", () => forget(conn));
        }
        conn.write(bytes);
      });
    },
    close() {
      for (const socket of idle.splice(0)) socket.destroy();
    },
  };
}

function invalid(path: string, detail: string): IccError {
  return new IccError("ICC_INVALID_RESPONSE", `invalid ICC answer from ${path}: ${detail}`);
}

/**
 * Creates an ICC client from the container's environment: `ARIA_ICC_URL`
 * (`unix:///run/aria/icc.sock` or `http://HOST:PORT`) and `ARIA_ICC_TOKEN`. Speaks HTTP/1.1 with
 * keep-alive over node:net (no dependency) and validates every answer with the core-types schemas;
 * errors are `IccError`s carrying the runtime's error code.
 */
export function createIccClient(
  env: Record<string, string | undefined> = process.env,
): AriaIccClient {
  const url = env.ARIA_ICC_URL;
  const token = env.ARIA_ICC_TOKEN;
  if (!url)
    throw new IccError(
      "ICC_NOT_CONFIGURED",
      "ARIA_ICC_URL is not set (is this code running in an Aria container?)",
    );
  if (!token) throw new IccError("ICC_NOT_CONFIGURED", "ARIA_ICC_TOKEN is not set");
  if (!TOKEN_PATTERN.test(token))
    throw new IccError("ICC_NOT_CONFIGURED", "ARIA_ICC_TOKEN has characters a token never has");
  const target = parseUrl(url);
  const transport = createTransport(target);
  const host = "socketPath" in target ? "localhost" : `${target.host}:${target.port}`;
  const authorization = `Authorization: Bearer ${token}\r\n`;

  function request<T>(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    schema: {
      safeParse(
        value: unknown,
      ): { success: true; data: T } | { success: false; error: { message: string } };
    },
    options: IccCallOptions & { idempotencyKey?: string | undefined } = {},
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${authorization}Accept: application/json\r\n`;
    if (options.idempotencyKey !== undefined) {
      if (!IDEMPOTENCY_PATTERN.test(options.idempotencyKey))
        return Promise.reject(
          new IccError("VALIDATION_FAILED", "idempotencyKey must match [A-Za-z0-9._:-]{1,128}"),
        );
      head += `Idempotency-Key: ${options.idempotencyKey}\r\n`;
    }
    const bytes =
      payload === undefined
        ? Buffer.from(`${head}\r\n`, "latin1")
        : Buffer.concat([
            Buffer.from(
              `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n`,
              "latin1",
            ),
            Buffer.from(payload, "utf8"),
          ]);
    return transport.exchange(bytes, path, options).then(({ status, body: answer }) => {
      let json: unknown;
      try {
        json = JSON.parse(answer.toString("utf8"));
      } catch {
        throw invalid(path, `status ${status}, body is not JSON`);
      }
      if (status >= 200 && status < 300) {
        const parsed = schema.safeParse(json);
        if (parsed.success) return parsed.data;
        throw invalid(path, parsed.error.message);
      }
      const envelope = ErrorEnvelopeSchema.safeParse(json);
      if (!envelope.success) throw invalid(path, `status ${status} without an error envelope`);
      const e = envelope.data.error;
      throw new IccError(e.code, e.message, {
        status,
        retryable: e.retryable,
        body: e as unknown as Record<string, unknown>,
      });
    });
  }

  const toolPath = (name: string) => `/tools/${encodeURIComponent(name)}`;

  async function invokeTool(
    name: string,
    parameters: Record<string, unknown> = {},
    options: IccCallOptions & { timeoutMs?: number; idempotencyKey?: string } = {},
  ): Promise<IccToolCallResponse> {
    return request(
      "POST",
      toolPath(name),
      { parameters, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) },
      IccToolCallResponseSchema,
      options,
    );
  }

  return {
    tools: {
      invoke: invokeTool,
      async call<T = unknown>(
        name: string,
        parameters?: Record<string, unknown>,
        options?: IccCallOptions & { timeoutMs?: number; idempotencyKey?: string },
      ): Promise<T> {
        const answer = await invokeTool(name, parameters, options);
        if (answer.success) return answer.result as T;
        const error = answer.error ?? {};
        throw new IccError(
          typeof error.code === "string" ? error.code : "TOOL_EXECUTION_FAILED",
          typeof error.message === "string" ? error.message : `tool '${name}' failed`,
          { status: 200, retryable: error.retryable === true, body: error },
        );
      },
      async list(options) {
        return (await request("GET", "/tools", undefined, IccToolListResponseSchema, options))
          .tools;
      },
    },
    agents: {
      invoke(name, message, options = {}) {
        return request(
          "POST",
          `/agents/${encodeURIComponent(name)}`,
          {
            message,
            ...(options.context !== undefined ? { context: options.context } : {}),
            ...(options.maxTurns !== undefined ? { maxTurns: options.maxTurns } : {}),
          },
          IccAgentResponseSchema,
          options,
        );
      },
      async list(options) {
        return (await request("GET", "/agents", undefined, IccAgentListResponseSchema, options))
          .agents;
      },
    },
    llm: {
      complete(body, options) {
        return request("POST", "/llm/complete", body, IccLlmResponseSchema, options);
      },
    },
    context: {
      get(include, options) {
        const fields =
          include === undefined ? [] : typeof include === "string" ? [include] : include;
        const query =
          fields.length > 0 ? `?include=${fields.map((f) => encodeURIComponent(f)).join(",")}` : "";
        return request("GET", `/context${query}`, undefined, IccContextResponseSchema, options);
      },
      async set(key, value, options) {
        await request("POST", "/context", { key, value }, IccContextSetResponseSchema, options);
      },
    },
    health(options) {
      return request("GET", "/health", undefined, IccHealthResponseSchema, options);
    },
    close() {
      transport.close();
    },
  };
}

let cached:
  | { url: string | undefined; token: string | undefined; client: AriaIccClient }
  | undefined;

/** The client for the current `process.env`, re-created when the ICC variables change (warm containers). */
function current(): AriaIccClient {
  const url = process.env.ARIA_ICC_URL;
  const token = process.env.ARIA_ICC_TOKEN;
  if (cached === undefined || cached.url !== url || cached.token !== token) {
    const client = createIccClient(process.env);
    cached?.client.close();
    cached = { url, token, client };
  }
  return cached.client;
}

/**
 * The ready-made ICC client: `aria.tools.call(...)`, `aria.agents.invoke(...)`,
 * `aria.llm.complete(...)`, `aria.context.get/set(...)`. It reads `ARIA_ICC_URL` and
 * `ARIA_ICC_TOKEN` from `process.env` at each call, so nothing happens at import time and a warm
 * container that gets a new token per job uses the right one.
 */
export const aria: AriaIccClient = {
  tools: {
    call: async <T = unknown>(
      name: string,
      parameters?: Record<string, unknown>,
      options?: IccCallOptions & { timeoutMs?: number; idempotencyKey?: string },
    ) => current().tools.call<T>(name, parameters, options),
    invoke: async (name, parameters, options) => current().tools.invoke(name, parameters, options),
    list: async (options) => current().tools.list(options),
  },
  agents: {
    invoke: async (name, message, options) => current().agents.invoke(name, message, options),
    list: async (options) => current().agents.list(options),
  },
  llm: { complete: async (request, options) => current().llm.complete(request, options) },
  context: {
    get: async (include, options) => current().context.get(include, options),
    set: async (key, value, options) => current().context.set(key, value, options),
  },
  health: async (options) => current().health(options),
  close: () => {
    cached?.client.close();
    cached = undefined;
  },
};
