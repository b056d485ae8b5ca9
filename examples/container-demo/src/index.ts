/**
 * container-demo: untrusted code in a hardened container. `sandboxInfo` runs inside the tool-runner
 * image (no network, read-only root, no capabilities, non-root) and reports what it sees; the
 * `increment` pipeline runs a plain container workload and parses its output.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { aria, definePipeline, defineTool } from "@aria/sdk";
import { z } from "zod";

export const sandboxInfo = defineTool({
  name: "sandboxInfo",
  description: "Reports the sandbox it runs in: user id, network interfaces, whether / is writable",
  input: z.object({ note: z.string().default("") }),
  output: z.object({
    uid: z.number(),
    interfaces: z.array(z.string()),
    rootWritable: z.boolean(),
    workspaceWritable: z.boolean(),
    note: z.string(),
  }),
  execution: "container",
  securityLevel: "limited",
  resources: { cpus: 0.5, memoryMb: 128, timeoutMs: 20_000 },
  handler: ({ note }) => {
    const interfaces = readFileSync("/proc/net/dev", "utf8")
      .split("\n")
      .slice(2)
      .map((line) => line.split(":")[0]!.trim())
      .filter(Boolean);
    const writable = (path: string) => {
      try {
        writeFileSync(path, "x");
        return true;
      } catch {
        return false;
      }
    };
    return {
      uid: process.getuid?.() ?? -1,
      interfaces,
      rootWritable: writable("/aria-probe"),
      workspaceWritable: writable("/workspace/aria-probe"),
      note,
    };
  },
});

/** Parses `RESULT: <n>` out of a container workload's stdout. */
export const parseResult = defineTool({
  name: "parseResult",
  description: "Reads the number printed as 'RESULT: n' by a workload",
  input: z.object({ stdout: z.string() }),
  output: z.object({ result: z.number() }),
  handler: ({ stdout }) => {
    const match = /RESULT:\s*(-?\d+(?:\.\d+)?)/.exec(stdout);
    if (!match) throw new Error("the workload printed no 'RESULT: n' line");
    return { result: Number(match[1]) };
  },
});

export const increment = definePipeline({
  name: "increment",
  description: "Increments a number inside a container workload and reads the result back",
  input: z.object({ n: z.number().int() }),
  steps: [
    {
      id: "compute",
      type: "container",
      image: "aria-tool-runner:latest",
      command: ["node", "-e", "console.log('RESULT: ' + (Number(process.env.N) + 1))"],
      env: { N: "{{input.n}}" },
      resources: { cpus: 0.5, memoryMb: 64, timeoutMs: 20_000 },
    },
    {
      id: "read",
      type: "tool",
      tool: parseResult,
      params: { stdout: "{{steps.compute.output.stdout}}" },
    },
  ],
  output: "{{steps.read.output.result}}",
});

/**
 * Calls the runtime back from inside its container over ICC: another tool, and the run's context.
 * It reports which ARIA_* variables it was given (names only) and whether any looks like a key.
 */
export const callBack = defineTool({
  name: "callBack",
  description:
    "From inside a container, adds numbers with calculator-tools/add through ICC and records the sum in the run's context",
  input: z.object({ numbers: z.array(z.number()).min(1) }),
  output: z.object({
    sum: z.number(),
    stored: z.boolean(),
    variables: z.array(z.string()),
    secretsSeen: z.boolean(),
  }),
  execution: "container",
  securityLevel: "limited",
  permissions: { tools: ["calculator-tools/add"], context: "readwrite" },
  resources: { cpus: 0.5, memoryMb: 128, timeoutMs: 20_000 },
  handler: async ({ numbers }) => {
    const added = (await aria.tools.call("calculator-tools/add", { numbers })) as { sum: number };
    await aria.context.set("callBack.sum", added.sum);
    const context = await aria.context.get(["workingMemory"]);
    const variables = Object.keys(process.env)
      .filter((k) => k.startsWith("ARIA_"))
      .sort();
    const environ = readFileSync("/proc/self/environ", "utf8");
    return {
      sum: added.sum,
      stored:
        (context.workingMemory as Record<string, unknown> | undefined)?.["callBack.sum"] ===
        added.sum,
      variables,
      secretsSeen: /sk-[A-Za-z0-9]{8,}|API_KEY/.test(environ),
    };
  },
});

export const callBackPipeline = definePipeline({
  name: "call-back",
  description: "Runs callBack in a container: the tool calls the runtime back through ICC",
  input: z.object({ numbers: z.array(z.number()).min(1) }),
  steps: [{ id: "call", type: "tool", tool: callBack, params: { numbers: "{{input.numbers}}" } }],
  output: "{{steps.call.output}}",
});
