/**
 * LLM handler overhead, measured in one run against a local fake OpenAI server:
 *   - the bare `openai` SDK call (the baseline),
 *   - the handler on a cache miss (same server, same request shape),
 *   - the handler on a cache hit in memory,
 *   - the handler on a cache hit in Redis (a private redis-server started here).
 * Overhead on a miss = handler miss − bare SDK call. A hit makes no provider call, so its whole
 * time is the handler's. Defaults stay on (request validation, accounting, breakers).
 *
 *   node --conditions=@aria/source --import tsx bench/llm/handler.bench.ts [--iterations N]
 *
 * Prints a table and writes bench/results/llm.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLlmHandler } from "../../packages/llm/src/index.ts";
import { reply, startFakeOpenAI, startRedis } from "../../packages/testkit/src/index.ts";

// The SDK and ioredis are dependencies of @aria/llm; resolve them from there.
const requireFromLlm = createRequire(new URL("../../packages/llm/package.json", import.meta.url));

interface ChatClient {
  chat: { completions: { create(body: unknown): Promise<unknown> } };
}
type OpenAIConstructor = new (options: Record<string, unknown>) => ChatClient;
const OpenAI = (requireFromLlm("openai") as { default: OpenAIConstructor }).default;
const openaiVersion = (requireFromLlm("openai/version") as { VERSION: string }).VERSION;

const argIndex = process.argv.indexOf("--iterations");
const ITERATIONS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 2000;
const ROUNDS = 5;
const WARMUP = 300;
const KEY = "sk-bench-0123456789abcdef";

const REQUEST = {
  messages: [
    { role: "system" as const, content: "You are a precise assistant. Answer in one sentence." },
    {
      role: "user" as const,
      content: "What is the capital of France? Use the lookup tool if unsure.",
    },
  ],
  tools: [
    {
      name: "lookup",
      description: "Looks up a fact",
      parameters: {
        type: "object",
        properties: { query: { type: "string" } },
        required: ["query"],
      },
    },
  ],
  temperature: 0,
  maxTokens: 64,
  runId: "bench-run",
  agent: "bench-agent",
};

interface Stats {
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  samples: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    meanUs: round(mean),
    p50Us: round(at(0.5)),
    p90Us: round(at(0.9)),
    p99Us: round(at(0.99)),
    samples: sorted.length,
  };
}

async function time(fn: () => Promise<unknown>, n: number, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn();
    into.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}

async function main() {
  const server = await startFakeOpenAI(
    reply.text("Paris is the capital of France.", { usage: { inputTokens: 60, outputTokens: 8 } }),
  );
  const redis = await startRedis();
  const config = {
    providers: ["openai" as const],
    openai: { apiKey: KEY, baseURL: server.baseURL, model: "gpt-4o-mini" },
  };
  const bare = new OpenAI({ apiKey: KEY, baseURL: server.baseURL, maxRetries: 0, logLevel: "off" });
  const bareBody = {
    model: "gpt-4o-mini",
    messages: REQUEST.messages,
    tools: REQUEST.tools.map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description, parameters: t.parameters },
    })),
    temperature: 0,
    max_completion_tokens: 64,
  };
  // The miss handler has no cache, so every call goes to the server exactly as the bare call does.
  const miss = createLlmHandler({ config, cache: false });
  const memory = createLlmHandler({ config });
  const redisHandler = createLlmHandler({ config, cache: { redis: redis.url } });

  try {
    const runs = {
      bare: () => bare.chat.completions.create(bareBody),
      miss: () => miss.complete(REQUEST),
      memoryHit: () => memory.complete(REQUEST),
      redisHit: () => redisHandler.complete(REQUEST),
    };
    // Warm up every path (JIT, keep-alive connections, and the two caches get their entry).
    for (const run of Object.values(runs)) await time(run, WARMUP, []);
    if (
      !(await memory.complete(REQUEST)).cached ||
      !(await redisHandler.complete(REQUEST)).cached
    ) {
      throw new Error("the cache did not hit after warm-up");
    }

    // Interleaved rounds, so drift (GC, CPU frequency) spreads over every path alike.
    const samples: Record<keyof typeof runs, number[]> = {
      bare: [],
      miss: [],
      memoryHit: [],
      redisHit: [],
    };
    const perRound = Math.ceil(ITERATIONS / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(runs) as Array<
        [keyof typeof runs, () => Promise<unknown>]
      >) {
        await time(run, perRound, samples[name]);
      }
    }

    const result = {
      bare: stats(samples.bare),
      miss: stats(samples.miss),
      memoryHit: stats(samples.memoryHit),
      redisHit: stats(samples.redisHit),
    };
    const overhead = {
      meanUs: Math.round((result.miss.meanUs - result.bare.meanUs) * 100) / 100,
      p50Us: Math.round((result.miss.p50Us - result.bare.p50Us) * 100) / 100,
    };
    const targets = {
      memoryHitP50Us: {
        target: 50,
        value: result.memoryHit.p50Us,
        met: result.memoryHit.p50Us <= 50,
      },
      redisHitP50Us: {
        target: 1000,
        value: result.redisHit.p50Us,
        met: result.redisHit.p50Us <= 1000,
      },
    };

    const rows: Array<[string, Stats, string]> = [
      ["bare openai SDK call (baseline)", result.bare, ""],
      [
        "handler, cache miss",
        result.miss,
        `overhead vs bare: ${overhead.p50Us} µs p50, ${overhead.meanUs} µs mean`,
      ],
      [
        "handler, cache hit (memory)",
        result.memoryHit,
        `target ≤ 50 µs: ${targets.memoryHitP50Us.met ? "met" : "NOT met"}`,
      ],
      [
        "handler, cache hit (redis)",
        result.redisHit,
        `target ≤ 1000 µs: ${targets.redisHitP50Us.met ? "met" : "NOT met"}`,
      ],
    ];
    console.log(
      `\nLLM handler overhead (µs per call, ${perRound * ROUNDS} calls each, interleaved in ${ROUNDS} rounds)\n`,
    );
    console.log(
      `${"path".padEnd(34)}${"mean".padStart(10)}${"p50".padStart(10)}${"p90".padStart(10)}${"p99".padStart(10)}  note`,
    );
    for (const [name, s, note] of rows) {
      console.log(
        `${name.padEnd(34)}${s.meanUs.toFixed(1).padStart(10)}${s.p50Us.toFixed(1).padStart(10)}${s.p90Us.toFixed(1).padStart(10)}${s.p99Us.toFixed(1).padStart(10)}  ${note}`,
      );
    }

    const out = {
      benchmark: "llm-handler-overhead",
      date: new Date().toISOString(),
      unit: "microseconds per call",
      environment: {
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpu: os.cpus()[0]?.model ?? "unknown",
        cpus: os.cpus().length,
        openai: openaiVersion,
      },
      configuration: {
        iterationsPerPath: perRound * ROUNDS,
        rounds: ROUNDS,
        warmupPerPath: WARMUP,
        server: "in-process fake OpenAI server on 127.0.0.1 (@aria/testkit), keep-alive",
        request: "system + user message, one tool, temperature 0, maxTokens 64",
        handler:
          "defaults: zod request validation, accounting with run/agent scopes, breakers, retries (unused), silent logger",
        missHandler: "cache off (every call reaches the server)",
        memoryCache: "lru-cache, default size and TTL",
        redisCache: "ioredis to a private redis-server on 127.0.0.1",
      },
      results: result,
      handlerOverheadOnMiss: overhead,
      targets,
    };
    const file = path.join(
      path.dirname(fileURLToPath(import.meta.url)),
      "..",
      "results",
      "llm.json",
    );
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  } finally {
    await Promise.all([miss.close(), memory.close(), redisHandler.close()]);
    await server.close();
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
