import type { ExecutionMetrics, StepKind } from "@aria/core-types";

/** Counters and duration sums of one engine instance (the runtime exports them to Prometheus). */
export interface EngineMetricsSnapshot {
  runsStarted: number;
  runsResumed: number;
  runsSucceeded: number;
  runsFailed: number;
  runsCancelled: number;
  /** Runs that stopped to wait for an approval, and approvals requested. */
  runsPaused: number;
  approvalsRequested: number;
  runsActive: number;
  stepsStarted: number;
  stepsSucceeded: number;
  stepsFailed: number;
  stepsSkipped: number;
  stepsCancelled: number;
  stepRetries: number;
  memoryEvictions: number;
  checkpointsWritten: number;
  /** Sum, count and maximum of step durations (ms), per step type and in total. */
  stepDurationMs: { count: number; sum: number; max: number };
  stepDurationMsByType: Partial<Record<StepKind, { count: number; sum: number; max: number }>>;
  runDurationMs: { count: number; sum: number; max: number };
}

/** Mutable counters behind {@link EngineMetricsSnapshot}. */
export class EngineMetrics {
  private readonly data: EngineMetricsSnapshot = {
    runsStarted: 0,
    runsResumed: 0,
    runsSucceeded: 0,
    runsFailed: 0,
    runsCancelled: 0,
    runsPaused: 0,
    approvalsRequested: 0,
    runsActive: 0,
    stepsStarted: 0,
    stepsSucceeded: 0,
    stepsFailed: 0,
    stepsSkipped: 0,
    stepsCancelled: 0,
    stepRetries: 0,
    memoryEvictions: 0,
    checkpointsWritten: 0,
    stepDurationMs: { count: 0, sum: 0, max: 0 },
    stepDurationMsByType: {},
    runDurationMs: { count: 0, sum: 0, max: 0 },
  };

  increment(
    key: Exclude<
      keyof EngineMetricsSnapshot,
      "stepDurationMs" | "stepDurationMsByType" | "runDurationMs"
    >,
    by = 1,
  ): void {
    this.data[key] += by;
  }

  observeStep(type: StepKind, durationMs: number): void {
    observe(this.data.stepDurationMs, durationMs);
    const byType = this.data.stepDurationMsByType;
    let entry = byType[type];
    if (entry === undefined) {
      entry = { count: 0, sum: 0, max: 0 };
      byType[type] = entry;
    }
    observe(entry, durationMs);
  }

  observeRun(durationMs: number): void {
    observe(this.data.runDurationMs, durationMs);
  }

  snapshot(): EngineMetricsSnapshot {
    return structuredClone(this.data);
  }
}

function observe(target: { count: number; sum: number; max: number }, value: number): void {
  target.count++;
  target.sum += value;
  if (value > target.max) target.max = value;
}

/** ExecutionMetrics with every counter at zero. */
export function emptyExecutionMetrics(): ExecutionMetrics {
  return {
    durationMs: 0,
    attempts: 0,
    retries: 0,
    stepsTotal: 0,
    stepsSucceeded: 0,
    stepsFailed: 0,
    stepsSkipped: 0,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
}
