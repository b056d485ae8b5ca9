import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { cliMain, createLogger, type RunningServer, startServer } from "@aria/runtime";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
type Json = Record<string, any>;

let redis: RedisHandle;
let dataDir: string;
const open: RunningServer[] = [];

/** A runtime on the shared Redis and data directory (a restart is a new one on the same state). */
async function boot(): Promise<RunningServer> {
  const server = await startServer(
    RuntimeConfigSchema.parse({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      redisUrl: redis.url,
      features: { containers: false },
      approvals: { sweepIntervalMs: 200 },
    }),
    silent,
  );
  open.push(server);
  return server;
}

async function api(server: RunningServer, method: string, route: string, body?: unknown) {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function until(server: RunningServer, runId: string, statuses: string[]): Promise<Json> {
  for (let i = 0; i < 300; i++) {
    const { body } = await api(server, "GET", `/v1/runs/${runId}`);
    if (statuses.includes(body.status)) return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never reached ${statuses.join("/")}`);
}

async function submit(server: RunningServer, pipeline: string, input: unknown): Promise<string> {
  const { status, body } = await api(server, "POST", "/v1/runs", { pipeline, input });
  expect(status).toBe(202);
  return body.runId as string;
}

beforeAll(async () => {
  redis = await startRedis();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-approvals-"));
}, 60_000);

afterAll(async () => {
  for (const server of open) await server.close().catch(() => undefined);
  await redis?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("human approval (Redis, queue workers, restarts)", () => {
  it("pauses durably, survives a restart, and resumes with edited parameters", async () => {
    let server = await boot();
    const packed = await packBundle(path.join(import.meta.dirname, "fixtures/approval-bundle"), {
      write: false,
    });
    const installed = await fetch(`${server.url}/v1/bundles`, {
      method: "POST",
      body: packed.bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(installed.status).toBe(201);

    // A direct call cannot wait for a person: the tool is refused, not run.
    const direct = await api(server, "POST", "/v1/tools/approval-tools%2Ftransfer/invoke", {
      input: { amount: 999, payee: "mallory" },
    });
    expect(direct.status).toBe(409);
    expect(direct.body.error.code).toBe("APPROVAL_REQUIRED");

    const runId = await submit(server, "payout", { item: "bike", payee: "acme" });
    const paused = await until(server, runId, ["paused"]);
    expect(paused.steps.map((s: Json) => [s.stepId, s.status])).toEqual([
      ["quote", "succeeded"],
      ["transfer", "waiting"],
    ]);
    expect(paused.approvals).toEqual([
      expect.objectContaining({
        runId,
        stepId: "transfer",
        kind: "tool",
        target: "approval-tools/transfer",
        params: { amount: 400, payee: "acme" },
        reason: "tool",
        status: "pending",
        onTimeout: "reject",
      }),
    ]);
    const inbox = await api(server, "GET", "/v1/approvals");
    expect(inbox.body.approvals.map((a: Json) => a.runId)).toContain(runId);
    expect(paused.approvals[0]).not.toHaveProperty("fingerprint");

    // A client follows the paused run's events; shutting down ends its stream (it would
    // otherwise hold the server open while the run waits) and the client may resume elsewhere.
    const following = await fetch(`${server.url}/v1/runs/${runId}/events`);
    const streamed = following.text();
    // Restart: a new runtime process on the same Redis and data directory.
    await server.close();
    const seen = await streamed;
    expect(seen).toContain("event: approval.requested");
    expect(seen).not.toContain("event: run.completed");
    server = await boot();
    const after = await until(server, runId, ["paused"]);
    expect(after.approvals).toHaveLength(1);

    // Bad decisions are refused with clear errors and change nothing.
    const badBody = await api(server, "POST", `/v1/runs/${runId}/approvals/transfer`, {
      decision: "maybe",
    });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.code).toBe("VALIDATION_FAILED");
    const unknownStep = await api(server, "POST", `/v1/runs/${runId}/approvals/receipt`, {
      decision: "approve",
    });
    expect(unknownStep.status).toBe(404);
    expect(unknownStep.body.error.code).toBe("APPROVAL_NOT_FOUND");
    expect(unknownStep.body.error.userGuidance).toBeTruthy();

    // Approve with edited parameters through the CLI, against the restarted server.
    const out: string[] = [];
    const code = await cliMain(
      [
        "approve",
        runId,
        "transfer",
        "--params",
        JSON.stringify({ amount: 350, payee: "acme-eu" }),
        "--reason",
        "discount agreed",
        "--server",
        server.url,
      ],
      { write: (s: string) => out.push(s) },
      { write: (s: string) => out.push(s) },
    );
    expect(code).toBe(0);
    expect(out.join("")).toContain("approved step transfer");
    const done = await until(server, runId, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ text: "paid 350 to acme-eu" });
    expect(done.steps.map((s: Json) => s.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(done.approvals).toEqual([]);
    expect(done.approvalHistory[0]).toMatchObject({
      status: "approved",
      editedParams: { amount: 350, payee: "acme-eu" },
      comment: "discount agreed",
    });

    const events = await (await fetch(`${server.url}/v1/runs/${runId}/events`)).text();
    expect(events).toContain("event: approval.requested");
    expect(events).toContain("event: approval.resolved");
    expect(events).toContain("event: run.completed");

    const twice = await api(server, "POST", `/v1/runs/${runId}/approvals/transfer`, {
      decision: "reject",
    });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("APPROVAL_ALREADY_DECIDED");

    const audit = await api(server, "GET", "/v1/audit?action=run.approve");
    expect(audit.body.entries.map((e: Json) => e.target)).toContain(`${runId}/transfer`);
  }, 120_000);

  it("a rejection fails the step with its guidance and skips what depends on it", async () => {
    const server = open.at(-1)!;
    const runId = await submit(server, "payout", { item: "car", payee: "mallory" });
    await until(server, runId, ["paused"]);
    const out: string[] = [];
    expect(
      await cliMain(
        ["reject", runId, "transfer", "--reason", "unknown payee", "--server", server.url],
        { write: (s: string) => out.push(s) },
        { write: (s: string) => out.push(s) },
      ),
    ).toBe(0);
    const done = await until(server, runId, ["failed", "succeeded"]);
    expect(done.status).toBe("failed");
    const transfer = done.steps.find((s: Json) => s.stepId === "transfer");
    expect(transfer.status).toBe("failed");
    expect(transfer.error.code).toBe("APPROVAL_REJECTED");
    expect(transfer.error.message).toContain("unknown payee");
    expect(transfer.error.userGuidance).toContain("rejected");
    expect(done.steps.find((s: Json) => s.stepId === "receipt").status).toBe("skipped");
  }, 60_000);

  it("an approval's timeout policy decides when nobody answers", async () => {
    const server = open.at(-1)!;
    const runId = await submit(server, "nightly", { item: "abc" });
    const done = await until(server, runId, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ amount: 300 });
    expect(done.approvalHistory[0]).toMatchObject({
      status: "approved",
      timedOut: true,
      decidedBy: "timeout",
    });
  }, 60_000);

  it("cancelling a paused run ends it and its approval", async () => {
    const server = open.at(-1)!;
    const runId = await submit(server, "payout", { item: "boat", payee: "acme" });
    await until(server, runId, ["paused"]);
    const cancelled = await api(server, "POST", `/v1/runs/${runId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    const late = await api(server, "POST", `/v1/runs/${runId}/approvals/transfer`, {
      decision: "approve",
    });
    expect(late.status).toBe(409);
    const inbox = await api(server, "GET", "/v1/approvals");
    expect(inbox.body.approvals.map((a: Json) => a.runId)).not.toContain(runId);
  }, 60_000);
});
