import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import {
  ICC_CONTEXT_FIELDS,
  type IccAgentInfo,
  IccAgentRequestSchema,
  type IccAgentResponse,
  type IccContextField,
  type IccContextResponse,
  IccContextSetRequestSchema,
  IccLlmRequestSchema,
  type IccLlmResponse,
  type IccPermission,
  IccToolCallRequestSchema,
  type IccToolCallResponse,
  type IccToolInfo,
  type LlmUsage,
  type ToolExecutionContext,
} from "@aria/core-types";
import { AriaError, iccError, toAriaError } from "@aria/errors";
import { type Context, Hono } from "hono";
import { readJsonBody } from "./body.ts";
import { allowListAdmits, hasPermission } from "./permissions.ts";
import type { TokenBucketLimiter } from "./rate-limit.ts";
import type { RevocationList } from "./revocation.ts";
import type { IccTokenClaims, TokenSigner } from "./token.ts";
import type { IccAuditEntry, IccServerDeps } from "./types.ts";

/** Hono bindings: `incoming`/`outgoing` when served by @hono/node-server, absent in `app.request`. */
export type IccBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse };
type Ctx = Context<{ Bindings: IccBindings }>;

/** What the app needs from the server around it. */
export interface IccAppCore {
  deps: IccServerDeps;
  signer: TokenSigner;
  revocations: RevocationList;
  limiter: TokenBucketLimiter;
  maxBodyBytes: number;
  defaultToolTimeoutMs: number;
  maxToolTimeoutMs: number;
  agentTimeoutMs: number;
  llmTimeoutMs: number;
  /** In-flight calls per token id, aborted when the token is revoked. */
  inflight: Map<string, Set<AbortController>>;
  /** Aborted when the server closes. */
  closing: AbortSignal;
  /** The container a connection's listener belongs to (per-container sockets), if any. */
  boundContainer(socket: Socket | undefined): string | undefined;
  now(): number;
}

/** A tool or agent name in a path: `NAME` or `BUNDLE/NAME` (the slash sent as %2F). */
const NAME_PATTERN = /^(?:[A-Za-z][A-Za-z0-9_.-]{0,127}\/)?[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
const BEARER_PATTERN = /^Bearer ([A-Za-z0-9._-]{1,8192})$/i;
const IDEMPOTENCY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Context keys a container may not write: step outputs belong to the engine. */
const RESERVED_KEY = /^(steps\.|step_\d+_output)|^(__proto__|constructor|prototype)$/;

const AGENT_INPUT_SCHEMA = {
  type: "object",
  properties: {
    message: { type: "string", minLength: 1 },
    context: { type: "object" },
    maxTurns: { type: "integer", minimum: 1, maximum: 100 },
  },
  required: ["message"],
  additionalProperties: false,
} as const;

/** Dot segments (plain or percent-encoded) and empty segments in a raw request path. */
const UNSAFE_PATH = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)|\/\//i;

function sanitizeTarget(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 128 ? `${clean.slice(0, 128)}…` : clean;
}

function validationError(
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>,
): AriaError {
  return new AriaError("VALIDATION_FAILED", {
    message: `invalid request body: ${issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`)
      .join("; ")}`,
    details: {
      issues: issues.slice(0, 20).map((i) => ({ path: i.path.map(String), message: i.message })),
    },
  });
}

function parseBody<T>(
  schema: {
    safeParse(value: unknown):
      | { success: true; data: T }
      | {
          success: false;
          error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> };
        };
  },
  value: unknown,
): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error.issues);
  return parsed.data;
}

function pickUsage(usage: Partial<LlmUsage> | undefined): Partial<LlmUsage> {
  const out: Partial<LlmUsage> = {};
  if (usage === undefined) return out;
  for (const key of [
    "inputTokens",
    "outputTokens",
    "cachedInputTokens",
    "cacheWriteTokens",
    "totalTokens",
  ] as const) {
    const value = usage[key];
    if (typeof value === "number" && Number.isInteger(value) && value >= 0) out[key] = value;
  }
  return out;
}

function unavailable(what: string): AriaError {
  return new AriaError("INTERNAL_ERROR", {
    message: `this runtime serves no ${what} over ICC`,
    httpStatus: 503,
    retryable: false,
  });
}

/** A call in progress: its token, abort signal and audit fields. */
interface Call {
  claims: IccTokenClaims;
  signal: AbortSignal;
  target: string | undefined;
  details: Record<string, unknown>;
}

/**
 * The ICC hono app (contracts §4). Every route but `/health` authenticates the bearer token,
 * applies the token's rate limit, checks the route's permission, validates the body with the
 * core-types schema and audits the call; the run id always comes from the token.
 */
export function createIccApp(core: IccAppCore): Hono<{ Bindings: IccBindings }> {
  const { deps } = core;
  const app = new Hono<{ Bindings: IccBindings }>();

  const audit = (entry: IccAuditEntry) => {
    if (!deps.audit) return;
    try {
      const result = deps.audit(entry);
      if (result && typeof (result as Promise<void>).then === "function")
        (result as Promise<void>).catch((error) =>
          deps.logger?.warn({ err: error }, "ICC audit write failed"),
        );
    } catch (error) {
      deps.logger?.warn({ err: error }, "ICC audit write failed");
    }
  };

  const errorResponse = (c: Ctx, error: AriaError) => {
    if (error.code === "PAYLOAD_TOO_LARGE") c.header("Connection", "close");
    if (error.code === "RATE_LIMITED") {
      const ms = Number(error.details.retryAfterMs ?? 1000);
      c.header("Retry-After", String(Math.max(1, Math.ceil(ms / 1000))));
    }
    if (error.code === "ICC_UNAUTHORIZED") c.header("WWW-Authenticate", 'Bearer realm="aria-icc"');
    return c.json(error.toJSON(), error.httpStatus as 400);
  };

  /** Verifies the bearer token of a request; throws ICC_UNAUTHORIZED. */
  const authenticate = async (c: Ctx): Promise<IccTokenClaims> => {
    const incoming = c.env?.incoming;
    let header: string | undefined;
    if (incoming) {
      // Node keeps only the first of duplicate Authorization headers; refuse the ambiguity instead.
      const raw = incoming.rawHeaders;
      let seen = 0;
      for (let i = 0; i < raw.length; i += 2)
        if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === "authorization") seen += 1;
      if (seen > 1)
        throw iccError.unauthorized("several Authorization headers", {
          details: { reason: "duplicate_header" },
        });
      header = incoming.headers.authorization;
    } else {
      header = c.req.header("authorization");
    }
    if (header === undefined || header === "")
      throw iccError.unauthorized("no bearer token", { details: { reason: "missing" } });
    const match = BEARER_PATTERN.exec(header);
    if (match === null)
      throw iccError.unauthorized("the Authorization header is not 'Bearer TOKEN'", {
        details: { reason: "malformed" },
      });
    const claims = core.signer.verify(match[1]!);
    const revoked = core.revocations.isRevoked(claims.jti);
    if (revoked === true || (revoked !== false && (await revoked)))
      throw iccError.unauthorized("token revoked", { details: { reason: "revoked" } });
    const bound = core.boundContainer(incoming?.socket);
    if (bound !== undefined && bound !== claims.containerId)
      throw iccError.unauthorized("the token belongs to another container's socket", {
        details: { reason: "wrong_socket" },
      });
    return claims;
  };

  /**
   * Wraps a route: authentication, rate limit, permission, the handler, error envelope, audit, and
   * an abort signal that fires on disconnect, revocation or shutdown.
   */
  const route =
    (
      action: string,
      permission: IccPermission,
      handler: (c: Ctx, call: Call) => Promise<Response>,
    ) =>
    async (c: Ctx): Promise<Response> => {
      const started = performance.now();
      let claims: IccTokenClaims | undefined;
      let limited = false;
      let controller: AbortController | undefined;
      const call: Call = {
        claims: undefined as unknown as IccTokenClaims,
        signal: undefined as unknown as AbortSignal,
        target: undefined,
        details: {},
      };
      let response: Response;
      let error: AriaError | undefined;
      try {
        // URL parsing resolves dot segments (`/tools/../context` would reach `/context`): refuse them.
        const rawUrl = c.env?.incoming?.url;
        if (rawUrl !== undefined) {
          const query = rawUrl.indexOf("?");
          if (UNSAFE_PATH.test(query === -1 ? rawUrl : rawUrl.slice(0, query)))
            throw new AriaError("VALIDATION_FAILED", {
              message: "the request path has dot or empty segments",
              details: { field: "path" },
            });
        }
        claims = await authenticate(c);
        call.claims = claims;
        const decision = core.limiter.take(claims.jti);
        if (!decision.ok)
          throw new AriaError("RATE_LIMITED", {
            message:
              decision.reason === "rate"
                ? "this container's ICC token is over its request rate"
                : "this container's ICC token has too many requests in flight",
            details: { retryAfterMs: decision.retryAfterMs, limit: decision.reason },
          });
        limited = true;
        if (!hasPermission(claims, permission))
          throw iccError.forbidden(`the token lacks the '${permission}' permission`, {
            details: { permission },
          });
        controller = new AbortController();
        call.signal = controller.signal;
        let set = core.inflight.get(claims.jti);
        if (set === undefined) {
          set = new Set();
          core.inflight.set(claims.jti, set);
        }
        set.add(controller);
        const outgoing = c.env?.outgoing;
        if (outgoing) {
          const onClose = () => {
            if (!outgoing.writableFinished) controller?.abort(new Error("caller disconnected"));
          };
          outgoing.once("close", onClose);
        } else if (c.req.raw.signal) {
          c.req.raw.signal.addEventListener(
            "abort",
            () => controller?.abort(c.req.raw.signal.reason),
            {
              once: true,
            },
          );
        }
        if (core.closing.aborted) controller.abort(core.closing.reason);
        response = await handler(c, call);
      } catch (caught) {
        // A call cut short by revocation or shutdown answers with that reason, whatever the
        // collaborator made of the abort.
        const reason = controller?.signal.reason;
        error = controller?.signal.aborted && AriaError.is(reason) ? reason : toAriaError(caught);
        response = errorResponse(c, error);
      } finally {
        if (claims !== undefined) {
          if (limited) core.limiter.done(claims.jti);
          if (controller !== undefined) {
            const set = core.inflight.get(claims.jti);
            set?.delete(controller);
            if (set !== undefined && set.size === 0) core.inflight.delete(claims.jti);
          }
        }
      }
      const status = response.status;
      const failed = error !== undefined || status >= 400 || call.details.success === false;
      audit({
        actor: claims ? `container:${claims.containerId}` : "unknown",
        action,
        ...(call.target !== undefined ? { target: call.target } : {}),
        outcome: failed ? "failure" : "success",
        durationMs: performance.now() - started,
        details: {
          status,
          ...(error ? { code: error.code } : {}),
          ...(error?.details.reason ? { reason: error.details.reason } : {}),
          ...(claims
            ? {
                runId: claims.runId,
                stepId: claims.stepId,
                containerId: claims.containerId,
                tokenId: claims.jti,
                ...(claims.sessionId ? { sessionId: claims.sessionId } : {}),
              }
            : {}),
          ...call.details,
        },
      });
      return response;
    };

  const nameParam = (c: Ctx, call: Call, kind: "tool" | "agent"): string => {
    const name = c.req.param("name") ?? "";
    call.target = sanitizeTarget(name);
    if (!NAME_PATTERN.test(name))
      throw new AriaError("VALIDATION_FAILED", {
        message: `'${sanitizeTarget(name)}' is not a valid ${kind} name (NAME or BUNDLE%2FNAME)`,
        details: { field: "name" },
      });
    return name;
  };

  /** A signal that also fires after `ms`; `clear` stops its timer. */
  const withTimeout = (signal: AbortSignal, ms: number) => {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error("timeout")), ms);
    return {
      signal: controller.signal,
      timedOut: () => controller.signal.aborted && !signal.aborted,
      clear: () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      },
    };
  };

  const remainingMs = (claims: IccTokenClaims) => Math.max(1, claims.expiresAt - core.now());

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.post(
    "/tools/:name",
    route("icc.tools.call", "tools", async (c, call) => {
      const registry = deps.tools;
      if (!registry) throw unavailable("tools");
      const name = nameParam(c, call, "tool");
      const { claims } = call;
      const body = parseBody(
        IccToolCallRequestSchema,
        await readJsonBody(c.req.raw, c.env?.incoming, core.maxBodyBytes),
      );
      let tool: ReturnType<typeof registry.resolve>;
      try {
        tool = registry.resolve(name);
      } catch (error) {
        // With an allow-list, an unknown name is refused like a forbidden one: no probing.
        if (claims.tools !== undefined && !allowListAdmits(claims.tools, name, undefined))
          throw iccError.forbidden(`tool '${name}' is not in this token's allow-list`);
        throw error;
      }
      call.target = tool.id;
      if (!allowListAdmits(claims.tools, tool.id, tool.bundle?.name))
        throw iccError.forbidden(`tool '${tool.id}' is not in this token's allow-list`, {
          details: { tool: tool.id },
        });
      // A container cannot wait (durably) for a person: tools that need approval are refused here;
      // run them as steps, where the run pauses for the approval.
      const approval = deps.approvalReason
        ? deps.approvalReason(tool.id)
        : tool.needsApproval === true
          ? "tool"
          : undefined;
      if (approval !== undefined)
        throw new AriaError("APPROVAL_REQUIRED", {
          message: `tool '${tool.id}' needs a person's approval (${approval}), which a call from a container cannot wait for; run it as a step of the run instead`,
          details: { tool: tool.id, reason: approval },
        });
      // (incoming.headers avoids building a fetch Headers object on the hot path)
      const incoming = c.env?.incoming;
      const rawKey = incoming
        ? incoming.headers["idempotency-key"]
        : c.req.header("idempotency-key");
      const idempotency = Array.isArray(rawKey) ? rawKey.join(",") : rawKey;
      if (idempotency !== undefined && !IDEMPOTENCY_PATTERN.test(idempotency))
        throw new AriaError("VALIDATION_FAILED", {
          message: "Idempotency-Key must match [A-Za-z0-9._:-]{1,128}",
          details: { field: "Idempotency-Key" },
        });
      const timeoutMs = Math.min(
        body.timeoutMs ?? core.defaultToolTimeoutMs,
        core.maxToolTimeoutMs,
        remainingMs(claims),
      );
      const timed = withTimeout(call.signal, timeoutMs);
      const context: ToolExecutionContext = {
        runId: claims.runId,
        stepId: claims.stepId,
        attempt: 1,
        idempotencyKey: `${claims.runId}:${claims.stepId}:icc:${idempotency ?? randomUUID()}`,
        signal: timed.signal,
        ...(claims.sessionId ? { sessionId: claims.sessionId } : {}),
      };
      const t0 = performance.now();
      let answer: IccToolCallResponse;
      try {
        const result = await registry.execute(tool.id, body.parameters, context);
        answer = {
          success: true,
          result: result === undefined ? null : result,
          executionTimeMs: performance.now() - t0,
        };
      } catch (caught) {
        let error = toAriaError(caught, "TOOL_EXECUTION_FAILED", { tool: tool.id });
        if (timed.timedOut() && error.code !== "TOOL_TIMEOUT")
          error = new AriaError("TOOL_TIMEOUT", {
            message: `tool '${tool.id}' did not finish within ${timeoutMs} ms`,
            context: { tool: tool.id, runId: claims.runId, stepId: claims.stepId },
            details: { timeoutMs },
          });
        // Refusals about the call itself answer with their status; failures of the tool are results.
        if (
          error.code === "TOOL_NOT_FOUND" ||
          error.code === "TOOL_AMBIGUOUS" ||
          error.code === "TOOL_FORBIDDEN" ||
          error.code.startsWith("ICC_") ||
          call.signal.aborted
        )
          throw error;
        call.details.code = error.code;
        answer = {
          success: false,
          result: null,
          error: error.toBody() as unknown as Record<string, unknown>,
          executionTimeMs: performance.now() - t0,
        };
      } finally {
        timed.clear();
      }
      call.details.success = answer.success;
      return c.json(answer);
    }),
  );

  app.get(
    "/tools",
    route("icc.tools.list", "tools", async (c, call) => {
      const registry = deps.tools;
      if (!registry) throw unavailable("tools");
      const tools: IccToolInfo[] = [];
      for (const tool of registry.list()) {
        if (!allowListAdmits(call.claims.tools, tool.id, tool.bundle?.name)) continue;
        tools.push({
          id: tool.id,
          name: tool.name,
          description: tool.description,
          inputSchema: tool.inputSchema,
          ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
          execution: tool.execution,
          ...(tool.bundle ? { bundle: tool.bundle.name } : {}),
        });
      }
      call.details.count = tools.length;
      return c.json({ tools });
    }),
  );

  app.post(
    "/agents/:name",
    route("icc.agents.invoke", "agents", async (c, call) => {
      const invoker = deps.agents;
      if (!invoker) throw unavailable("agents");
      const name = nameParam(c, call, "agent");
      const { claims } = call;
      const body = parseBody(
        IccAgentRequestSchema,
        await readJsonBody(c.req.raw, c.env?.incoming, core.maxBodyBytes),
      );
      if (claims.agents !== undefined) {
        let id = name;
        let bundle: string | undefined;
        if (deps.agentRegistry) {
          try {
            const agent = deps.agentRegistry.getAgent(name);
            id = agent.id;
            bundle = agent.bundle;
          } catch {
            // unknown agents are refused below like forbidden ones (no probing)
          }
        }
        if (
          !allowListAdmits(claims.agents, id, bundle) &&
          !allowListAdmits(claims.agents, name, bundle)
        )
          throw iccError.forbidden(`agent '${name}' is not in this token's allow-list`);
      }
      const timed = withTimeout(call.signal, Math.min(core.agentTimeoutMs, remainingMs(claims)));
      try {
        const result = await invoker.invoke(name, {
          message: body.message,
          ...(body.context !== undefined ? { context: body.context } : {}),
          ...(body.maxTurns !== undefined ? { maxTurns: body.maxTurns } : {}),
          parentRunId: claims.runId,
          stepId: claims.stepId,
          ...(claims.sessionId ? { sessionId: claims.sessionId } : {}),
          signal: timed.signal,
        });
        const answer: IccAgentResponse = {
          success: result.success === true,
          response: typeof result.response === "string" ? result.response : "",
          turns: Number.isInteger(result.turns) && result.turns >= 0 ? result.turns : 0,
          usage: pickUsage(result.usage),
        };
        call.details.success = answer.success;
        call.details.turns = answer.turns;
        return c.json(answer);
      } catch (caught) {
        if (timed.timedOut())
          throw new AriaError("RUN_TIMEOUT", {
            message: `agent '${name}' did not finish in time`,
            cause: caught,
          });
        throw caught;
      } finally {
        timed.clear();
      }
    }),
  );

  app.get(
    "/agents",
    route("icc.agents.list", "agents", async (c, call) => {
      const registry = deps.agentRegistry;
      if (!registry) throw unavailable("agents");
      const agents: IccAgentInfo[] = [];
      for (const agent of registry.listAgents()) {
        const bundle = (agent as { bundle?: string }).bundle;
        if (
          !allowListAdmits(call.claims.agents, agent.id, bundle) &&
          !allowListAdmits(call.claims.agents, agent.name, bundle)
        )
          continue;
        agents.push({
          id: agent.id,
          name: agent.name,
          description: agent.description,
          tools: [...(agent.tools ?? [])],
          ...(agent.maxSteps !== undefined ? { maxSteps: agent.maxSteps } : {}),
          inputSchema: AGENT_INPUT_SCHEMA,
        });
      }
      call.details.count = agents.length;
      return c.json({ agents });
    }),
  );

  app.post(
    "/llm/complete",
    route("icc.llm.complete", "llm", async (c, call) => {
      const llm = deps.llm;
      if (!llm)
        throw new AriaError("LLM_NOT_CONFIGURED", { message: "this runtime has no LLM for ICC" });
      const { claims } = call;
      const body = parseBody(
        IccLlmRequestSchema,
        await readJsonBody(c.req.raw, c.env?.incoming, core.maxBodyBytes),
      );
      call.target = body.model;
      const timed = withTimeout(call.signal, Math.min(core.llmTimeoutMs, remainingMs(claims)));
      try {
        const response = await llm.complete(
          {
            ...body,
            runId: claims.runId,
            ...(claims.sessionId ? { sessionId: claims.sessionId } : {}),
          },
          { signal: timed.signal },
        );
        const answer: IccLlmResponse = {
          content: response.content,
          ...(response.toolCalls.length > 0 ? { toolCalls: response.toolCalls } : {}),
          usage: response.usage,
          model: response.model,
          provider: response.provider,
        };
        call.details.usage = response.usage;
        call.details.provider = response.provider;
        call.details.model = response.model;
        return c.json(answer);
      } finally {
        timed.clear();
      }
    }),
  );

  app.get(
    "/context",
    route("icc.context.get", "context", async (c, call) => {
      const access = deps.context;
      if (!access) throw unavailable("context");
      const { claims } = call;
      const includeParam = c.req.query("include");
      let include: IccContextField[] | undefined;
      if (includeParam !== undefined && includeParam !== "") {
        include = [];
        for (const part of includeParam.split(",")) {
          const field = part.trim();
          if (!(ICC_CONTEXT_FIELDS as readonly string[]).includes(field))
            throw new AriaError("VALIDATION_FAILED", {
              message: `include: unknown field '${sanitizeTarget(field)}' (one of ${ICC_CONTEXT_FIELDS.join(", ")})`,
              details: { field: "include" },
            });
          include.push(field as IccContextField);
        }
      }
      call.target = include?.join(",");
      const view = await access.get(claims.runId, include);
      if (view === undefined)
        throw new AriaError("RUN_NOT_FOUND", {
          message: "the token's run is not running here",
          context: { runId: claims.runId },
        });
      const wants = (field: IccContextField) => include === undefined || include.includes(field);
      const sessionId = claims.sessionId ?? view.sessionId;
      const answer: IccContextResponse = {
        runId: claims.runId,
        ...(wants("sessionId") && sessionId !== undefined ? { sessionId } : {}),
        ...(wants("stepId") ? { stepId: claims.stepId } : {}),
        ...(wants("task") && view.task !== undefined ? { task: view.task } : {}),
        ...(wants("workingMemory") && view.workingMemory !== undefined
          ? { workingMemory: view.workingMemory }
          : {}),
        ...(wants("history") && view.history !== undefined ? { history: view.history } : {}),
      };
      return c.json(answer);
    }),
  );

  app.post(
    "/context",
    route("icc.context.set", "context", async (c, call) => {
      const access = deps.context;
      if (!access) throw unavailable("context");
      const { claims } = call;
      if (claims.contextAccess === "read")
        throw iccError.forbidden("the token may only read the run's context", {
          details: { permission: "context:write" },
        });
      const body = parseBody(
        IccContextSetRequestSchema,
        await readJsonBody(c.req.raw, c.env?.incoming, core.maxBodyBytes),
      );
      call.target = sanitizeTarget(body.key);
      if (RESERVED_KEY.test(body.key))
        throw iccError.forbidden(`context key '${sanitizeTarget(body.key)}' is reserved`, {
          details: { key: sanitizeTarget(body.key) },
        });
      await access.set(claims.runId, body.key, body.value);
      return c.json({ ok: true as const, key: body.key });
    }),
  );

  app.notFound((c) => {
    const rawUrl = c.env?.incoming?.url ?? "";
    const query = rawUrl.indexOf("?");
    const error = UNSAFE_PATH.test(query === -1 ? rawUrl : rawUrl.slice(0, query))
      ? new AriaError("VALIDATION_FAILED", {
          message: "the request path has dot or empty segments",
          details: { field: "path" },
        })
      : new AriaError("NOT_FOUND", {
          message: `no ICC route ${c.req.method} ${sanitizeTarget(c.req.path)}`,
        });
    audit({
      actor: "unknown",
      action: "icc.unknown",
      target: sanitizeTarget(c.req.path),
      outcome: "failure",
      durationMs: 0,
      details: { status: error.httpStatus, code: error.code, method: c.req.method },
    });
    return errorResponse(c, error);
  });

  app.onError((caught, c) => errorResponse(c, toAriaError(caught)));

  return app;
}
