import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const examplesDir = path.resolve(import.meta.dirname, "../../../examples");
let redis: RedisHandle;
const open: Runtime[] = [];

async function runtimeOn(url: string): Promise<Runtime> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-rr-"));
  const runtime = await composeRuntime(
    RuntimeConfigSchema.parse({
      dataDir,
      redisUrl: url,
      examplesDir,
      features: { containers: false },
    }),
    silent,
  );
  open.push(runtime);
  return runtime;
}

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
});
afterAll(async () => {
  for (const r of open) await r.close().catch(() => undefined);
  await redis?.stop();
});

describe("the runtime on Redis", () => {
  it("keeps finished runs across a restart, answers 503 while Redis is down and recovers", async () => {
    const first = await runtimeOn(redis.url);
    const submitted = await first.app.request("/v1/runs?wait=true", {
      method: "POST",
      body: JSON.stringify({ pipeline: "text-report", input: { text: "durable state in redis" } }),
    });
    const run = (await submitted.json()) as { id: string; status: string };
    expect(run.status).toBe("succeeded");
    await first.close();

    // A new process (another replica, or the same one restarted) reads the finished run back.
    const second = await runtimeOn(redis.url);
    const read = (await (await second.app.request(`/v1/runs/${run.id}`)).json()) as {
      status: string;
      steps: unknown[];
    };
    expect(read.status).toBe("succeeded");
    expect(read.steps).toHaveLength(4);
    const events = await (await second.app.request(`/v1/runs/${run.id}/events`)).text();
    expect(events).toContain("event: run.completed");
    const audit = (await (await second.app.request("/v1/audit?action=run.submit")).json()) as {
      entries: Array<{ target: string }>;
    };
    expect(audit.entries.map((e) => e.target)).toContain(run.id);

    // Redis dies: clear 503s, liveness stays up, nothing crashes.
    await redis.stop({ hard: true });
    const down = await second.app.request(`/v1/runs/${run.id}`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { error: { code: string } }).error.code).toBe(
      "STORE_UNAVAILABLE",
    );
    const ready = await second.app.request("/ready");
    expect(ready.status).toBe(503);
    expect(
      ((await ready.json()) as { dependencies: { store: { status: string } } }).dependencies.store
        .status,
    ).toBe("down");
    expect((await second.app.request("/health")).status).toBe(200);
    const submitDown = await second.app.request("/v1/runs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "text-report", input: { text: "x" } }),
    });
    expect(submitDown.status).toBe(503);

    // Redis returns (AOF kept the data): the same replica recovers on its own.
    await redis.restart();
    let back: Response | undefined;
    for (let i = 0; i < 100; i++) {
      back = await second.app.request(`/v1/runs/${run.id}`);
      if (back.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(back?.status).toBe(200);
    expect(((await back!.json()) as { status: string }).status).toBe("succeeded");
    expect((await second.app.request("/ready")).status).toBe(200);
  }, 120_000);
});
