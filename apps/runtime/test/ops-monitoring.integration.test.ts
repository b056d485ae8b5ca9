/**
 * The alert rules and the dashboard under deploy/monitoring, checked with Debian's `promtool`
 * (package `prometheus`; `.ci/run` installs it), against the metrics a composed runtime serves.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { type RedisHandle, startRedis } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../../..");
const monitoring = path.join(root, "deploy", "monitoring");
const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

/**
 * Metric families of prom-client's default collectors whose names promtool's linter dislikes
 * (gauges ending in `_total`). They are named by the library, not by the runtime.
 */
const LIBRARY_LINT = [
  "aria_process_nodejs_active_handles_total",
  "aria_process_nodejs_active_requests_total",
  "aria_process_nodejs_active_resources_total",
];

function promtool(args: string[], input?: string) {
  const result = spawnSync("promtool", args, {
    cwd: monitoring,
    encoding: "utf8",
    ...(input !== undefined ? { input } : {}),
  });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT")
    throw new Error(
      "promtool is not installed: it comes with Debian's `prometheus` package (apt-get install prometheus); .ci/run installs it",
    );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

let redis: RedisHandle;
let runtime: Runtime;
let scrape: string;

beforeAll(async () => {
  promtool(["--version"]);
  redis = await startRedis();
  runtime = await composeRuntime(
    RuntimeConfigSchema.parse({
      redisUrl: redis.url,
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "aria-mon-")),
      examplesDir: path.join(root, "examples"),
      features: { containers: false },
    }),
    silent,
  );
  // Traffic, so that the labelled families have samples: a run, an error, a readiness check.
  const run = await runtime.app.request("/v1/runs?wait=true", {
    method: "POST",
    body: JSON.stringify({ pipeline: "text-report", input: { text: "metrics for promtool" } }),
  });
  expect(run.status).toBe(200);
  expect((await runtime.app.request("/v1/runs/run_missing")).status).toBe(404);
  expect((await runtime.app.request("/ready")).status).toBe(200);
  const response = await runtime.app.request("/metrics");
  expect(response.status).toBe(200);
  scrape = await response.text();
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await redis?.stop();
});

/** Metric families the runtime exposes (`# TYPE` lines), with their kind. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(match[1]!, match[2]!);
  return out;
}

/** The family a series name belongs to (histogram series end in _bucket, _sum, _count). */
function familyOf(name: string, known: Map<string, string>): string | undefined {
  if (known.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return known.get(base) === "histogram" ? base : undefined;
}

/** PromQL expressions of the dashboard's panels (Grafana's $__rate_interval as 5m). */
function dashboardExprs(): Array<{ id: string; expr: string }> {
  const dashboard = JSON.parse(
    fs.readFileSync(path.join(monitoring, "grafana-dashboard.json"), "utf8"),
  ) as {
    panels: Array<{ id: number; type: string; targets?: Array<{ refId: string; expr: string }> }>;
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((t) => ({
      id: `panel_${panel.id}_${t.refId}`,
      expr: t.expr.replaceAll("$__rate_interval", "5m"),
    })),
  );
}

const alertExprs = () =>
  [
    ...fs
      .readFileSync(path.join(monitoring, "alerts.yaml"), "utf8")
      .matchAll(/expr: (?:>-\n)?([\s\S]*?)\n\s+for:/g),
  ].map((m) => m[1]!.replace(/\s+/g, " ").trim());

describe("deploy/monitoring", () => {
  it("alerts.yaml passes promtool check rules", () => {
    const { status, output } = promtool(["check", "rules", "alerts.yaml"]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status).toBe(0);
  });

  it("the alert rules fire (and stay quiet) as their unit tests expect", () => {
    const { status, output } = promtool(["test", "rules", "alerts.test.yaml"]);
    expect(output).toContain("SUCCESS");
    expect(status).toBe(0);
  });

  it("covers error rate by code, run failures, queue depth and age, LLM breaker, containers, Redis", () => {
    const rules = fs.readFileSync(path.join(monitoring, "alerts.yaml"), "utf8");
    for (const needle of [
      "aria_errors_total",
      'aria_runs_total{status="failed"}',
      "aria_queue_depth",
      "aria_queue_oldest_age_seconds",
      "aria_llm_breaker_open",
      "aria_containers_active >= aria_containers_limit",
      'aria_dependency_up{dependency="store"} == 0',
    ])
      expect(rules).toContain(needle);
  });

  it("every dashboard query is valid PromQL (checked by promtool as recording rules)", () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(15);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "aria-dash-")), "dash.rules.yaml");
    fs.writeFileSync(
      file,
      JSON.stringify({
        groups: [
          {
            name: "dashboard",
            rules: exprs.map((e) => ({ record: `aria:dashboard:${e.id}`, expr: e.expr })),
          },
        ],
      }),
    );
    const { status, output } = promtool(["check", "rules", file]);
    expect(output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(status).toBe(0);
  });

  it("the runtime's /metrics passes promtool check metrics", () => {
    expect(scrape).toContain("aria_runs_total");
    // Everything the runtime names itself: no problem at all.
    const own = scrape
      .split("\n")
      .filter(
        (line) => !LIBRARY_LINT.some((name) => line.includes(` ${name} `) || line.startsWith(name)),
      )
      .join("\n");
    const clean = promtool(["check", "metrics"], own);
    expect(clean.output.trim()).toBe("");
    expect(clean.status).toBe(0);
    // The whole scrape parses; the only lint is prom-client's own naming of those gauges.
    const full = promtool(["check", "metrics"], scrape);
    const problems = full.output.trim().split("\n").filter(Boolean);
    for (const problem of problems)
      expect(
        LIBRARY_LINT.some((name) => problem.startsWith(`${name} `)),
        problem,
      ).toBe(true);
  });

  it("every metric the rules and the dashboard use is exposed, with the labels they select on", () => {
    const known = families(scrape);
    const samples = scrape.split("\n").filter((line) => line && !line.startsWith("#"));
    const exprs = [...alertExprs(), ...dashboardExprs().map((e) => e.expr)];
    expect(alertExprs().length).toBeGreaterThanOrEqual(9);
    for (const expr of exprs) {
      for (const [, name, selector] of expr.matchAll(/\b(aria_[a-z0-9_]+)(\{[^}]*\})?/g)) {
        const family = familyOf(name!, known);
        expect(family, `${name} in ${expr}`).toBeDefined();
        for (const [, label] of (selector ?? "").matchAll(/([a-z_]+)\s*=~?/g)) {
          const labelled = samples.some(
            (s) => s.startsWith(`${name}{`) && new RegExp(`[{,]${label}="`).test(s),
          );
          // Families with no sample yet (e.g. no container ran) are checked by name only.
          const anySample = samples.some(
            (s) => s.startsWith(`${name}{`) || s.startsWith(`${name} `),
          );
          if (anySample) expect(labelled, `${name} has no label ${label}`).toBe(true);
        }
      }
    }
    // The samples the Redis alert relies on are there.
    expect(scrape).toMatch(/^aria_dependency_up\{dependency="store"\} 1$/m);
  });
});
