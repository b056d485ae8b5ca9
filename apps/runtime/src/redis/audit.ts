import type { Redis } from "ioredis";
import { type AuditEntry, type AuditInput, type AuditLog, buildEntry } from "../audit.ts";
import { guarded } from "./connection.ts";

/** The audit log in a capped Redis stream, shared by every replica and written before the answer. */
export class RedisAuditLog implements AuditLog {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly maxEntries: number;

  constructor(deps: { redis: Redis; prefix?: string; maxEntries?: number }) {
    this.redis = deps.redis;
    this.key = `${deps.prefix ?? "aria:"}audit`;
    this.maxEntries = deps.maxEntries ?? 1_000_000;
  }

  async record(input: AuditInput): Promise<AuditEntry> {
    const entry = buildEntry(input);
    await guarded("audit.record", () =>
      this.redis.xadd(this.key, "MAXLEN", "~", this.maxEntries, "*", "e", JSON.stringify(entry)),
    );
    return entry;
  }

  async list(
    options: { limit?: number; action?: string; actor?: string } = {},
  ): Promise<AuditEntry[]> {
    const limit = options.limit ?? 100;
    const out: AuditEntry[] = [];
    let end = "+";
    // Page backwards until enough entries match the filters.
    for (let page = 0; page < 50 && out.length < limit; page++) {
      const rows = await guarded("audit.list", () =>
        this.redis.xrevrange(this.key, end, "-", "COUNT", 500),
      );
      if (rows.length === 0) break;
      for (const [, fields] of rows) {
        const entry = JSON.parse(fields[1] ?? "{}") as AuditEntry;
        if (options.action && !entry.action.startsWith(options.action)) continue;
        if (options.actor && entry.actor !== options.actor) continue;
        out.push(entry);
        if (out.length >= limit) break;
      }
      const lastId = rows.at(-1)![0];
      const [ms, seq] = lastId.split("-").map(Number) as [number, number];
      end = seq > 0 ? `${ms}-${seq - 1}` : `${ms - 1}`;
    }
    return out;
  }
}
