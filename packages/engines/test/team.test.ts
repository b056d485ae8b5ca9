import type { LlmRequestInput } from "@aria/core-types";
import {
  AriaRuntimeEngine,
  createAgentExecutor,
  createTeamExecutor,
  MemoryStateStore,
  memberRole,
  type TeamOutput,
} from "@aria/engines";
import { createScriptedLlm, type FakeReplyInput, reply } from "@aria/testkit";
import { describe, expect, it } from "vitest";
import { deferred, FixtureAgents, FixtureTools, nonSystemText } from "./intelligence-fixtures.ts";

/** Members answer by agent name: `ok:*` succeed, `bad:*` fail (a rejected request). */
function memberScript(request: LlmRequestInput): FakeReplyInput {
  const agent = request.agent ?? "";
  if (agent.startsWith("bad")) return reply.error(400, { message: `${agent} cannot` });
  return reply.text(`${agent} says: ${nonSystemText(request).split("\n")[0]}`, {
    usage: { inputTokens: 10, outputTokens: 5 },
  });
}

function setup(
  members: string[],
  strategy: Parameters<FixtureAgents["team"]>[2],
  options: {
    script?: (r: LlmRequestInput) => FakeReplyInput | Promise<FakeReplyInput>;
    roles?: Record<string, string>;
    rounds?: number;
  } = {},
) {
  const agents = new FixtureAgents();
  for (const m of members) agents.agent(m, []);
  agents.team("crew", members, strategy, options.roles);
  const llm = createScriptedLlm(options.script ?? memberScript);
  const executor = createAgentExecutor({ agents, tools: new FixtureTools(), llm });
  const teams = createTeamExecutor({
    agents,
    members: executor,
    ...(options.rounds !== undefined ? { config: { collaborativeRounds: options.rounds } } : {}),
  });
  const run = (task = "Build a chatbot", input: Record<string, unknown> = {}) =>
    teams.executeTeam({
      team: "crew",
      task,
      input: { task, ...input },
      runId: "run",
      stepId: "team",
      idempotencyKey: "run:team",
      attempt: 1,
      signal: new AbortController().signal,
      depth: 0,
    });
  return { agents, llm, teams, run };
}

const agentsCalled = (llm: { requests: LlmRequestInput[] }) => llm.requests.map((r) => r.agent);

describe("team strategies and their success rules", () => {
  it("parallel: every member on the task, concurrently; succeeds when any member succeeds", async () => {
    const bothAsked = deferred();
    let asked = 0;
    const { run } = setup(["ok-a", "bad-b", "ok-c"], "parallel", {
      script: async (request) => {
        if (++asked === 3) bothAsked.resolve();
        // Every member waits until all three were asked: in sequence this never resolves.
        await bothAsked.promise;
        return memberScript(request);
      },
    });
    const { output, usage } = await run();
    const team = output as TeamOutput;
    expect(team).toMatchObject({ strategy: "parallel", success: true });
    expect(team.results.map((r) => [r.member, r.success])).toEqual([
      ["ok-a", true],
      ["bad-b", false],
      ["ok-c", true],
    ]);
    expect(team.response).toContain("[ok-a]");
    expect(usage).toMatchObject({ inputTokens: 20, outputTokens: 10 });
  });

  it("parallel fails only when every member fails, with each member's error", async () => {
    const { run } = setup(["bad-a", "bad-b"], "parallel");
    await expect(run()).rejects.toMatchObject({
      code: "STEP_FAILED",
      details: {
        strategy: "parallel",
        results: [
          { member: "bad-a", success: false, error: { code: "LLM_REQUEST_REJECTED" } },
          { member: "bad-b", success: false },
        ],
      },
    });
  });

  it("sequential: in order, each seeing earlier answers; all must succeed, stopping at the first failure", async () => {
    const ok = setup(["ok-a", "ok-b"], "sequential");
    const { output } = await ok.run();
    expect((output as TeamOutput).success).toBe(true);
    expect(agentsCalled(ok.llm)).toEqual(["ok-a", "ok-b"]);
    expect(nonSystemText(ok.llm.requests[1]!)).toContain("ok-a says");

    const failing = setup(["ok-a", "bad-b", "ok-c"], "sequential");
    await expect(failing.run()).rejects.toMatchObject({ code: "STEP_FAILED" });
    expect(agentsCalled(failing.llm)).toEqual(["ok-a", "bad-b"]);
  });

  it("pipeline: each member's answer is the next one's input; all must succeed", async () => {
    const { run, llm } = setup(["ok-a", "ok-b", "ok-c"], "pipeline");
    const { output } = await run("Write a spec");
    const team = output as TeamOutput;
    expect(team.success).toBe(true);
    expect(team.response).toContain("ok-c says");
    const last = nonSystemText(llm.requests[2]!);
    // The previous member's output as input, and the accumulated answers.
    expect(last).toContain('"input":"ok-b says');
    expect(last).toContain('"accumulated"');
    expect(last).toContain("ok-a says");

    const failing = setup(["ok-a", "bad-b", "ok-c"], "pipeline");
    await expect(failing.run()).rejects.toMatchObject({ code: "STEP_FAILED" });
    expect(agentsCalled(failing.llm)).toEqual(["ok-a", "bad-b"]);
  });

  it("collaborative: stops at the first round in which every member succeeds (consensus)", async () => {
    let calls = 0;
    const { run } = setup(["ok-a", "ok-b"], "collaborative", {
      script: (request) => {
        calls++;
        // Round 1: b fails; round 2: everyone succeeds.
        if (calls === 2) return reply.error(400);
        return memberScript(request);
      },
    });
    const { output } = await run();
    expect(output).toMatchObject({ success: true, consensus: true, rounds: 2 });
    expect(calls).toBe(4);
    expect((output as TeamOutput).results.map((r) => [r.member, r.round, r.success])).toEqual([
      ["ok-a", 1, true],
      ["ok-b", 1, false],
      ["ok-a", 2, true],
      ["ok-b", 2, true],
    ]);
  });

  it("collaborative: without consensus after the last round, succeeds if any member did", async () => {
    const some = setup(["ok-a", "bad-b"], "collaborative", { rounds: 3 });
    const { output } = await some.run();
    expect(output).toMatchObject({ success: true, consensus: false, rounds: 3 });
    // Later rounds share the others' latest answers.
    expect(nonSystemText(some.llm.requests[2]!)).toContain("teamAnswers");

    const none = setup(["bad-a", "bad-b"], "collaborative", { rounds: 2 });
    await expect(none.run()).rejects.toMatchObject({ code: "STEP_FAILED" });
  });

  it("collaborative: a one-member team agrees with itself (the original could never reach consensus)", async () => {
    const { run, llm } = setup(["ok-solo"], "collaborative");
    const { output } = await run();
    expect(output).toMatchObject({ success: true, consensus: true, rounds: 1 });
    expect(llm.requests).toHaveLength(1);
  });

  it("role_based: research → development → documentation, all picked members must succeed", async () => {
    const { run, llm } = setup(["ok-writer", "ok-coder", "ok-researcher"], "role_based", {
      roles: {
        "ok-writer": "documentation",
        "ok-coder": "development",
        "ok-researcher": "research",
      },
    });
    const { output } = await run("Research, develop and document a chatbot");
    expect((output as TeamOutput).success).toBe(true);
    expect(agentsCalled(llm)).toEqual(["ok-researcher", "ok-coder", "ok-writer"]);
    expect(nonSystemText(llm.requests[2]!)).toContain("priorAnswers");

    const failing = setup(["bad-researcher", "ok-writer"], "role_based", {
      roles: { "bad-researcher": "research", "ok-writer": "documentation" },
    });
    await expect(failing.run("Research and document")).rejects.toMatchObject({
      code: "STEP_FAILED",
    });
    expect(agentsCalled(failing.llm)).toEqual(["bad-researcher"]);
  });

  it("role_based: when no member looks relevant, every member takes part (never an empty team)", async () => {
    const { run, llm } = setup(["ok-x", "ok-y"], "role_based");
    const { output } = await run("zzz");
    expect((output as TeamOutput).results).toHaveLength(2);
    expect(llm.requests).toHaveLength(2);
  });

  it("infers roles from tools and descriptions when the manifest gives none", () => {
    const agents = new FixtureAgents()
      .agent("r", ["web/search", "ponder"], { description: "researches topics" })
      .agent("d", ["code/writeCode"], { description: "writes code" })
      .team("t", ["r", "d"], "role_based");
    const team = agents.getTeam("t");
    expect(memberRole(agents, team, "r")).toBe("research");
    expect(memberRole(agents, team, "d")).toBe("development");
  });
});

describe("team steps in a pipeline", () => {
  it("run through the coordinator; the team's answer flows on", async () => {
    const agents = new FixtureAgents()
      .agent("ok-a", [])
      .agent("ok-b", [])
      .team("crew", ["ok-a", "ok-b"], "pipeline");
    const tools = new FixtureTools().add("echo", ({ text }) => String(text).toUpperCase());
    const llm = createScriptedLlm(memberScript);
    const executor = createAgentExecutor({ agents, tools, llm });
    const engine = new AriaRuntimeEngine({
      tools,
      agents,
      store: new MemoryStateStore(),
      agentExecutor: executor,
      teamExecutor: createTeamExecutor({ agents, members: executor }),
    });
    const { run } = await engine.runPlan({
      steps: [
        { id: "crew", type: "team", team: "crew", params: { task: "Draft it" } },
        { id: "shout", type: "tool", tool: "echo", params: { text: "{{steps.crew.output.text}}" } },
      ],
    });
    expect(run.status).toBe("succeeded");
    expect(run.result).toMatch(/^OK-B SAYS/);
    expect(run.cost.inputTokens).toBe(20);
    await engine.close();
  });
});
