import semver from "semver";

/** One registered version of a bundle in a registry. */
export interface VersionEntry<T> {
  version: string;
  digest: string;
  items: T;
}

interface BundleSlot<T> {
  versions: Map<string, VersionEntry<T>>;
  active?: string;
  /** Previously active versions, most recent last (what `rollback` returns to). */
  history: string[];
}

/**
 * The versions of each bundle a registry holds, which one is active, and the activation history
 * for rollback. Only the active version of a bundle is visible to lookups.
 */
export class BundleVersions<T> {
  private readonly slots = new Map<string, BundleSlot<T>>();
  private sortedNames: string[] | undefined;

  /** Adds or replaces a version. Returns the version that was active before when `activate` switched it. */
  set(
    bundle: string,
    entry: VersionEntry<T>,
    activate: boolean,
  ): { previous?: string; activated: boolean } {
    let slot = this.slots.get(bundle);
    if (!slot) {
      slot = { versions: new Map(), history: [] };
      this.slots.set(bundle, slot);
      this.sortedNames = undefined;
    }
    slot.versions.set(entry.version, entry);
    if (!activate && slot.active !== undefined) return { activated: false };
    return this.switchTo(slot, entry.version);
  }

  private switchTo(
    slot: BundleSlot<T>,
    version: string,
  ): { previous?: string; activated: boolean } {
    const previous = slot.active;
    if (previous === version) return { activated: false };
    if (previous !== undefined) slot.history.push(previous);
    slot.active = version;
    return { ...(previous !== undefined ? { previous } : {}), activated: true };
  }

  /** Makes a registered version active. Returns the previously active one. */
  activate(bundle: string, version: string): { previous?: string; activated: boolean } | undefined {
    const slot = this.slots.get(bundle);
    if (!slot?.versions.has(version)) return undefined;
    return this.switchTo(slot, version);
  }

  /** Re-activates the version that was active before the current one. */
  rollback(bundle: string): { from: string; to: string } | undefined {
    const slot = this.slots.get(bundle);
    if (!slot || slot.active === undefined) return undefined;
    while (slot.history.length > 0) {
      const candidate = slot.history.pop() as string;
      if (candidate !== slot.active && slot.versions.has(candidate)) {
        const from = slot.active;
        slot.active = candidate;
        return { from, to: candidate };
      }
    }
    return undefined;
  }

  /**
   * Removes one version (or all). When the active version goes, the most recent earlier active
   * version still registered takes over, else the highest remaining.
   */
  remove(bundle: string, version?: string): { removed: string[]; active?: string } {
    const slot = this.slots.get(bundle);
    if (!slot) return { removed: [] };
    const removed =
      version === undefined
        ? [...slot.versions.keys()]
        : slot.versions.has(version)
          ? [version]
          : [];
    for (const v of removed) slot.versions.delete(v);
    slot.history = slot.history.filter((v) => slot.versions.has(v));
    if (slot.active !== undefined && !slot.versions.has(slot.active)) {
      const fallback = slot.history.pop() ?? [...slot.versions.keys()].sort(semver.rcompare)[0];
      if (fallback === undefined) delete slot.active;
      else slot.active = fallback;
    }
    if (slot.versions.size === 0) {
      this.slots.delete(bundle);
      this.sortedNames = undefined;
    }
    return { removed, ...(slot.active !== undefined ? { active: slot.active } : {}) };
  }

  /** The active entry of a bundle. */
  active(bundle: string): VersionEntry<T> | undefined {
    const slot = this.slots.get(bundle);
    return slot?.active === undefined ? undefined : slot.versions.get(slot.active);
  }

  /** A specific version of a bundle. */
  get(bundle: string, version: string): VersionEntry<T> | undefined {
    return this.slots.get(bundle)?.versions.get(version);
  }

  /** The registered versions of a bundle, ascending, and which is active. */
  versions(bundle: string): { versions: string[]; active?: string } {
    const slot = this.slots.get(bundle);
    if (!slot) return { versions: [] };
    return {
      versions: [...slot.versions.keys()].sort(semver.compare),
      ...(slot.active !== undefined ? { active: slot.active } : {}),
    };
  }

  /** Bundle names, sorted. */
  bundles(): string[] {
    this.sortedNames ??= [...this.slots.keys()].sort();
    return this.sortedNames;
  }

  /** The active entry of every bundle, by bundle name. */
  activeEntries(): Array<[string, VersionEntry<T>]> {
    const out: Array<[string, VersionEntry<T>]> = [];
    for (const name of this.bundles()) {
      const slot = this.slots.get(name);
      const entry = slot?.active === undefined ? undefined : slot.versions.get(slot.active);
      if (entry) out.push([name, entry]);
    }
    return out;
  }
}
