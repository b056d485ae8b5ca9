import { z } from "zod";

/** What a human decides about a paused step. */
export const ApprovalDecisionSchema = z.enum(["approve", "reject"]);
export type ApprovalDecision = z.infer<typeof ApprovalDecisionSchema>;

/** Where an approval stands: `pending` until a human (or its timeout) decides. */
export const ApprovalStatusSchema = z.enum(["pending", "approved", "rejected"]);
export type ApprovalStatus = z.infer<typeof ApprovalStatusSchema>;

/**
 * One approval of one step of one run, as kept in the state store (so it survives restarts) and
 * shown by `GET /v1/approvals` and `GET /v1/runs/:id`.
 */
export const ApprovalRecordSchema = z.strictObject({
  runId: z.string().min(1),
  stepId: z.string().min(1),
  /** The step's type (`tool`, `agent`, `team`, `pipeline`, `container`, `reasoning`). */
  kind: z.string().min(1),
  /** What the step runs: a tool, agent, team or pipeline name, an image, or the step id. */
  target: z.string().min(1),
  /** The step's parameters after placeholder resolution: what the approver is asked about. */
  params: z.record(z.string(), z.unknown()),
  /** Why approval is needed (`step`, `tool`, `agent`, `team`, `rule:<pattern>`). */
  reason: z.string().optional(),
  requestedAt: z.string(),
  expiresAt: z.string().optional(),
  onTimeout: z.enum(["reject", "approve"]),
  status: ApprovalStatusSchema,
  decidedAt: z.string().optional(),
  decidedBy: z.string().optional(),
  /** The approver's note (or the timeout's explanation). */
  comment: z.string().optional(),
  /** Parameters the approver edited: the step runs with these instead of `params`. */
  editedParams: z.record(z.string(), z.unknown()).optional(),
  timedOut: z.boolean().optional(),
  /**
   * What was asked about: a hash of the step's kind, target and resolved parameters. A step that
   * comes back different (a plan revision reusing the id) needs a new approval.
   */
  fingerprint: z.string().optional(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecordSchema>;
