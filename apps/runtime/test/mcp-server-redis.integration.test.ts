import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, type Runtime } from "@aria/runtime";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callWithProgress,
  examplesDir,
  expectSucceededRun,
  silent,
  tempDir,
} from "./helpers/mcp.ts";

/**
 * `/mcp` is stateless, so replicas need no sticky sessions: here every HTTP request of one MCP
 * client goes to the next of two API-only replicas in turn, and a third process (a worker) runs the
 * pipeline from the Redis queue. Progress comes from the run's event log in Redis.
 */
let redis: RedisHandle;
const open: Runtime[] = [];

async function runtimeOn(url: string, role: "api" | "worker"): Promise<Runtime> {
  const dataDir = tempDir("aria-mcp-redis-");
  const runtime = await composeRuntime(
    RuntimeConfigSchema.parse({
      dataDir,
      redisUrl: url,
      examplesDir,
      features: { containers: false },
    }),
    silent,
    { role },
  );
  open.push(runtime);
  return runtime;
}

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);
afterAll(async () => {
  for (const r of open.reverse()) await r.close().catch(() => undefined);
  await redis?.stop();
});

describe("/mcp across replicas (Redis queue)", () => {
  it("serves one client from two API replicas while a worker runs the pipeline", async () => {
    const replicas = [await runtimeOn(redis.url, "api"), await runtimeOn(redis.url, "api")];
    await runtimeOn(redis.url, "worker");
    const served: number[] = [];
    let next = 0;
    const client = new Client({ name: "lb-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL("http://aria.invalid/mcp"), {
        // A load balancer without sticky sessions: each request to the next replica.
        fetch: (url, init) => {
          const index = next++ % replicas.length;
          served.push(index);
          return Promise.resolve(replicas[index]!.app.fetch(new Request(url, init)));
        },
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("pipeline.text-tools__text-report");

      const { result, progress } = await callWithProgress(
        client,
        "pipeline.text-tools__text-report",
        { text: "Replicas share nothing but Redis. Redis is enough.", title: "LB" },
      );
      const structured = expectSucceededRun<{ report: string }>(result);
      expect(structured.result.report).toContain("LB");
      expect(progress.some((p) => p.progress === 4 && p.total === 4)).toBe(true);
      // Both replicas answered requests of the same client.
      expect(new Set(served)).toEqual(new Set([0, 1]));
      // The run is in Redis: either replica reads it.
      for (const replica of replicas) {
        const res = await replica.app.request(`/v1/runs/${structured.runId}`);
        expect(((await res.json()) as { status: string }).status).toBe("succeeded");
      }
    } finally {
      await client.close();
    }
  }, 120_000);
});
