import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { AriaError } from "@aria/errors";
import { createContainerManager, DockerContainerBackend } from "@aria/quilt-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The Docker backend's failure mapping, without a Docker engine: a socket path with nothing on it,
// a listener that never answers and one that hangs up.

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "aq-sock-"));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const unavailable = (e: unknown) => AriaError.hasCode(e, "CONTAINER_RUNTIME_UNAVAILABLE");

async function listen(
  name: string,
  onConnection: (socket: net.Socket) => void,
): Promise<{ socketPath: string; close: () => Promise<void> }> {
  const socketPath = path.join(dir, name);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("DockerContainerBackend when the engine is not there", () => {
  it("a socket path with nothing listening is CONTAINER_RUNTIME_UNAVAILABLE", async () => {
    const backend = new DockerContainerBackend({ socketPath: path.join(dir, "missing.sock") });
    await expect(backend.ping()).rejects.toSatisfy(unavailable);
    await expect(backend.list({ "aria.managed": "true" })).rejects.toSatisfy(unavailable);
  });

  it("an engine that never answers times out into CONTAINER_RUNTIME_UNAVAILABLE", async () => {
    const server = await listen("silent.sock", () => {});
    try {
      const backend = new DockerContainerBackend({
        socketPath: server.socketPath,
        callTimeoutMs: 200,
      });
      await expect(backend.inspect("abc")).rejects.toSatisfy(
        (e) => unavailable(e) && /within 200 ms/.test((e as Error).message),
      );
    } finally {
      await server.close();
    }
  });

  it("an engine that hangs up is CONTAINER_RUNTIME_UNAVAILABLE", async () => {
    const server = await listen("hangup.sock", (socket) => socket.destroy());
    try {
      const backend = new DockerContainerBackend({ socketPath: server.socketPath });
      await expect(backend.wait("abc")).rejects.toSatisfy(unavailable);
    } finally {
      await server.close();
    }
  });

  it("the manager's run fails with CONTAINER_RUNTIME_UNAVAILABLE and its start (reaper) too", async () => {
    const backend = new DockerContainerBackend({ socketPath: path.join(dir, "missing.sock") });
    const manager = createContainerManager({
      backend,
      instanceId: "nodocker",
      stateDir: path.join(dir, "state"),
      pool: { enabled: false },
    });
    await expect(manager.start()).rejects.toSatisfy(unavailable);
    await expect(
      manager.run({ image: "aria-tool-runner:latest", command: ["true"] }),
    ).rejects.toSatisfy(unavailable);
    await manager.close();
  });

  it("cancelling a call is RUN_CANCELLED, not an engine failure", async () => {
    const server = await listen("slow.sock", () => {});
    try {
      const backend = new DockerContainerBackend({ socketPath: server.socketPath });
      const controller = new AbortController();
      const call = backend.start("abc", { signal: controller.signal });
      controller.abort();
      await expect(call).rejects.toSatisfy((e) => AriaError.hasCode(e, "RUN_CANCELLED"));
    } finally {
      await server.close();
    }
  });
});
