import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** True when `.ci/run` (or a developer) started the real services and integration tests must run. */
export const integrationEnabled = process.env.ARIA_INTEGRATION === "1";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}

export interface RedisHandle {
  url: string;
  port: number;
  /** Stops the server (SIGKILL with `hard`, to simulate a crash). */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Starts it again on the same port (after `stop`), for recovery tests. */
  restart(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.write("PING\r\n");
      });
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().includes("PONG"));
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts a private `redis-server` on a free loopback port (no persistence unless `appendonly`).
 * Throws with a clear message when `redis-server` is not installed: with ARIA_INTEGRATION=1 that
 * fails the test, as it should.
 */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisHandle> {
  const port = await freePort();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "aria-redis-"));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        options.appendonly ? "yes" : "no",
        "--dir",
        dir,
      ],
      { stdio: "ignore" },
    );
    const failed = new Promise<never>((_, reject) => {
      child?.once("error", (error) =>
        reject(new Error(`cannot start redis-server (is it installed?): ${error.message}`)),
      );
    });
    await Promise.race([waitForPort(port, 10_000), failed]);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop({ hard = false } = {}) {
      const current = child;
      if (!current || current.exitCode !== null) return;
      current.kill(hard ? "SIGKILL" : "SIGTERM");
      await once(current, "exit");
    },
    async restart() {
      await launch();
    },
  };
}

/** The Docker socket path from DOCKER_HOST (unix://...) or the default. */
export function dockerSocketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return host.slice("unix://".length);
  return "/var/run/docker.sock";
}

/** Pings the Docker engine; resolves true when it answers. */
export function pingDocker(socketPath = dockerSocketPath()): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
  });
}

/** Throws when Docker is not reachable, so an integration test fails (never skips) without it. */
export async function requireDocker(): Promise<string> {
  const socketPath = dockerSocketPath();
  if (!(await pingDocker(socketPath))) {
    throw new Error(
      `Docker is not reachable at ${socketPath}. Start it with tooling/test-services/start-dockerd.sh (as .ci/run does).`,
    );
  }
  return socketPath;
}
