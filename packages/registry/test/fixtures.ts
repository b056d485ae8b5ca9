import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BundleManifestInput,
  BundleManifestSchema,
  type InstalledBundle,
  type ToolExecutionContext,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";

export async function tempDir(prefix = "aria-registry-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function context(overrides: Partial<ToolExecutionContext> = {}): ToolExecutionContext {
  return {
    runId: "run-1",
    stepId: "step-1",
    attempt: 1,
    idempotencyKey: "run-1:step-1",
    signal: new AbortController().signal,
    ...overrides,
  };
}

const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

/** A tool in a fixture bundle: its manifest entry and the JavaScript body of its handler. */
export interface FixtureTool {
  name: string;
  /** JS expression of an async function `(input, context) => output`. */
  handler?: string;
  inputSchema?: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  execution?: "inprocess" | "container";
  securityLevel?: "safe" | "limited" | "privileged";
  timeoutMs?: number;
  /** Leave the handler out of the module (a broken bundle). */
  noExport?: boolean;
}

export interface FixtureBundle {
  name: string;
  version: string;
  tools?: FixtureTool[];
  agents?: BundleManifestInput["agents"];
  teams?: BundleManifestInput["teams"];
  pipelines?: BundleManifestInput["pipelines"];
  dependencies?: Record<string, string>;
  /** A file the module appends `NAME@VERSION` to when it is evaluated (shows when code loads). */
  loadMarker?: string;
}

/**
 * Writes an unpacked bundle (dist/index.js with definitions carrying the SDK marker) and returns
 * its installed form, as the store would hand it to the registry.
 */
export async function writeBundle(
  root: string,
  spec: FixtureBundle,
): Promise<{ installed: InstalledBundle; dir: string }> {
  const tools = spec.tools ?? [];
  const lines = ['const MARK = Symbol.for("aria.definition");'];
  if (spec.loadMarker)
    lines.push(
      'import { appendFileSync } from "node:fs";',
      `appendFileSync(${JSON.stringify(spec.loadMarker)}, ${JSON.stringify(`${spec.name}@${spec.version}\n`)});`,
    );
  for (const tool of tools) {
    if (tool.noExport) continue;
    lines.push(
      `export const ${tool.name} = { [MARK]: "tool", kind: "tool", name: ${JSON.stringify(tool.name)}, handler: ${tool.handler ?? "async (input) => input"} };`,
    );
  }
  const code = `${lines.join("\n")}\n`;
  const manifest = BundleManifestSchema.parse({
    schemaVersion: 1,
    name: spec.name,
    version: spec.version,
    dependencies: spec.dependencies ?? {},
    tools: tools.map((t) => ({
      name: t.name,
      description: `tool ${t.name}`,
      inputSchema: t.inputSchema ?? { type: "object" },
      ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
      execution: t.execution ?? "inprocess",
      securityLevel: t.securityLevel ?? "safe",
      ...(t.timeoutMs ? { resources: { timeoutMs: t.timeoutMs } } : {}),
      export: t.name,
    })),
    agents: spec.agents ?? [],
    teams: spec.teams ?? [],
    pipelines: spec.pipelines ?? [],
    files: { "dist/index.js": sha(code) },
  });
  const digest = sha(JSON.stringify(manifest) + code);
  const dir = join(root, `${spec.name}-${spec.version}-${digest.slice(7, 15)}`);
  await mkdir(join(dir, "dist"), { recursive: true });
  await writeFile(join(dir, "dist", "index.js"), code);
  return {
    installed: {
      name: spec.name,
      version: spec.version,
      digest,
      installedAt: new Date(0).toISOString(),
      manifest,
    },
    dir,
  };
}

/** The AriaError a promise rejects with (fails the test when it resolves or throws something else). */
export async function caught(promise: Promise<unknown>): Promise<AriaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!AriaError.is(error)) throw new Error(`expected an AriaError, got ${String(error)}`);
  return error;
}
