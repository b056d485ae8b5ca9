import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const examples = path.resolve(import.meta.dirname, "../../../examples");
let runtime: Runtime;
let calculatorBytes: Uint8Array;
let textBytes: Uint8Array;

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const post = (url: string, body: unknown) =>
  runtime.app.request(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-api-"));
  runtime = await composeRuntime(
    RuntimeConfigSchema.parse({ dataDir, features: { containers: false } }),
    silent,
  );
  calculatorBytes = (await packBundle(path.join(examples, "calculator-tools"), { write: false }))
    .bytes;
  textBytes = (await packBundle(path.join(examples, "text-tools"), { write: false })).bytes;
}, 60_000);
afterAll(async () => {
  await runtime?.close();
});

describe("bundles over HTTP", () => {
  it("installs an uploaded .aria file and lists what it registered", async () => {
    const res = await runtime.app.request("/v1/bundles", {
      method: "POST",
      body: calculatorBytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toMatchObject({ name: "calculator-tools", version: "1.0.0" });
    expect(body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(body.tools).toEqual(
      expect.arrayContaining([
        "calculator-tools/add",
        "calculator-tools/multiply",
        "calculator-tools/circleArea",
        "calculator-tools/formatReport",
      ]),
    );

    const again = await runtime.app.request("/v1/bundles", {
      method: "POST",
      body: calculatorBytes,
    });
    expect(again.status).toBe(200);

    const text = await runtime.app.request("/v1/bundles", { method: "POST", body: textBytes });
    expect(text.status).toBe(201);

    const list = await json(await runtime.app.request("/v1/bundles"));
    expect((list.bundles as Json[]).map((b) => b.name).sort()).toEqual([
      "calculator-tools",
      "text-tools",
    ]);
    const one = await json(await runtime.app.request("/v1/bundles/text-tools"));
    expect((one.versions as Json[])[0]).toMatchObject({
      version: "1.0.0",
      pipelines: expect.arrayContaining(["text-report", "circle-analysis"]),
    });
    const tools = await json(await runtime.app.request("/v1/tools"));
    expect((tools.tools as Json[]).map((t) => t.id)).toEqual(
      expect.arrayContaining(["calculator-tools/add", "text-tools/wordCount", "calculator"]),
    );
    // text-tools' two pipelines and calculator-tools' approved-report.
    expect((await json(await runtime.app.request("/v1/pipelines"))).pipelines).toHaveLength(3);
    expect((await json(await runtime.app.request("/v1/agents"))).agents).toHaveLength(2);
    expect((await json(await runtime.app.request("/v1/teams"))).teams).toHaveLength(1);
  });

  it("refuses garbage, a tampered archive and an empty body with their codes, changing nothing", async () => {
    const before = await json(await runtime.app.request("/v1/bundles"));
    const garbage = await runtime.app.request("/v1/bundles", {
      method: "POST",
      body: new TextEncoder().encode("not a tarball"),
    });
    expect(garbage.status).toBe(400);
    expect(((await json(garbage)).error as Json).code).toBe("BUNDLE_INVALID");
    const tampered = new Uint8Array(calculatorBytes);
    tampered[Math.floor(tampered.length / 2)]! ^= 0xff;
    const bad = await runtime.app.request("/v1/bundles", { method: "POST", body: tampered });
    expect(bad.status).toBe(400);
    expect(["BUNDLE_INVALID", "BUNDLE_INTEGRITY"]).toContain(
      ((await json(bad)).error as Json).code,
    );
    const empty = await runtime.app.request("/v1/bundles", { method: "POST" });
    expect(empty.status).toBe(400);
    expect(await json(await runtime.app.request("/v1/bundles"))).toEqual(before);
    const missing = await runtime.app.request("/v1/bundles/nope");
    expect(missing.status).toBe(404);
  });
});

describe("tools over HTTP", () => {
  it("invokes a bundle tool and a built-in", async () => {
    const res = await post(
      `/v1/tools/${encodeURIComponent("calculator-tools/circleArea")}/invoke`,
      { input: { radius: 2 } },
    );
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.success).toBe(true);
    expect((body.output as Json).area).toBeCloseTo(Math.PI * 4, 10);
    expect((body.metrics as Json).durationMs).toBeTypeOf("number");
    const calc = await json(
      await post("/v1/tools/calculator/invoke", { input: { expression: "2 * (3 + 4)" } }),
    );
    expect(calc).toMatchObject({ success: true });
  });

  it("answers unknown tools with 404 and bad input with field-level 400", async () => {
    const unknown = await post("/v1/tools/nope/invoke", { input: {} });
    expect(unknown.status).toBe(404);
    expect(((await json(unknown)).error as Json).code).toBe("TOOL_NOT_FOUND");
    const bad = await post(
      `/v1/tools/${encodeURIComponent("calculator-tools/circleArea")}/invoke`,
      { input: { radius: "big" } },
    );
    expect(bad.status).toBe(400);
    const error = (await json(bad)).error as Json;
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(JSON.stringify(error.details)).toContain("radius");
    const notJson = await runtime.app.request("/v1/tools/calculator/invoke", {
      method: "POST",
      body: "{oops",
    });
    expect(((await json(notJson)).error as Json).code).toBe("INVALID_JSON");
  });
});

describe("runs over HTTP", () => {
  it("runs a pipeline, waits for it and reads it back with every step", async () => {
    const res = await post("/v1/runs?wait=true", {
      pipeline: "text-report",
      input: { text: "The quick brown fox. The lazy dog sleeps!", title: "Fox" },
    });
    expect(res.status).toBe(200);
    const run = await json(res);
    expect(run.status).toBe("succeeded");
    expect((run.steps as Json[]).map((s) => [s.stepId, s.status])).toEqual([
      ["count", "succeeded"],
      ["keywords", "succeeded"],
      ["time", "succeeded"],
      ["report", "succeeded"],
    ]);
    expect(((run.steps as Json[])[0]!.output as Json).words).toBe(8);
    expect(JSON.stringify(run.result)).toContain("Fox");
    const again = await json(await runtime.app.request(`/v1/runs/${run.id as string}`));
    expect(again.status).toBe("succeeded");
    const list = await json(await runtime.app.request("/v1/runs"));
    expect((list.runs as Json[]).map((r) => r.id)).toContain(run.id);
  });

  it("answers 202 at once, then streams the run's events over SSE with Last-Event-ID resume", async () => {
    const submitted = await post("/v1/runs", {
      pipeline: "text-report",
      input: { text: "one two three" },
    });
    expect(submitted.status).toBe(202);
    const { runId, status } = await json(submitted);
    expect(status).toBe("queued");
    const stream = await runtime.app.request(`/v1/runs/${runId as string}/events`);
    expect(stream.headers.get("content-type")).toMatch(/text\/event-stream/);
    const text = await stream.text();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe("run.started");
    expect(types).toContain("step.started");
    expect(types).toContain("step.completed");
    expect(types.at(-1)).toBe("run.completed");
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const resumed = await (
      await runtime.app.request(`/v1/runs/${runId as string}/events`, {
        headers: { "last-event-id": String(ids[2]) },
      })
    ).text();
    const resumedIds = [...resumed.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(resumedIds).toEqual(ids.slice(3));
  });

  it("validates submissions and names missing targets", async () => {
    const none = await post("/v1/runs", { task: "x" });
    expect(none.status).toBe(400);
    expect(((await json(none)).error as Json).code).toBe("VALIDATION_FAILED");
    const both = await post("/v1/runs", { pipeline: "a", agent: "b", task: "x" });
    expect(both.status).toBe(400);
    const missing = await post("/v1/runs", { pipeline: "no-such-pipeline", input: {} });
    expect(missing.status).toBe(404);
    expect(((await json(missing)).error as Json).code).toBe("PIPELINE_NOT_FOUND");
    const badInput = await post("/v1/runs?wait=true", {
      pipeline: "circle-analysis",
      input: { radius: "seven" },
    });
    const failed = await json(badInput);
    expect(failed.status).toBe("failed");
    expect((failed.error as Json).code).toBe("VALIDATION_FAILED");
    expect((await runtime.app.request("/v1/runs/run_nope")).status).toBe(404);
  });

  it("reports usage per run and per bundle", async () => {
    const usage = await json(await runtime.app.request("/v1/usage?limit=50"));
    const runs = usage.runs as Array<{
      id: string;
      status: string;
      wallMs: number;
      llm: { costUsd: number };
    }>;
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs[0]).toMatchObject({ wallMs: expect.any(Number), llm: { costUsd: 0 } });
    const bundles = usage.bundles as Record<string, { toolCalls: number; toolSeconds: number }>;
    expect(bundles["text-tools"]?.toolCalls).toBeGreaterThanOrEqual(6);
    expect(bundles["calculator-tools"]?.toolCalls).toBeGreaterThanOrEqual(2);
    expect((usage.totals as { runs: number }).runs).toBe(runs.length);
    const metrics = await (await runtime.app.request("/metrics")).text();
    expect(metrics).toMatch(/aria_bundle_tool_calls\{bundle="text-tools"\} \d+/);
  });

  it("audits installs, invocations and submissions", async () => {
    const { entries } = (await json(await runtime.app.request("/v1/audit?limit=500"))) as {
      entries: Array<{ action: string }>;
    };
    const actions = new Set(entries.map((e) => e.action));
    for (const action of ["runtime.start", "bundle.install", "tool.invoke", "run.submit"])
      expect(actions).toContain(action);
  });
});
