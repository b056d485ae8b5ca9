import type { Relaxation } from "./hardening.ts";

/** An audit record the manager reports (the runtime writes it to its audit log). */
export interface ContainerAuditEntry {
  action:
    | "container.hardening.relaxed"
    | "container.reaped"
    | "container.limit.refused"
    | "container.socket-dir.relaxed";
  outcome: "allowed" | "removed" | "refused";
  at: string;
  instanceId: string;
  runId?: string | undefined;
  stepId?: string | undefined;
  image?: string | undefined;
  container?: string | undefined;
  relaxations?: Relaxation[] | undefined;
  details?: Record<string, unknown> | undefined;
}

/** What the manager tells an `onDispatch` hook about a container about to run a run's work. */
export interface DispatchInfo {
  /** The container's name, which is also its `ARIA_CONTAINER_ID`. */
  containerName: string;
  /** The engine's id (undefined for a cold container, whose hook runs before it is created). */
  containerId?: string | undefined;
  /** Host path of the folder mounted at /run/aria, owned by the container uid (mode 0700). */
  socketDir?: string | undefined;
  /** The container's uid and gid (a socket the hook creates must be usable by them). */
  uid: number;
  gid: number;
  runId?: string | undefined;
  stepId?: string | undefined;
  image: string;
  warm: boolean;
  bundle?: { name: string; version: string; digest: string } | undefined;
}

/** What an `onDispatch` hook gives back: environment for the work, and a release at its end. */
export interface DispatchGrant {
  env?: Record<string, string>;
  /** Called once the work has ended, whatever the outcome (e.g. revoke the ICC token). */
  release?: () => void | Promise<void>;
}
