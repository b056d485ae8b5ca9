#!/usr/bin/env node
import { serveMain } from "./main.ts";

const USAGE = `Usage: aria <command> [options]

Commands:
  serve                 start the runtime server (ARIA_HOST, ARIA_PORT, ...)
  help                  show this help

Exit status: 0 success, 1 failed run or start, 2 bad usage.`;

/** The `aria` command line. */
export async function cliMain(argv: string[]): Promise<number> {
  const [command, ..._rest] = argv;
  switch (command) {
    case "serve":
      await serveMain();
      return -1; // keeps running until a signal
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`aria: unknown command '${command ?? ""}'\n\n${USAGE}\n`);
      return 2;
  }
}

const code = await cliMain(process.argv.slice(2));
if (code >= 0) process.exit(code);
