import type { ResourceRequest } from "@aria/core-types";
import { containerError } from "@aria/errors";

/** A complete set of container resources. */
export interface ResourceProfile {
  cpus: number;
  memoryMb: number;
  pids: number;
  timeoutMs: number;
}

/** The runtime's ceilings: nothing a tool or bundle asks for goes above them. */
export interface ResourceCaps {
  maxCpus: number;
  maxMemoryMb: number;
  maxPids: number;
  maxTimeoutMs: number;
}

export const DEFAULT_RESOURCES: ResourceProfile = {
  cpus: 1,
  memoryMb: 256,
  pids: 128,
  timeoutMs: 60_000,
};
export const DEFAULT_CAPS: ResourceCaps = {
  maxCpus: 4,
  maxMemoryMb: 4096,
  maxPids: 1024,
  maxTimeoutMs: 600_000,
};

export interface ResourceInputs {
  /** What the tool (or the container step) declares in `resources`. */
  request?: ResourceRequest | undefined;
  /** The bundle's defaults for its tools. */
  bundleDefaults?: ResourceRequest | undefined;
  /** The runtime's defaults (used where neither declares a value). */
  runtimeDefaults?: Partial<ResourceProfile> | undefined;
  caps?: Partial<ResourceCaps> | undefined;
  /** What the run's budget has left: its remaining wall-clock time and memory. */
  budget?: { remainingMs?: number | undefined; memoryMb?: number | undefined } | undefined;
}

/**
 * Resource calculation: each value comes from the tool's request, else the bundle's default, else the
 * runtime's default; then it is capped by the runtime's ceilings and by what the run's budget has
 * left. A run with no time or memory left fails with CONTAINER_LIMIT_REACHED instead of starting a
 * container that cannot finish.
 */
export function deriveContainerResources(
  inputs: ResourceInputs,
): ResourceProfile & { capped: Array<keyof ResourceProfile> } {
  const defaults = { ...DEFAULT_RESOURCES, ...inputs.runtimeDefaults };
  const caps = { ...DEFAULT_CAPS, ...inputs.caps };
  const pick = <K extends keyof ResourceProfile>(key: K): number =>
    inputs.request?.[key] ?? inputs.bundleDefaults?.[key] ?? defaults[key];
  const capped: Array<keyof ResourceProfile> = [];
  const cap = (key: keyof ResourceProfile, value: number, ceiling: number | undefined): number => {
    if (ceiling !== undefined && value > ceiling) {
      capped.push(key);
      return ceiling;
    }
    return value;
  };
  const cpus = cap("cpus", pick("cpus"), caps.maxCpus);
  let memoryMb = cap("memoryMb", pick("memoryMb"), caps.maxMemoryMb);
  const pids = cap("pids", pick("pids"), caps.maxPids);
  let timeoutMs = cap("timeoutMs", pick("timeoutMs"), caps.maxTimeoutMs);
  const budget = inputs.budget;
  if (budget?.remainingMs !== undefined) {
    if (budget.remainingMs <= 0)
      throw containerError.limitReached("the run has no time left for a container");
    if (timeoutMs > budget.remainingMs) {
      timeoutMs = Math.floor(budget.remainingMs);
      capped.push("timeoutMs");
    }
  }
  if (budget?.memoryMb !== undefined) {
    if (budget.memoryMb < 6)
      throw containerError.limitReached("the run has no memory left for a container");
    if (memoryMb > budget.memoryMb) {
      memoryMb = Math.floor(budget.memoryMb);
      capped.push("memoryMb");
    }
  }
  return {
    cpus,
    memoryMb: Math.max(6, Math.round(memoryMb)),
    pids,
    timeoutMs,
    capped: [...new Set(capped)],
  };
}
