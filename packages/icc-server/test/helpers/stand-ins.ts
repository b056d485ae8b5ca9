import type {
  LlmClient,
  RegisteredTool,
  ToolExecutionContext,
  ToolRegistry,
} from "@aria/core-types";
import { AriaError, toAriaError } from "@aria/errors";
import type {
  AgentInvokeRequest,
  AgentInvoker,
  IccAuditEntry,
  RunContextAccess,
  RunContextView,
} from "@aria/icc-server";

/** A tool for the in-memory registry. */
export interface TestTool {
  id: string;
  bundle?: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  /** Refuse inputs without these keys (VALIDATION_FAILED, as the real registry would). */
  required?: string[];
  needsApproval?: boolean;
  handler: (input: Record<string, unknown>, context: ToolExecutionContext) => unknown;
}

/** An in-memory `ToolRegistry` that records every execution. */
export function createTestToolRegistry(tools: TestTool[]): ToolRegistry & {
  calls: Array<{ name: string; input: unknown; context: ToolExecutionContext }>;
} {
  const registered = tools.map(
    (t): RegisteredTool & { required?: string[]; run: TestTool["handler"] } => ({
      id: t.id,
      name: t.id.includes("/") ? t.id.slice(t.id.indexOf("/") + 1) : t.id,
      ...(t.bundle
        ? { bundle: { name: t.bundle, version: "1.0.0", digest: `sha256:${"0".repeat(64)}` } }
        : {}),
      description: t.description ?? `test tool ${t.id}`,
      inputSchema: t.inputSchema ?? { type: "object" },
      execution: "inprocess",
      securityLevel: "safe",
      network: false,
      ...(t.required ? { required: t.required } : {}),
      ...(t.needsApproval ? { needsApproval: true } : {}),
      run: t.handler,
    }),
  );
  const calls: Array<{ name: string; input: unknown; context: ToolExecutionContext }> = [];
  const resolve = (name: string) => {
    const exact = registered.find((t) => t.id === name);
    if (exact) return exact;
    const byName = registered.filter((t) => t.name === name);
    if (byName.length === 1) return byName[0]!;
    throw new AriaError("TOOL_NOT_FOUND", {
      message: `no tool '${name}'`,
      context: { tool: name },
    });
  };
  return {
    calls,
    resolve,
    has: (name) => {
      try {
        resolve(name);
        return true;
      } catch {
        return false;
      }
    },
    list: () => registered,
    async execute(name, input, context) {
      const tool = resolve(name);
      calls.push({ name: tool.id, input, context });
      for (const key of tool.required ?? [])
        if (!(key in (input as Record<string, unknown>)))
          throw new AriaError("VALIDATION_FAILED", { message: `missing '${key}'` });
      try {
        return await tool.run(input as Record<string, unknown>, context);
      } catch (error) {
        throw toAriaError(error, "TOOL_EXECUTION_FAILED", { tool: tool.id });
      }
    },
  };
}

/** An agent invoker that answers with one call of the given LLM (usage attributed to the parent run). */
export function createTestAgentInvoker(
  llm: LlmClient,
  agents: string[],
): AgentInvoker & { calls: Array<{ agent: string; request: AgentInvokeRequest }> } {
  const calls: Array<{ agent: string; request: AgentInvokeRequest }> = [];
  return {
    calls,
    async invoke(agent, request) {
      if (!agents.includes(agent))
        throw new AriaError("AGENT_NOT_FOUND", { message: `no agent '${agent}'` });
      calls.push({ agent, request });
      const response = await llm.complete(
        {
          messages: [
            { role: "system", content: `You are ${agent}.` },
            { role: "user", content: request.message },
          ],
          runId: request.parentRunId,
          agent,
        },
        { signal: request.signal },
      );
      return { success: true, response: response.content ?? "", turns: 1, usage: response.usage };
    },
  };
}

/** Run contexts in memory, keyed by run id. */
export function createTestContexts(
  runs: Record<string, RunContextView & { workingMemory: Record<string, unknown> }>,
): RunContextAccess & {
  runs: Record<string, RunContextView & { workingMemory: Record<string, unknown> }>;
  reads: Array<{ runId: string; include: readonly string[] | undefined }>;
} {
  const reads: Array<{ runId: string; include: readonly string[] | undefined }> = [];
  return {
    runs,
    reads,
    get(runId, include) {
      reads.push({ runId, include });
      const run = runs[runId];
      return run ? structuredClone(run) : undefined;
    },
    set(runId, key, value) {
      const run = runs[runId];
      if (!run) throw new AriaError("RUN_NOT_FOUND", { message: `no run ${runId}` });
      run.workingMemory[key] = value;
    },
  };
}

/** Collects audit entries. */
export function createAuditSink(): { entries: IccAuditEntry[]; write: (e: IccAuditEntry) => void } {
  const entries: IccAuditEntry[] = [];
  return { entries, write: (entry) => void entries.push(entry) };
}
