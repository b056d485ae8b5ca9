/** Sizes and iteration limits of every case (recorded in bench/results/peers.json). */
export interface PlanOptions {
  /** Few iterations and 100 sessions: a smoke run, not for figures. */
  quick: boolean;
  /** Concurrency levels for case 4. */
  levels: number[];
}

export function benchPlan({ quick, levels }: PlanOptions) {
  return {
    overhead: {
      stepsPerRun: 10,
      warmup: { min: 5, max: quick ? 20 : 300, budgetMs: quick ? 200 : 750 },
      measured: { min: quick ? 5 : 30, max: quick ? 30 : 2000, budgetMs: quick ? 500 : 2500 },
    },
    agentChain: {
      steps: 1000,
      warmupSteps: 100,
      measured: { min: 1, max: 5, budgetMs: quick ? 0 : 3000 },
    },
    toolChain: {
      steps: 1000,
      warmup: { min: 1, max: 10, budgetMs: quick ? 100 : 500 },
      measured: { min: 3, max: 50, budgetMs: quick ? 300 : 2000 },
    },
    sessions: { count: quick ? 100 : 1000, turns: 3, stepsPerTurn: 2, warmupSessions: 5 },
    concurrency: { stepsPerRun: 10, modelLatencyMs: 100, levels, warmupRuns: quick ? 5 : 10 },
  };
}

export type BenchPlan = ReturnType<typeof benchPlan>;
