import type {
  AgentRegistry,
  ErrorBody,
  EventSink,
  TeamManifest,
  TeamStrategy,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { AgentInvocationOptions, AgentInvocationResult } from "../agents/agent-executor.ts";
import type {
  InvocationRequest,
  InvocationResult,
  StepUsage,
  TeamExecutor,
} from "../execution/executors.ts";

/** What teams need from the agent layer (the agent executor fits). */
export interface TeamMemberInvoker {
  invokeAgent(
    agent: string,
    message: string,
    options?: AgentInvocationOptions,
  ): Promise<AgentInvocationResult>;
}

/** Collaborators of {@link createTeamExecutor}. */
export interface TeamExecutorDeps {
  agents: AgentRegistry;
  members: TeamMemberInvoker;
  events?: EventSink;
  config?: {
    /** Rounds of the collaborative strategy at most (default 3). */
    collaborativeRounds?: number;
    /** Members running at once where the strategy allows (default: all). */
    maxParallel?: number;
  };
}

/** Role groups of the role-based strategy, in the order they run. */
export const TEAM_ROLE_ORDER = ["research", "development", "documentation", "general"] as const;
export type TeamRole = (typeof TEAM_ROLE_ORDER)[number];

/** One member's part in a team run. */
export interface TeamMemberResult {
  member: string;
  success: boolean;
  response: string;
  turns: number;
  role?: string;
  round?: number;
  error?: ErrorBody;
}

/** The output of a `team` step. */
export interface TeamOutput {
  team: string;
  strategy: TeamStrategy;
  success: boolean;
  /** The team's answer: the last member's (sequential, pipeline, role-based) or the successful members' answers. */
  response: string;
  /** Same as `response` (`{{steps.ID.output.text}}` reads it like an agent step's). */
  text: string;
  results: TeamMemberResult[];
  /** Collaborative: rounds run and whether consensus was reached. */
  rounds?: number;
  consensus?: boolean;
}

interface RunContext {
  request: InvocationRequest & { team: string };
  team: TeamManifest & { id: string };
  usage: StepUsage;
}

/**
 * Creates the team executor: the five strategies of contracts §2 with the success rules of the
 * originals (original-behaviour.md §8), their defects fixed:
 *
 * | strategy | runs | succeeds when |
 * |---|---|---|
 * | `parallel` | every member on the task, concurrently | any member succeeds |
 * | `sequential` | members in order, each seeing the earlier answers; stops at the first failure | all succeed |
 * | `pipeline` | each member's answer is the next member's input, with the accumulated answers; stops at the first failure | all succeed |
 * | `collaborative` | rounds (default at most 3) of all members concurrently, each seeing the others' latest answers; stops at consensus (a round in which every member succeeds) | consensus, or any success in the last round |
 * | `role_based` | members picked by relevance to the task, grouped research → development → documentation → general; a group's members run concurrently, each group sees the earlier groups' answers; stops at the first failing group | all picked members succeed |
 *
 * Fixes: a one-member collaborative team reaches consensus when its member succeeds (the original
 * required two members, so it could never agree); consensus ends the rounds early; role-based teams
 * use the manifest's `roles` when given, and when no member looks relevant all members take part
 * (the original could pick nobody and report success for an empty team); member failures are
 * collected, never thrown past the team, and a failed team fails its step with every member's error.
 */
export function createTeamExecutor(deps: TeamExecutorDeps): TeamExecutor {
  const maxRounds = Math.max(1, deps.config?.collaborativeRounds ?? 3);

  const invoke = async (
    ctx: RunContext,
    member: string,
    message: string,
    context: unknown,
    tag: string,
    extra: { role?: string; round?: number } = {},
  ): Promise<TeamMemberResult> => {
    const { request } = ctx;
    const key = `${request.idempotencyKey}/${tag}`;
    let result: AgentInvocationResult;
    try {
      result = await deps.members.invokeAgent(member, message, {
        ...(context !== undefined ? { context } : {}),
        parentRunId: request.runId,
        stepId: `${request.stepId}/${tag}`,
        idempotencyKey: key,
        signal: request.signal,
        ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
      });
    } catch (error) {
      if (request.signal.aborted) throw error;
      const aria = AriaError.is(error)
        ? error
        : new AriaError("STEP_FAILED", { message: String(error) });
      return {
        member,
        success: false,
        response: aria.message,
        turns: 0,
        error: aria.toBody(),
        ...extra,
      };
    }
    ctx.usage.inputTokens += result.usage.inputTokens;
    ctx.usage.outputTokens += result.usage.outputTokens;
    ctx.usage.costUsd += result.costUsd;
    return {
      member,
      success: result.success,
      response: result.response,
      turns: result.turns,
      ...(result.error !== undefined ? { error: result.error } : {}),
      ...extra,
    };
  };

  const limited = async <T>(
    items: readonly T[],
    run: (item: T, i: number) => Promise<TeamMemberResult>,
  ) => {
    const max = Math.max(1, deps.config?.maxParallel ?? items.length);
    if (max >= items.length) return Promise.all(items.map(run));
    const out: TeamMemberResult[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await run(items[i]!, i);
      }
    };
    await Promise.all(Array.from({ length: max }, worker));
    return out;
  };

  const strategies: Record<
    TeamStrategy,
    (ctx: RunContext) => Promise<Omit<TeamOutput, "team" | "strategy" | "text">>
  > = {
    async parallel(ctx) {
      const results = await limited(ctx.team.members, (m, i) =>
        invoke(ctx, m, ctx.request.task, inputOf(ctx), tagOf(m, i)),
      );
      const ok = results.filter((r) => r.success);
      return { success: ok.length > 0, response: joinAnswers(ok), results };
    },

    async sequential(ctx) {
      const results: TeamMemberResult[] = [];
      for (const [i, member] of ctx.team.members.entries()) {
        const previous = results.map((r) => ({ member: r.member, response: r.response }));
        const result = await invoke(
          ctx,
          member,
          ctx.request.task,
          withInput(ctx, previous.length > 0 ? { previousAnswers: previous } : undefined),
          tagOf(member, i),
        );
        results.push(result);
        if (!result.success) break;
      }
      const all = results.length === ctx.team.members.length && results.every((r) => r.success);
      return { success: all, response: results[results.length - 1]?.response ?? "", results };
    },

    async pipeline(ctx) {
      const results: TeamMemberResult[] = [];
      for (const [i, member] of ctx.team.members.entries()) {
        const last = results[results.length - 1];
        const context =
          last === undefined
            ? inputOf(ctx)
            : withInput(ctx, {
                input: last.response,
                accumulated: results.map((r) => ({ member: r.member, response: r.response })),
              });
        const message =
          last === undefined
            ? ctx.request.task
            : `${ctx.request.task}\n\nContinue from the previous member's output (in the context data below).`;
        const result = await invoke(ctx, member, message, context, tagOf(member, i));
        results.push(result);
        if (!result.success) break;
      }
      const all = results.length === ctx.team.members.length && results.every((r) => r.success);
      return { success: all, response: results[results.length - 1]?.response ?? "", results };
    },

    async collaborative(ctx) {
      const members = ctx.team.members;
      const all: TeamMemberResult[] = [];
      let latest = new Map<string, TeamMemberResult>();
      let round = 0;
      let consensus = false;
      let lastRound: TeamMemberResult[] = [];
      while (round < maxRounds && !consensus) {
        round++;
        const shared =
          round === 1
            ? undefined
            : [...latest.values()].map((r) => ({
                member: r.member,
                success: r.success,
                response: r.response,
              }));
        const current = round;
        lastRound = await limited(members, (m, i) =>
          invoke(
            ctx,
            m,
            current === 1
              ? ctx.request.task
              : `${ctx.request.task}\n\nRound ${current}: improve on the team's latest answers (in the context data below) and give your answer.`,
            withInput(
              ctx,
              shared !== undefined
                ? { round: current, teamAnswers: shared.filter((s) => s.member !== m) }
                : undefined,
            ),
            `${tagOf(m, i)}.r${current}`,
            { round: current },
          ),
        );
        all.push(...lastRound);
        latest = new Map(lastRound.map((r) => [r.member, r]));
        // Fix: one member agrees with itself; the original needed two and could never agree.
        consensus = lastRound.every((r) => r.success);
      }
      const ok = lastRound.filter((r) => r.success);
      return {
        success: consensus || ok.length > 0,
        response: joinAnswers(ok),
        results: all,
        rounds: round,
        consensus,
      };
    },

    async role_based(ctx) {
      const picked = pickMembers(deps.agents, ctx.team, ctx.request.task);
      const results: TeamMemberResult[] = [];
      for (const role of TEAM_ROLE_ORDER) {
        const group = picked.filter((p) => p.role === role);
        if (group.length === 0) continue;
        const prior = results.map((r) => ({
          member: r.member,
          role: r.role,
          response: r.response,
        }));
        const groupResults = await limited(group, (p, i) =>
          invoke(
            ctx,
            p.member,
            `${ctx.request.task}\n\nYour role in the team: ${p.role}. Do the part of the task that fits this role.`,
            withInput(ctx, { role: p.role, ...(prior.length > 0 ? { priorAnswers: prior } : {}) }),
            `${tagOf(p.member, i)}.${p.role}`,
            { role: p.role },
          ),
        );
        results.push(...groupResults);
        if (groupResults.some((r) => !r.success)) break;
      }
      const success = results.length === picked.length && results.every((r) => r.success);
      return { success, response: results[results.length - 1]?.response ?? "", results };
    },
  };

  return {
    async executeTeam(request): Promise<InvocationResult> {
      const team = deps.agents.getTeam(request.team);
      if (request.task === "") {
        throw new AriaError("VALIDATION_FAILED", {
          message: `Team step '${request.stepId}' has no task (params.task or a description)`,
          context: { runId: request.runId, stepId: request.stepId },
        });
      }
      const ctx: RunContext = {
        request,
        team,
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      };
      const outcome = await strategies[team.strategy](ctx);
      const output: TeamOutput = {
        team: team.id,
        strategy: team.strategy,
        ...outcome,
        text: outcome.response,
      };
      if (!output.success) {
        throw new AriaError("STEP_FAILED", {
          message: `Team '${team.id}' (${team.strategy}) did not succeed: ${summary(output.results)}`,
          context: { runId: request.runId, stepId: request.stepId },
          details: {
            team: team.id,
            strategy: team.strategy,
            results: output.results.map((r) => ({
              member: r.member,
              success: r.success,
              ...(r.round !== undefined ? { round: r.round } : {}),
              ...(r.error !== undefined
                ? { error: { code: r.error.code, message: r.error.message } }
                : {}),
            })),
            spent: { ...ctx.usage },
          },
        });
      }
      return { output, usage: ctx.usage };
    },
  };
}

function tagOf(member: string, index: number): string {
  const bare = member.slice(member.lastIndexOf("/") + 1).replace(/[^a-zA-Z0-9_-]/g, "_");
  return `${index + 1}-${bare}`;
}

function inputOf(ctx: RunContext): Record<string, unknown> | undefined {
  const { task: _task, ...rest } = ctx.request.input;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function withInput(ctx: RunContext, extra: Record<string, unknown> | undefined) {
  const input = inputOf(ctx);
  if (input === undefined) return extra;
  return extra === undefined ? input : { ...input, team: extra };
}

function joinAnswers(results: TeamMemberResult[]): string {
  if (results.length === 1) return results[0]!.response;
  return results.map((r) => `[${r.member}] ${r.response}`).join("\n\n");
}

function summary(results: TeamMemberResult[]): string {
  const failed = results.filter((r) => !r.success);
  if (results.length === 0) return "no member ran";
  return failed.length === 0
    ? "no consensus"
    : failed.map((r) => `${r.member}: ${r.error?.message ?? r.response}`).join("; ");
}

const ROLE_WORDS: Record<Exclude<TeamRole, "general">, readonly string[]> = {
  research: ["research", "search", "ponder", "analy", "investigat", "find", "read"],
  development: ["develop", "code", "build", "implement", "plan", "engineer", "program"],
  documentation: ["document", "doc", "write", "report", "file", "summar", "explain"],
};

/** The role of a member: the manifest's `roles`, else inferred from the agent's tools and description. */
export function memberRole(agents: AgentRegistry, team: TeamManifest, member: string): TeamRole {
  const bare = member.slice(member.lastIndexOf("/") + 1);
  const declared = team.roles?.[member] ?? team.roles?.[bare];
  const text = (
    declared ??
    (() => {
      try {
        const agent = agents.getAgent(member);
        return `${agent.tools.join(" ")} ${agent.description}`;
      } catch {
        return bare;
      }
    })()
  ).toLowerCase();
  let best: TeamRole = "general";
  let bestScore = 0;
  for (const role of ["research", "development", "documentation"] as const) {
    let score = 0;
    if (text.includes(role)) score += 3;
    for (const word of ROLE_WORDS[role]) if (text.includes(word)) score++;
    if (score > bestScore) {
      best = role;
      bestScore = score;
    }
  }
  return best;
}

/** Members relevant to the task (all of them when none looks relevant), with their roles. */
function pickMembers(
  agents: AgentRegistry,
  team: TeamManifest,
  task: string,
): Array<{ member: string; role: TeamRole }> {
  const words = new Set(
    task
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => w.length > 3),
  );
  const scored = team.members.map((member) => {
    const role = memberRole(agents, team, member);
    let text = `${member} ${role} ${ROLE_WORDS[role as Exclude<TeamRole, "general">]?.join(" ") ?? ""}`;
    try {
      const agent = agents.getAgent(member);
      text += ` ${agent.description} ${agent.tools.join(" ")}`;
    } catch {
      // scored by name and role only
    }
    text = text.toLowerCase();
    let score = 0;
    for (const word of words) if (text.includes(word)) score++;
    return { member, role, score };
  });
  const relevant = scored.filter((s) => s.score > 0);
  return (relevant.length > 0 ? relevant : scored).map(({ member, role }) => ({ member, role }));
}
