import { AriaError } from "@aria/errors";
import type { ApiClient } from "../cli/client.ts";
import type { McpBackend, McpCallOutcome } from "./backend.ts";
import { type EndedRun, mcpEvent, outcomeOf } from "./outcome.ts";
import { callInput, type RuntimeLists, targetsFrom } from "./targets.ts";

/** Options of the HTTP backend. */
export interface HttpBackendOptions {
  /**
   * How often `GET /v1/bundles` is read to notice installed and removed bundles (ms; default 5000:
   * 12 requests a minute against the key's rate limit). The public API has no change feed, so
   * `aria mcp` polls; 0 turns it off.
   */
  pollMs?: number;
  /** Receives polling failures (the CLI logs them to stderr). */
  onError?: (error: unknown) => void;
}

/**
 * The MCP backend of `aria mcp`: a runtime reached over its public `/v1` API with the CLI's
 * {@link ApiClient} (so the CLI's API key, the server's policy, rate limit and audit apply as for
 * any other client). Runs are followed through their Server-Sent Events.
 */
export function createHttpBackend(client: ApiClient, options: HttpBackendOptions = {}): McpBackend {
  const lists = async (): Promise<RuntimeLists> => {
    const [tools, agents, teams, pipelines] = await Promise.all([
      client.request<{ tools: RuntimeLists["tools"] }>("GET", "/v1/tools"),
      client.request<{ agents: RuntimeLists["agents"] }>("GET", "/v1/agents"),
      client.request<{ teams: RuntimeLists["teams"] }>("GET", "/v1/teams"),
      client.request<{ pipelines: RuntimeLists["pipelines"] }>("GET", "/v1/pipelines"),
    ]);
    return {
      tools: tools.tools,
      agents: agents.agents,
      teams: teams.teams,
      pipelines: pipelines.pipelines,
    };
  };

  return {
    async list() {
      return targetsFrom(await lists());
    },

    async call(target, args, { signal, onEvent }): Promise<McpCallOutcome> {
      const { task, input } = callInput(target, args);
      if (target.kind === "tool") {
        const started = performance.now();
        try {
          const answer = await client.request<{
            success: boolean;
            output: unknown;
            error?: { code: string; message: string; userGuidance?: string };
            metrics?: { durationMs: number };
          }>("POST", `/v1/tools/${encodeURIComponent(target.id)}/invoke`, { input: input ?? {} });
          const durationMs = answer.metrics?.durationMs ?? performance.now() - started;
          return answer.success
            ? { ok: true, status: "succeeded", result: answer.output, durationMs }
            : {
                ok: false,
                status: "failed",
                durationMs,
                error: answer.error ?? { code: "TOOL_EXECUTION_FAILED", message: "tool failed" },
              };
        } catch (error) {
          return failed(error);
        }
      }
      let runId: string;
      try {
        ({ runId } = await client.request<{ runId: string }>("POST", "/v1/runs", {
          [target.kind]: target.id,
          ...(task !== undefined ? { task } : {}),
          ...(input !== undefined ? { input } : {}),
        }));
      } catch (error) {
        return failed(error);
      }
      const onAbort = () => {
        client
          .request("POST", `/v1/runs/${encodeURIComponent(runId)}/cancel`)
          .catch(() => undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        // The stream ends after the run's terminal event.
        await client.events(runId, (event) => onEvent?.(mcpEvent(runId, event)));
        const run = await client.request<EndedRun>("GET", `/v1/runs/${encodeURIComponent(runId)}`);
        return outcomeOf(runId, run);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    },

    subscribe(listener) {
      const pollMs = options.pollMs ?? 5000;
      if (pollMs <= 0) return () => undefined;
      let last: string | undefined;
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const tick = async () => {
        try {
          // One cheap request: the installed bundles (name, version, digest) change on every
          // install and uninstall; the four lists are read again only when the client asks.
          const { bundles } = await client.request<{
            bundles: Array<{ name: string; version: string; digest: string }>;
          }>("GET", "/v1/bundles");
          const fingerprint = bundles
            .map((b) => `${b.name}@${b.version}:${b.digest}`)
            .sort()
            .join("\n");
          if (last !== undefined && fingerprint !== last) listener();
          last = fingerprint;
        } catch (error) {
          options.onError?.(error);
        }
        if (!stopped) {
          timer = setTimeout(tick, pollMs);
          timer.unref?.();
        }
      };
      void tick();
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    },
  };
}

function failed(error: unknown): McpCallOutcome {
  if (!AriaError.is(error)) throw error;
  return {
    ok: false,
    status: "failed",
    error: {
      code: error.code,
      message: error.message,
      userGuidance: error.userGuidance,
      ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
    },
  };
}
