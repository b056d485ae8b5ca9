import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type FakeReply, type FakeReplyInput, toReply } from "./fake-replies.ts";

/** A request a fake server received, kept so tests can assert what the SDK sent. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The parsed JSON body (`undefined` when the body was not JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary wire fields from it.
  body: any;
  rawBody: string;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** The body asked for a Server-Sent Events answer (`stream: true`). */
  stream: boolean;
}

/**
 * What a fake answers: one reply repeated for every request, a queue consumed in order (a request
 * after the last reply gets a 418 "script exhausted" error), or a function of the request.
 */
export type FakeScript =
  | FakeReplyInput
  | readonly FakeReplyInput[]
  | ((request: RecordedRequest, index: number) => FakeReplyInput | Promise<FakeReplyInput>);

/** A running fake provider server on 127.0.0.1. */
export interface FakeProviderServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** What the provider's official SDK takes as `baseURL`. */
  baseURL: string;
  port: number;
  /** Every request received, in order (the completion endpoint and any other path). */
  requests: RecordedRequest[];
  /** Requests to the completion endpoint only. */
  readonly calls: RecordedRequest[];
  /** Appends replies to the queue (turns a single-reply or function script into a queue). */
  push(...replies: FakeReplyInput[]): void;
  /** Replaces the script (the queue restarts). */
  setScript(script: FakeScript): void;
  /** Forgets the recorded requests. */
  clearRequests(): void;
  /** Stops the server and cuts open connections (hanging replies included). */
  close(): Promise<void>;
}

/** Wire rendering of one protocol; the plumbing is shared. @internal */
export interface ProtocolRenderer {
  name: string;
  endpoint: string;
  sdkBasePath: string;
  /** `[status, body]` of an error reply. */
  error(reply: Extract<FakeReply, { type: "error" }>): [number, unknown];
  /** The JSON body of a completion reply. */
  json(
    reply: Extract<FakeReply, { type: "text" | "tool_calls" }>,
    request: RecordedRequest,
  ): unknown;
  /** The SSE frames (each a complete `event:`/`data:` block) of a completion reply. */
  frames(
    reply: Extract<FakeReply, { type: "text" | "tool_calls" }>,
    request: RecordedRequest,
  ): string[];
  /** The SSE frame that carries a malformed body (default: a bare `data:` line). */
  malformedFrame?(body: string): string;
  /** Answers paths other than the endpoint; returns false when it did not. */
  extra?(request: RecordedRequest, res: http.ServerResponse): boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function normaliseHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Starts a fake server for one protocol. @internal */
export async function startFakeServer(
  renderer: ProtocolRenderer,
  script: FakeScript,
): Promise<FakeProviderServer> {
  let current: FakeScript = script;
  let queue: FakeReplyInput[] | undefined = Array.isArray(script) ? [...script] : undefined;
  let served = 0;
  const requests: RecordedRequest[] = [];
  const hanging = new Set<http.ServerResponse>();

  const nextReply = async (request: RecordedRequest): Promise<FakeReply> => {
    const index = served++;
    if (queue) {
      const next = queue.shift();
      if (next === undefined) {
        return {
          type: "error",
          status: 418,
          errorType: "script_exhausted",
          message: `${renderer.name}: script exhausted (request #${index + 1} has no scripted reply)`,
        };
      }
      return toReply(next);
    }
    if (typeof current === "function") return toReply(await current(request, index));
    return toReply(current as FakeReplyInput);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      // biome-ignore lint/suspicious/noExplicitAny: parsed wire JSON.
      let body: any;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        headers: normaliseHeaders(req.headers),
        body,
        rawBody,
        receivedAt: performance.now(),
        stream: body?.stream === true,
      };
      requests.push(recorded);
      handle(recorded, req, res).catch((error: Error) => {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: `${renderer.name}: ${error.message}` } }));
        } else {
          res.destroy();
        }
      });
    });
  });

  const sendJson = (
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const handle = async (
    request: RecordedRequest,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) => {
    if (request.method !== "POST" || request.path !== renderer.endpoint) {
      if (renderer.extra?.(request, res)) return;
      sendJson(res, 404, { error: { message: `${renderer.name}: no route ${request.path}` } });
      return;
    }
    const reply = await nextReply(request);
    if (reply.delayMs) await sleep(reply.delayMs);
    if (res.destroyed || req.socket.destroyed) return;
    const headers = reply.headers ?? {};
    switch (reply.type) {
      case "hang":
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
        return;
      case "error": {
        const [status, body] = renderer.error(reply);
        const extra: Record<string, string> = { ...headers };
        if (reply.retryAfter !== undefined) extra["retry-after"] = String(reply.retryAfter);
        if (reply.retryAfterMs !== undefined) extra["retry-after-ms"] = String(reply.retryAfterMs);
        sendJson(res, status, body, extra);
        return;
      }
      case "raw": {
        const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status, {
          "content-type": reply.contentType ?? "application/json",
          ...headers,
        });
        res.end(text);
        return;
      }
      case "malformed": {
        if (request.stream) {
          res.writeHead(reply.status ?? 200, {
            "content-type": reply.contentType ?? "text/event-stream",
            ...headers,
          });
          res.end(renderer.malformedFrame?.(reply.body) ?? `data: ${reply.body}\n\n`);
          return;
        }
        res.writeHead(reply.status ?? 200, {
          "content-type": reply.contentType ?? "application/json",
          ...headers,
        });
        res.end(reply.body);
        return;
      }
      case "drop": {
        if (reply.afterChunks === undefined) {
          req.socket.destroy();
          return;
        }
        const partial = { type: "text" as const, text: "This answer is cut off before it ends." };
        if (request.stream) {
          res.writeHead(200, { "content-type": "text/event-stream", ...headers });
          const frames = renderer.frames(partial, request).slice(0, reply.afterChunks);
          for (const frame of frames) res.write(frame);
          // Let the frames reach the client before the connection is cut.
          await sleep(10);
        } else {
          const text = JSON.stringify(renderer.json(partial, request));
          res.writeHead(200, { "content-type": "application/json", ...headers });
          res.write(text.slice(0, Math.min(text.length - 1, reply.afterChunks * 16)));
          await sleep(10);
        }
        req.socket.destroy();
        return;
      }
      case "text":
      case "tool_calls": {
        if (!request.stream) {
          sendJson(res, 200, renderer.json(reply, request), headers);
          return;
        }
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          ...headers,
        });
        let written = 0;
        for (const frame of renderer.frames(reply, request)) {
          if (res.destroyed) return;
          res.write(frame);
          written++;
          if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
          if (reply.pauseAfter && written === reply.pauseAfter.chunks) {
            await sleep(reply.pauseAfter.ms);
          }
        }
        res.end();
        return;
      }
    }
  };

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseURL: `${url}${renderer.sdkBasePath}`,
    port,
    requests,
    get calls() {
      return requests.filter((r) => r.method === "POST" && r.path === renderer.endpoint);
    },
    push(...replies) {
      if (!queue) queue = [];
      queue.push(...replies);
    },
    setScript(script) {
      current = script;
      queue = Array.isArray(script) ? [...script] : undefined;
    },
    clearRequests() {
      requests.length = 0;
    },
    async close() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Formats one SSE frame. @internal */
export function sse(data: unknown, event?: string): string {
  const payload = typeof data === "string" ? data : JSON.stringify(data);
  return `${event ? `event: ${event}\n` : ""}data: ${payload}\n\n`;
}
