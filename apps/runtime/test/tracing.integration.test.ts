import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger } from "@aria/runtime";
import { type RecordedRequest, reply, requireDocker, startFakeOpenAI } from "@aria/testkit";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../../..");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

function script(request: RecordedRequest) {
  const messages = (request.body?.messages ?? []) as Array<{ role: string; content?: string }>;
  if (String(messages[0]?.content ?? "").startsWith("You judge how an AI agent")) {
    return reply.text(
      JSON.stringify({
        complexity: "simple",
        needsPlanning: false,
        needsContainers: false,
        estimatedSteps: 1,
        reasoning: "loop",
      }),
    );
  }
  if (messages.some((m) => m.role === "tool")) return reply.text("done");
  return reply.toolCall("text-tools__wordCount", { text: "one two" });
}

describe("OpenTelemetry spans for LLM calls and containers", () => {
  it("puts llm spans under the run and container spans under their step", async () => {
    await requireDocker();
    await promisify(execFile)(
      path.join(root, "deploy/tool-runner/build-local.sh"),
      [process.execPath],
      { cwd: root, timeout: 180_000 },
    );
    const llm = await startFakeOpenAI(script);
    const exporter = new InMemorySpanExporter();
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-otel-")),
        examplesDir: path.join(root, "examples"),
        llm: {
          providers: ["openai"],
          openai: { apiKey: "sk-otel-0123456789", baseURL: llm.baseURL, model: "fake-gpt" },
        },
      }),
      silent,
      { traceExporter: exporter },
    );
    try {
      const post = async (body: unknown) =>
        (await (
          await runtime.app.request("/v1/runs?wait=true", {
            method: "POST",
            body: JSON.stringify(body),
          })
        ).json()) as { id: string; status: string };
      const container = await post({ pipeline: "increment", input: { n: 1 } });
      expect(container.status).toBe("succeeded");
      const agent = await post({ agent: "analyst", task: "Count the words of 'one two'" });
      expect(agent.status).toBe("succeeded");

      const spans = exporter.getFinishedSpans();
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      const parentOf = (span: (typeof spans)[number]) =>
        span.parentSpanContext ? byId.get(span.parentSpanContext.spanId) : undefined;

      const containerSpan = spans.find(
        (s) => s.name === "container" && s.attributes["aria.run_id"] === container.id,
      );
      expect(containerSpan?.attributes["aria.image"]).toBe("aria-tool-runner:latest");
      const step = parentOf(containerSpan!);
      expect(step?.name).toBe("step");
      expect(step?.attributes["aria.step_id"]).toBe("compute");
      expect(parentOf(step!)?.name).toBe("run");

      const llmSpans = spans.filter(
        (s) => s.name === "llm" && s.attributes["aria.run_id"] === agent.id,
      );
      // The task analysis happens before the run exists; the agent loop's calls are inside the run.
      const inRun = llmSpans.filter((s) => parentOf(s) !== undefined);
      expect(inRun.length).toBeGreaterThanOrEqual(2);
      for (const span of inRun) expect(parentOf(span)?.attributes["aria.run_id"]).toBe(agent.id);
      const toolSpans = spans.filter(
        (s) => s.name === "tool" && s.attributes["aria.run_id"] === agent.id,
      );
      expect(toolSpans.map((s) => s.attributes["aria.tool"])).toContain("text-tools/wordCount");
    } finally {
      await runtime.close();
      await llm.close();
    }
  }, 240_000);
});
