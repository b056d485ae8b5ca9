import type { StateStore } from "@aria/core-types";

/**
 * Revoked token ids. `isRevoked` may answer synchronously (the hot path then makes no await) or
 * with a promise (a shared store).
 */
export interface RevocationList {
  /** Revokes `jti` until `expiresAt` (epoch ms): after that the token is refused as expired anyway. */
  revoke(jti: string, expiresAt: number): Promise<void>;
  isRevoked(jti: string): boolean | Promise<boolean>;
}

/** A revocation list in this process's memory; entries drop off once their token has expired. */
export function createMemoryRevocationList(
  options: { now?: () => number } = {},
): RevocationList & { size(): number } {
  const now = options.now ?? Date.now;
  const revoked = new Map<string, number>();
  let lastSweep = now();
  const sweep = () => {
    const t = now();
    if (t - lastSweep < 10_000) return;
    lastSweep = t;
    for (const [jti, expiresAt] of revoked) if (expiresAt <= t) revoked.delete(jti);
  };
  return {
    async revoke(jti, expiresAt) {
      sweep();
      if (expiresAt > now()) revoked.set(jti, expiresAt);
    },
    isRevoked(jti) {
      return revoked.has(jti);
    },
    size: () => revoked.size,
  };
}

/** Options of the state-store revocation list. */
export interface StateStoreRevocationOptions {
  /** Key namespace in the store (default `icc-revoked`). */
  namespace?: string;
  /**
   * How long a "not revoked" answer read from the store is reused (default 1000 ms; 0 reads the
   * store on every request). Revocations made through this list are seen at once; those made by
   * another replica are seen within this window.
   */
  cacheMs?: number;
  now?: () => number;
}

/**
 * A revocation list shared by every replica through the state store (`setValue`/`getValue`; Redis
 * in production), each entry with a TTL equal to the token's remaining lifetime. A local copy
 * answers for tokens this replica revoked without a store round trip.
 */
export function createStateStoreRevocationList(
  store: Pick<StateStore, "getValue" | "setValue">,
  options: StateStoreRevocationOptions = {},
): RevocationList {
  const namespace = options.namespace ?? "icc-revoked";
  const cacheMs = options.cacheMs ?? 1000;
  const now = options.now ?? Date.now;
  const local = createMemoryRevocationList({ now });
  /** jti → time until which "not revoked" is trusted without asking the store. */
  const clean = new Map<string, number>();
  return {
    async revoke(jti, expiresAt) {
      clean.delete(jti);
      await local.revoke(jti, expiresAt);
      const ttl = expiresAt - now();
      if (ttl > 0) await store.setValue(namespace, jti, "1", ttl);
    },
    isRevoked(jti) {
      if (local.isRevoked(jti) === true) return true;
      if (cacheMs > 0) {
        const until = clean.get(jti);
        if (until !== undefined && until > now()) return false;
      }
      return store.getValue(namespace, jti).then((value) => {
        if (value !== undefined) return true;
        if (cacheMs > 0) {
          if (clean.size > 100_000) clean.clear();
          clean.set(jti, now() + cacheMs);
        }
        return false;
      });
    },
  };
}
