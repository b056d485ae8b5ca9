import type { ExecutionStep } from "@aria/core-types";
import {
  type AgentExecutor,
  backoffDelay,
  ExecutionEngine,
  type InvocationRequest,
  type RetryNotice,
  type TeamExecutor,
} from "@aria/engines";
import { AriaError } from "@aria/errors";
import { describe, expect, it } from "vitest";
import { abortion, FakeContainers, ScriptedLlm, TestTools, until } from "./helpers.ts";

function step(
  partial: Partial<ExecutionStep> & { id: string; type: ExecutionStep["type"] },
): ExecutionStep {
  return { params: {}, continueOnError: false, ...partial } as ExecutionStep;
}

describe("dispatch on the step type", () => {
  it("tool: through the registry, with the run, step, attempt and a stable idempotency key", async () => {
    const tools = new TestTools().add(
      "wordCount",
      (input) => ({ words: String(input.text).split(" ").length }),
      ["text"],
    );
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({ id: "count", type: "tool", tool: "wordCount", params: { text: "a b c" } }),
      {
        runId: "run-1",
        sessionId: "sess",
      },
    );
    expect(outcome).toMatchObject({
      status: "succeeded",
      output: { words: 3 },
      attempts: 1,
      retries: 0,
    });
    const call = tools.calls[0]!;
    expect(call.context).toMatchObject({
      runId: "run-1",
      stepId: "count",
      attempt: 1,
      idempotencyKey: "run-1:count",
      sessionId: "sess",
    });
    expect(call.context.signal).toBeInstanceOf(AbortSignal);
  });

  it("tool: the registry's input validation failure fails the step without retries", async () => {
    const tools = new TestTools().add("wordCount", () => 1, ["text"]);
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({ id: "count", type: "tool", tool: "wordCount", retry: { attempts: 3, backoffMs: 0 } }),
      { runId: "r" },
    );
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.code).toBe("VALIDATION_FAILED");
    expect(outcome.attempts).toBe(1);
  });

  it("resolves placeholders against a scope first; an unresolved one fails with PLACEHOLDER_UNRESOLVED", async () => {
    const tools = new TestTools().add("echo", (input) => input);
    const engine = new ExecutionEngine({ tools });
    const scope = { steps: [{ id: "a", success: true, output: { n: 2 } }], input: { q: "x" } };
    const ok = await engine.executeStep(
      step({
        id: "b",
        type: "tool",
        tool: "echo",
        params: { n: "{{step_1_output.n}}", q: "{{input.q}}" },
      }),
      {
        runId: "r",
        scope,
      },
    );
    expect(ok.output).toEqual({ n: 2, q: "x" });
    const bad = await engine.executeStep(
      step({ id: "b", type: "tool", tool: "echo", params: { n: "{{step_1_output.m}}" } }),
      { runId: "r", scope },
    );
    expect(bad.status).toBe("failed");
    expect(bad.error?.code).toBe("PLACEHOLDER_UNRESOLVED");
    expect(tools.calls).toHaveLength(1);
  });

  it("agent and team: through the injected executors", async () => {
    const seen: InvocationRequest[] = [];
    const agentExecutor: AgentExecutor = {
      async executeAgent(request) {
        seen.push(request);
        return {
          output: { text: `done: ${request.task}` },
          usage: { inputTokens: 3, outputTokens: 4, costUsd: 0.5 },
        };
      },
    };
    const teamExecutor: TeamExecutor = {
      async executeTeam(request) {
        return { output: `${request.team} handled ${request.task}` };
      },
    };
    const engine = new ExecutionEngine({ tools: new TestTools(), agentExecutor, teamExecutor });
    const agent = await engine.executeStep(
      step({ id: "s", type: "agent", agent: "analyst", params: { task: "summarise" } }),
      { runId: "r" },
    );
    expect(agent).toMatchObject({
      status: "succeeded",
      output: { text: "done: summarise" },
      usage: { inputTokens: 3, outputTokens: 4, costUsd: 0.5 },
    });
    expect(seen[0]).toMatchObject({
      agent: "analyst",
      task: "summarise",
      idempotencyKey: "r:s",
      attempt: 1,
      depth: 0,
    });
    const team = await engine.executeStep(
      step({ id: "t", type: "team", team: "review", description: "review it" }),
      { runId: "r" },
    );
    expect(team.output).toBe("review handled review it");
  });

  it("agent without an executor fails with CONFIG_INVALID naming what is missing", async () => {
    const engine = new ExecutionEngine({ tools: new TestTools() });
    const outcome = await engine.executeStep(step({ id: "s", type: "agent", agent: "a" }), {
      runId: "r",
    });
    expect(outcome.error?.code).toBe("CONFIG_INVALID");
    expect(outcome.error?.message).toContain("AgentExecutor");
  });

  it("container: through the container manager, parameters on stdin, non-zero exit is a failure", async () => {
    const containers = new FakeContainers();
    const engine = new ExecutionEngine({ tools: new TestTools(), containers });
    const outcome = await engine.executeStep(
      step({
        id: "inc",
        type: "container",
        image: "alpine:3",
        command: ["sh", "-c", "echo RESULT: 43"],
        env: { N: "42" },
        resources: { memoryMb: 64 },
        params: { n: 42 },
      }),
      { runId: "r" },
    );
    expect(outcome).toMatchObject({
      status: "succeeded",
      containerId: "c-1",
      output: { exitCode: 0, stdout: "RESULT: 43\n" },
    });
    expect(containers.specs[0]).toMatchObject({
      image: "alpine:3",
      command: ["sh", "-c", "echo RESULT: 43"],
      env: { N: "42" },
      network: false,
      memoryMb: 64,
      stdin: '{"n":42}',
      runId: "r",
      stepId: "inc",
    });
    const failing = new ExecutionEngine({
      tools: new TestTools(),
      containers: new FakeContainers({ exitCode: 2, stderr: "nope" }),
    });
    const failed = await failing.executeStep(
      step({ id: "x", type: "container", image: "i", command: ["false"] }),
      { runId: "r" },
    );
    expect(failed.error?.code).toBe("CONTAINER_EXEC_FAILED");
    const oom = new ExecutionEngine({
      tools: new TestTools(),
      containers: new FakeContainers({ exitCode: 137, oomKilled: true }),
    });
    expect(
      (
        await oom.executeStep(step({ id: "x", type: "container", image: "i", command: ["x"] }), {
          runId: "r",
        })
      ).error?.code,
    ).toBe("CONTAINER_OOM");
  });

  it("reasoning: one LLM call, its text is the output, usage counted", async () => {
    const llm = new ScriptedLlm(["The area is 176.7"]);
    const engine = new ExecutionEngine({ tools: new TestTools(), llm });
    const outcome = await engine.executeStep(
      step({
        id: "think",
        type: "reasoning",
        prompt: "Compute the area",
        params: { radius: 7.5, temperature: 0 },
      }),
      { runId: "r" },
    );
    expect(outcome).toMatchObject({
      status: "succeeded",
      output: "The area is 176.7",
      usage: { inputTokens: 10, outputTokens: 5, costUsd: 0.001 },
    });
    expect(llm.requests[0]).toMatchObject({ runId: "r", temperature: 0 });
    expect(llm.requests[0]!.messages[1]).toMatchObject({
      role: "user",
      content: 'Compute the area\n\nInputs (JSON):\n{"radius":7.5}',
    });
  });
});

describe("retry, timeout and cancellation", () => {
  it("retries retryable failures with exponential backoff and reports each retry", async () => {
    let calls = 0;
    const tools = new TestTools().add("flaky", () => {
      calls++;
      if (calls < 3) throw new Error(`transient ${calls}`);
      return "ok";
    });
    const notices: RetryNotice[] = [];
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({ id: "f", type: "tool", tool: "flaky", retry: { attempts: 4, backoffMs: 2 } }),
      {
        runId: "r",
        onRetry: (n) => {
          notices.push(n);
        },
      },
    );
    expect(outcome).toMatchObject({ status: "succeeded", output: "ok", attempts: 3, retries: 2 });
    expect(notices.map((n) => [n.failedAttempt, n.nextAttempt, n.delayMs, n.error.code])).toEqual([
      [1, 2, 2, "TOOL_EXECUTION_FAILED"],
      [2, 3, 4, "TOOL_EXECUTION_FAILED"],
    ]);
    expect(tools.calls.map((c) => c.context.attempt)).toEqual([1, 2, 3]);
    expect(new Set(tools.calls.map((c) => c.context.idempotencyKey))).toEqual(new Set(["r:f"]));
  });

  it("gives up after retry.attempts attempts in total", async () => {
    const tools = new TestTools().add("broken", () => {
      throw new Error("always");
    });
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({ id: "b", type: "tool", tool: "broken", retry: { attempts: 3, backoffMs: 0 } }),
      { runId: "r" },
    );
    expect(outcome).toMatchObject({ status: "failed", attempts: 3, retries: 2 });
    expect(outcome.error?.message).toBe("always");
  });

  it("backoff doubles up to the cap", () => {
    const spec = { attempts: 10, backoffMs: 100, maxBackoffMs: 500 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(spec, n))).toEqual([100, 200, 400, 500, 500]);
    expect(backoffDelay(undefined, 1)).toBe(200);
    expect(backoffDelay(spec, 3, { backoffMs: 0, maxBackoffMs: 0, jitter: 0.5 }, () => 1)).toBe(
      200,
    );
  });

  it("times out an attempt, aborts the tool's signal, and retries it", async () => {
    const signals: AbortSignal[] = [];
    const tools = new TestTools().add("slow", async (_input, context) => {
      signals.push(context.signal);
      if (context.attempt === 1) await abortion(context.signal);
      return "second time lucky";
    });
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({
        id: "s",
        type: "tool",
        tool: "slow",
        timeoutMs: 20,
        retry: { attempts: 2, backoffMs: 0 },
      }),
      { runId: "r" },
    );
    expect(outcome).toMatchObject({
      status: "succeeded",
      output: "second time lucky",
      attempts: 2,
    });
    expect(signals[0]!.aborted).toBe(true);
    expect(AriaError.hasCode(signals[0]!.reason, "TOOL_TIMEOUT")).toBe(true);
    expect(signals[1]!.aborted).toBe(false);
  });

  it("a timeout without retries fails the step with TOOL_TIMEOUT, even when the tool ignores the signal", async () => {
    const tools = new TestTools().add("stuck", () => new Promise(() => {}));
    const engine = new ExecutionEngine({ tools, config: { stepTimeoutMs: 15 } });
    const outcome = await engine.executeStep(step({ id: "s", type: "tool", tool: "stuck" }), {
      runId: "r",
    });
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.code).toBe("TOOL_TIMEOUT");
  });

  it("cancellation reaches the running tool and stops the step", async () => {
    let sawAbort = false;
    const tools = new TestTools().add("long", async (_input, context) => {
      try {
        await abortion(context.signal);
      } finally {
        sawAbort = context.signal.aborted;
      }
    });
    const controller = new AbortController();
    const engine = new ExecutionEngine({ tools });
    const pending = engine.executeStep(
      step({ id: "l", type: "tool", tool: "long", retry: { attempts: 5, backoffMs: 0 } }),
      {
        runId: "r",
        signal: controller.signal,
      },
    );
    await until(() => tools.calls.length === 1);
    controller.abort();
    const outcome = await pending;
    expect(outcome.status).toBe("cancelled");
    expect(outcome.error?.code).toBe("RUN_CANCELLED");
    expect(sawAbort).toBe(true);
    expect(tools.calls).toHaveLength(1);
  });

  it("cancellation during a backoff wait stops the retries", async () => {
    const tools = new TestTools().add("fails", () => {
      throw new Error("x");
    });
    const controller = new AbortController();
    const engine = new ExecutionEngine({ tools });
    const outcome = await engine.executeStep(
      step({ id: "f", type: "tool", tool: "fails", retry: { attempts: 3, backoffMs: 60_000 } }),
      {
        runId: "r",
        signal: controller.signal,
        onRetry: () => controller.abort(),
      },
    );
    expect(outcome).toMatchObject({ status: "cancelled", attempts: 1, retries: 1 });
  });
});
