import type { Logger } from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import { Hono } from "hono";
import { type ReadinessCheck, runChecks } from "./readiness.ts";

export interface AppDeps {
  logger: Logger;
  checks: ReadinessCheck[];
  version: string;
  startedAt: number;
  /** Sub-apps mounted by later layers (v1 API, metrics, console). */
  routes?: Array<{ path: string; app: Hono }>;
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
 * dependencies; `/ready` reports each dependency; every error, unknown routes included, answers the
 * JSON envelope and never a stack trace.
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/health", (c) =>
    c.json({
      status: "ok",
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    }),
  );

  app.get("/ready", async (c) => {
    const { ready, dependencies } = await runChecks(deps.checks);
    return c.json({ status: ready ? "ready" : "not_ready", dependencies }, ready ? 200 : 503);
  });

  for (const route of deps.routes ?? []) app.route(route.path, route.app);

  app.notFound((c) =>
    errorResponse(
      new AriaError("NOT_FOUND", {
        message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}`,
        context: { component: "http", operation: "route" },
      }),
    ),
  );

  app.onError((error, c) => {
    const aria = toAriaError(error, "INTERNAL_ERROR", {
      component: "http",
      operation: `${c.req.method} ${new URL(c.req.url).pathname}`,
    });
    if (aria.code === "INTERNAL_ERROR")
      deps.logger.error({ err: error, path: c.req.path }, "unhandled error");
    return errorResponse(aria);
  });

  return app;
}
