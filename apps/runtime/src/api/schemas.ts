import { RunOptionsSchema } from "@aria/core-types";
import { z } from "zod";

/** `POST /v1/runs` (contracts §3): exactly one of agent, pipeline or team. */
export const RunSubmitSchema = z
  .strictObject({
    agent: z.string().min(1).optional(),
    pipeline: z.string().min(1).optional(),
    team: z.string().min(1).optional(),
    task: z.string().min(1).max(100_000).optional(),
    input: z.unknown().optional(),
    sessionId: z.string().min(1).max(200).optional(),
    options: RunOptionsSchema.optional(),
  })
  .superRefine((body, ctx) => {
    const targets = [body.agent, body.pipeline, body.team].filter((t) => t !== undefined);
    if (targets.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: ["agent"],
        message: "give exactly one of 'agent', 'pipeline' or 'team'",
      });
    }
    if ((body.agent !== undefined || body.team !== undefined) && body.task === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["task"],
        message: "an agent or team run needs a 'task'",
      });
    }
  });
export type RunSubmit = z.infer<typeof RunSubmitSchema>;

export const ToolInvokeSchema = z.strictObject({
  input: z.unknown().default({}),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});
export const SessionCreateSchema = z.strictObject({
  agent: z.string().min(1).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export const SessionMessageSchema = z.strictObject({
  agent: z.string().min(1),
  content: z.string().min(1).max(100_000),
});
export const ApprovalSchema = z.strictObject({
  decision: z.enum(["approve", "reject"]),
  params: z.record(z.string(), z.unknown()).optional(),
  reason: z.string().max(10_000).optional(),
});
