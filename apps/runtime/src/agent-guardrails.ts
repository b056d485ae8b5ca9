import type { AgentExecutor } from "@aria/engines";
import type { AgentGuardrails } from "@aria/registry";

/**
 * Puts the agents' guardrails around the agent executor: an agent step's parameters (its task
 * included) are checked before the agent runs, and its answer before the step records it. A
 * redacted task is what the agent sees; a `block` fails the step with GUARDRAIL_TRIPPED.
 */
export function guardAgentExecutor(inner: AgentExecutor, guards: AgentGuardrails): AgentExecutor {
  return {
    async executeAgent(request) {
      if (!guards.has(request.agent)) return inner.executeAgent(request);
      const context = { runId: request.runId, stepId: request.stepId };
      const checked = (await guards.check(
        request.agent,
        "input",
        { ...request.input, task: request.task },
        context,
      )) as Record<string, unknown>;
      const { task, ...input } = checked;
      const result = await inner.executeAgent({
        ...request,
        input: "task" in request.input ? { ...input, task } : input,
        task: typeof task === "string" ? task : request.task,
      });
      const output = await guards.check(request.agent, "output", result.output, context);
      return { ...result, output };
    },
  };
}
