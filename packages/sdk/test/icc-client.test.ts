import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { aria, createIccClient, IccError } from "@aria/sdk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A stand-in ICC server: records requests and answers from a route table. */
async function startStandIn(answers: Record<string, (seen: Seen) => [number, unknown]>) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sdk-icc-"));
  const socketPath = path.join(dir, "icc.sock");
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(entry);
      const route = answers[`${entry.method} ${entry.url.split("?")[0]}`];
      const [status, body] = route ? route(entry) : [404, { nope: true }];
      res.writeHead(status, { "content-type": "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    });
  };
  const unix = http.createServer(handler);
  await new Promise<void>((resolve) => unix.listen(socketPath, resolve));
  const tcp = http.createServer(handler);
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  return {
    seen,
    unixUrl: `unix://${socketPath}`,
    tcpUrl: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`,
    async close() {
      unix.closeAllConnections();
      tcp.closeAllConnections();
      await new Promise((r) => unix.close(r));
      await new Promise((r) => tcp.close(r));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

const envelope = (code: string, message: string, retryable = false) => ({
  error: {
    code,
    category: "icc",
    severity: "high",
    message,
    userGuidance: "g",
    recoveryActions: [],
    retryable,
    details: {},
    context: {},
  },
});

const usage = {
  inputTokens: 3,
  outputTokens: 2,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  totalTokens: 5,
};

let s: Awaited<ReturnType<typeof startStandIn>>;
beforeEach(async () => {
  s = await startStandIn({
    "GET /health": () => [200, { status: "ok" }],
    "POST /tools/echo": (seen) => [
      200,
      { success: true, result: JSON.parse(seen.body).parameters, executionTimeMs: 1 },
    ],
    "POST /tools/text-tools%2FwordCount": () => [
      200,
      { success: true, result: { words: 2 }, executionTimeMs: 1 },
    ],
    "POST /tools/broken": () => [
      200,
      {
        success: false,
        result: null,
        error: envelope("TOOL_EXECUTION_FAILED", "boom").error,
        executionTimeMs: 2,
      },
    ],
    "POST /tools/forbidden": () => [403, envelope("ICC_FORBIDDEN", "not allowed")],
    "POST /tools/bad-answer": () => [200, { success: "yes" }],
    "POST /tools/not-json": () => [200, "<html>"],
    "POST /tools/no-envelope": () => [500, { oops: 1 }],
    "GET /tools": () => [
      200,
      {
        tools: [
          {
            id: "echo",
            name: "echo",
            description: "d",
            inputSchema: { type: "object" },
            execution: "inprocess",
          },
        ],
      },
    ],
    "POST /agents/analyst": () => [
      200,
      { success: true, response: "done", turns: 2, usage: { totalTokens: 9 } },
    ],
    "GET /agents": () => [200, { agents: [] }],
    "POST /llm/complete": () => [200, { content: "hi", usage, model: "m", provider: "openai" }],
    "GET /context": () => [200, { runId: "r1", task: "t" }],
    "POST /context": (seen) => [200, { ok: true, key: JSON.parse(seen.body).key }],
  });
});
afterEach(async () => {
  await s.close();
});

describe("createIccClient", () => {
  it("sends bearer-authenticated JSON requests over a Unix socket and validates answers", async () => {
    const client = createIccClient({ ARIA_ICC_URL: s.unixUrl, ARIA_ICC_TOKEN: "aria1.k.p.s" });
    expect(await client.health()).toEqual({ status: "ok" });
    expect(
      await client.tools.call("echo", { a: 1 }, { timeoutMs: 500, idempotencyKey: "k-1" }),
    ).toEqual({ a: 1 });
    const request = s.seen.at(-1)!;
    expect(request.method).toBe("POST");
    expect(request.headers.authorization).toBe("Bearer aria1.k.p.s");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["idempotency-key"]).toBe("k-1");
    expect(JSON.parse(request.body)).toEqual({ parameters: { a: 1 }, timeoutMs: 500 });
    expect(await client.tools.call("text-tools/wordCount", { text: "a b" })).toEqual({ words: 2 });
    expect(s.seen.at(-1)!.url).toBe("/tools/text-tools%2FwordCount");
    expect((await client.tools.list()).map((t) => t.id)).toEqual(["echo"]);
    expect(
      await client.agents.invoke("analyst", "go", { context: { x: 1 }, maxTurns: 2 }),
    ).toMatchObject({
      success: true,
      response: "done",
      turns: 2,
      usage: { totalTokens: 9 },
    });
    expect(JSON.parse(s.seen.at(-1)!.body)).toEqual({
      message: "go",
      context: { x: 1 },
      maxTurns: 2,
    });
    expect(await client.agents.list()).toEqual([]);
    expect(
      await client.llm.complete({ messages: [{ role: "user", content: "x" }], model: "m" }),
    ).toEqual({
      content: "hi",
      usage,
      model: "m",
      provider: "openai",
    });
    expect(await client.context.get(["task", "history"])).toEqual({ runId: "r1", task: "t" });
    expect(s.seen.at(-1)!.url).toBe("/context?include=task,history");
    await client.context.set("k", { v: 1 });
    expect(JSON.parse(s.seen.at(-1)!.body)).toEqual({ key: "k", value: { v: 1 } });
    client.close();
  });

  it("works over http://HOST:PORT too", async () => {
    const client = createIccClient({ ARIA_ICC_URL: s.tcpUrl, ARIA_ICC_TOKEN: "tok" });
    expect(await client.tools.call("echo", { b: 2 })).toEqual({ b: 2 });
    client.close();
  });

  it("throws IccError with the runtime's code for error envelopes and failed tools", async () => {
    const client = createIccClient({ ARIA_ICC_URL: s.unixUrl, ARIA_ICC_TOKEN: "tok" });
    const forbidden = await client.tools.call("forbidden").catch((e) => e);
    expect(forbidden).toBeInstanceOf(IccError);
    expect(forbidden).toMatchObject({ code: "ICC_FORBIDDEN", status: 403, message: "not allowed" });
    const broken = await client.tools.call("broken").catch((e) => e);
    expect(broken).toMatchObject({ code: "TOOL_EXECUTION_FAILED", message: "boom", status: 200 });
    expect((await client.tools.invoke("broken")).success).toBe(false);
    for (const name of ["bad-answer", "not-json", "no-envelope"])
      await expect(client.tools.call(name)).rejects.toMatchObject({ code: "ICC_INVALID_RESPONSE" });
    client.close();
  });

  it("refuses a missing or unusable configuration before sending anything", () => {
    expect(() => createIccClient({})).toThrow(
      expect.objectContaining({ code: "ICC_NOT_CONFIGURED" }),
    );
    expect(() => createIccClient({ ARIA_ICC_URL: s.unixUrl })).toThrow(/ARIA_ICC_TOKEN/);
    expect(() =>
      createIccClient({ ARIA_ICC_URL: s.unixUrl, ARIA_ICC_TOKEN: "tok\r\nX-Evil: 1" }),
    ).toThrow(expect.objectContaining({ code: "ICC_NOT_CONFIGURED" }));
    expect(() => createIccClient({ ARIA_ICC_URL: "https://x", ARIA_ICC_TOKEN: "t" })).toThrow(
      /unix:\/\/ or http/,
    );
    expect(() =>
      createIccClient({ ARIA_ICC_URL: "unix://relative.sock", ARIA_ICC_TOKEN: "t" }),
    ).toThrow(/ABSOLUTE/);
    expect(s.seen).toHaveLength(0);
  });

  it("reports an unreachable runtime and an aborted call with their codes", async () => {
    const client = createIccClient({
      ARIA_ICC_URL: "unix:///nonexistent/icc.sock",
      ARIA_ICC_TOKEN: "t",
    });
    await expect(client.health()).rejects.toMatchObject({ code: "ICC_CONNECTION_FAILED" });
    const live = createIccClient({ ARIA_ICC_URL: s.unixUrl, ARIA_ICC_TOKEN: "t" });
    const controller = new AbortController();
    controller.abort();
    await expect(live.health({ signal: controller.signal })).rejects.toMatchObject({
      code: "RUN_CANCELLED",
    });
    live.close();
  });
});

describe("the default aria client", () => {
  const saved = { url: process.env.ARIA_ICC_URL, token: process.env.ARIA_ICC_TOKEN };
  afterEach(() => {
    aria.close();
    if (saved.url === undefined) delete process.env.ARIA_ICC_URL;
    else process.env.ARIA_ICC_URL = saved.url;
    if (saved.token === undefined) delete process.env.ARIA_ICC_TOKEN;
    else process.env.ARIA_ICC_TOKEN = saved.token;
  });

  it("reads process.env at each call and follows a new token (warm containers)", async () => {
    delete process.env.ARIA_ICC_URL;
    await expect(aria.health()).rejects.toMatchObject({ code: "ICC_NOT_CONFIGURED" });
    process.env.ARIA_ICC_URL = s.unixUrl;
    process.env.ARIA_ICC_TOKEN = "job-1";
    await aria.tools.call("echo", {});
    expect(s.seen.at(-1)!.headers.authorization).toBe("Bearer job-1");
    process.env.ARIA_ICC_TOKEN = "job-2";
    await aria.context.set("k", 1);
    expect(s.seen.at(-1)!.headers.authorization).toBe("Bearer job-2");
  });
});

/** A raw socket server: `respond(requestText, socket)` writes whatever bytes a test needs. */
async function startRaw(respond: (request: string, socket: net.Socket) => void) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sdk-raw-"));
  const socketPath = path.join(dir, "raw.sock");
  let connections = 0;
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    connections += 1;
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const request = pending.slice(0, end + 4 + length);
        pending = pending.slice(end + 4 + length);
        requests.push(request);
        respond(request, socket);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    url: `unix://${socketPath}`,
    requests,
    connections: () => connections,
    async close() {
      await new Promise((r) => server.close(r));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

const ok = JSON.stringify({ status: "ok" });

describe("the client's HTTP/1.1 transport", () => {
  it("sends one well-formed request per call and reuses the connection", async () => {
    const raw = await startRaw((request, socket) => {
      const answer = request.startsWith("POST /context") ? '{"ok":true,"key":"k"}' : ok;
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`,
      );
    });
    const client = createIccClient({ ARIA_ICC_URL: raw.url, ARIA_ICC_TOKEN: "tok" });
    for (let i = 0; i < 5; i++) expect(await client.health()).toEqual({ status: "ok" });
    await Promise.all(Array.from({ length: 8 }, () => client.health()));
    expect(raw.connections()).toBeLessThanOrEqual(8);
    expect(raw.requests[0]).toBe(
      "GET /health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok\r\nAccept: application/json\r\n\r\n",
    );
    await client.context.set("k", "é");
    const post = raw.requests.at(-1)!;
    expect(post).toContain("POST /context HTTP/1.1\r\n");
    expect(post).toContain(`Content-Length: ${Buffer.byteLength('{"key":"k","value":"é"}')}\r\n`);
    await expect(
      client.tools.call("echo", {}, { idempotencyKey: "bad\r\nX: 1" }),
    ).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
    client.close();
    await raw.close();
  });

  it("reads chunked answers, close-delimited answers and skips interim ones", async () => {
    const body = JSON.stringify({ runId: "r1", task: "t".repeat(5000) });
    let mode = 0;
    const raw = await startRaw((_request, socket) => {
      mode += 1;
      if (mode === 1) {
        socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        socket.write(`${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n`);
        setTimeout(
          () =>
            socket.write(
              `${Buffer.byteLength(body.slice(10)).toString(16)};ext=1\r\n${body.slice(10)}\r\n0\r\nX-Trailer: 1\r\n\r\n`,
            ),
          5,
        );
      } else if (mode === 2) {
        socket.end(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${body}`);
      } else {
        socket.write(
          `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }
    });
    const client = createIccClient({ ARIA_ICC_URL: raw.url, ARIA_ICC_TOKEN: "tok" });
    for (let i = 0; i < 3; i++) expect((await client.context.get()).task).toHaveLength(5000);
    client.close();
    await raw.close();
  });

  it("fails cleanly on cut-off and malformed answers, and recovers from a closed idle connection", async () => {
    let mode = 0;
    const raw = await startRaw((_request, socket) => {
      mode += 1;
      if (mode === 1) socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status"`);
      else if (mode === 2) socket.write("SMTP ready\r\n\r\n");
      else if (mode === 3) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ok.length}\r\n\r\n${ok}`);
        setTimeout(() => socket.end(), 10); // the server drops the idle connection
      } else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ok.length}\r\n\r\n${ok}`);
    });
    const client = createIccClient({ ARIA_ICC_URL: raw.url, ARIA_ICC_TOKEN: "tok" });
    await expect(client.health()).rejects.toMatchObject({ code: "ICC_CONNECTION_FAILED" });
    await expect(client.health()).rejects.toMatchObject({ code: "ICC_INVALID_RESPONSE" });
    expect(await client.health()).toEqual({ status: "ok" });
    await new Promise((r) => setTimeout(r, 50));
    expect(await client.health()).toEqual({ status: "ok" });
    expect(raw.connections()).toBe(4);
    client.close();
    await raw.close();
  });

  it("gives up after requestTimeoutMs and when the signal aborts mid-call", async () => {
    const raw = await startRaw(() => {});
    const client = createIccClient({ ARIA_ICC_URL: raw.url, ARIA_ICC_TOKEN: "tok" });
    await expect(client.health({ requestTimeoutMs: 50 })).rejects.toMatchObject({
      code: "ICC_CONNECTION_FAILED",
    });
    const controller = new AbortController();
    const pending = client.health({ signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: "RUN_CANCELLED" });
    client.close();
    await raw.close();
  });
});
