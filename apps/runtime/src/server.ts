import type { AddressInfo } from "node:net";
import type { Logger, RuntimeConfig } from "@aria/core-types";
import { serve } from "@hono/node-server";
import { composeRuntime, type Runtime } from "./compose.ts";

export interface RunningServer {
  runtime: Runtime;
  url: string;
  port: number;
  /** Stops accepting connections, then closes every part of the runtime. */
  close(): Promise<void>;
}

/** Composes the runtime and serves its HTTP app on `config.host:config.port`. */
export async function startServer(
  config: RuntimeConfig,
  logger: Logger,
  options: { role?: "api" | "worker" | "all" } = {},
): Promise<RunningServer> {
  const runtime = await composeRuntime(config, logger, options);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: runtime.app.fetch, hostname: config.host, port: config.port }, () =>
      resolve(s),
    );
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    runtime,
    url,
    port,
    close() {
      closing ??= (async () => {
        // Event streams (SSE) would hold the server open; they end now, requests finish.
        runtime.stopStreams();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections must not hold the shutdown open.
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await runtime.close();
      })();
      return closing;
    },
  };
}
