#!/usr/bin/env node
import { parseArgs } from "node:util";
import { AriaError } from "@aria/errors";
import { approvalsCommand, decideCommand } from "./cli/approvals.ts";
import { UsageError } from "./cli/args.ts";
import { bundleCommand } from "./cli/bundle.ts";
import { ApiClient } from "./cli/client.ts";
import { formatChecks, runDoctor } from "./cli/doctor.ts";
import { Progress } from "./cli/progress.ts";
import { loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { type ServeRole, serveMain } from "./main.ts";
import { mcpCommand } from "./mcp/stdio.ts";
import { backupCommand, restoreCommand } from "./ops/cli.ts";
import { startServer } from "./server.ts";

const USAGE = `Usage: aria <command> [options]

Commands:
  serve [--role api|worker|all]      start the runtime server (ARIA_HOST, ARIA_PORT, ...)
  run --pipeline P --input JSON      run a pipeline and follow its steps
  run --agent A "task"               run an agent on a task
  run --team T "task"                run a team on a task
  bundle pack|inspect|install|list|uninstall|gc|keygen   work with .aria bundles
  invoke TOOL --input JSON           invoke one tool (BUNDLE/TOOL or a bare name)
  chat --agent A "message" [--session ID]   talk to an agent in a session that continues
  tools                              list installed tools
  runs                               list recent runs
  approvals                          list steps waiting for a human approval
  approve RUN STEP [--params JSON] [--reason TEXT]   approve a paused step (optionally edited)
  reject RUN STEP [--reason TEXT]    reject a paused step (it fails; the run goes on per policy)
  mcp [--poll-ms N]                  serve the tools, agents, teams and pipelines over MCP (stdio)
  doctor                             check Docker, the tool image, Redis and LLM providers
  backup FILE                        back up the bundle store and everything kept in Redis
  restore FILE [--force] [--only redis|data]   restore a backup into a fresh Redis and data directory
  help                               show this help

Options: --json (machine-readable output), --server URL (default $ARIA_URL or
http://ARIA_HOST:ARIA_PORT; without a reachable server, run/tools/runs start one in-process).
Exit status: 0 success, 1 failed run or check, 2 bad usage.`;

type Out = { write(s: string): unknown; isTTY?: boolean };

/** Finds a running server, or starts one in this process on a free port. */
async function withClient<T>(
  server: string | undefined,
  fn: (client: ApiClient) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const apiKey = process.env.ARIA_API_KEY ?? config.apiKeys[0];
  const url =
    server ??
    process.env.ARIA_URL ??
    `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;
  const remote = new ApiClient(url, apiKey);
  if (server !== undefined || (await remote.reachable())) return fn(remote);
  // The in-process server stays quiet: the CLI prints what matters.
  const logger = createLogger("error");
  const local = await startServer({ ...config, port: 0, host: "127.0.0.1" }, logger);
  try {
    return await fn(new ApiClient(local.url, apiKey, { inProcess: true }));
  } finally {
    await local.close();
  }
}

async function runCommand(argv: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: "string" },
      agent: { type: "string" },
      team: { type: "string" },
      input: { type: "string" },
      session: { type: "string" },
      "max-steps": { type: "string" },
      server: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const targets = [values.pipeline, values.agent, values.team].filter(Boolean);
  if (targets.length !== 1)
    throw new UsageError("give exactly one of --pipeline, --agent or --team");
  const task = positionals.join(" ").trim();
  if ((values.agent || values.team) && !task)
    throw new UsageError('an agent or team run needs a task: aria run --agent NAME "task"');
  let input: unknown;
  if (values.input !== undefined) {
    try {
      input = JSON.parse(values.input);
    } catch (error) {
      throw new UsageError(`--input is not valid JSON: ${(error as Error).message}`);
    }
  }
  const body = {
    ...(values.pipeline ? { pipeline: values.pipeline } : {}),
    ...(values.agent ? { agent: values.agent } : {}),
    ...(values.team ? { team: values.team } : {}),
    ...(task ? { task } : {}),
    ...(input !== undefined ? { input } : {}),
    ...(values.session ? { sessionId: values.session } : {}),
    ...(values["max-steps"] ? { options: { maxSteps: Number(values["max-steps"]) } } : {}),
  };
  return withClient(values.server, async (client) => {
    const { runId } = await client.request<{ runId: string }>("POST", "/v1/runs", body);
    const progress = values.json ? undefined : new Progress(out as NodeJS.WritableStream);
    progress?.line(`run ${runId}`);
    let stranded: string | undefined;
    await client.events(runId, (event) => {
      if (event.type === "approval.requested" && client.inProcess) {
        // Nobody could approve it: this runtime lives and ends inside this command.
        stranded = event.stepId ?? "?";
        return false;
      }
      if (event.type === "approval.requested")
        progress?.line(
          `⏸ ${event.stepId} waits for approval: aria approve ${runId} ${event.stepId} (or aria reject ...)`,
        );
      else if (event.type === "approval.resolved")
        progress?.line(
          `${event.data.decision === "approve" ? "▶" : "■"} ${event.stepId} ${event.data.status} by ${String(event.data.by)}`,
        );
      else progress?.event(event.type, event.data, event.stepId);
    });
    progress?.stop();
    if (stranded !== undefined) {
      err.write(
        `✗ step ${stranded} waits for a person's approval, but no runtime server was reachable, so this run lives inside this command and nobody can approve it.\n  Start a server (./scripts/start.sh or aria serve) and run the command again; then approve with aria approve RUN ${stranded}.\n`,
      );
      return 1;
    }
    const run = await client.request<{
      status: string;
      result: unknown;
      error: { code: string; message: string; userGuidance: string } | null;
      metrics: { durationMs: number };
      cost: { usd: number };
    }>("GET", `/v1/runs/${encodeURIComponent(runId)}`);
    if (values.json) out.write(`${JSON.stringify(run, null, 2)}\n`);
    else if (run.status === "succeeded") {
      out.write(
        `✓ ${run.status} in ${(run.metrics.durationMs / 1000).toFixed(2)}s${run.cost.usd ? `, $${run.cost.usd.toFixed(4)}` : ""}\n`,
      );
      out.write(
        `${typeof run.result === "string" ? run.result : JSON.stringify(run.result, null, 2)}\n`,
      );
    } else {
      err.write(
        `✗ ${run.status}${run.error ? `: ${run.error.code}: ${run.error.message}\n  ${run.error.userGuidance}` : ""}\n`,
      );
    }
    return run.status === "succeeded" ? 0 : 1;
  });
}

async function invokeCommand(argv: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: "string", default: "{}" },
      server: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const tool = positionals[0];
  if (!tool) throw new UsageError("name the tool: aria invoke TOOL --input JSON");
  let input: unknown;
  try {
    input = JSON.parse(values.input);
  } catch (error) {
    throw new UsageError(`--input is not valid JSON: ${(error as Error).message}`);
  }
  return withClient(values.server, async (client) => {
    const result = await client.request<{
      success: boolean;
      output: unknown;
      error?: { code: string; message: string };
    }>("POST", `/v1/tools/${encodeURIComponent(tool)}/invoke`, { input });
    if (values.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (result.success) out.write(`${JSON.stringify(result.output, null, 2)}\n`);
    else err.write(`✗ ${result.error?.code}: ${result.error?.message}\n`);
    return result.success ? 0 : 1;
  });
}

async function chatCommand(argv: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      agent: { type: "string" },
      session: { type: "string" },
      server: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const content = positionals.join(" ").trim();
  if (!values.agent || !content)
    throw new UsageError('aria chat --agent NAME "message" [--session ID]');
  const agent = values.agent;
  return withClient(values.server, async (client) => {
    const sessionId =
      values.session ??
      (await client.request<{ id: string }>("POST", "/v1/sessions", { agent })).id;
    const reply = await client.request<{
      turn: { content: string };
      session: { id: string; turns: unknown[] };
    }>("POST", `/v1/sessions/${encodeURIComponent(sessionId)}/messages`, { agent, content });
    if (values.json) out.write(`${JSON.stringify(reply, null, 2)}\n`);
    else
      out.write(
        `${reply.turn.content}\n\n(session ${sessionId}, ${reply.session.turns.length} turns; continue with --session ${sessionId})\n`,
      );
    return 0;
  });
}

async function listCommand(kind: "tools" | "runs", argv: string[], out: Out): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: "boolean", default: false }, server: { type: "string" } },
  });
  return withClient(values.server, async (client) => {
    if (kind === "tools") {
      const { tools } = await client.request<{
        tools: Array<{ id: string; description: string; execution: string }>;
      }>("GET", "/v1/tools");
      if (values.json) out.write(`${JSON.stringify(tools, null, 2)}\n`);
      else
        for (const t of tools)
          out.write(`${t.id.padEnd(40)} ${t.execution.padEnd(10)} ${t.description}\n`);
    } else {
      const { runs } = await client.request<{
        runs: Array<{
          id: string;
          status: string;
          target: { kind: string; name?: string };
          createdAt: string;
          durationMs: number;
        }>;
      }>("GET", "/v1/runs");
      if (values.json) out.write(`${JSON.stringify(runs, null, 2)}\n`);
      else
        for (const r of runs)
          out.write(
            `${r.id}  ${r.status.padEnd(10)} ${`${r.target.kind}:${r.target.name ?? ""}`.padEnd(30)} ${r.createdAt}  ${(r.durationMs / 1000).toFixed(2)}s\n`,
          );
    }
    return 0;
  });
}

/** The `aria` command line. Returns the exit status (-1: keep running, e.g. `serve`). */
export async function cliMain(
  argv: string[],
  out: Out = process.stdout,
  err: Out = process.stderr,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "serve": {
        const { values } = parseArgs({
          args: rest,
          options: { role: { type: "string", default: "all" } },
        });
        if (!["api", "worker", "all"].includes(values.role))
          throw new UsageError("--role is api, worker or all");
        await serveMain(process.env, values.role as ServeRole);
        return -1;
      }
      case "run":
        return await runCommand(rest, out, err);
      case "bundle": {
        const config = loadConfig();
        return await bundleCommand(rest, out, {
          dataDir: config.dataDir,
          limits: config.limits,
          err,
        });
      }
      case "invoke":
        return await invokeCommand(rest, out, err);
      case "chat":
        return await chatCommand(rest, out);
      case "tools":
      case "runs":
        return await listCommand(command, rest, out);
      case "approvals":
        return await approvalsCommand(rest, out, withClient);
      case "approve":
      case "reject":
        return await decideCommand(command, rest, out, withClient);
      case "backup": {
        const config = loadConfig();
        return await backupCommand(rest, out, {
          ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
          dataDir: config.dataDir,
          err,
        });
      }
      case "restore": {
        const config = loadConfig();
        return await restoreCommand(rest, out, {
          ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
          dataDir: config.dataDir,
          err,
        });
      }
      case "mcp":
        return await mcpCommand(rest, err, withClient);
      case "doctor": {
        const { values } = parseArgs({
          args: rest,
          options: { json: { type: "boolean", default: false } },
        });
        const checks = await runDoctor(loadConfig());
        out.write(
          values.json ? `${JSON.stringify(checks, null, 2)}\n` : `${formatChecks(checks)}\n`,
        );
        return checks.some((c) => c.status === "fail") ? 1 : 0;
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")
    ) {
      err.write(`aria: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (AriaError.is(error)) {
      err.write(`aria: ${error.code}: ${error.message}\n  ${error.userGuidance}\n`);
      return 1;
    }
    throw error;
  }
}

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith("/cli.js") ||
  process.argv[1]?.endsWith("/cli.ts")
) {
  const code = await cliMain(process.argv.slice(2));
  if (code >= 0) process.exit(code);
}
