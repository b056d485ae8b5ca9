import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { composeRuntime, createLogger, jsonBody } from "@aria/runtime";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const KEY = "test-key-0123456789abcdef";

describe("API keys", () => {
  it("leaves the probes and /openapi.json open and guards every other route", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({ apiKeys: [KEY], features: { containers: false } }),
      silent,
    );
    expect((await runtime.app.request("/health")).status).toBe(200);
    expect((await runtime.app.request("/ready")).status).toBe(200);
    expect((await runtime.app.request("/openapi.json")).status).toBe(200);

    const none = await runtime.app.request("/v1/tools");
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");

    const wrong = await runtime.app.request("/v1/tools", {
      headers: { authorization: "Bearer not-the-key-000000000" },
    });
    expect(wrong.status).toBe(401);
    const text = await wrong.text();
    expect(text).not.toContain("not-the-key");

    const basic = await runtime.app.request("/metrics", {
      headers: { authorization: "Basic abc" },
    });
    expect(basic.status).toBe(401);

    const ok = await runtime.app.request("/v1/tools", {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(ok.status).toBe(200);
    await runtime.close();
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After past the per-key limit", async () => {
    const config = RuntimeConfigSchema.parse({
      apiKeys: [KEY],
      limits: { rateLimitPerMinute: 3 },
      features: { containers: false },
    });
    const runtime = await composeRuntime(config, silent);
    const headers = { authorization: `Bearer ${KEY}` };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await runtime.app.request("/v1/audit", { headers })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await runtime.app.request("/v1/audit", { headers });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    // /health is never limited
    expect((await runtime.app.request("/health")).status).toBe(200);
    await runtime.close();
  });
});

describe("JSON bodies", () => {
  const app = new Hono();
  const schema = z.strictObject({ name: z.string().min(1), count: z.number().int() });
  app.post("/echo", async (c) => c.json(await jsonBody(c, schema, 64)));
  app.onError((error) => {
    const aria = AriaError.is(error) ? error : new AriaError("INTERNAL_ERROR");
    return new Response(JSON.stringify(aria.toJSON()), { status: aria.toHttpStatus() });
  });
  const post = (body: string) =>
    app.request("/echo", { method: "POST", body, headers: { "content-type": "application/json" } });

  it("accepts a valid body", async () => {
    const res = await post(JSON.stringify({ name: "a", count: 1 }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: "a", count: 1 });
  });
  it("refuses invalid JSON with INVALID_JSON", async () => {
    const res = await post("{ nope");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("INVALID_JSON");
  });
  it("names the failing field with VALIDATION_FAILED", async () => {
    const res = await post(JSON.stringify({ name: "", count: 1.5 }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: { code: string; details: { issues: Array<{ field: string }> } };
    };
    expect(body.error.code).toBe("VALIDATION_FAILED");
    expect(body.error.details.issues.map((i) => i.field)).toEqual(["name", "count"]);
  });
  it("refuses a body over the limit with 413", async () => {
    const res = await post(JSON.stringify({ name: "x".repeat(200), count: 1 }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      "PAYLOAD_TOO_LARGE",
    );
  });
});

describe("metrics and audit", () => {
  it("serves Prometheus text counting requests and errors", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({ features: { containers: false } }),
      silent,
    );
    await runtime.app.request("/health");
    await runtime.app.request("/missing");
    const res = await runtime.app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /aria_http_requests_total\{method="GET",route="\/health",status="200"\} 1/,
    );
    expect(text).toMatch(/aria_errors_total\{code="NOT_FOUND"\} 1/);
    await runtime.close();
  });

  it("records the configuration at start without secrets", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        llm: { openai: { apiKey: "sk-secret-abcdefghijklmnop" } },
        features: { containers: false },
      }),
      silent,
    );
    const res = await runtime.app.request("/v1/audit?action=runtime.");
    const { entries } = (await res.json()) as {
      entries: Array<{ action: string; outcome: string; details: unknown }>;
    };
    expect(entries[0]).toMatchObject({ action: "runtime.start", outcome: "success" });
    expect(JSON.stringify(entries)).not.toContain("sk-secret");
    await runtime.close();
  });
});

describe("OpenAPI", () => {
  it("serves a 3.1 document with every contract route and the zod-derived body schemas", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({ features: { containers: false } }),
      silent,
    );
    const res = await runtime.app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: {
              content: Record<string, { schema: { properties?: Record<string, unknown> } }>;
            };
          }
        >
      >;
    };
    expect(doc.openapi).toBe("3.1.0");
    for (const route of [
      "/health",
      "/ready",
      "/metrics",
      "/v1/bundles",
      "/v1/tools/{name}/invoke",
      "/v1/runs",
      "/v1/runs/{id}",
      "/v1/runs/{id}/events",
      "/v1/runs/{id}/cancel",
      "/v1/sessions/{id}/messages",
    ]) {
      expect(doc.paths[route]).toBeDefined();
    }
    const runBody = doc.paths["/v1/runs"]!.post!.requestBody!.content["application/json"]!.schema;
    expect(Object.keys(runBody.properties ?? {})).toEqual(
      expect.arrayContaining([
        "agent",
        "pipeline",
        "team",
        "task",
        "input",
        "sessionId",
        "options",
      ]),
    );
    await runtime.close();
  });
});
