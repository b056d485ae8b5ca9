/**
 * A layered layout for a plan's dependency graph: each step goes one layer right of its deepest
 * dependency (so parallel branches share a column), steps in a layer are ordered by the mean
 * position of their dependencies (fewer crossings), and edges are cubic curves between the boxes.
 */

export interface PlanStepLike {
  id: string;
  dependsOn?: string[] | undefined;
  params?: unknown;
}

export interface GraphNode {
  id: string;
  layer: number;
  row: number;
  x: number;
  y: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  path: string;
}

export interface GraphLayout {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
}

export const NODE_WIDTH = 168;
export const NODE_HEIGHT = 48;
const GAP_X = 56;
const GAP_Y = 20;
const PAD = 8;

function references(value: unknown, ids: string[], out: Set<string>): void {
  if (typeof value === "string") {
    for (const m of value.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
      const expr = m[1] ?? "";
      const byId = /^steps\.([^.[\s]+)/.exec(expr);
      if (byId?.[1]) out.add(byId[1]);
      const byIndex = /^step_(\d+)_output/.exec(expr);
      if (byIndex?.[1]) {
        const id = ids[Number(byIndex[1]) - 1];
        if (id !== undefined) out.add(id);
      }
    }
  } else if (Array.isArray(value)) {
    for (const v of value) references(v, ids, out);
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) references(v, ids, out);
  }
}

/**
 * The dependencies of each step as the engine orders them: `dependsOn` when given (`[]` is a
 * root), else the step declared before; plus every step its placeholders reference.
 */
export function dependencies(steps: PlanStepLike[]): Map<string, string[]> {
  const ids = steps.map((s) => s.id);
  const known = new Set(ids);
  const out = new Map<string, string[]>();
  steps.forEach((step, i) => {
    const deps = new Set<string>();
    if (Array.isArray(step.dependsOn)) for (const d of step.dependsOn) deps.add(d);
    else if (i > 0) deps.add(ids[i - 1]!);
    references(step.params, ids, deps);
    deps.delete(step.id);
    out.set(
      step.id,
      [...deps].filter((d) => known.has(d)),
    );
  });
  return out;
}

/** Lays the steps out left to right by dependency depth. */
export function layoutPlan(steps: PlanStepLike[]): GraphLayout {
  const deps = dependencies(steps);
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (id: string): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0; // a cycle (an invalid plan): cut it
    visiting.add(id);
    let d = 0;
    for (const dep of deps.get(id) ?? []) d = Math.max(d, depth(dep) + 1);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  for (const s of steps) depth(s.id);

  const layers: string[][] = [];
  for (const s of steps) {
    const l = layer.get(s.id) ?? 0;
    const column = layers[l] ?? [];
    column.push(s.id);
    layers[l] = column;
  }
  const row = new Map<string, number>();
  layers.forEach((ids, l) => {
    if (l > 0) {
      const mean = (id: string) => {
        const ds = deps.get(id) ?? [];
        return ds.length === 0 ? 0 : ds.reduce((a, d) => a + (row.get(d) ?? 0), 0) / ds.length;
      };
      const order = new Map(ids.map((id, i) => [id, i]));
      ids.sort((a, b) => mean(a) - mean(b) || order.get(a)! - order.get(b)!);
    }
    ids.forEach((id, r) => {
      row.set(id, r);
    });
  });

  const tallest = Math.max(1, ...layers.map((ids) => ids.length));
  const height = PAD * 2 + tallest * NODE_HEIGHT + (tallest - 1) * GAP_Y;
  const nodes: GraphNode[] = [];
  layers.forEach((ids, l) => {
    // Centre each column vertically.
    const columnHeight = ids.length * NODE_HEIGHT + (ids.length - 1) * GAP_Y;
    const top = PAD + (height - PAD * 2 - columnHeight) / 2;
    ids.forEach((id, r) => {
      nodes.push({
        id,
        layer: l,
        row: r,
        x: PAD + l * (NODE_WIDTH + GAP_X),
        y: top + r * (NODE_HEIGHT + GAP_Y),
      });
    });
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges: GraphEdge[] = [];
  for (const s of steps) {
    const to = byId.get(s.id)!;
    for (const d of deps.get(s.id) ?? []) {
      const from = byId.get(d);
      if (!from) continue;
      const x1 = from.x + NODE_WIDTH;
      const y1 = from.y + NODE_HEIGHT / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_HEIGHT / 2;
      const mid = (x1 + x2) / 2;
      edges.push({
        from: d,
        to: s.id,
        path: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
      });
    }
  }
  const width = PAD * 2 + layers.length * NODE_WIDTH + Math.max(0, layers.length - 1) * GAP_X;
  return { nodes, edges, width, height };
}
