/**
 * Runs one suite of cases for one framework in a fresh process and prints its results as one JSON
 * line prefixed with `@@RESULT `. Started by bench/peers/index.ts (one process per framework and
 * suite, so heaps, JIT state and peak RSS are not shared between frameworks).
 *
 *   node --expose-gc --conditions=@aria/source --import tsx bench/peers/worker.ts \
 *     --framework aria|openai-agents|langgraph|mastra --suite time|memory|concurrency [--quick]
 *     [--levels 1,100,1000]
 */
import type { FrameworkAdapter } from "./frameworks/types.ts";
import { NotAvailableError } from "./frameworks/types.ts";
import { benchPlan } from "./lib/plan.ts";
import { modelCalls } from "./lib/script.ts";
import { repeat, summarize } from "./lib/stats.ts";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const frameworkId = arg("--framework") ?? "";
const suite = arg("--suite") ?? "";
const quick = args.includes("--quick");
const levels = (arg("--levels") ?? "1,100,1000").split(",").map(Number);

const PLAN = benchPlan({ quick, levels });

async function load(id: string): Promise<FrameworkAdapter> {
  switch (id) {
    case "aria":
      return (await import("./frameworks/aria.ts")).aria;
    case "openai-agents":
      return (await import("./frameworks/openai-agents.ts")).openaiAgents;
    case "langgraph":
      return (await import("./frameworks/langgraph.ts")).langgraph;
    case "mastra":
      return (await import("./frameworks/mastra.ts")).mastra;
    default:
      throw new Error(`unknown framework '${id}'`);
  }
}

type CaseResult = Record<string, unknown>;

async function runCase(fn: () => Promise<CaseResult>): Promise<CaseResult> {
  try {
    return { status: "ok", ...(await fn()) };
  } catch (error) {
    if (error instanceof NotAvailableError) return { status: "missing", reason: error.message };
    return {
      status: "error",
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("run with --expose-gc");
  collect();
  collect();
  collect();
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function timeSuite(fw: FrameworkAdapter): Promise<CaseResult> {
  const overhead = await runCase(async () => {
    const run = await fw.agent(0);
    const { stepsPerRun } = PLAN.overhead;
    await repeat(() => run(stepsPerRun), PLAN.overhead.warmup);
    const callsBefore = modelCalls();
    const samples = await repeat(() => run(stepsPerRun), PLAN.overhead.measured);
    const calls = modelCalls() - callsBefore;
    if (calls !== samples.length * stepsPerRun)
      throw new Error(`expected ${samples.length * stepsPerRun} model calls, saw ${calls}`);
    return {
      stepsPerRun,
      usPerStep: summarize(samples.map((ms) => (ms * 1000) / stepsPerRun)),
      msPerRun: summarize(samples),
      modelCalls: calls,
    };
  });
  const agentChain = await runCase(async () => {
    const run = await fw.agent(0);
    const { steps, warmupSteps } = PLAN.agentChain;
    await run(warmupSteps);
    const samples = await repeat(() => run(steps), PLAN.agentChain.measured);
    return {
      steps,
      msPerRun: summarize(samples),
      usPerStep: summarize(samples.map((ms) => (ms * 1000) / steps)),
    };
  });
  const toolChain = await runCase(async () => {
    if (!fw.toolChains) throw new NotAvailableError(`${fw.label} has no deterministic pipeline`);
    const { steps } = PLAN.toolChain;
    const variants = await fw.toolChains(steps);
    const out: Record<string, unknown> = {};
    for (const [name, run] of Object.entries(variants)) {
      await repeat(run, PLAN.toolChain.warmup);
      const samples = await repeat(run, PLAN.toolChain.measured);
      out[name] = {
        steps,
        msPerRun: summarize(samples),
        usPerStep: summarize(samples.map((ms) => (ms * 1000) / steps)),
      };
    }
    return { variants: out };
  });
  return { overhead, agentChain, toolChain };
}

async function memorySuite(fw: FrameworkAdapter): Promise<CaseResult> {
  const sessions = await runCase(async () => {
    const { count, turns, stepsPerTurn, warmupSessions } = PLAN.sessions;
    const factory = await fw.sessions();
    const open = async (index: number) => {
      const session = await factory.open(index);
      for (let t = 0; t < turns; t++) await session.turn(stepsPerTurn);
      return session;
    };
    const warm = [];
    for (let i = 0; i < warmupSessions; i++) warm.push(await open(-1 - i));
    gc();
    const before = process.memoryUsage();
    const started = performance.now();
    const kept = await Promise.all(Array.from({ length: count }, (_, i) => open(i)));
    const wallMs = performance.now() - started;
    gc();
    const after = process.memoryUsage();
    if (kept.length !== count || warm.length !== warmupSessions || factory.retained === null)
      throw new Error("sessions lost");
    return {
      sessions: count,
      turnsPerSession: turns,
      stepsPerTurn,
      heapBytesPerSession: Math.round((after.heapUsed - before.heapUsed) / count),
      // `external` includes ArrayBuffers (LangGraph's MemorySaver keeps checkpoints as bytes).
      externalBytesPerSession: Math.round((after.external - before.external) / count),
      bytesPerSession: Math.round(
        (after.heapUsed + after.external - before.heapUsed - before.external) / count,
      ),
      heapUsedMbAfter: mb(after.heapUsed),
      rssMbAfter: mb(after.rss),
      wallMsToCreate: Math.round(wallMs),
    };
  });
  return { sessions };
}

async function concurrencySuite(fw: FrameworkAdapter): Promise<CaseResult> {
  const concurrency = await runCase(async () => {
    const { stepsPerRun, modelLatencyMs, warmupRuns } = PLAN.concurrency;
    const warm = await fw.agent(0);
    for (let i = 0; i < warmupRuns; i++) await warm(stepsPerRun);
    const run = await fw.agent(modelLatencyMs);
    const idealMs = stepsPerRun * modelLatencyMs;
    const out: Record<string, unknown> = {};
    for (const level of PLAN.concurrency.levels) {
      gc();
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 10);
      const started = performance.now();
      await Promise.all(Array.from({ length: level }, () => run(stepsPerRun)));
      const wallMs = performance.now() - started;
      clearInterval(sampler);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      out[level] = {
        concurrentRuns: level,
        wallMs: Math.round(wallMs),
        runsPerSecond: Math.round((level / wallMs) * 1000 * 10) / 10,
        efficiency: Math.round((idealMs / wallMs) * 1000) / 1000,
        rssMbBefore: mb(rssBefore),
        peakRssMb: mb(peakRss),
      };
    }
    return { stepsPerRun, modelLatencyMs, idealWallMs: idealMs, levels: out };
  });
  return { concurrency };
}

const fw = await load(frameworkId);
const started = performance.now();
const results =
  suite === "time"
    ? await timeSuite(fw)
    : suite === "memory"
      ? await memorySuite(fw)
      : suite === "concurrency"
        ? await concurrencySuite(fw)
        : (() => {
            throw new Error(`unknown suite '${suite}'`);
          })();
process.stdout.write(
  `@@RESULT ${JSON.stringify({
    framework: fw.id,
    label: fw.label,
    packages: fw.packages,
    configuration: fw.configuration,
    suite,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    results,
  })}\n`,
);
process.exit(0);
