import type {
  ContainerManager,
  LlmClient,
  ToolExecutionContext,
  ToolRegistry,
} from "@aria/core-types";
import { context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

/**
 * OpenTelemetry traces: a `run` span per run, a `step` span per step under it, and `tool`, `llm`
 * and `container` spans under the step that caused them. Spans are exported to OTLP/HTTP when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, or to an exporter given here
 * (tests pass an in-memory one); without either, tracing is off and costs nothing.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider | undefined;
  private readonly runs = new Map<string, Span>();
  private readonly steps = new Map<string, Span>();

  constructor(options: { exporter?: SpanExporter; env?: NodeJS.ProcessEnv } = {}) {
    const env = options.env ?? process.env;
    const processors = [];
    if (options.exporter) processors.push(new SimpleSpanProcessor(options.exporter));
    if (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
      processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
    this.provider =
      processors.length > 0 ? new BasicTracerProvider({ spanProcessors: processors }) : undefined;
  }

  get enabled(): boolean {
    return this.provider !== undefined;
  }

  private tracer() {
    return this.provider!.getTracer("aria-runtime");
  }

  /** Follows the run's events to open and close run and step spans. */
  onEvent(
    runId: string,
    type: string,
    data: Record<string, unknown> | undefined,
    stepId: string | undefined,
  ): void {
    if (!this.provider) return;
    const tracer = this.tracer();
    switch (type) {
      case "run.started": {
        if (this.runs.has(runId)) return;
        this.runs.set(
          runId,
          tracer.startSpan("run", {
            attributes: {
              "aria.run_id": runId,
              ...(data?.resumed ? { "aria.resumed": true } : {}),
            },
          }),
        );
        return;
      }
      case "step.started": {
        if (!stepId) return;
        const parent = this.runs.get(runId);
        const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
        this.steps.set(
          `${runId}\u0000${stepId}`,
          tracer.startSpan(
            "step",
            {
              attributes: {
                "aria.run_id": runId,
                "aria.step_id": stepId,
                ...(typeof data?.type === "string" ? { "aria.step_type": data.type } : {}),
              },
            },
            ctx,
          ),
        );
        return;
      }
      case "step.completed":
      case "step.failed": {
        const key = `${runId}\u0000${stepId}`;
        const span = this.steps.get(key);
        if (!span) return;
        if (type === "step.failed")
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: String((data?.error as { code?: string } | undefined)?.code ?? "failed"),
          });
        span.end();
        this.steps.delete(key);
        return;
      }
      case "run.completed":
      case "run.failed":
      case "run.cancelled": {
        const span = this.runs.get(runId);
        if (!span) return;
        if (type !== "run.completed") span.setStatus({ code: SpanStatusCode.ERROR, message: type });
        span.end();
        this.runs.delete(runId);
        for (const [key, step] of this.steps) {
          if (key.startsWith(`${runId}\u0000`)) {
            step.end();
            this.steps.delete(key);
          }
        }
        return;
      }
      default:
        return;
    }
  }

  private parentContext(runId: string | undefined, stepId: string | undefined) {
    const parent =
      (runId && stepId ? this.steps.get(`${runId}\u0000${stepId}`) : undefined) ??
      (runId ? this.runs.get(runId) : undefined);
    return parent ? trace.setSpan(context.active(), parent) : context.active();
  }

  private async around<T>(
    name: string,
    attributes: Record<string, string | number | boolean>,
    runId: string | undefined,
    stepId: string | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    if (!this.provider) return fn();
    const span = this.tracer().startSpan(name, { attributes }, this.parentContext(runId, stepId));
    try {
      const result = await fn();
      span.end();
      return result;
    } catch (error) {
      span.recordException({ name: (error as Error).name, message: (error as Error).message });
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: (error as { code?: string }).code ?? (error as Error).message,
      });
      span.end();
      throw error;
    }
  }

  /** A ToolRegistry whose executions are `tool` spans under their step. */
  wrapTools(tools: ToolRegistry): ToolRegistry {
    if (!this.provider) return tools;
    return {
      resolve: (name) => tools.resolve(name),
      has: (name) => tools.has(name),
      list: () => tools.list(),
      execute: (name: string, input: unknown, ctx: ToolExecutionContext) =>
        this.around(
          "tool",
          { "aria.tool": name, "aria.run_id": ctx.runId, "aria.step_id": ctx.stepId },
          ctx.runId,
          ctx.stepId,
          () => tools.execute(name, input, ctx),
        ),
    };
  }

  /** An LlmClient whose completions are `llm` spans under their run. */
  wrapLlm(llm: LlmClient): LlmClient {
    if (!this.provider) return llm;
    return {
      complete: (request, options) =>
        this.around(
          "llm",
          {
            ...(request.provider ? { "aria.llm.provider": request.provider } : {}),
            ...(request.model ? { "aria.llm.model": request.model } : {}),
            ...(request.runId ? { "aria.run_id": request.runId } : {}),
          },
          request.runId,
          undefined,
          () => llm.complete(request, options),
        ),
      stream: (request, options) => llm.stream(request, options),
      // Capabilities (tool calling, JSON mode, context size) must survive the wrapper: the agent
      // loop degrades on small local models from them.
      ...(llm.capabilities
        ? {
            capabilities: (request: Parameters<NonNullable<LlmClient["capabilities"]>>[0]) =>
              llm.capabilities!(request),
          }
        : {}),
    };
  }

  /** A ContainerManager whose workloads are `container` spans under their step. */
  wrapContainers(containers: ContainerManager): ContainerManager {
    if (!this.provider) return containers;
    return {
      run: (spec, options) =>
        this.around(
          "container",
          { "aria.image": spec.image, ...(spec.runId ? { "aria.run_id": spec.runId } : {}) },
          spec.runId,
          spec.stepId,
          () => containers.run(spec, options),
        ),
      cleanupRun: (runId) => containers.cleanupRun(runId),
    };
  }

  async close(): Promise<void> {
    await this.provider?.shutdown();
  }
}
