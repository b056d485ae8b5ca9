import type { ToolExecutionContext } from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import type { Registries } from "@aria/registry";
import type { AuditLog } from "../audit.ts";

/** What a direct tool invocation reads. */
export interface ToolInvokeDeps {
  registries: Registries;
  audit: AuditLog;
  dataDir: string;
  /** Says whether a tool needs a person's approval (its `needsApproval` or a policy rule). */
  runs?: { approvalReasonForTool(toolId: string): string | undefined };
}

/** One direct invocation of a tool (outside a run). */
export interface ToolInvokeRequest {
  /** The tool's name or id; an unknown one throws the registry's error before anything runs. */
  name: string;
  input: unknown;
  /** Who invokes it (the audit entry's actor). */
  actor: string;
  /** Aborted when the caller goes away: the tool's signal is aborted with its reason. */
  signal: AbortSignal;
  /** Overrides the tool's own `resources.timeoutMs` (default 60 s). */
  timeoutMs?: number;
  /** The invocation id's prefix (`PREFIX_UUID`, also its run id and workspace folder). */
  idPrefix: string;
  /** The audit entry's details, given the failure as an AriaError when the tool failed. */
  auditDetails?: (failure?: AriaError) => Record<string, unknown>;
}

/** How an invocation ended: the tool's output, or what it threw (with its AriaError view). */
export type ToolInvokeResult =
  | { ok: true; toolId: string; output: unknown; durationMs: number }
  | { ok: false; toolId: string; error: unknown; failure: AriaError; durationMs: number };

/**
 * Invokes a tool through the tool registry (policy, validation, guardrails) with a timeout and the
 * caller's cancellation, and records a `tool.invoke` audit entry. Shared by
 * `POST /v1/tools/:name/invoke` and the MCP server's in-process backend.
 */
export async function invokeRegisteredTool(
  deps: ToolInvokeDeps,
  request: ToolInvokeRequest,
): Promise<ToolInvokeResult> {
  const started = performance.now();
  const tool = deps.registries.tools.resolve(request.name);
  // A direct call cannot wait for a person: tools that need approval run as steps of a run.
  const reason = deps.runs?.approvalReasonForTool(tool.id);
  if (reason !== undefined)
    throw new AriaError("APPROVAL_REQUIRED", {
      message: `Tool '${tool.id}' needs a person's approval (${reason}); a direct call cannot wait for one. Run it as a step of a pipeline or plan, where the run pauses for the approval`,
      details: { tool: tool.id, reason },
    });
  const controller = new AbortController();
  const timeoutMs = request.timeoutMs ?? tool.resources?.timeoutMs ?? 60_000;
  const timer = setTimeout(
    () =>
      controller.abort(
        new AriaError("TOOL_TIMEOUT", {
          message: `Tool '${tool.id}' did not finish within ${timeoutMs} ms`,
        }),
      ),
    timeoutMs,
  );
  const onAbort = () => controller.abort(request.signal.reason);
  request.signal.addEventListener("abort", onAbort, { once: true });
  const invocationId = `${request.idPrefix}_${crypto.randomUUID()}`;
  const context: ToolExecutionContext = {
    runId: invocationId,
    stepId: "invoke",
    attempt: 1,
    idempotencyKey: `${invocationId}:invoke`,
    signal: controller.signal,
    workspaceDir: `${deps.dataDir}/workspaces/${invocationId}`,
  };
  const audit = async (outcome: "success" | "failure", durationMs: number, failure?: AriaError) => {
    const details = request.auditDetails?.(failure);
    await deps.audit.record({
      actor: request.actor,
      action: "tool.invoke",
      target: tool.id,
      outcome,
      durationMs,
      ...(details !== undefined ? { details } : {}),
    });
  };
  try {
    const output = await deps.registries.tools.execute(tool.id, request.input, context);
    const durationMs = performance.now() - started;
    await audit("success", durationMs);
    return { ok: true, toolId: tool.id, output, durationMs };
  } catch (error) {
    const durationMs = performance.now() - started;
    const failure = toAriaError(error, "TOOL_EXECUTION_FAILED", { tool: tool.id });
    await audit("failure", durationMs, failure);
    return { ok: false, toolId: tool.id, error, failure, durationMs };
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener("abort", onAbort);
  }
}
