#!/usr/bin/env node
// The Aria in-container runner. It is shipped inside the tool-runner image at /opt/aria/runner.mjs and
// runs as the container's (non-root) user. Plain JavaScript with no dependencies: it must start fast
// and run on any Node >= 20.
//
// It listens on a Unix socket in the per-container folder the runtime mounts at /run/aria
// (ARIA_RUNNER_SOCKET, default /run/aria/runner.sock) and reads newline-delimited JSON jobs:
//   {"v":1,"id":"1","type":"ping"}
//   {"v":1,"id":"2","type":"exec","command":["sh","-c","echo hi"],"env":{},"cwd":"/workspace","stdin":"","timeoutMs":1000,"maxOutputBytes":1048576}
//   {"v":1,"id":"3","type":"tool","entry":"/bundle/dist/index.js","tool":"wordCount","input":{},"env":{},"context":{}}
// and answers one JSON line per job:
//   {"id":"2","ok":true,"exitCode":0,"signal":null,"stdout":"hi\n","stderr":"","truncated":false,"durationMs":3,"stats":{...}}
//   {"id":"3","ok":true,"output":{...},"durationMs":1,"stats":{...}}
//   {"id":"3","ok":false,"error":{"name":"Error","message":"...","code":"..."},"durationMs":1,"stats":{...}}
// On every new connection it first writes {"type":"ready","v":1,"pid":N,"node":"v24...","cgroup":"v1"}.
//
// Run-specific data (environment, token, input, code location) only ever arrives with a job, so a
// pre-started container carries nothing of any run until the runtime dispatches one to it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

const PROTOCOL_VERSION = 1;
const socketPath = process.env.ARIA_RUNNER_SOCKET || "/run/aria/runner.sock";
const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;
// Where the bundle is mounted (only changed when the runner is tested outside a container).
const bundleRoot = process.env.ARIA_RUNNER_BUNDLE_ROOT || "/bundle";

// The environment the container started with, without the runner's own variables. Each job's
// environment is layered on top of this, never accumulated from earlier jobs.
const baseEnv = { ...process.env };
delete baseEnv.ARIA_RUNNER_SOCKET;
delete baseEnv.ARIA_RUNNER_BUNDLE_ROOT;

// --- cgroup accounting (v1 or v2), read from the container's own cgroup mount -------------------
const cgroup = detectCgroup();

function detectCgroup() {
  try {
    if (fs.existsSync("/sys/fs/cgroup/cgroup.controllers")) return "v2";
    if (fs.existsSync("/sys/fs/cgroup/memory/memory.max_usage_in_bytes")) return "v1";
  } catch {}
  return null;
}

function readNumber(file) {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readKeyed(file, key) {
  try {
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const [k, v] = line.trim().split(/\s+/);
      if (k === key) return Number(v);
    }
  } catch {}
  return undefined;
}

/** CPU time used by the whole container so far (ms), its memory peak (bytes) and OOM-kill count. */
function sampleCgroup() {
  if (cgroup === "v1") {
    const cpuNs =
      readNumber("/sys/fs/cgroup/cpuacct/cpuacct.usage") ??
      readNumber("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage");
    return {
      cpuMs: cpuNs === undefined ? undefined : cpuNs / 1e6,
      memoryPeakBytes: readNumber("/sys/fs/cgroup/memory/memory.max_usage_in_bytes"),
      oomKills: readKeyed("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill") ?? 0,
    };
  }
  if (cgroup === "v2") {
    const usageUsec = readKeyed("/sys/fs/cgroup/cpu.stat", "usage_usec");
    return {
      cpuMs: usageUsec === undefined ? undefined : usageUsec / 1000,
      memoryPeakBytes:
        readNumber("/sys/fs/cgroup/memory.peak") ?? readNumber("/sys/fs/cgroup/memory.current"),
      oomKills: readKeyed("/sys/fs/cgroup/memory.events", "oom_kill") ?? 0,
    };
  }
  return { cpuMs: undefined, memoryPeakBytes: undefined, oomKills: 0 };
}

function statsSince(before) {
  const after = sampleCgroup();
  const stats = {};
  if (after.cpuMs !== undefined && before.cpuMs !== undefined)
    stats.cpuMs = Math.max(0, after.cpuMs - before.cpuMs);
  if (after.memoryPeakBytes !== undefined) stats.memoryPeakBytes = after.memoryPeakBytes;
  stats.oomKilled = after.oomKills > before.oomKills;
  return stats;
}

// --- jobs -------------------------------------------------------------------------------------
function capture(stream, limit, state) {
  const chunks = [];
  let size = 0;
  stream.on("data", (chunk) => {
    if (size >= limit) {
      state.truncated = true;
      return;
    }
    const room = limit - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      size = limit;
      state.truncated = true;
    } else {
      chunks.push(chunk);
      size += chunk.length;
    }
  });
  return () => Buffer.concat(chunks).toString("utf8");
}

function runExec(job) {
  return new Promise((resolve) => {
    const started = performance.now();
    const before = sampleCgroup();
    const limit = job.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const state = { truncated: false };
    const [file, ...args] = job.command;
    let child;
    try {
      child = spawn(file, args, {
        cwd: job.cwd || "/workspace",
        env: { ...baseEnv, ...job.env },
        stdio: ["pipe", "pipe", "pipe"],
        // Its own process group, so a timeout kills the workload and everything it started.
        detached: true,
      });
    } catch (error) {
      resolve(spawnFailure(job, error, started, before));
      return;
    }
    const stdout = capture(child.stdout, limit, state);
    const stderr = capture(child.stderr, limit, state);
    let timedOut = false;
    let timer;
    if (job.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }, job.timeoutMs);
    }
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve(spawnFailure(job, error, started, before));
    });
    child.stdin.on("error", () => {});
    if (job.stdin) child.stdin.end(job.stdin);
    else child.stdin.end();
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        id: job.id,
        ok: true,
        exitCode: code ?? (signal === "SIGKILL" ? 137 : 128),
        signal: signal ?? null,
        stdout: stdout(),
        stderr: stderr(),
        truncated: state.truncated,
        timedOut,
        durationMs: performance.now() - started,
        stats: statsSince(before),
      });
    });
  });
}

function spawnFailure(job, error, started, before) {
  return {
    id: job.id,
    ok: false,
    error: { name: error.name, message: error.message, code: error.code, kind: "spawn" },
    durationMs: performance.now() - started,
    stats: statsSince(before),
  };
}

const modules = new Map();

/** Finds the exported tool definition (a plain object with `name` and a `handler` function). */
function findTool(mod, name) {
  const seen = new Set();
  const visit = (value, depth) => {
    if (!value || typeof value !== "object" || seen.has(value) || depth > 3) return undefined;
    seen.add(value);
    if (value.name === name && typeof value.handler === "function") return value;
    const items = Array.isArray(value) ? value : Object.values(value);
    for (const item of items) {
      const found = visit(item, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  for (const value of Object.values(mod)) {
    const found = visit(value, 0);
    if (found) return found;
  }
  return undefined;
}

async function runTool(job) {
  const started = performance.now();
  const before = sampleCgroup();
  const savedEnv = { ...process.env };
  try {
    const entry = path.resolve(bundleRoot, job.entry || "dist/index.js");
    if (!entry.startsWith(`${bundleRoot}/`))
      throw new Error(`bundle entry ${job.entry} is outside ${bundleRoot}`);
    let loaded = modules.get(entry);
    if (!loaded) {
      loaded = import(pathToFileURL(entry).href);
      modules.set(entry, loaded);
    }
    const mod = await loaded;
    const tool = findTool(mod, job.tool);
    if (!tool) {
      const error = new Error(`No exported tool named '${job.tool}' in ${entry}`);
      error.code = "TOOL_NOT_FOUND";
      throw error;
    }
    // The job's environment is visible to the handler only while it runs.
    for (const key of Object.keys(process.env)) if (!(key in baseEnv)) delete process.env[key];
    Object.assign(process.env, job.env || {});
    const controller = new AbortController();
    const context = {
      ...(job.context || {}),
      signal: controller.signal,
      env: { ...(job.env || {}) },
    };
    const output = await tool.handler(job.input, context);
    // Round-trip through JSON so what the runtime receives is exactly what is serialisable.
    const json = output === undefined ? null : JSON.parse(JSON.stringify(output));
    return {
      id: job.id,
      ok: true,
      output: json,
      durationMs: performance.now() - started,
      stats: statsSince(before),
    };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return {
      id: job.id,
      ok: false,
      error: {
        name: e.name,
        message: e.message,
        code: typeof e.code === "string" ? e.code : undefined,
        kind: "tool",
        stack: e.stack,
      },
      durationMs: performance.now() - started,
      stats: statsSince(before),
    };
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }
}

async function handle(job) {
  if (!job || typeof job !== "object" || typeof job.id !== "string") {
    return {
      id: null,
      ok: false,
      error: { name: "ProtocolError", message: "a job needs a string id", kind: "protocol" },
    };
  }
  if (job.type === "ping")
    return { id: job.id, ok: true, pong: true, stats: statsSince(sampleCgroup()) };
  if (job.type === "exec" && Array.isArray(job.command) && job.command.length > 0)
    return runExec(job);
  if (job.type === "tool" && typeof job.tool === "string") return runTool(job);
  return {
    id: job.id,
    ok: false,
    error: { name: "ProtocolError", message: `unknown job type '${job.type}'`, kind: "protocol" },
  };
}

// --- socket server ----------------------------------------------------------------------------
function serve() {
  try {
    fs.unlinkSync(socketPath);
  } catch {}
  const server = net.createServer((socket) => {
    socket.setNoDelay?.(true);
    socket.write(
      `${JSON.stringify({ type: "ready", v: PROTOCOL_VERSION, pid: process.pid, node: process.version, cgroup })}\n`,
    );
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (!line.trim()) continue;
        let job;
        try {
          job = JSON.parse(line);
        } catch {
          socket.write(
            `${JSON.stringify({ id: null, ok: false, error: { name: "ProtocolError", message: "invalid JSON", kind: "protocol" } })}\n`,
          );
          continue;
        }
        handle(job).then(
          (reply) => {
            if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
          },
          (error) => {
            if (!socket.destroyed)
              socket.write(
                `${JSON.stringify({ id: job.id, ok: false, error: { name: "RunnerError", message: String(error), kind: "runner" } })}\n`,
              );
          },
        );
      }
    });
    socket.on("error", () => {});
  });
  server.listen(socketPath, () => {
    // Access is gated by the folder (owned by this user, mode 0700, and the runtime is root or this
    // user). When the runtime could not own the folder it is opened (an audited relaxation), and the
    // socket must then be connectable by the runtime's user too.
    try {
      fs.chmodSync(socketPath, 0o666);
    } catch {}
  });
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

serve();
