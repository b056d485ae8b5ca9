import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The runtime's Prometheus metrics (served at `/metrics`). One registry per runtime instance, so
 * tests can compose several runtimes in one process.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "aria_process_" });
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: "aria_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "aria_http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    runs: new Counter({
      name: "aria_runs_total",
      help: "Finished runs by target kind and status",
      labelNames: ["kind", "status"],
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: "aria_run_duration_seconds",
      help: "Run duration",
      labelNames: ["kind"],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    runsActive: new Gauge({
      name: "aria_runs_active",
      help: "Runs executing in this instance",
      registers: [registry],
    }),
    steps: new Counter({
      name: "aria_steps_total",
      help: "Finished steps by type and status",
      labelNames: ["type", "status"],
      registers: [registry],
    }),
    stepDuration: new Histogram({
      name: "aria_step_duration_seconds",
      help: "Step duration",
      labelNames: ["type"],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    llmTokens: new Counter({
      name: "aria_llm_tokens_total",
      help: "LLM tokens by provider, model and direction",
      labelNames: ["provider", "model", "direction"],
      registers: [registry],
    }),
    llmCost: new Counter({
      name: "aria_llm_cost_usd_total",
      help: "LLM cost in USD",
      labelNames: ["provider", "model"],
      registers: [registry],
    }),
    llmBreakerOpen: new Gauge({
      name: "aria_llm_breaker_open",
      help: "1 when a provider's circuit breaker is open",
      labelNames: ["provider"],
      registers: [registry],
    }),
    containersActive: new Gauge({
      name: "aria_containers_active",
      help: "Containers running for this instance",
      registers: [registry],
    }),
    poolIdle: new Gauge({
      name: "aria_container_pool_idle",
      help: "Idle warm containers",
      labelNames: ["profile"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "aria_queue_depth",
      help: "Runs waiting in the queue",
      registers: [registry],
    }),
    queueOldestAge: new Gauge({
      name: "aria_queue_oldest_age_seconds",
      help: "Age of the oldest run waiting in the queue",
      registers: [registry],
    }),
    bundleToolCalls: new Gauge({
      name: "aria_bundle_tool_calls",
      help: "Tool executions per bundle since start",
      labelNames: ["bundle"],
      registers: [registry],
    }),
    bundleToolSeconds: new Gauge({
      name: "aria_bundle_tool_seconds",
      help: "Time spent in each bundle's tools since start",
      labelNames: ["bundle"],
      registers: [registry],
    }),
    runContainerCpuSeconds: new Counter({
      name: "aria_run_container_cpu_seconds_total",
      help: "Container CPU time of finished runs",
      registers: [registry],
    }),
    containerLimit: new Gauge({
      name: "aria_containers_limit",
      help: "Containers this instance may run at once",
      registers: [registry],
    }),
    errors: new Counter({
      name: "aria_errors_total",
      help: "Errors by code",
      labelNames: ["code"],
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: "aria_dependency_up",
      help: "1 when a dependency is up",
      labelNames: ["dependency"],
      registers: [registry],
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
