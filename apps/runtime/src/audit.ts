import { randomUUID } from "node:crypto";
import { redact } from "@aria/errors";

/** One audited operation: who did what, to what, with which outcome, when. */
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  target?: string;
  outcome: "success" | "failure";
  durationMs?: number;
  details?: Record<string, unknown>;
}

export type AuditInput = Omit<AuditEntry, "id" | "at"> & { at?: string };

/** The audit log (clarifications: an entry per operation; `GET /v1/audit` reads it). */
export interface AuditLog {
  record(entry: AuditInput): Promise<AuditEntry>;
  /** Newest first. */
  list(options?: { limit?: number; action?: string; actor?: string }): Promise<AuditEntry[]>;
}

export function buildEntry(input: AuditInput): AuditEntry {
  return {
    id: randomUUID(),
    at: input.at ?? new Date().toISOString(),
    actor: input.actor,
    action: input.action,
    ...(input.target !== undefined ? { target: input.target } : {}),
    outcome: input.outcome,
    ...(input.durationMs !== undefined ? { durationMs: input.durationMs } : {}),
    ...(input.details !== undefined
      ? { details: redact(input.details) as Record<string, unknown> }
      : {}),
  };
}

/** In-memory audit log with a bounded size (the oldest entries drop off). */
export class MemoryAuditLog implements AuditLog {
  private readonly entries: string[] = [];
  private readonly maxEntries: number;

  constructor(deps: { maxEntries?: number } = {}) {
    this.maxEntries = deps.maxEntries ?? 100_000;
  }

  async record(input: AuditInput): Promise<AuditEntry> {
    const entry = buildEntry(input);
    this.entries.push(JSON.stringify(entry));
    if (this.entries.length > this.maxEntries)
      this.entries.splice(0, this.entries.length - this.maxEntries);
    return entry;
  }

  async list(
    options: { limit?: number; action?: string; actor?: string } = {},
  ): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    const limit = options.limit ?? 100;
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const entry = JSON.parse(this.entries[i]!) as AuditEntry;
      if (options.action && !entry.action.startsWith(options.action)) continue;
      if (options.actor && entry.actor !== options.actor) continue;
      out.push(entry);
    }
    return out;
  }
}
