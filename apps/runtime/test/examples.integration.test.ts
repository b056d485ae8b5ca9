import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { RuntimeConfigSchema } from "@aria/core-types";
import { cliMain, createLogger, type RunningServer, startServer } from "@aria/runtime";
import {
  type FakeProviderServer,
  type RecordedRequest,
  reply,
  requireDocker,
  startFakeOpenAI,
} from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Runs every command of examples/README.md, as a user would, and checks what it prints. */
const root = path.resolve(import.meta.dirname, "../../..");
const readme = fs.readFileSync(path.join(root, "examples/README.md"), "utf8");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
let server: RunningServer;
let llm: FakeProviderServer;

/** The README's commands, split into argv the way a shell would (single quotes and double quotes). */
function commands(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [, title, command] of readme.matchAll(/^\| ([^|]+?) \| `pnpm aria ([^`]+)`/gm)) {
    const argv = [...command!.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map(
      (m) => m[1] ?? m[2] ?? m[3]!,
    );
    out.set(title!.trim(), argv);
  }
  return out;
}

function script(request: RecordedRequest) {
  const messages = (request.body?.messages ?? []) as Array<{ role: string; content?: string }>;
  const system = messages[0]?.role === "system" ? String(messages[0].content) : "";
  if (system.startsWith("You judge how an AI agent")) {
    return reply.text(
      JSON.stringify({
        complexity: "simple",
        needsPlanning: false,
        needsContainers: false,
        estimatedSteps: 2,
        reasoning: "loop",
      }),
    );
  }
  const tools = ((request.body?.tools ?? []) as Array<{ function: { name: string } }>).map(
    (t) => t.function.name,
  );
  const toolMessages = messages.filter((m) => m.role === "tool");
  if (tools.includes("text-tools__wordCount") && toolMessages.length === 0) {
    return reply.toolCalls([
      { name: "text-tools__wordCount", args: { text: "to be or not to be" } },
      { name: "calculator-tools__circleArea", args: { radius: 2 } },
    ]);
  }
  if (toolMessages.length > 0)
    return reply.text(`Results: ${toolMessages.map((m) => m.content).join(" | ")}`);
  if (system.includes("write short, clear reports")) return reply.text("Report: done.");
  return reply.text("The ratio of circumference to area is 2/r.");
}

async function aria(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await cliMain(
    [...argv, "--server", server.url],
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
  );
  return { code, out, err };
}

beforeAll(async () => {
  await requireDocker();
  await promisify(execFile)(
    path.join(root, "deploy/tool-runner/build-local.sh"),
    [process.execPath],
    { cwd: root, timeout: 180_000 },
  );
  llm = await startFakeOpenAI(script);
  server = await startServer(
    RuntimeConfigSchema.parse({
      port: 0,
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-examples-")),
      examplesDir: path.join(root, "examples"),
      llm: {
        providers: ["openai"],
        openai: { apiKey: "sk-examples-0123456789", baseURL: llm.baseURL, model: "fake-gpt" },
      },
    }),
    silent,
  );
}, 240_000);
afterAll(async () => {
  await server?.close();
  await llm?.close();
});

describe("examples/README.md", () => {
  const all = commands();

  it("lists the six kinds of example the project promises", () => {
    expect([...all.keys()]).toEqual(
      expect.arrayContaining([
        "a simple tool execution",
        "a container workload (Docker)",
        "multi-tool orchestration by an agent (LLM)",
        "an agent conversation (LLM)",
        "the full circle-analysis pipeline (LLM)",
        "a team (LLM)",
      ]),
    );
  });

  it.each([...commands().entries()])(
    "%s",
    async (title, argv) => {
      const result = await aria(argv);
      expect(result.err).toBe("");
      expect(result.code).toBe(0);
      if (title === "a simple tool execution") expect(result.out).toContain("176.71458676442586");
      if (title.startsWith("a container workload")) expect(result.out).toMatch(/^43$/m);
      if (title.startsWith("a tool inside")) expect(result.out).toContain('"uid": 1000');
      if (title.startsWith("multi-tool")) expect(result.out).toMatch(/"words\\?":\s*6/);
      if (title.startsWith("an agent conversation")) {
        const id = /--session (\S+)\)/.exec(result.out)?.[1];
        expect(id).toBeDefined();
        const again = await aria([...argv, "--session", id!]);
        expect(again.code).toBe(0);
        const turns = (text: string) => Number(/, (\d+) turns/.exec(text)?.[1]);
        // The same session continues: the second answer sees the first exchange in its history.
        expect(again.out).toContain(`(session ${id},`);
        expect(turns(again.out)).toBeGreaterThan(turns(result.out));
      }
      if (title.startsWith("the full circle-analysis")) {
        expect(result.out).toContain("Circle analysis");
        expect(result.out).toContain("176.71");
      }
      if (title.startsWith("a team")) expect(result.out).toContain("Report: done.");
    },
    60_000,
  );

  it("the human approval flow: run waits, aria approvals lists it, aria approve lets it finish", async () => {
    const block = /## Human approval([\s\S]*?)\n## |## Human approval([\s\S]*)$/.exec(readme);
    const section = block?.[1] ?? block?.[2] ?? "";
    const runLine = /pnpm aria (run --pipeline approved-report --input '([^']*)')/.exec(section);
    expect(runLine).not.toBeNull();
    expect(section).toContain("pnpm aria approvals");
    expect(section).toContain("pnpm aria approve RUN_ID report");
    const running = aria(["run", "--pipeline", "approved-report", "--input", runLine![2]!]);
    let pending: Array<{ runId: string; stepId: string; params: Record<string, unknown> }> = [];
    for (let i = 0; i < 200 && pending.length === 0; i++) {
      const listed = await aria(["approvals", "--json"]);
      expect(listed.code).toBe(0);
      pending = (JSON.parse(listed.out) as typeof pending).filter((a) => a.stepId === "report");
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pending).toHaveLength(1);
    expect(pending[0]!.params).toMatchObject({ fileName: "approved_report.txt" });
    const approved = await aria(["approve", pending[0]!.runId, "report"]);
    expect(approved.code).toBe(0);
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      `⏸ report waits for approval: aria approve ${pending[0]!.runId} report`,
    );
    expect(result.out).toContain("Approved circle report");
  }, 60_000);
});
