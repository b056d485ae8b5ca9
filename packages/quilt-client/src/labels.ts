/** Labels the runtime puts on every container it creates (contracts §5). */
export const LABELS = {
  /** Always `true`: the reaper only ever looks at containers with this label. */
  managed: "aria.managed",
  /** The runtime instance that created the container (its heartbeat lease key). */
  instance: "aria.instance",
  /** The process start of that instance, so a restarted instance can tell its old containers apart. */
  boot: "aria.boot",
  run: "aria.run",
  step: "aria.step",
  /** The warm-pool key for pre-started members (their run is assigned later, in memory). */
  pool: "aria.pool",
  /** `workload`, `pool` or `tool`. */
  role: "aria.role",
} as const;

/** The labels of one container. Empty run/step are written as empty strings. */
export function containerLabels(input: {
  instanceId: string;
  bootId: string;
  runId?: string | undefined;
  stepId?: string | undefined;
  role: "workload" | "pool";
  poolKey?: string | undefined;
  extra?: Record<string, string> | undefined;
}): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.extra ?? {})) {
    // User labels cannot impersonate the runtime's own.
    if (!key.startsWith("aria.")) labels[key] = value;
  }
  labels[LABELS.managed] = "true";
  labels[LABELS.instance] = input.instanceId;
  labels[LABELS.boot] = input.bootId;
  labels[LABELS.run] = input.runId ?? "";
  labels[LABELS.step] = input.stepId ?? "";
  labels[LABELS.role] = input.role;
  if (input.poolKey) labels[LABELS.pool] = input.poolKey;
  return labels;
}
