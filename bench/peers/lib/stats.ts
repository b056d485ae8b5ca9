/** Percentiles and summaries of samples (nearest-rank). */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
  };
}

/**
 * Runs `fn` repeatedly: at least `min` times, then until `max` runs or `budgetMs` has passed.
 * Returns the duration of each run in ms.
 */
export async function repeat(
  fn: () => Promise<void>,
  limits: { min: number; max: number; budgetMs: number },
): Promise<number[]> {
  const samples: number[] = [];
  const started = performance.now();
  while (
    samples.length < limits.min ||
    (samples.length < limits.max && performance.now() - started < limits.budgetMs)
  ) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return samples;
}
