import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { packBundle } from "@aria/pkg-store";
import { createLogger, type RunningServer, startServer } from "@aria/runtime";
import {
  type FakeProviderServer,
  type RecordedRequest,
  reply,
  startFakeOpenAI,
} from "@aria/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The console end to end: Debian's Chromium (through playwright-core, no browser download) against
 * a real runtime started here with API keys, serving a production build of the console. Every page
 * is screenshotted into test-artifacts/ and checked with axe-core; every request the pages make
 * must go to the runtime's own origin.
 */
const consoleDir = path.resolve(import.meta.dirname, "..");
const artifacts = path.join(consoleDir, "test-artifacts");
const CHROMIUM = process.env.ARIA_CHROMIUM ?? "/usr/bin/chromium";
const KEY = "console-e2e-key-0123456789abcdef";
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const axeSource = fs.readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);

let server: RunningServer;
let llm: FakeProviderServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dataDir: string;
let outDir: string;
const requests: string[] = [];

type AxeViolation = { id: string; impact: string | null; help: string; nodes: unknown[] };

/** Runs axe-core on the current page; returns the serious and critical violations. */
async function axe(p: Page): Promise<AxeViolation[]> {
  await p.addScriptTag({ content: axeSource });
  const result = (await p.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target) })))",
  )) as AxeViolation[];
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

async function snapshot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  const violations = await axe(p);
  expect(violations, `axe on ${name}: ${JSON.stringify(violations, null, 1)}`).toEqual([]);
}

function watch(p: Page): void {
  p.on("request", (request) => {
    requests.push(request.url());
  });
}

/** The run id in the page's URL once it shows a run. */
async function runIdOf(p: Page): Promise<string> {
  await p.waitForURL(/\/console\/runs\/run_/);
  return decodeURIComponent(new URL(p.url()).pathname.split("/").at(-1)!);
}

async function startPipeline(p: Page, name: string, fill: (p: Page) => Promise<void>) {
  await p.getByRole("link", { name: "Start work" }).first().click();
  await p.getByLabel("Pipeline", { exact: true }).selectOption(`console-demo/${name}`);
  await fill(p);
  await p.getByRole("button", { name: "Start pipeline" }).click();
  return runIdOf(p);
}

/** The agent's scripted model: call the pause tool once, then answer. */
function script(request: RecordedRequest) {
  const messages = (request.body?.messages ?? []) as Array<{ role: string; content?: string }>;
  const tools = ((request.body?.tools ?? []) as Array<{ function: { name: string } }>).map(
    (t) => t.function.name,
  );
  const result = messages.find((m) => m.role === "tool");
  if (result) return reply.text(`Paused as asked: ${result.content}`);
  const pauseTool = tools.find((name) => name.endsWith("pause"));
  if (pauseTool) return reply.toolCall(pauseTool, { label: "agent", ms: 20 });
  return reply.text("ok");
}

async function apiGet<T>(route: string): Promise<T> {
  const res = await fetch(`${server.url}${route}`, { headers: { authorization: `Bearer ${KEY}` } });
  return (await res.json()) as T;
}

beforeAll(async () => {
  expect(fs.existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium)`).toBe(true);
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  // A production build of the current source, served by the runtime exactly as `pnpm build` does.
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-console-build-"));
  await build({ root: consoleDir, logLevel: "error", build: { outDir, emptyOutDir: true } });
  process.env.ARIA_CONSOLE_DIR = outDir;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-console-e2e-"));
  llm = await startFakeOpenAI(script);
  server = await startServer(
    RuntimeConfigSchema.parse({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      apiKeys: [KEY],
      features: { containers: false, reflection: false, planning: false },
      llm: {
        providers: ["openai"],
        openai: { apiKey: "sk-console-e2e-0123456789", baseURL: llm.baseURL, model: "gpt-4o-mini" },
      },
    }),
    silent,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // bypassCSP: the console's policy forbids inline scripts, and axe-core is injected as one.
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  watch(page);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await llm?.close();
  delete process.env.ARIA_CONSOLE_DIR;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

describe("the console in Chromium against a real runtime", () => {
  it("asks for the API key, then shows the (empty) runs list", async () => {
    await page.goto(`${server.url}/console/`);
    await expect
      .poll(() => page.getByRole("heading", { name: "API key needed" }).isVisible())
      .toBe(true);
    await snapshot(page, "api-key");
    await page.getByLabel("API key").fill(KEY);
    await page.getByRole("button", { name: "Use this key" }).click();
    await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
    await page.getByText("Live", { exact: true }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('aria.console.apiKey')")).toBe(KEY);
    await snapshot(page, "runs-empty");
  });

  it("uploads a bundle", async () => {
    const packed = await packBundle(path.join(import.meta.dirname, "fixtures/console-demo"), {
      write: false,
    });
    await page.getByRole("link", { name: "Bundles & tools" }).click();
    await page.getByRole("heading", { name: "Bundles, tools and agents" }).waitFor();
    await page.getByLabel("Upload a bundle (.aria file)").setInputFiles({
      name: "console-demo-1.0.0.aria",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(packed.bytes),
    });
    await page.getByRole("button", { name: "Install bundle" }).click();
    await page.getByText("Installed console-demo 1.0.0: 3 tools, 4 pipelines.").waitFor();
    await page.locator('[data-bundle="console-demo"]').waitFor();
    await page.locator('[data-tool="console-demo/pause"]').waitFor();
    const bundles = await apiGet<{ bundles: Array<{ name: string }> }>("/v1/bundles");
    expect(bundles.bundles.map((b) => b.name)).toContain("console-demo");
    await snapshot(page, "catalog");
  });

  it("invokes a tool from a form generated from its schema", async () => {
    await page.getByRole("link", { name: "Invoke console-demo/pause" }).click();
    await page.getByLabel("label").fill("hello");
    await page.getByLabel("ms").fill("5");
    await page.getByRole("button", { name: "Invoke tool" }).click();
    const output = page.getByRole("region", { name: "Tool output" });
    await output.waitFor();
    expect(JSON.parse((await output.textContent()) ?? "")).toEqual({ label: "hello", waited: 5 });
    await snapshot(page, "tool-invoke");
  });

  it("starts a pipeline from the generated form and watches its steps turn green live", async () => {
    const runId = await startPipeline(page, "fan-out", async (p) => {
      // The form comes from the pipeline's input schema: a text field, a number with its
      // default, a checkbox and an enum.
      expect(await p.getByLabel("delayMs").inputValue()).toBe("800");
      await p.getByLabel("text").fill("demo");
      await p.getByLabel("delayMs").fill("1500");
      await p.getByLabel("shout").check();
      await p.getByLabel("mode").selectOption({ label: "thorough" });
      await snapshot(p, "start");
    });
    const node = (id: string, status: string) =>
      page.locator(`.plan-graph [data-step-id="${id}"][data-status="${status}"]`);
    // The page is not reloaded: each change arrives over the run's event stream.
    await node("prepare", "running").waitFor();
    await node("left", "running").waitFor();
    await node("right", "running").waitFor();
    await snapshot(page, "run-live");
    for (const id of ["prepare", "left", "right", "join"]) await node(id, "succeeded").waitFor();
    await page.locator(".page-head .badge[data-status='succeeded']").waitFor();
    const run = await apiGet<{ status: string; result: unknown; input?: unknown }>(
      `/v1/runs/${runId}`,
    );
    expect(run.status).toBe("succeeded");
    expect(run.result).toEqual({ label: "left demo + right demo", waited: 10 });
    // The resolved input of a step, shown in its details.
    await page.locator("details[data-step-id='join'] > summary").click();
    const input = page.getByRole("region", { name: "Input of step join" });
    expect(JSON.parse((await input.textContent()) ?? "")).toEqual({
      label: "left demo + right demo",
      ms: 10,
    });
    await snapshot(page, "run-succeeded");

    // The runs list shows it, live, with its pipeline and duration.
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-status")).toBe("succeeded");
    expect(await row.textContent()).toContain("pipeline fan-out");
    await snapshot(page, "runs");
  });

  it("updates the runs list live as runs start and finish", async () => {
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    await page.getByText("Live", { exact: true }).waitFor();
    const res = await fetch(`${server.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        pipeline: "console-demo/fan-out",
        input: { text: "api", delayMs: 1500 },
      }),
    });
    const { runId } = (await res.json()) as { runId: string };
    await page.locator(`tr[data-run-id="${runId}"][data-status="running"]`).waitFor();
    await page.locator(`tr[data-run-id="${runId}"][data-status="succeeded"]`).waitFor();
  });

  it("opens a failed step and reads its guidance", async () => {
    const runId = await startPipeline(page, "breaks", async (p) => {
      await p.getByLabel("reason").fill("no fuel");
    });
    await page.locator(".page-head .badge[data-status='failed']").waitFor();
    const run = await apiGet<{
      steps: Array<{ stepId: string; error?: { userGuidance: string; recoveryActions: string[] } }>;
    }>(`/v1/runs/${runId}`);
    const failed = run.steps.find((s) => s.stepId === "boom")!;
    expect(failed.error?.userGuidance).toBeTruthy();
    // With the keyboard: the graph's nodes are links to the steps' details.
    await page.locator(".plan-graph [data-step-id='boom'][data-status='failed']").focus();
    await page.keyboard.press("Enter");
    const details = page.locator("details[data-step-id='boom']");
    await expect.poll(() => details.getAttribute("open")).not.toBeNull();
    const alert = details.getByRole("alert");
    await alert.getByText(failed.error!.userGuidance).waitFor();
    expect(await alert.textContent()).toContain("no fuel");
    for (const action of failed.error!.recoveryActions)
      await alert.getByText(action, { exact: true }).waitFor();
    // The retry the engine made is listed too.
    await details.getByRole("heading", { name: "Retries (1)" }).waitFor();
    await snapshot(page, "run-failed");
  });

  it("approves a paused step from the inbox, with edited parameters", async () => {
    const runId = await startPipeline(page, "pay", async (p) => {
      await p.getByLabel("amount").fill("42");
      await p.getByLabel("payee").fill("Ada");
    });
    await page.locator(".page-head .badge[data-status='paused']").waitFor();
    await page.getByRole("heading", { name: "Waiting for approval" }).waitFor();
    await page.getByRole("link", { name: /^Approvals/ }).click();
    const card = page.locator(`article[data-run-id="${runId}"][data-step-id="transfer"]`);
    await card.waitFor();
    const params = card.getByLabel("Parameters (edit before approving to change them)");
    expect(JSON.parse(await params.inputValue())).toEqual({ amount: 42, payee: "Ada" });
    await snapshot(page, "approvals");
    await params.fill(JSON.stringify({ amount: 40, payee: "Grace" }));
    await card.getByLabel("Reason (optional)").fill("rounded down");
    await card.getByRole("button", { name: "Approve" }).click();
    await card.getByText(/^Approved; the run is/).waitFor();
    await expect
      .poll(async () => (await apiGet<{ status: string }>(`/v1/runs/${runId}`)).status, {
        timeout: 20_000,
      })
      .toBe("succeeded");
    const run = await apiGet<{ result: unknown }>(`/v1/runs/${runId}`);
    expect(run.result).toEqual({ label: "paid Grace", waited: 10 });
    await card.getByRole("link", { name: runId.replace(/^run_/, "").slice(0, 8) }).click();
    await page.locator(".page-head .badge[data-status='succeeded']").waitFor();
    await page.locator("details[data-step-id='transfer'] > summary").click();
    await page
      .locator("details[data-step-id='transfer']")
      .getByText("approve", { exact: true })
      .waitFor();
  });

  it("runs an agent and shows its LLM calls with tokens and cost", async () => {
    await page.getByRole("link", { name: "Start work" }).first().click();
    await page.getByLabel("agent", { exact: true }).check();
    await page.getByLabel("Agent", { exact: true }).selectOption("console-demo/helper");
    await page.getByLabel("Task").fill("Pause briefly, then tell me.");
    await page.getByRole("button", { name: "Start agent" }).click();
    const runId = await runIdOf(page);
    await page.locator(".page-head .badge[data-status='succeeded']").waitFor();
    const run = await apiGet<{ cost: { inputTokens: number; outputTokens: number; usd: number } }>(
      `/v1/runs/${runId}`,
    );
    expect(run.cost.inputTokens).toBeGreaterThan(0);
    await page
      .getByRole("heading", { name: /^LLM calls \(\d+\)$/ })
      .first()
      .waitFor();
    const table = page.locator("table.compact").first();
    expect(await table.textContent()).toContain("gpt-4o-mini");
    await page
      .getByText(`${run.cost.inputTokens} in / ${run.cost.outputTokens} out tokens`)
      .waitFor();
    await snapshot(page, "run-agent");
  });

  it("cancels a running run", async () => {
    const runId = await startPipeline(page, "slow", async () => {});
    await page.locator(".plan-graph [data-step-id='long'][data-status='running']").waitFor();
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.locator(".page-head .badge[data-status='cancelled']").waitFor();
    expect((await apiGet<{ status: string }>(`/v1/runs/${runId}`)).status).toBe("cancelled");
    expect(await page.getByRole("button", { name: "Cancel run" }).count()).toBe(0);
    await snapshot(page, "run-cancelled");
  });

  it("works on a narrow screen", async () => {
    const narrow = await browser.newContext({
      viewport: { width: 390, height: 844 },
      bypassCSP: true,
    });
    narrow.setDefaultTimeout(15_000);
    const phone = await narrow.newPage();
    watch(phone);
    await phone.goto(`${server.url}/console/`);
    await phone.getByLabel("API key").fill(KEY);
    await phone.getByRole("button", { name: "Use this key" }).click();
    const first = phone.locator("tr[data-run-id]").first();
    await first.waitFor();
    // Rows are stacked cards: nothing is wider than the screen.
    const overflow = await phone.evaluate("document.documentElement.scrollWidth");
    expect(overflow).toBeLessThanOrEqual(390);
    await snapshot(phone, "narrow-runs");
    await first.getByRole("link").click();
    await phone.locator(".plan-graph").waitFor();
    await snapshot(phone, "narrow-run");
    await phone.getByRole("link", { name: "Start work" }).first().click();
    await snapshot(phone, "narrow-start");
    await narrow.close();
  });

  it("made every request to the runtime's own origin", () => {
    const origin = new URL(server.url).origin;
    expect(requests.length).toBeGreaterThan(20);
    const elsewhere = requests.filter(
      (url) => !url.startsWith("data:") && new URL(url).origin !== origin,
    );
    expect(elsewhere).toEqual([]);
  });
});
