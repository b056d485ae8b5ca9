import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger } from "@aria/runtime";
import { describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

describe("guardrails in runs", () => {
  it("redacts PII from a tool's output and records guardrail.tripped in the run's events", async () => {
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-guard-")),
        features: { containers: false },
      }),
      silent,
    );
    try {
      runtime.registries.tools.register({
        name: "lookupContact",
        description: "Returns a contact line",
        inputSchema: {
          type: "object",
          properties: { name: { type: "string" } },
          required: ["name"],
        },
        guardrails: [{ kind: "pii", on: "output", action: "redact" }],
        handler: (input) => ({ line: `${(input as { name: string }).name} <ada@example.com>` }),
      });
      const result = await runtime.engine.runPlan({
        steps: [{ id: "lookup", type: "tool", tool: "lookupContact", params: { name: "Ada" } }],
        output: "{{steps.lookup.output.line}}",
      });
      expect(result.run.status).toBe("succeeded");
      expect(result.run.result).toBe("Ada <[REDACTED]>");
      const events = await runtime.store.readEvents(result.run.id);
      const trip = events.find((e) => e.type === "guardrail.tripped");
      expect(trip?.stepId).toBe("lookup");
      expect(trip?.data).toMatchObject({
        tool: "lookupContact",
        kind: "pii",
        on: "output",
        action: "redact",
      });
      expect(JSON.stringify(events)).not.toContain("ada@example.com");
    } finally {
      await runtime.close();
    }
  });
});
