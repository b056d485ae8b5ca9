import { resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ARIA_DEFINITION_KEY,
  type InstalledBundle,
  type ToolHandler,
  type ToolManifest,
} from "@aria/core-types";
import { bundleError } from "@aria/errors";

const MARKER = Symbol.for(ARIA_DEFINITION_KEY);

/**
 * The `file:` URL of a bundle's entry module, checked to lie inside the unpacked directory
 * (BUNDLE_UNSAFE otherwise). The URL carries the digest, so a new build of the same version is a
 * new module while the same digest is one module; `attempt` (after a failed load) makes a fresh URL
 * so a retry is not answered from Node's module cache.
 */
export function bundleEntryUrl(installed: InstalledBundle, dir: string, attempt = 0): string {
  const root = resolve(dir);
  const entry = resolve(root, installed.manifest.entry);
  if (!entry.startsWith(root + sep)) {
    throw bundleError.unsafe(`the entry '${installed.manifest.entry}' lies outside the bundle`, {
      details: { reason: "path_traversal" },
    });
  }
  const retry = attempt > 0 ? `&attempt=${attempt}` : "";
  return `${pathToFileURL(entry).href}?digest=${installed.digest.slice(7)}${retry}`;
}

/**
 * Imports a bundle's entry module from its unpacked directory. The URL carries the digest, so a new
 * build of the same version is a new module while the same digest is loaded once.
 */
export async function loadBundleModule(
  installed: InstalledBundle,
  dir: string,
  attempt = 0,
): Promise<Record<string, unknown>> {
  const url = bundleEntryUrl(installed, dir, attempt);
  try {
    return (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
  } catch (error) {
    throw bundleError.invalid(
      `loading ${installed.name}@${installed.version} failed: ${(error as Error).message}`,
      {
        details: { reason: "load_failed" },
        cause: error,
      },
    );
  }
}

/** A bundle module that finished loading (what `onBundleLoad` is told). */
export interface BundleLoadEvent {
  name: string;
  version: string;
  digest: string;
  /** Time the import took (includes evaluating the module). */
  durationMs: number;
}

/**
 * Bundle entry modules by digest, imported on demand: the first `load` of a digest imports it,
 * concurrent first calls share that one import, later calls get the cached module. A failed load is
 * not cached: the next call imports again (with a fresh URL).
 */
export class BundleModuleCache {
  private readonly modules = new Map<string, Promise<Record<string, unknown>>>();
  private readonly ready = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly onLoad: ((event: BundleLoadEvent) => void) | undefined;

  constructor(deps: { onLoad?: (event: BundleLoadEvent) => void } = {}) {
    this.onLoad = deps.onLoad;
  }

  /** The entry module of a bundle, imported on the first call for its digest. */
  load(installed: InstalledBundle, dir: string): Promise<Record<string, unknown>> {
    const cached = this.modules.get(installed.digest);
    if (cached) return cached;
    const attempt = this.failures.get(installed.digest) ?? 0;
    const started = performance.now();
    const pending = loadBundleModule(installed, dir, attempt).then(
      (module) => {
        this.ready.add(installed.digest);
        this.failures.delete(installed.digest);
        this.onLoad?.({
          name: installed.name,
          version: installed.version,
          digest: installed.digest,
          durationMs: performance.now() - started,
        });
        return module;
      },
      (error: unknown) => {
        if (this.modules.get(installed.digest) === pending) this.modules.delete(installed.digest);
        this.failures.set(installed.digest, attempt + 1);
        throw error;
      },
    );
    this.modules.set(installed.digest, pending);
    return pending;
  }

  /** Whether the module of this digest has been imported. */
  isLoaded(digest: string): boolean {
    return this.ready.has(digest);
  }

  /** Digests whose modules have been imported. */
  loaded(): string[] {
    return [...this.ready];
  }

  /** Forgets a digest (its bundle was removed); Node keeps the module itself until exit. */
  forget(digest: string): void {
    this.modules.delete(digest);
    this.ready.delete(digest);
    this.failures.delete(digest);
  }
}

/**
 * The handler of a manifest tool, bound by export: the export named in the manifest (or, failing
 * that, the export whose definition has the tool's name) must be a tool definition with a handler.
 */
export function bindHandler(
  module: Record<string, unknown>,
  tool: ToolManifest,
  bundle: string,
): { handler: ToolHandler; exportName: string } {
  const exportName =
    tool.export ??
    Object.keys(module).find((key) => {
      const value = module[key] as Record<string | symbol, unknown> | null;
      return (
        value !== null &&
        typeof value === "object" &&
        value[MARKER] === "tool" &&
        value.name === tool.name
      );
    });
  const definition =
    exportName === undefined
      ? undefined
      : (module[exportName] as Record<string | symbol, unknown> | undefined);
  if (
    !definition ||
    typeof definition !== "object" ||
    definition[MARKER] !== "tool" ||
    typeof definition.handler !== "function"
  ) {
    throw bundleError.invalid(
      `${bundle}: tool '${tool.name}' has no exported definition with a handler${exportName ? ` (export '${exportName}')` : ""}`,
      {
        details: { reason: "missing_export", tool: tool.name, export: exportName ?? null },
      },
    );
  }
  if (definition.name !== undefined && definition.name !== tool.name) {
    throw bundleError.invalid(
      `${bundle}: export '${exportName}' defines tool '${String(definition.name)}', not '${tool.name}'`,
      {
        details: { reason: "missing_export", tool: tool.name, export: exportName },
      },
    );
  }
  const fn = definition.handler as (input: unknown, context: unknown) => unknown;
  return {
    handler: (input, context) => fn.call(definition, input, context),
    exportName: exportName as string,
  };
}
