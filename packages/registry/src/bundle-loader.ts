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
 * Imports a bundle's entry module from its unpacked directory. The URL carries the digest, so a new
 * build of the same version is a new module while the same digest is loaded once.
 */
export async function loadBundleModule(
  installed: InstalledBundle,
  dir: string,
): Promise<Record<string, unknown>> {
  const root = resolve(dir);
  const entry = resolve(root, installed.manifest.entry);
  if (!entry.startsWith(root + sep)) {
    throw bundleError.unsafe(`the entry '${installed.manifest.entry}' lies outside the bundle`, {
      details: { reason: "path_traversal" },
    });
  }
  const url = `${pathToFileURL(entry).href}?digest=${installed.digest.slice(7)}`;
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
