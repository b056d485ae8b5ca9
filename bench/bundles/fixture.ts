/**
 * The synthetic bundle both bundle benchmarks install: tools `alpha`, `beta` and `tool<i>`, an
 * agent `helper`, a two-step pipeline `flow`, the given entry module code and a prompt file.
 */
import { canonicalJson, sha256Digest, writeArchive } from "../../packages/pkg-store/src/index.ts";

export function benchToolNames(index: number): string[] {
  return ["alpha", "beta", `tool${index}`];
}

export async function benchArchive(options: {
  name: string;
  version: string;
  index: number;
  code: string;
  dependencies?: Record<string, string>;
}): Promise<Buffer> {
  const { name, version, index, code } = options;
  const files = new Map<string, Buffer>([
    ["dist/index.js", Buffer.from(code)],
    ["prompts/system.md", Buffer.from(`You are the agent of ${name}.\n`)],
  ]);
  const manifest = {
    schemaVersion: 1,
    name,
    version,
    description: `benchmark bundle ${index}`,
    entry: "dist/index.js",
    dependencies: options.dependencies ?? {},
    tools: benchToolNames(index).map((t) => ({
      name: t,
      description: `tool ${t}`,
      inputSchema: {
        type: "object",
        properties: { text: { type: "string" }, n: { type: "number" } },
        required: ["text"],
      },
      outputSchema: { type: "object" },
      execution: "inprocess",
      securityLevel: "safe",
      network: false,
      export: t,
    })),
    agents: [
      {
        name: "helper",
        description: "helps",
        systemPrompt: "Help.",
        tools: ["alpha", "beta", "calculator"],
        maxSteps: 8,
      },
    ],
    teams: [],
    pipelines: [
      {
        name: "flow",
        description: "alpha then beta",
        steps: [
          {
            id: "a",
            type: "tool",
            tool: "alpha",
            params: { text: "{{input.text}}" },
            continueOnError: false,
          },
          {
            id: "b",
            type: "tool",
            tool: "beta",
            params: { text: "{{steps.a.output.by}}" },
            dependsOn: ["a"],
            continueOnError: false,
          },
        ],
      },
    ],
    files: Object.fromEntries([...files].map(([p, c]) => [p, sha256Digest(c)])),
  };
  const all = new Map<string, Uint8Array>(files);
  all.set("manifest.json", Buffer.from(`${canonicalJson(manifest, 2)}\n`));
  return writeArchive(all);
}
