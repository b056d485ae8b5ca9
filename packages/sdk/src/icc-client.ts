import http from "node:http";
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

function invalid(path: string, detail: string): IccError {
  return new IccError("ICC_INVALID_RESPONSE", `invalid ICC answer from ${path}: ${detail}`);
}

/**
 * Creates an ICC client from the container's environment: `ARIA_ICC_URL`
 * (`unix:///run/aria/icc.sock` or `http://HOST:PORT`) and `ARIA_ICC_TOKEN`. Uses node:http with
 * keep-alive and validates every answer with the core-types schemas; errors are `IccError`s
 * carrying the runtime's error code.
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
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const authorization = `Bearer ${token}`;

  function request<T>(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    schema: {
      safeParse(
        value: unknown,
      ): { success: true; data: T } | { success: false; error: { message: string } };
    },
    options: IccCallOptions & { headers?: Record<string, string> } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(
          new IccError("RUN_CANCELLED", "the ICC call was aborted", {
            cause: options.signal.reason,
          }),
        );
        return;
      }
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = {
        authorization,
        accept: "application/json",
        ...options.headers,
      };
      if (payload !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(Buffer.byteLength(payload));
      }
      const req = http.request({ ...target, method, path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) =>
          fail(
            new IccError("ICC_CONNECTION_FAILED", `ICC answer cut off: ${error.message}`, {
              cause: error,
            }),
          ),
        );
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            fail(invalid(path, `status ${status}, body is not JSON`));
            return;
          }
          if (status >= 200 && status < 300) {
            const parsed = schema.safeParse(json);
            if (parsed.success) done(parsed.data);
            else fail(invalid(path, parsed.error.message));
            return;
          }
          const envelope = ErrorEnvelopeSchema.safeParse(json);
          if (!envelope.success) {
            fail(invalid(path, `status ${status} without an error envelope`));
            return;
          }
          const e = envelope.data.error;
          fail(
            new IccError(e.code, e.message, {
              status,
              retryable: e.retryable,
              body: e as unknown as Record<string, unknown>,
            }),
          );
        });
      });
      const timer = setTimeout(
        () =>
          req.destroy(new IccError("ICC_CONNECTION_FAILED", `no ICC answer from ${path} in time`)),
        options.requestTimeoutMs ?? 600_000,
      );
      const onAbort = () =>
        req.destroy(
          new IccError("RUN_CANCELLED", "the ICC call was aborted", {
            cause: options.signal?.reason,
          }),
        );
      options.signal?.addEventListener("abort", onAbort, { once: true });
      let settled = false;
      function cleanup() {
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }
      function done(value: T) {
        if (settled) return;
        cleanup();
        resolve(value);
      }
      function fail(error: IccError) {
        if (settled) return;
        cleanup();
        reject(error);
      }
      req.on("error", (error) =>
        fail(
          error instanceof IccError
            ? error
            : new IccError(
                "ICC_CONNECTION_FAILED",
                `cannot reach the runtime over ICC: ${error.message}`,
                {
                  cause: error,
                },
              ),
        ),
      );
      req.end(payload);
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
      {
        ...options,
        ...(options.idempotencyKey
          ? { headers: { "idempotency-key": options.idempotencyKey } }
          : {}),
      },
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
      agent.destroy();
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
