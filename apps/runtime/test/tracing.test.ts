import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger } from "@aria/runtime";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

describe("OpenTelemetry spans", () => {
  it("nest run → step → tool for a pipeline run", async () => {
    const exporter = new InMemorySpanExporter();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-trace-"));
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        dataDir,
        examplesDir: path.resolve(import.meta.dirname, "../../../examples"),
        features: { containers: false },
      }),
      silent,
      { traceExporter: exporter },
    );
    const res = await runtime.app.request("/v1/runs?wait=true", {
      method: "POST",
      body: JSON.stringify({ pipeline: "text-report", input: { text: "spans all the way down" } }),
    });
    const run = (await res.json()) as { id: string; status: string };
    expect(run.status).toBe("succeeded");
    // (closing the runtime shuts the exporter down, which clears it: read first)
    const spans = exporter.getFinishedSpans();
    await runtime.close();
    const runSpans = spans.filter(
      (s) => s.name === "run" && s.attributes["aria.run_id"] === run.id,
    );
    expect(runSpans).toHaveLength(1);
    const runSpan = runSpans[0]!;
    const steps = spans.filter((s) => s.name === "step" && s.attributes["aria.run_id"] === run.id);
    expect(steps.map((s) => s.attributes["aria.step_id"]).sort()).toEqual([
      "count",
      "keywords",
      "report",
      "time",
    ]);
    for (const step of steps) {
      expect(step.parentSpanContext?.spanId).toBe(runSpan.spanContext().spanId);
      expect(step.spanContext().traceId).toBe(runSpan.spanContext().traceId);
    }
    const tools = spans.filter((s) => s.name === "tool" && s.attributes["aria.run_id"] === run.id);
    expect(tools).toHaveLength(4);
    for (const tool of tools) {
      const parent = steps.find((s) => s.spanContext().spanId === tool.parentSpanContext?.spanId);
      expect(parent?.attributes["aria.step_id"]).toBe(tool.attributes["aria.step_id"]);
    }
  }, 60_000);
});
