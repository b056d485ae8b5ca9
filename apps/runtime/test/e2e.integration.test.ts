import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { cliMain, createLogger, type RunningServer, startServer } from "@aria/runtime";
import {
  type FakeProviderServer,
  type RecordedRequest,
  type RedisHandle,
  reply,
  requireDocker,
  startFakeOpenAI,
  startRedis,
} from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The runtime app's end-to-end test (issue "The runtime app"): through HTTP and the CLI, against a
 * real redis-server and dockerd and a scripted OpenAI-protocol server driven by the real SDK:
 * upload a bundle, run a pipeline, an agent and a team, stream events, cancel a run, restart the
 * server and read the finished runs back.
 */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

let redis: RedisHandle;
let llm: FakeProviderServer;
let server: RunningServer;
let dataDir: string;
const finished = new Map<string, string>();

type Json = Record<string, unknown>;

function systemOf(request: RecordedRequest): string {
  const first = request.body?.messages?.[0];
  return first?.role === "system" ? String(first.content) : "";
}

/** The scripted model: a real tool-calling conversation, decided by what each request carries. */
function script(request: RecordedRequest) {
  const system = systemOf(request);
  const messages = (request.body?.messages ?? []) as Array<{ role: string; content?: string }>;
  const lastUser = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  if (system.startsWith("You judge how an AI agent")) {
    return reply.text(
      JSON.stringify({
        complexity: "simple",
        needsPlanning: false,
        needsContainers: false,
        estimatedSteps: 1,
        reasoning: "one tool call",
      }),
    );
  }
  if (String(lastUser).includes("SLOW")) return reply.text("too late", { delayMs: 30_000 });
  const toolResult = messages.find((m) => m.role === "tool");
  const tools = ((request.body?.tools ?? []) as Array<{ function: { name: string } }>).map(
    (t) => t.function.name,
  );
  if (toolResult) return reply.text(`Measured: ${toolResult.content}`);
  if (tools.includes("text-tools__wordCount"))
    return reply.toolCall("text-tools__wordCount", { text: "alpha beta gamma delta" });
  if (system.includes("write short, clear reports"))
    return reply.text("Report: four words were counted.");
  return reply.text("ok");
}

async function api<T = Json>(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${route}`, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
      : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function boot(): Promise<RunningServer> {
  const config = RuntimeConfigSchema.parse({
    port: 0,
    dataDir,
    redisUrl: redis.url,
    examplesDir: path.join(root, "examples"),
    llm: {
      providers: ["openai"],
      openai: { apiKey: "sk-e2e-test-key-0123456789", baseURL: llm.baseURL, model: "fake-gpt" },
    },
  });
  return startServer(config, silent);
}

beforeAll(async () => {
  await requireDocker();
  await run(path.join(root, "deploy/tool-runner/build-local.sh"), [process.execPath], {
    cwd: root,
    timeout: 180_000,
  });
  redis = await startRedis();
  llm = await startFakeOpenAI(script);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-e2e-"));
  server = await boot();
}, 240_000);

afterAll(async () => {
  await server?.close();
  await llm?.close();
  await redis?.stop();
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", "label=aria.managed=true"]);
  expect(stdout.trim()).toBe("");
});

describe("the runtime end to end (HTTP, CLI, Redis, Docker, scripted LLM)", () => {
  it("uploads a bundle", async () => {
    const packed = await packBundle(path.join(import.meta.dirname, "fixtures/counting-bundle"), {
      write: false,
    });
    const res = await fetch(`${server.url}/v1/bundles`, {
      method: "POST",
      body: packed.bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Json).name).toBe("counting-tools");
  }, 60_000);

  it("runs a pipeline and a container workload", async () => {
    const pipeline = await api("POST", "/v1/runs?wait=true", {
      pipeline: "count-chain",
      input: { start: 1 },
    });
    expect(pipeline.body.status).toBe("succeeded");
    expect(pipeline.body.result).toEqual({ n: 6 });
    finished.set(pipeline.body.id as string, "succeeded");
    const container = await api("POST", "/v1/runs?wait=true", {
      pipeline: "increment",
      input: { n: 42 },
    });
    expect(container.body.status).toBe("succeeded");
    expect(container.body.result).toBe(43);
    finished.set(container.body.id as string, "succeeded");
  }, 60_000);

  it("runs an agent that calls a tool through the real SDK, with usage and cost recorded", async () => {
    const before = llm.requests.length;
    const res = await api("POST", "/v1/runs?wait=true", {
      agent: "analyst",
      task: "How many words are in 'alpha beta gamma delta'?",
    });
    expect(res.body.status).toBe("succeeded");
    expect(JSON.stringify(res.body.result)).toContain('\\"words\\":4');
    const sent = llm.requests.slice(before);
    expect(sent.some((r) => (r.body?.tools ?? []).length > 0)).toBe(true);
    expect(sent.every((r) => r.headers.authorization === "Bearer sk-e2e-test-key-0123456789")).toBe(
      true,
    );
    finished.set(res.body.id as string, "succeeded");

    // Its events, streamed: the tool call and the model usage are in the log.
    const text = await (
      await fetch(`${server.url}/v1/runs/${res.body.id as string}/events`)
    ).text();
    expect(text).toContain("event: llm.usage");
    expect(text).toContain("event: run.completed");
    expect(text).not.toContain("sk-e2e-test-key");
  }, 60_000);

  it("runs a team (sequential: analyst, then writer)", async () => {
    const res = await api("POST", "/v1/runs?wait=true", {
      team: "review-team",
      task: "Count the words of 'alpha beta gamma delta' and report.",
    });
    expect(res.body.status).toBe("succeeded");
    expect(JSON.stringify(res.body.result)).toContain("Report: four words were counted.");
    finished.set(res.body.id as string, "succeeded");
  }, 60_000);

  it("cancels a running run", async () => {
    const submitted = await api("POST", "/v1/runs", {
      agent: "writer",
      task: "SLOW: take your time",
      options: { planning: false },
    });
    expect(submitted.status).toBe(202);
    const runId = submitted.body.runId as string;
    for (let i = 0; i < 100; i++) {
      const state = await api("GET", `/v1/runs/${runId}`);
      if (state.body.status === "running") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancelled = await api("POST", `/v1/runs/${runId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    const text = await (await fetch(`${server.url}/v1/runs/${runId}/events`)).text();
    expect(text).toContain("event: run.cancelled");
    finished.set(runId, "cancelled");
  }, 60_000);

  it("restarts and reads every finished run back; the CLI sees them too", async () => {
    await server.close();
    server = await boot();
    for (const [runId, status] of finished) {
      const res = await api("GET", `/v1/runs/${runId}`);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe(status);
    }
    let out = "";
    const code = await cliMain(
      ["runs", "--json", "--server", server.url],
      { write: (s: string) => (out += s) },
      { write: () => true },
    );
    expect(code).toBe(0);
    const ids = (JSON.parse(out) as Array<{ id: string }>).map((r) => r.id);
    for (const runId of finished.keys()) expect(ids).toContain(runId);
    let runOut = "";
    const runCode = await cliMain(
      [
        "run",
        "--json",
        "--server",
        server.url,
        "--pipeline",
        "text-report",
        "--input",
        '{"text":"from the CLI"}',
      ],
      { write: (s: string) => (runOut += s) },
      { write: () => true },
    );
    expect(runCode).toBe(0);
    expect((JSON.parse(runOut) as Json).status).toBe("succeeded");
  }, 120_000);
});
