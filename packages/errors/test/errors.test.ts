import { ErrorEnvelopeSchema } from "@aria/core-types";
import {
  AriaError,
  bubble,
  bundleError,
  containerError,
  ERROR_CATALOG,
  ERROR_CODES,
  iccError,
  isRetryable,
  llmError,
  REDACTED,
  toAriaError,
} from "@aria/errors";
import { describe, expect, it } from "vitest";

const CONTRACT_CODES = [
  "VALIDATION_FAILED",
  "CONFIG_INVALID",
  "TOOL_NOT_FOUND",
  "TOOL_EXECUTION_FAILED",
  "TOOL_TIMEOUT",
  "AGENT_NOT_FOUND",
  "PLACEHOLDER_UNRESOLVED",
  "PLAN_INVALID",
  "MAX_STEPS_EXCEEDED",
  "BUNDLE_INVALID",
  "BUNDLE_INTEGRITY",
  "BUNDLE_DEPENDENCY",
  "CONTAINER_RUNTIME_UNAVAILABLE",
  "CONTAINER_START_FAILED",
  "CONTAINER_TIMEOUT",
  "CONTAINER_OOM",
  "LLM_NOT_CONFIGURED",
  "LLM_RATE_LIMITED",
  "LLM_UNAVAILABLE",
  "LLM_INVALID_RESPONSE",
  "ICC_UNAUTHORIZED",
  "ICC_FORBIDDEN",
  "RATE_LIMITED",
  "RUN_NOT_FOUND",
  "RUN_CANCELLED",
  "STORE_UNAVAILABLE",
];

describe("the error catalogue", () => {
  it("contains every code the contracts name", () => {
    for (const code of CONTRACT_CODES) expect(ERROR_CODES).toContain(code);
  });

  it.each(ERROR_CODES)(
    "%s has guidance, recovery actions, a severity and an HTTP status",
    (code) => {
      const entry = ERROR_CATALOG[code];
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(entry.guidance.length).toBeGreaterThan(20);
      expect(entry.recoveryActions.length).toBeGreaterThan(0);
      for (const action of entry.recoveryActions) expect(action.length).toBeGreaterThan(3);
      expect(["low", "medium", "high", "critical"]).toContain(entry.severity);
      expect(entry.httpStatus).toBeGreaterThanOrEqual(400);
      expect(entry.httpStatus).toBeLessThan(600);
      const error = new AriaError(code);
      expect(error.userGuidance).toBe(entry.guidance);
      expect(error.recoveryActions).toEqual(entry.recoveryActions);
      expect(error.toHttpStatus()).toBe(entry.httpStatus);
      expect(ErrorEnvelopeSchema.safeParse(error.toJSON()).success).toBe(true);
    },
  );
});

describe("AriaError", () => {
  it("carries the contract's fields and a cause", () => {
    const cause = new Error("socket hang up");
    const error = new AriaError("TOOL_EXECUTION_FAILED", {
      message: "wordCount failed",
      context: { component: "engines", runId: "r1", stepId: "s1", tool: "wordCount" },
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      code: "TOOL_EXECUTION_FAILED",
      category: "tool",
      severity: "medium",
      retryable: true,
      message: "wordCount failed",
    });
    expect(error.context.tool).toBe("wordCount");
    expect(error.cause).toBe(cause);
  });

  it("maps codes to HTTP statuses", () => {
    expect(new AriaError("VALIDATION_FAILED").toHttpStatus()).toBe(400);
    expect(new AriaError("ICC_UNAUTHORIZED").toHttpStatus()).toBe(401);
    expect(new AriaError("ICC_FORBIDDEN").toHttpStatus()).toBe(403);
    expect(new AriaError("RUN_NOT_FOUND").toHttpStatus()).toBe(404);
    expect(new AriaError("BUNDLE_DEPENDENCY").toHttpStatus()).toBe(409);
    expect(new AriaError("PAYLOAD_TOO_LARGE").toHttpStatus()).toBe(413);
    expect(new AriaError("RATE_LIMITED").toHttpStatus()).toBe(429);
    expect(new AriaError("STORE_UNAVAILABLE").toHttpStatus()).toBe(503);
  });

  it("is recognised across package copies by its marker", () => {
    const foreign = Object.assign(new Error("x"), {
      [Symbol.for("aria.error")]: true,
      code: "TOOL_TIMEOUT",
    });
    expect(AriaError.is(foreign)).toBe(true);
    expect(AriaError.is(new Error("x"))).toBe(false);
    expect(AriaError.hasCode(new AriaError("TOOL_TIMEOUT"), "TOOL_TIMEOUT")).toBe(true);
  });

  it("round-trips through its serialised body", () => {
    const original = new AriaError("PLACEHOLDER_UNRESOLVED", {
      message: "no step 3",
      details: { placeholder: "{{step_3_output}}" },
    });
    const copy = AriaError.fromBody(original.toBody());
    expect(copy.code).toBe("PLACEHOLDER_UNRESOLVED");
    expect(copy.message).toBe("no step 3");
    expect(copy.details.placeholder).toBe("{{step_3_output}}");
  });
});

describe("toJSON redaction", () => {
  it("never includes a stack and scrubs secrets from message, details, context and causes", () => {
    const cause = new Error("upstream said: invalid key sk-abcdefghijklmnop1234");
    const error = new AriaError("LLM_REQUEST_REJECTED", {
      message: "request with Authorization: Bearer abcdefghijklmnopqrstuvwxyz failed",
      details: {
        apiKey: "sk-live-1234567890abcdef",
        nested: { password: "hunter22", note: "key sk-ant-abcdefghijkl99" },
        ok: 1,
      },
      context: { component: "llm", token: "icc_0123456789abcdef0123" },
      cause,
    });
    const json = error.toJSON();
    const text = JSON.stringify(json);
    expect(text).not.toContain("stack");
    expect(text).not.toContain("sk-abcdefghijklmnop1234");
    expect(text).not.toContain("sk-live-1234567890abcdef");
    expect(text).not.toContain("hunter22");
    expect(text).not.toContain("sk-ant-abcdefghijkl99");
    expect(text).not.toContain("abcdefghijklmnopqrstuvwxyz");
    expect(text).not.toContain("icc_0123456789abcdef0123");
    expect(json.error.details.apiKey).toBe(REDACTED);
    expect(json.error.details.ok).toBe(1);
    expect(json.error.details.causes).toEqual([
      { name: "Error", message: `upstream said: invalid key ${REDACTED}` },
    ]);
    expect(json.error.context.token).toBe(REDACTED);
  });

  it("bounds huge and circular-ish details", () => {
    const deep: Record<string, unknown> = {};
    let node = deep;
    for (let i = 0; i < 20; i++) {
      node.next = {};
      node = node.next as Record<string, unknown>;
    }
    const error = new AriaError("VALIDATION_FAILED", {
      details: { deep, long: "x".repeat(10_000) },
    });
    const body = error.toBody();
    expect(JSON.stringify(body).length).toBeLessThan(6000);
  });
});

describe("wrapping and bubbling", () => {
  it("wraps unknown values with a fallback code and keeps the cause", () => {
    const raw = new TypeError("boom");
    const wrapped = toAriaError(raw, "TOOL_EXECUTION_FAILED", { tool: "t" });
    expect(wrapped.code).toBe("TOOL_EXECUTION_FAILED");
    expect(wrapped.cause).toBe(raw);
    expect(wrapped.context.tool).toBe("t");
    expect(toAriaError("a string").code).toBe("INTERNAL_ERROR");
  });

  it("turns an AbortError into RUN_CANCELLED", () => {
    const abort = new DOMException("aborted", "AbortError");
    expect(toAriaError(abort).code).toBe("RUN_CANCELLED");
  });

  it("passes AriaErrors through and adds context without overwriting inner fields", () => {
    const inner = new AriaError("TOOL_TIMEOUT", { context: { stepId: "inner" } });
    expect(() => bubble(inner, { stepId: "outer", runId: "r9" })).toThrow(AriaError);
    try {
      bubble(inner, { stepId: "outer", runId: "r9" });
    } catch (error) {
      expect(AriaError.is(error) && error.context).toEqual({ stepId: "inner", runId: "r9" });
      expect(AriaError.is(error) && error.code).toBe("TOOL_TIMEOUT");
    }
  });

  it("derives retryable from codes and HTTP statuses", () => {
    expect(isRetryable(new AriaError("LLM_UNAVAILABLE"))).toBe(true);
    expect(isRetryable(new AriaError("VALIDATION_FAILED"))).toBe(false);
    expect(isRetryable({ status: 503 })).toBe(true);
    expect(isRetryable({ status: 429 })).toBe(true);
    expect(isRetryable({ status: 400 })).toBe(false);
    expect(isRetryable(new Error("x"))).toBe(false);
  });
});

describe("error families", () => {
  it("builds container errors", () => {
    expect(containerError.unavailable("connect ENOENT /var/run/docker.sock").code).toBe(
      "CONTAINER_RUNTIME_UNAVAILABLE",
    );
    expect(containerError.startFailed("img", "no such image").code).toBe("CONTAINER_START_FAILED");
    expect(containerError.timeout(500).message).toContain("500 ms");
    expect(containerError.oom(128).code).toBe("CONTAINER_OOM");
    const exec = containerError.execFailed(2, "bad\n".repeat(1000));
    expect(exec.details.exitCode).toBe(2);
    expect(String(exec.details.stderr).length).toBeLessThanOrEqual(2000);
  });
  it("maps provider statuses to LLM codes", () => {
    expect(llmError.providerStatus("openai", 429, "slow down").code).toBe("LLM_RATE_LIMITED");
    expect(llmError.providerStatus("openai", 503, "down").code).toBe("LLM_UNAVAILABLE");
    expect(llmError.providerStatus("anthropic", 400, "bad").code).toBe("LLM_REQUEST_REJECTED");
    expect(llmError.providerStatus("anthropic", 400, "bad").retryable).toBe(false);
    expect(llmError.invalidResponse("local", "not JSON").code).toBe("LLM_INVALID_RESPONSE");
    expect(llmError.notConfigured("none").code).toBe("LLM_NOT_CONFIGURED");
  });
  it("builds bundle and ICC errors", () => {
    expect(bundleError.unsafe("../etc/passwd").code).toBe("BUNDLE_UNSAFE");
    expect(bundleError.integrity("hash").code).toBe("BUNDLE_INTEGRITY");
    expect(bundleError.dependency("cycle").code).toBe("BUNDLE_DEPENDENCY");
    expect(bundleError.invalid("x").code).toBe("BUNDLE_INVALID");
    expect(iccError.unauthorized("expired").toHttpStatus()).toBe(401);
    expect(iccError.forbidden("llm").toHttpStatus()).toBe(403);
  });
});

describe("docs/troubleshooting.md", () => {
  it("has one entry per error code (regenerate with pnpm docs:errors)", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const page = fs.readFileSync(
      path.resolve(import.meta.dirname, "../../../docs/troubleshooting.md"),
      "utf8",
    );
    for (const code of ERROR_CODES) {
      expect(page).toContain(`## ${code}\n\n${ERROR_CATALOG[code].guidance}`);
    }
  });
});

describe("redaction keeps counters", () => {
  it("redacts secret keys but not token counts", async () => {
    const { redact } = await import("@aria/errors");
    expect(
      redact({
        inputTokens: 5,
        maxTokens: 10,
        totalTokens: 15,
        token: "abc",
        accessToken: "x",
        ICC_TOKEN: "y",
        api_key: "z",
        OPENAI_API_KEY: "k",
        clientSecret: "s",
      }),
    ).toEqual({
      inputTokens: 5,
      maxTokens: 10,
      totalTokens: 15,
      token: REDACTED,
      accessToken: REDACTED,
      ICC_TOKEN: REDACTED,
      api_key: REDACTED,
      OPENAI_API_KEY: REDACTED,
      clientSecret: REDACTED,
    });
  });
});
