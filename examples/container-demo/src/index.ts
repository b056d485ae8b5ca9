/**
 * container-demo: untrusted code in a hardened container. `sandboxInfo` runs inside the tool-runner
 * image (no network, read-only root, no capabilities, non-root) and reports what it sees; the
 * `increment` pipeline runs a plain container workload and parses its output.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { definePipeline, defineTool } from "@aria/sdk";
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
