/** What the runtime's API answers (contracts §3), as the console reads it. */

/** The runtime's error envelope body (contracts §3). */
export interface ErrorBody {
  code: string;
  message: string;
  userGuidance?: string;
  recoveryActions?: string[];
  category?: string;
  severity?: string;
  details?: Record<string, unknown>;
}

export type RunStatus = "queued" | "running" | "paused" | "succeeded" | "failed" | "cancelled";

export interface RunTarget {
  kind: "agent" | "pipeline" | "team" | "plan";
  name?: string;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  target: RunTarget;
  createdAt: string;
  updatedAt: string;
  durationMs: number;
  cost: { usd: number; inputTokens: number; outputTokens: number };
}

export interface PlanStep {
  id: string;
  type: string;
  tool?: string;
  agent?: string;
  team?: string;
  pipeline?: string;
  image?: string;
  params?: Record<string, unknown>;
  dependsOn?: string[];
  needsApproval?: boolean;
  retry?: { attempts?: number };
}

export interface StepMetrics {
  startedAt?: string;
  finishedAt?: string;
  durationMs: number;
  attempts: number;
  retries: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  containerCpuMs?: number;
  containerMemoryPeakBytes?: number;
}

export interface StepResult {
  stepId: string;
  index: number;
  type: string;
  status: "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled" | "waiting";
  success: boolean;
  output?: unknown;
  error?: ErrorBody;
  resolvedParams?: Record<string, unknown>;
  containerId?: string;
  metrics: StepMetrics;
}

export interface Approval {
  runId: string;
  stepId: string;
  kind: string;
  target: string;
  params: Record<string, unknown>;
  reason?: string;
  requestedAt: string;
  expiresAt?: string;
}

export interface RunDetail {
  id: string;
  status: RunStatus;
  target: RunTarget;
  task?: string;
  input?: unknown;
  plan: { id: string; objective?: string; steps: PlanStep[]; revision?: number } | null;
  steps: StepResult[];
  result: unknown;
  error: ErrorBody | null;
  metrics: StepMetrics & { stepsTotal: number; stepsSucceeded: number; stepsFailed: number };
  cost: { usd: number; inputTokens: number; outputTokens: number };
  createdAt: string;
  updatedAt: string;
  approvals?: Approval[];
}

export interface RunEvent {
  runId: string;
  seq: number;
  type: string;
  at: string;
  stepId?: string;
  data: Record<string, unknown>;
}

export interface ToolInfo {
  id: string;
  name: string;
  bundle: { name: string; version: string } | null;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown> | null;
  execution: string;
  securityLevel: string;
  needsApproval: boolean;
}

export interface BundleInfo {
  name: string;
  version: string;
  digest: string;
  installedAt: string;
  description: string;
  tools: string[];
  agents: string[];
  teams: string[];
  pipelines: string[];
}

/** An agent, team or pipeline as the registries list it (fields vary by kind). */
export interface Definition {
  id?: string;
  name: string;
  description?: string;
  bundle?: string;
  bundleVersion?: string;
  inputSchema?: Record<string, unknown>;
  steps?: PlanStep[];
  tools?: string[];
  members?: string[];
  strategy?: string;
  llm?: { provider?: string; model?: string };
  [key: string]: unknown;
}

export const ACTIVE: ReadonlySet<string> = new Set(["queued", "running", "paused"]);
