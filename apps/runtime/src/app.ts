import type { Logger } from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import { Hono } from "hono";
import { openApiDocument } from "./api/openapi.ts";
import type { AuditLog } from "./audit.ts";
import { apiKeyAuth } from "./http/auth.ts";
import { type CounterStore, rateLimit } from "./http/rate-limit.ts";
import type { Metrics } from "./metrics.ts";
import { type ReadinessCheck, runChecks } from "./readiness.ts";

export type AppEnv = { Variables: { principal: string } };

export interface AppDeps {
  logger: Logger;
  checks: ReadinessCheck[];
  version: string;
  startedAt: number;
  metrics: Metrics;
  audit: AuditLog;
  /** The accepted API keys (a function when they can rotate at run time). */
  apiKeys: string[] | (() => string[]);
  counters: CounterStore;
  rateLimitPerMinute: number;
  /** Refreshes gauges that are read on demand (queue depth, containers) before a scrape. */
  onScrape?: () => Promise<void>;
  /** Sub-apps mounted by later layers (the v1 API, the console). */
  routes?: Array<{ path: string; app: Hono<AppEnv> }>;
  /** Sub-apps mounted before the API key check and rate limit (the console's static assets). */
  publicRoutes?: Array<{ path: string; app: Hono<AppEnv> }>;
}

/** Sends an AriaError as the contract's JSON envelope with its HTTP status. */
export function errorResponse(error: AriaError): Response {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  const retryAfter = error.details.retryAfterSeconds;
  if (typeof retryAfter === "number") headers["retry-after"] = String(retryAfter);
  return new Response(JSON.stringify(error.toJSON()), { status: error.toHttpStatus(), headers });
}

/**
 * The public HTTP app (no port: tests call `app.request()`). `/health` is liveness with no
 * dependencies and no auth; `/ready` reports each dependency; `/metrics` is Prometheus text; every
 * error, unknown routes included, answers the JSON envelope and never a stack trace.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const start = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    deps.metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    deps.metrics.httpDuration.observe(
      { method: c.req.method, route },
      (performance.now() - start) / 1000,
    );
  });
  for (const route of deps.publicRoutes ?? []) app.route(route.path, route.app);
  // Probes (/health, /ready) and the API description stay open: a kubelet carries no key.
  app.use(apiKeyAuth(deps.apiKeys, ["/health", "/ready", "/openapi.json"]));
  app.use(
    rateLimit({
      store: deps.counters,
      limit: deps.rateLimitPerMinute,
      open: ["/health", "/ready"],
    }),
  );

  app.get("/health", (c) =>
    c.json({
      status: "ok",
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    }),
  );

  app.get("/ready", async (c) => {
    const { ready, dependencies } = await runChecks(deps.checks);
    for (const [name, state] of Object.entries(dependencies)) {
      deps.metrics.dependencyUp.set({ dependency: name }, state.status === "up" ? 1 : 0);
    }
    return c.json({ status: ready ? "ready" : "not_ready", dependencies }, ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    await deps
      .onScrape?.()
      .catch((error: unknown) => deps.logger.warn({ err: error }, "metrics refresh failed"));
    c.header("content-type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  let openapi: Record<string, unknown> | undefined;
  app.get("/openapi.json", (c) => {
    openapi ??= openApiDocument(deps.version);
    return c.json(openapi);
  });

  app.get("/v1/audit", async (c) => {
    const limit = Math.min(1000, Math.max(1, Number(c.req.query("limit") ?? 100) || 100));
    const action = c.req.query("action");
    const actor = c.req.query("actor");
    const entries = await deps.audit.list({
      limit,
      ...(action ? { action } : {}),
      ...(actor ? { actor } : {}),
    });
    return c.json({ entries });
  });

  for (const route of deps.routes ?? []) app.route(route.path, route.app);

  app.notFound((c) => {
    deps.metrics.errors.inc({ code: "NOT_FOUND" });
    return errorResponse(
      new AriaError("NOT_FOUND", {
        message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}`,
        context: { component: "http", operation: "route" },
      }),
    );
  });

  app.onError((error, c) => {
    const aria = toAriaError(error, "INTERNAL_ERROR", {
      component: "http",
      operation: `${c.req.method} ${new URL(c.req.url).pathname}`,
    });
    deps.metrics.errors.inc({ code: aria.code });
    if (aria.code === "INTERNAL_ERROR")
      deps.logger.error({ err: error, path: c.req.path }, "unhandled error");
    return errorResponse(aria);
  });

  return app;
}
