import type { InstalledBundle, RegisteredTool } from "@aria/core-types";

/** The bundle a registration came from. */
export interface BundleRef {
  name: string;
  version: string;
  digest: string;
}

/**
 * A change in a registry. Events carry what a follower needs to apply the same change (the
 * installed bundle and its directory, or the built-in tool), so several registries can be kept in
 * sync by subscribing one to another.
 */
export type RegistryChange =
  | { type: "tool.registered"; tool: RegisteredTool }
  | { type: "tool.unregistered"; id: string }
  | {
      type: "bundle.registered";
      bundle: BundleRef;
      installed: InstalledBundle;
      dir: string;
      active: boolean;
    }
  | { type: "bundle.activated"; bundle: BundleRef; previous?: string }
  | { type: "bundle.unregistered"; bundle: BundleRef }
  | { type: "dependencies.changed"; problems: string[] };

/** A registry change with its sequence number within its registry. */
export type RegistryEvent = RegistryChange & { seq: number; source: string };

/** Receives registry changes. */
export type RegistryListener = (event: RegistryEvent) => void;

/** A minimal synchronous event hub (listeners run in order; one that throws does not stop the others). */
export class ChangeHub {
  private readonly listeners = new Set<RegistryListener>();
  private seq = 0;
  private readonly source: string;
  private readonly onListenerError: (error: unknown) => void;

  constructor(source: string, onListenerError: (error: unknown) => void = () => {}) {
    this.source = source;
    this.onListenerError = onListenerError;
  }

  subscribe(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: RegistryChange): void {
    const event = { ...change, seq: ++this.seq, source: this.source } as RegistryEvent;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
