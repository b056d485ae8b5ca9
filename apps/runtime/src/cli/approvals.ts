import { parseArgs } from "node:util";
import { UsageError } from "./args.ts";
import type { ApiClient } from "./client.ts";

type Out = { write(s: string): unknown };

interface ApprovalView {
  runId: string;
  stepId: string;
  kind: string;
  target: string;
  params: Record<string, unknown>;
  reason: string | null;
  requestedAt: string;
  expiresAt: string | null;
  onTimeout: string;
}

/** `aria approvals`: the pending approvals (an inbox in the terminal). */
export async function approvalsCommand(
  argv: string[],
  out: Out,
  withClient: <T>(server: string | undefined, fn: (client: ApiClient) => Promise<T>) => Promise<T>,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: "boolean", default: false }, server: { type: "string" } },
  });
  return withClient(values.server, async (client) => {
    const { approvals } = await client.request<{ approvals: ApprovalView[] }>(
      "GET",
      "/v1/approvals",
    );
    if (values.json) out.write(`${JSON.stringify(approvals, null, 2)}\n`);
    else if (approvals.length === 0) out.write("No approvals are pending.\n");
    else
      for (const a of approvals)
        out.write(
          `${a.runId}  ${a.stepId.padEnd(16)} ${`${a.kind}:${a.target}`.padEnd(30)} ${JSON.stringify(a.params)}${a.expiresAt ? `  (${a.onTimeout} at ${a.expiresAt})` : ""}\n`,
        );
    return 0;
  });
}

/**
 * `aria approve RUN STEP [--params JSON] [--reason TEXT]` and `aria reject RUN STEP [--reason
 * TEXT]`: decides a paused step; the run resumes on a worker.
 */
export async function decideCommand(
  decision: "approve" | "reject",
  argv: string[],
  out: Out,
  withClient: <T>(server: string | undefined, fn: (client: ApiClient) => Promise<T>) => Promise<T>,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      params: { type: "string" },
      reason: { type: "string" },
      server: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [runId, stepId] = positionals;
  if (!runId || !stepId || positionals.length > 2)
    throw new UsageError(
      `name the run and the step: aria ${decision} RUN STEP${decision === "approve" ? " [--params JSON]" : ""} [--reason TEXT]`,
    );
  let params: unknown;
  if (values.params !== undefined) {
    if (decision === "reject") throw new UsageError("--params goes with approve, not reject");
    try {
      params = JSON.parse(values.params);
    } catch (error) {
      throw new UsageError(`--params is not valid JSON: ${(error as Error).message}`);
    }
    if (params === null || typeof params !== "object" || Array.isArray(params))
      throw new UsageError("--params must be a JSON object (the step's parameters)");
  }
  return withClient(values.server, async (client) => {
    const answer = await client.request<{ runId: string; stepId: string; status: string }>(
      "POST",
      `/v1/runs/${encodeURIComponent(runId)}/approvals/${encodeURIComponent(stepId)}`,
      {
        decision,
        ...(params !== undefined ? { params } : {}),
        ...(values.reason !== undefined ? { reason: values.reason } : {}),
      },
    );
    if (values.json) out.write(`${JSON.stringify(answer, null, 2)}\n`);
    else
      out.write(
        `${decision === "approve" ? "✓ approved" : "✗ rejected"} step ${stepId} of ${runId}${params !== undefined ? " with edited parameters" : ""}; the run resumes.\n`,
      );
    return 0;
  });
}
