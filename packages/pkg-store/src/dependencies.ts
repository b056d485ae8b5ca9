import type { BundleManifest, InstalledBundle } from "@aria/core-types";
import { bundleError } from "@aria/errors";
import semver from "semver";
import { splitReference } from "./manifest.ts";

/** A bundle as dependency resolution sees it. */
export interface DependencyNode {
  name: string;
  version: string;
  manifest: BundleManifest;
}

/** Finds the installed versions of a bundle name. */
export type VersionLookup = (name: string) => readonly DependencyNode[];

const key = (node: { name: string; version: string }) => `${node.name}@${node.version}`;

/** The highest version of `name` satisfying `range` among `candidates`, or undefined. */
export function pickVersion<T extends { version: string }>(
  candidates: readonly T[],
  range: string,
): T | undefined {
  const best = semver.maxSatisfying(
    candidates.map((c) => c.version),
    range,
  );
  return best === null ? undefined : candidates.find((c) => c.version === best);
}

/**
 * Resolves a bundle's dependencies, transitively, against what `lookup` offers (each range picks
 * the highest satisfying version). Returns the dependencies in install order (a dependency before
 * its dependants; the root itself is not included). Throws `BUNDLE_DEPENDENCY` with
 * `details.reason` `missing_dependency` (nothing satisfies a range), `dependency_cycle` (with the
 * cycle) or `missing_reference` (a `dep/name` reference names nothing in the resolved dependency).
 */
export function resolveDependencies(root: DependencyNode, lookup: VersionLookup): DependencyNode[] {
  const order: DependencyNode[] = [];
  const done = new Set<string>();
  const visit = (node: DependencyNode, trail: DependencyNode[]) => {
    const id = key(node);
    if (done.has(id)) return;
    const at = trail.findIndex((t) => key(t) === id);
    if (at >= 0) {
      const cycle = [...trail.slice(at), node].map(key);
      throw bundleError.dependency(`dependency cycle: ${cycle.join(" -> ")}`, {
        details: { reason: "dependency_cycle", cycle },
      });
    }
    const resolved = new Map<string, DependencyNode>();
    for (const [depName, range] of Object.entries(node.manifest.dependencies)) {
      const candidates = lookup(depName);
      const chosen = pickVersion(candidates, range);
      if (chosen === undefined) {
        throw bundleError.dependency(
          `${id} needs ${depName}@${range}, ${candidates.length === 0 ? "which is not installed" : `but only ${candidates.map((c) => c.version).join(", ")} ${candidates.length === 1 ? "is" : "are"} installed`}`,
          {
            details: {
              reason: "missing_dependency",
              bundle: id,
              dependency: depName,
              range,
              available: candidates.map((c) => c.version),
            },
          },
        );
      }
      resolved.set(depName, chosen);
      visit(chosen, [...trail, node]);
    }
    checkQualifiedReferences(node, resolved);
    done.add(id);
    if (trail.length > 0) order.push(node);
  };
  visit(root, []);
  return order;
}

/** Every `dep/name` reference of a bundle must name something its resolved dependency defines. */
function checkQualifiedReferences(node: DependencyNode, deps: Map<string, DependencyNode>): void {
  const problems: string[] = [];
  const has = (kind: "tools" | "agents" | "teams" | "pipelines", ref: string, where: string) => {
    const { bundle, name } = splitReference(ref);
    if (bundle === undefined || bundle === node.name) return;
    const dep = deps.get(bundle);
    if (dep && !dep.manifest[kind].some((item) => item.name === name)) {
      problems.push(
        `${where} names '${ref}', but ${key(dep)} has no ${kind.slice(0, -1)} '${name}'`,
      );
    }
  };
  const { manifest } = node;
  for (const agent of manifest.agents)
    for (const tool of agent.tools) has("tools", tool, `agent '${agent.name}'`);
  for (const team of manifest.teams)
    for (const member of team.members) has("agents", member, `team '${team.name}'`);
  for (const pipeline of manifest.pipelines) {
    for (const step of pipeline.steps) {
      const where = `pipeline '${pipeline.name}' step '${step.id}'`;
      if (step.type === "tool" && step.tool) has("tools", step.tool, where);
      if (step.type === "agent" && step.agent) has("agents", step.agent, where);
      if (step.type === "team" && step.team) has("teams", step.team, where);
      if (step.type === "pipeline" && step.pipeline) has("pipelines", step.pipeline, where);
    }
  }
  if (problems.length > 0) {
    throw bundleError.dependency(problems.join("; "), {
      details: { reason: "missing_reference", bundle: key(node), problems },
    });
  }
}

/**
 * Orders installed bundles so that every bundle comes after the dependencies it resolves to, and
 * versions of one name ascend (registering them in this order leaves the newest active).
 */
export function dependencyOrder(bundles: readonly InstalledBundle[]): InstalledBundle[] {
  const byName = new Map<string, InstalledBundle[]>();
  for (const b of bundles) byName.set(b.name, [...(byName.get(b.name) ?? []), b]);
  const sorted = [...bundles].sort((a, b) =>
    a.name === b.name ? semver.compare(a.version, b.version) : a.name < b.name ? -1 : 1,
  );
  const order: InstalledBundle[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (bundle: InstalledBundle, trail: string[]) => {
    const id = key(bundle);
    if (state.get(id) === 2) return;
    if (state.get(id) === 1) {
      throw bundleError.dependency(`dependency cycle: ${[...trail, id].join(" -> ")}`, {
        details: { reason: "dependency_cycle", cycle: [...trail, id] },
      });
    }
    state.set(id, 1);
    for (const [depName, range] of Object.entries(bundle.manifest.dependencies)) {
      const dep = pickVersion(byName.get(depName) ?? [], range);
      if (dep) visit(dep, [...trail, id]);
    }
    state.set(id, 2);
    order.push(bundle);
  };
  for (const bundle of sorted) visit(bundle, []);
  return order;
}
