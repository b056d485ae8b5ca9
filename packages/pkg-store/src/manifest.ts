import {
  BUILTIN_TOOL_NAMES,
  type BundleManifest,
  BundleManifestSchema,
  type PipelineManifest,
} from "@aria/core-types";
import { bundleError } from "@aria/errors";
import semver from "semver";

/** Options of manifest validation. */
export interface ManifestCheckOptions {
  /** Tool names resolvable outside any bundle (the runtime's built-ins); default `BUILTIN_TOOL_NAMES`. */
  knownTools?: readonly string[];
}

const BUNDLE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Parses `manifest.json` bytes: JSON, schema version, zod schema, then cross references. */
export function parseManifestBytes(
  bytes: Uint8Array,
  options: ManifestCheckOptions = {},
): { manifest: BundleManifest; raw: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (error) {
    throw bundleError.invalid(`manifest.json is not valid JSON: ${(error as Error).message}`, {
      details: { reason: "manifest_json" },
      cause: error,
    });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw bundleError.invalid("manifest.json must hold a JSON object", {
      details: { reason: "manifest_json" },
    });
  }
  return { manifest: validateManifest(raw, options), raw: raw as Record<string, unknown> };
}

/**
 * Validates a manifest object: a known `schemaVersion`, the `BundleManifestSchema` (unknown fields
 * are errors), and the cross references (`crossReferenceProblems`). Throws `BUNDLE_INVALID` with
 * `details.reason` `unsupported_schema_version`, `manifest_schema` or `cross_reference`.
 */
export function validateManifest(raw: unknown, options: ManifestCheckOptions = {}): BundleManifest {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== 1) {
    throw bundleError.invalid(
      `unsupported manifest schemaVersion ${JSON.stringify(version)} (this runtime reads 1)`,
      {
        details: {
          reason: "unsupported_schema_version",
          schemaVersion: version ?? null,
          supported: [1],
        },
      },
    );
  }
  const parsed = BundleManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    }));
    throw bundleError.invalid(
      `manifest.json does not match the schema: ${issues
        .slice(0, 3)
        .map((i) => `${i.path || "(root)"}: ${i.message}`)
        .join("; ")}`,
      { details: { reason: "manifest_schema", issues } },
    );
  }
  const problems = crossReferenceProblems(parsed.data, options);
  if (problems.length > 0) {
    throw bundleError.invalid(`manifest cross references: ${problems.slice(0, 3).join("; ")}`, {
      details: { reason: "cross_reference", problems },
    });
  }
  return parsed.data;
}

/** A reference `name` or `bundle/name` split into its parts. */
export function splitReference(ref: string): { bundle?: string; name: string } {
  const slash = ref.indexOf("/");
  if (slash < 0) return { name: ref };
  return { bundle: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

/**
 * Every cross-reference problem of a manifest: duplicate names; agent tools, team members and
 * pipeline steps that name nothing in the bundle, no built-in and no declared dependency;
 * dependency names and semver ranges; step ids, `dependsOn` and placeholder references; pipelines
 * that call each other in a cycle; the entry module among the files.
 */
export function crossReferenceProblems(
  manifest: BundleManifest,
  options: ManifestCheckOptions = {},
): string[] {
  const problems: string[] = [];
  const known = new Set(options.knownTools ?? BUILTIN_TOOL_NAMES);
  const names = {
    tool: new Set<string>(),
    agent: new Set<string>(),
    team: new Set<string>(),
    pipeline: new Set<string>(),
  };
  const collect = (kind: keyof typeof names, list: Array<{ name: string }>) => {
    for (const item of list) {
      if (names[kind].has(item.name)) problems.push(`two ${kind}s are named '${item.name}'`);
      names[kind].add(item.name);
    }
  };
  collect("tool", manifest.tools);
  collect("agent", manifest.agents);
  collect("team", manifest.teams);
  collect("pipeline", manifest.pipelines);

  for (const [dep, range] of Object.entries(manifest.dependencies)) {
    if (!BUNDLE_NAME.test(dep)) problems.push(`dependency name '${dep}' is not a bundle name`);
    if (dep === manifest.name) problems.push(`the bundle depends on itself`);
    if (semver.validRange(range) === null)
      problems.push(`dependency '${dep}' has an invalid semver range '${range}'`);
  }

  const check = (kind: keyof typeof names, ref: string, where: string) => {
    // MCP tools (`mcp:<server>/<tool>`) come from servers, resolved when the bundle is registered.
    if (kind === "tool" && /^mcp:[^/]+\/./.test(ref)) return;
    const { bundle, name } = splitReference(ref);
    if (bundle === undefined) {
      if (names[kind].has(name) || (kind === "tool" && known.has(name))) return;
      problems.push(
        `${where} names ${kind} '${ref}', which is not in this bundle${kind === "tool" ? " nor built in" : ""}`,
      );
    } else if (bundle === manifest.name) {
      if (!names[kind].has(name))
        problems.push(`${where} names ${kind} '${ref}', which this bundle does not define`);
    } else if (!(bundle in manifest.dependencies)) {
      problems.push(
        `${where} names ${kind} '${ref}' of bundle '${bundle}', which is not a declared dependency`,
      );
    } else if (name.length === 0) {
      problems.push(`${where} has an empty ${kind} name in '${ref}'`);
    }
  };

  for (const agent of manifest.agents) {
    for (const tool of agent.tools) check("tool", tool, `agent '${agent.name}'`);
  }
  for (const team of manifest.teams) {
    for (const member of team.members) check("agent", member, `team '${team.name}'`);
    for (const role of Object.keys(team.roles ?? {})) {
      if (!team.members.includes(role))
        problems.push(`team '${team.name}' has a role for '${role}', which is not a member`);
    }
  }
  for (const pipeline of manifest.pipelines) problems.push(...pipelineProblems(pipeline, check));
  problems.push(...pipelineCycles(manifest));

  if (!(manifest.entry in manifest.files))
    problems.push(`the entry module '${manifest.entry}' is not among the files`);
  for (const tool of manifest.tools) {
    if (tool.execution === "inprocess" && tool.network) {
      problems.push(
        `tool '${tool.name}' asks for network access, which only container tools can have`,
      );
    }
  }
  return problems;
}

type RefCheck = (kind: "tool" | "agent" | "team" | "pipeline", ref: string, where: string) => void;

const PLACEHOLDER = /(\\?)\{\{\s*([^}]*?)\s*\}\}/g;

function pipelineProblems(pipeline: PipelineManifest, check: RefCheck): string[] {
  const problems: string[] = [];
  const ids = new Map<string, number>();
  pipeline.steps.forEach((step, index) => {
    if (ids.has(step.id))
      problems.push(`pipeline '${pipeline.name}' has two steps with id '${step.id}'`);
    ids.set(step.id, index);
  });
  for (const step of pipeline.steps) {
    const where = `pipeline '${pipeline.name}' step '${step.id}'`;
    if (step.type === "tool" && step.tool) check("tool", step.tool, where);
    if (step.type === "agent" && step.agent) check("agent", step.agent, where);
    if (step.type === "team" && step.team) check("team", step.team, where);
    if (step.type === "pipeline" && step.pipeline) check("pipeline", step.pipeline, where);
    for (const dep of step.dependsOn ?? []) {
      if (!ids.has(dep)) problems.push(`${where} depends on unknown step '${dep}'`);
      if (dep === step.id) problems.push(`${where} depends on itself`);
    }
    for (const ref of placeholderRefs(step.params)) {
      const problem = placeholderProblem(ref, ids, pipeline.steps.length);
      if (problem) problems.push(`${where}: ${problem}`);
    }
  }
  for (const ref of placeholderRefs(pipeline.output)) {
    const problem = placeholderProblem(ref, ids, pipeline.steps.length);
    if (problem) problems.push(`pipeline '${pipeline.name}' output: ${problem}`);
  }
  // dependsOn must not form a cycle.
  const state = new Map<string, 1 | 2>();
  const byId = new Map(pipeline.steps.map((s) => [s.id, s]));
  const visit = (id: string, trail: string[]): void => {
    if (state.get(id) === 2) return;
    if (state.get(id) === 1) {
      problems.push(
        `pipeline '${pipeline.name}' steps depend on each other in a cycle: ${[...trail, id].join(" -> ")}`,
      );
      return;
    }
    state.set(id, 1);
    for (const dep of byId.get(id)?.dependsOn ?? []) if (byId.has(dep)) visit(dep, [...trail, id]);
    state.set(id, 2);
  };
  for (const step of pipeline.steps) visit(step.id, []);
  return problems;
}

function placeholderRefs(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") {
    for (const match of value.matchAll(PLACEHOLDER))
      if (match[1] !== "\\" && match[2] !== undefined) out.push(match[2]);
  } else if (Array.isArray(value)) {
    for (const item of value) placeholderRefs(item, out);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) placeholderRefs(item, out);
  }
  return out;
}

function placeholderProblem(
  ref: string,
  ids: Map<string, number>,
  count: number,
): string | undefined {
  const byIndex = /^step_(\d+)_output(?:$|[.[])/.exec(ref);
  if (byIndex) {
    const n = Number(byIndex[1]);
    return n >= 1 && n <= count
      ? undefined
      : `placeholder '{{${ref}}}' names step ${n}, but the pipeline has ${count}`;
  }
  const byId = /^steps\.([a-zA-Z0-9_-]+)\.output(?:$|[.[])/.exec(ref);
  if (byId)
    return ids.has(byId[1] as string)
      ? undefined
      : `placeholder '{{${ref}}}' names unknown step '${byId[1]}'`;
  if (/^input(?:$|[.[])/.test(ref)) return undefined;
  return `placeholder '{{${ref}}}' is not step_N_output, steps.ID.output or input`;
}

function pipelineCycles(manifest: BundleManifest): string[] {
  const local = (ref: string): string | undefined => {
    const { bundle, name } = splitReference(ref);
    return bundle === undefined || bundle === manifest.name ? name : undefined;
  };
  const edges = new Map<string, string[]>();
  for (const pipeline of manifest.pipelines) {
    edges.set(
      pipeline.name,
      pipeline.steps.flatMap((s) =>
        s.type === "pipeline" && s.pipeline
          ? [local(s.pipeline)].filter((x): x is string => x !== undefined)
          : [],
      ),
    );
  }
  const problems: string[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 2) return;
    if (state.get(name) === 1) {
      problems.push(`pipelines call each other in a cycle: ${[...trail, name].join(" -> ")}`);
      return;
    }
    state.set(name, 1);
    for (const next of edges.get(name) ?? []) visit(next, [...trail, name]);
    state.set(name, 2);
  };
  for (const name of edges.keys()) visit(name, []);
  return problems;
}
