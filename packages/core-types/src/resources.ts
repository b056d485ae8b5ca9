import { z } from "zod";

/** Resources a tool or container workload asks for. */
export const ResourceRequestSchema = z.strictObject({
  cpus: z.number().positive().max(64).optional(),
  memoryMb: z.number().int().positive().max(262_144).optional(),
  pids: z.number().int().positive().max(32_768).optional(),
  timeoutMs: z.number().int().positive().max(86_400_000).optional(),
});
export type ResourceRequest = z.infer<typeof ResourceRequestSchema>;

export const SecurityLevelSchema = z.enum(["safe", "limited", "privileged"]);
export type SecurityLevel = z.infer<typeof SecurityLevelSchema>;

export const ExecutionModeSchema = z.enum(["inprocess", "container"]);
export type ExecutionMode = z.infer<typeof ExecutionModeSchema>;
