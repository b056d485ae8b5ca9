import { type FSWatcher, watch } from "node:fs";
import { relative, resolve, sep } from "node:path";
import type { InstalledBundle, Logger } from "@aria/core-types";
import type { RegisteredBundle, Registries } from "./registries.ts";

/** Options of `watchBundleSource`. */
export interface HotReloadOptions {
  /** The bundle's source directory (what `aria bundle pack` takes). */
  dir: string;
  /**
   * Builds the bundle and makes it loadable: pack it and unpack it somewhere (the composition root
   * uses `@aria/pkg-store`'s `buildDevBundle`). Returns the installed form and its directory.
   */
  build: (dir: string) => Promise<{ installed: InstalledBundle; dir: string }>;
  registries: Registries;
  /** Quiet time after the last change before rebuilding (default 150 ms). */
  debounceMs?: number;
  /** Paths (relative, `/`-separated) to ignore; default: dist/, node_modules/, .git/, *.aria, dot-files. */
  ignore?: (path: string) => boolean;
  /** Build and register once at start (default true). */
  initial?: boolean;
  /** Called after each reload attempt. */
  onReload?: (
    result: { ok: true; bundle: RegisteredBundle } | { ok: false; error: unknown },
  ) => void;
  logger?: Logger;
}

/** A running watcher. */
export interface HotReloader {
  /** Resolves after the initial build (when enabled). */
  ready: Promise<void>;
  /** Resolves when no rebuild is pending or running. */
  idle(): Promise<void>;
  /** How many reloads succeeded. */
  readonly reloads: number;
  close(): void;
}

const defaultIgnore = (path: string): boolean => {
  const parts = path.split("/");
  return (
    parts.some(
      (p) =>
        p === "node_modules" || p === "dist" || p === ".git" || (p.startsWith(".") && p.length > 1),
    ) ||
    path.endsWith(".aria") ||
    path.endsWith("~")
  );
};

/**
 * Development hot reload: watches a bundle's source directory (recursive `fs.watch`), and after a
 * quiet period rebuilds it and registers the new build, replacing the old one in the registries.
 * A failed build keeps the previous version registered and is reported through `onReload`.
 */
export function watchBundleSource(options: HotReloadOptions): HotReloader {
  const root = resolve(options.dir);
  const ignore = options.ignore ?? defaultIgnore;
  const debounceMs = options.debounceMs ?? 150;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let pending = false;
  let closed = false;
  let reloads = 0;

  const rebuild = async (): Promise<void> => {
    try {
      const built = await options.build(root);
      const bundle = await options.registries.registerBundle(built.installed, built.dir, {
        activate: true,
      });
      reloads += 1;
      options.logger?.info(
        { bundle: `${bundle.name}@${bundle.version}`, digest: bundle.digest },
        "bundle reloaded",
      );
      options.onReload?.({ ok: true, bundle });
    } catch (error) {
      options.logger?.warn(
        { dir: root, error: String(error) },
        "bundle reload failed; the previous build stays registered",
      );
      options.onReload?.({ ok: false, error });
    }
  };

  const schedule = () => {
    if (closed) return;
    pending = true;
    clearTimeout(timer);
    timer = setTimeout(() => {
      pending = false;
      running = running.then(rebuild);
    }, debounceMs);
  };

  let watcher: FSWatcher | undefined;
  watcher = watch(root, { recursive: true }, (_event, filename) => {
    if (filename === null) return schedule();
    const rel = relative(root, resolve(root, filename.toString())).split(sep).join("/");
    if (!ignore(rel)) schedule();
  });
  watcher.on("error", (error) =>
    options.logger?.warn({ dir: root, error: String(error) }, "bundle watcher error"),
  );

  if (options.initial !== false) running = running.then(rebuild);
  const ready = running;

  return {
    ready,
    get reloads() {
      return reloads;
    },
    async idle() {
      for (;;) {
        const current = running;
        await current;
        if (!pending && current === running) return;
        if (pending) await new Promise((r) => setTimeout(r, debounceMs + 10));
      }
    },
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}
