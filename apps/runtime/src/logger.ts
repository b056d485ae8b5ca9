import type { Logger } from "@aria/core-types";
import { pino } from "pino";

/**
 * Structured JSON logs (pino) on stderr, with secrets redacted by path. Every line carries the
 * component and, where known, run/step/container ids through `child()` bindings.
 */
export function createLogger(
  level: string,
  destination: NodeJS.WritableStream = process.stderr,
): Logger & { flush?: () => void } {
  return pino(
    {
      level,
      base: { service: "aria-runtime" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "apiKey",
          "*.apiKey",
          "*.*.apiKey",
          "authorization",
          "headers.authorization",
          "token",
          "*.token",
          "config.apiKeys",
        ],
        censor: "[REDACTED]",
      },
    },
    destination,
  ) as unknown as Logger;
}
