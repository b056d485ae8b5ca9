import type { LlmStreamChunk, Logger } from "@aria/core-types";
import type { FakeProviderServer } from "@aria/testkit";

export const OPENAI_KEY = "sk-test-openai-0123456789abcdef";
export const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef";

export interface LogEntry {
  level: string;
  obj: unknown;
  msg: string | undefined;
}

/** A Logger that keeps every entry (child bindings merged in), for assertions. */
export function captureLogger(
  entries: LogEntry[] = [],
  bindings: object = {},
): Logger & {
  entries: LogEntry[];
} {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      entries.push({
        level,
        obj: typeof obj === "string" ? { ...bindings, msg: obj } : { ...bindings, ...obj },
        msg,
      });
    };
  return {
    entries,
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => captureLogger(entries, { ...bindings, ...more }),
  };
}

/** Starts fakes and closes them after each test. */
export function serverPool() {
  const servers: FakeProviderServer[] = [];
  return {
    async add<T extends FakeProviderServer>(start: Promise<T>): Promise<T> {
      const server = await start;
      servers.push(server);
      return server;
    },
    async closeAll() {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}

export async function collect(stream: AsyncIterable<LlmStreamChunk>): Promise<LlmStreamChunk[]> {
  const out: LlmStreamChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

/** Resolves when `condition` holds, polling (no timing assertion: the test timeout bounds it). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}
