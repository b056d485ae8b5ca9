import { AriaError } from "@aria/errors";
import { loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { startServer } from "./server.ts";

/**
 * `aria serve`: loads configuration, starts the server and shuts down cleanly on SIGTERM/SIGINT.
 * Exit codes: 0 after a clean shutdown, 1 when the start fails (a bad configuration names the field).
 */
export type ServeRole = "api" | "worker" | "all";

export async function serveMain(
  env: NodeJS.ProcessEnv = process.env,
  role: ServeRole = "all",
): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ env });
  } catch (error) {
    if (AriaError.is(error)) {
      process.stderr.write(`aria: ${error.message}\n  ${error.userGuidance}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger, { role });
  logger.info({ url: server.url }, "Aria Runtime listening");
  const tools = server.runtime.registries.tools.list().length;
  const pipelines = server.runtime.registries.agents.listPipelines().map((p) => p.name);
  process.stdout.write(
    [
      `Aria Runtime listening on ${server.url} (${tools} tools, ${pipelines.length} pipelines installed)`,
      "Try next:",
      `  curl ${server.url}/health`,
      `  curl ${server.url}/ready`,
      "  pnpm aria tools",
      ...(pipelines.includes("text-report")
        ? [
            `  pnpm aria run --pipeline text-report --input '{"text":"The quick brown fox. The lazy dog!"}'`,
          ]
        : []),
      "  pnpm aria doctor",
      "  more: examples/README.md, docs/getting-started.md",
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      logger.error({ signal }, "shutdown took longer than 30 s; exiting");
      process.exit(1);
    }, 30_000);
    force.unref();
    server.close().then(
      () => {
        logger.info({}, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
