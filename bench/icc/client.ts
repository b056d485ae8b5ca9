/**
 * The ICC benchmark's client. esbuild bundles it (with the real @aria/sdk ICC client) into one ES
 * module that runs on the host or inside a tool-runner container. It reads:
 *   ARIA_ICC_URL, ARIA_ICC_TOKEN   as injected into containers
 *   BENCH_MODE                     latency | throughput
 *   BENCH_CLIENT                   sdk (the @aria/sdk client, default) | raw (bare node:http keep-alive)
 *                                  | wire (a minimal HTTP/1.1 client on net sockets, for throughput)
 *   BENCH_N, BENCH_WARMUP          latency: measured and warm-up calls (sequential)
 *   BENCH_CONCURRENCY              throughput: calls in flight at once
 *   BENCH_START_AT, BENCH_DURATION_MS  throughput: wall-clock start (epoch ms) and length
 * and prints one JSON line: latency samples in µs, or the number of calls completed in the window.
 */
import http from "node:http";
import net from "node:net";
import { createIccClient } from "../../packages/sdk/src/index.ts";

const env = process.env;
const mode = env.BENCH_MODE ?? "latency";
const kind = env.BENCH_CLIENT ?? "sdk";

type Call = () => Promise<unknown>;

function rawCall(): Call {
  const url = env.ARIA_ICC_URL!;
  const target = url.startsWith("unix://")
    ? { socketPath: url.slice("unix://".length) }
    : { host: new URL(url).hostname, port: Number(new URL(url).port) };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const body = JSON.stringify({ parameters: {} });
  const headers = {
    authorization: `Bearer ${env.ARIA_ICC_TOKEN}`,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  return () =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { ...target, method: "POST", path: "/tools/noop", headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
            else resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

/**
 * A minimal HTTP/1.1 keep-alive client over one socket per call in flight: the request bytes are
 * built once, the answer is framed by Content-Length and checked for status 200 and `"success":true`.
 * It spends far less CPU per call than node:http, so on a small machine the server is what is
 * measured, not the client.
 */
function wireCall(): Call {
  const url = env.ARIA_ICC_URL!;
  const body = JSON.stringify({ parameters: {} });
  const request = Buffer.from(
    `POST /tools/noop HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${env.ARIA_ICC_TOKEN}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const idle: Connection[] = [];
  interface Connection {
    socket: net.Socket;
    buffer: Buffer;
    pending?: { resolve: (v: unknown) => void; reject: (e: Error) => void };
  }
  const open = (): Connection => {
    const socket = url.startsWith("unix://")
      ? net.connect(url.slice("unix://".length))
      : net.connect(Number(new URL(url).port), new URL(url).hostname);
    socket.setNoDelay(true);
    const connection: Connection = { socket, buffer: Buffer.alloc(0) };
    socket.on("data", (chunk: Buffer) => {
      connection.buffer =
        connection.buffer.length === 0 ? chunk : Buffer.concat([connection.buffer, chunk]);
      const end = connection.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = connection.buffer.subarray(0, end).toString("latin1");
      const match = /content-length: *(\d+)/i.exec(head);
      const length = match ? Number(match[1]) : 0;
      if (connection.buffer.length < end + 4 + length) return;
      const answer = connection.buffer.subarray(end + 4, end + 4 + length).toString("utf8");
      connection.buffer = connection.buffer.subarray(end + 4 + length);
      const pending = connection.pending!;
      connection.pending = undefined;
      idle.push(connection);
      if (!head.startsWith("HTTP/1.1 200") || !answer.includes('"success":true'))
        pending.reject(new Error(`bad answer: ${head.split("\r\n")[0]}`));
      else pending.resolve(answer);
    });
    socket.on("error", (error) => connection.pending?.reject(error));
    return connection;
  };
  return () =>
    new Promise((resolve, reject) => {
      const connection = idle.pop() ?? open();
      connection.pending = { resolve, reject };
      connection.socket.write(request);
    });
}

function sdkCall(): Call {
  const aria = createIccClient(env);
  return () => aria.tools.call("noop", {});
}

/** Writes one JSON line and waits until it is flushed (a pipe takes 64 KiB at a time). */
function print(value: unknown): Promise<void> {
  return new Promise((resolve) =>
    process.stdout.write(`${JSON.stringify(value)}\n`, () => resolve()),
  );
}

async function main(): Promise<void> {
  const call = kind === "raw" ? rawCall() : kind === "wire" ? wireCall() : sdkCall();
  if (mode === "latency") {
    const n = Number(env.BENCH_N ?? 20_000);
    const warmup = Number(env.BENCH_WARMUP ?? 5_000);
    for (let i = 0; i < warmup; i++) await call();
    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await call();
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    await print({ mode, kind, samplesUs: Array.from(samples, (x) => Math.round(x * 10) / 10) });
    return;
  }
  const concurrency = Number(env.BENCH_CONCURRENCY ?? 8);
  const startAt = Number(env.BENCH_START_AT ?? Date.now());
  const durationMs = Number(env.BENCH_DURATION_MS ?? 5_000);
  // warm the connections before the window opens
  await Promise.all(Array.from({ length: concurrency }, () => call()));
  const wait = startAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const t0 = performance.now();
  const end = t0 + durationMs;
  let completed = 0;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        await call();
        completed += 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - t0;
  await print({ mode, kind, completed, errors, elapsedMs, late: wait < 0 ? -wait : 0 });
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
