import { z } from "zod";

/** What to run in a container. Hardening is on unless a relaxation is asked for explicitly. */
export const ContainerSpecSchema = z.strictObject({
  image: z.string().min(1),
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  workingDir: z.string().default("/workspace"),
  cpus: z.number().positive().max(64).default(1),
  memoryMb: z.number().int().positive().max(262_144).default(256),
  pids: z.number().int().positive().max(32_768).default(128),
  timeoutMs: z.number().int().positive().max(86_400_000).default(60_000),
  network: z.boolean().default(false),
  readOnlyRoot: z.boolean().default(true),
  user: z.string().default("1000:1000"),
  /** Host paths mounted read-only (e.g. an unpacked bundle). */
  mounts: z
    .array(
      z.strictObject({
        source: z.string(),
        target: z.string(),
        readOnly: z.boolean().default(true),
      }),
    )
    .default([]),
  stdin: z.string().optional(),
  labels: z.record(z.string(), z.string()).default({}),
  runId: z.string().optional(),
  stepId: z.string().optional(),
});
export type ContainerSpec = z.infer<typeof ContainerSpecSchema>;
export type ContainerSpecInput = z.input<typeof ContainerSpecSchema>;

export const ContainerResultSchema = z.strictObject({
  containerId: z.string(),
  exitCode: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  durationMs: z.number().min(0),
  oomKilled: z.boolean().default(false),
  timedOut: z.boolean().default(false),
  stats: z
    .strictObject({
      cpuMs: z.number().min(0).optional(),
      memoryPeakBytes: z.number().min(0).optional(),
    })
    .optional(),
});
export type ContainerResult = z.infer<typeof ContainerResultSchema>;
