import type { RunState, StateStore } from "@aria/core-types";
import type { LlmHandler } from "@aria/llm";
import { parseMcpToolId, type Registries } from "@aria/registry";

/** Usage per run, per agent, per bundle and per provider (`GET /v1/usage`). */
export async function collectUsage(
  deps: { store: StateStore; llm: LlmHandler; registries: Registries },
  options: { limit: number },
) {
  const runs: RunState[] = await deps.store.listRuns({ limit: options.limit });
  const runRows = runs.map((run) => ({
    id: run.id,
    target: run.target,
    status: run.status,
    wallMs: run.metrics.durationMs,
    llm: {
      inputTokens: run.cost.inputTokens,
      outputTokens: run.cost.outputTokens,
      costUsd: run.cost.usd,
    },
    containers: {
      cpuSeconds: (run.metrics.containerCpuMs ?? 0) / 1000,
      memoryPeakBytes: run.metrics.containerMemoryPeakBytes ?? 0,
    },
  }));
  const agents: Record<string, unknown> = {};
  for (const agent of deps.registries.agents.listAgents()) {
    const totals = deps.llm.accounting.agent(agent.name);
    agents[agent.id] = totals;
  }
  const bundles: Record<string, { toolCalls: number; failures: number; toolSeconds: number }> = {};
  for (const tool of deps.registries.tools.list()) {
    // MCP tools (`mcp:<server>/<tool>`) are accounted per server, as `mcp:<server>`.
    const mcp = parseMcpToolId(tool.id);
    const key = tool.bundle ? tool.bundle.name : mcp ? `mcp:${mcp.server}` : "(built-in)";
    const stats = deps.registries.tools.statsOf(tool.id);
    const row = bundles[key] ?? { toolCalls: 0, failures: 0, toolSeconds: 0 };
    bundles[key] = row;
    row.toolCalls += stats?.calls ?? 0;
    row.failures += stats?.failures ?? 0;
    row.toolSeconds += (stats?.totalDurationMs ?? 0) / 1000;
  }
  const totals = runRows.reduce(
    (sum, r) => ({
      runs: sum.runs + 1,
      wallMs: sum.wallMs + r.wallMs,
      inputTokens: sum.inputTokens + r.llm.inputTokens,
      outputTokens: sum.outputTokens + r.llm.outputTokens,
      costUsd: sum.costUsd + r.llm.costUsd,
      containerCpuSeconds: sum.containerCpuSeconds + r.containers.cpuSeconds,
    }),
    { runs: 0, wallMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, containerCpuSeconds: 0 },
  );
  return {
    runs: runRows,
    totals,
    // Agent, provider and bundle counters are this instance's since it started.
    agents,
    providers: deps.llm.accounting.byProvider(),
    bundles,
  };
}
