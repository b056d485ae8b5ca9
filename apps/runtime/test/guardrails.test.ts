import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import type { GuardrailConfig } from "@aria/registry";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { type FakeProviderServer, reply, startFakeOpenAI } from "@aria/testkit";
import { describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

/**
 * A runtime whose model is the scripted OpenAI-protocol server answering `text`, with one agent
 * (`name`, its `guardrails`) registered; closes both after `body`.
 */
async function withGuardedAgent(
  text: string,
  name: string,
  guardrails: GuardrailConfig[],
  body: (runtime: Runtime, llm: FakeProviderServer) => Promise<void>,
): Promise<void> {
  const llm = await startFakeOpenAI(reply.text(text));
  const runtime = await composeRuntime(
    RuntimeConfigSchema.parse({
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-guard-agent-")),
      features: { containers: false, reflection: false, planning: false },
      llm: {
        providers: ["openai"],
        openai: { apiKey: "sk-test-guardrails-0123456789", baseURL: llm.baseURL },
      },
    }),
    silent,
  );
  try {
    runtime.registries.agents.registerAgent({
      name,
      description: `Agent ${name}`,
      systemPrompt: "You answer briefly.",
      tools: [],
      llm: { provider: "openai", model: "fake-gpt" },
      guardrails,
    });
    await body(runtime, llm);
  } finally {
    await runtime.close();
    await llm.close();
  }
}

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

  it("checks an agent's input and output: an email redacted from its answer, an oversized task blocked", async () => {
    await withGuardedAgent(
      "Write to ada@example.com about the launch.",
      "writer",
      [
        { kind: "pii", on: "output", action: "redact" },
        { kind: "size", on: "input", action: "block", maxBytes: 300 },
      ],
      async (runtime, llm) => {
        const ok = await runtime.engine.runPlan({
          steps: [
            { id: "note", type: "agent", agent: "writer", params: { task: "Who to contact?" } },
          ],
          output: "{{steps.note.output}}",
        });
        expect(ok.run.status).toBe("succeeded");
        expect(JSON.stringify(ok.run.result)).toContain("[REDACTED]");
        expect(JSON.stringify(ok.run.result)).not.toContain("ada@example.com");
        const events = await runtime.store.readEvents(ok.run.id);
        expect(events.find((e) => e.type === "guardrail.tripped")?.data).toMatchObject({
          tool: "agent:writer",
          kind: "pii",
          on: "output",
          action: "redact",
        });
        expect(JSON.stringify(events)).not.toContain("ada@example.com");

        const calls = llm.requests.length;
        const blocked = await runtime.engine.runPlan({
          steps: [
            { id: "note", type: "agent", agent: "writer", params: { task: "x".repeat(1000) } },
          ],
        });
        expect(blocked.run.status).toBe("failed");
        const step = blocked.run.steps[0]!;
        expect(step.error?.code).toBe("GUARDRAIL_TRIPPED");
        expect(step.error?.message).toContain("agent 'writer'");
        expect(step.error?.userGuidance).toBeTruthy();
        // The model never saw the oversized task.
        expect(llm.requests.length).toBe(calls);

        // A conversation with the same agent goes through the same guardrails.
        const session = (await (
          await runtime.app.request("/v1/sessions", {
            method: "POST",
            body: JSON.stringify({ agent: "writer" }),
          })
        ).json()) as { id: string };
        const answer = await runtime.app.request(`/v1/sessions/${session.id}/messages`, {
          method: "POST",
          body: JSON.stringify({ agent: "writer", content: "Who should I write to?" }),
        });
        const turn = JSON.stringify(await answer.json());
        expect(turn).toContain("[REDACTED]");
        expect(turn).not.toContain("ada@example.com");
      },
    );
  });

  it("in a session, a redacted or blocked message never reaches the model later as history", async () => {
    await withGuardedAgent(
      "ok",
      "clerk",
      [
        { kind: "pii", on: "input", action: "redact" },
        { kind: "regex", on: "input", action: "block", pattern: "SECRET-[0-9]+" },
      ],
      async (runtime, llm) => {
        const session = (await (
          await runtime.app.request("/v1/sessions", {
            method: "POST",
            body: JSON.stringify({ agent: "clerk" }),
          })
        ).json()) as { id: string };
        const send = async (content: string) =>
          (
            await runtime.app.request(`/v1/sessions/${session.id}/messages`, {
              method: "POST",
              body: JSON.stringify({ agent: "clerk", content }),
            })
          ).status;
        expect(await send("mail ada@example.com please")).toBe(200);
        expect(await send("my code is SECRET-12345")).toBe(422);
        expect(await send("hello again")).toBe(200);
        const bodies = llm.requests.map((r) => JSON.stringify(r.body));
        expect(bodies).toHaveLength(2);
        expect(bodies.some((b) => b.includes("ada@example.com"))).toBe(false);
        expect(bodies.some((b) => b.includes("SECRET-12345"))).toBe(false);
        // The third turn's history holds the redacted first message and the blocked placeholder.
        expect(bodies[1]).toContain("[REDACTED]");
        expect(bodies[1]).toContain("[message blocked by a guardrail]");
      },
    );
  });
});
