import {
  type Clock,
  type ContextSnapshot,
  ContextSnapshotSchema,
  type HistoryEntry,
  type Insight,
  type WorkingMemoryEntry,
} from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { copyValue } from "../placeholders/resolve.ts";
import { isoTime } from "../util/time.ts";
import { entryBytes } from "./byte-size.ts";

/** Defaults for a run's context (the limit matches `limits.workingMemoryBytes`). */
export const CONTEXT_DEFAULTS = {
  memoryLimitBytes: 64 * 1024 * 1024,
  evictAboveRatio: 0.8,
  evictToRatio: 0.25,
  maxHistory: 1000,
  maxInsights: 100,
  maxErrors: 50,
} as const;

/** Options of a {@link RuntimeContext}. */
export interface RuntimeContextOptions {
  runId: string;
  sessionId?: string;
  task?: string;
  /** Working-memory budget in bytes (see `entryBytes` for how an entry is counted). */
  memoryLimitBytes?: number;
  /** Cleanup starts when usage goes above this share of the limit (default 0.8). */
  evictAboveRatio?: number;
  /** Cleanup evicts until usage is at or below this share of the limit (default 0.25). */
  evictToRatio?: number;
  /** History entries kept (oldest dropped first). */
  maxHistory?: number;
  /** Insights kept (de-duplicated on source and text, oldest dropped first). */
  maxInsights?: number;
  /** Errors kept (oldest dropped first). */
  maxErrors?: number;
  clock?: Clock;
}

/** What `memoryUsage()` reports. */
export interface MemoryUsage {
  usedBytes: number;
  limitBytes: number;
  /** usedBytes / limitBytes. */
  utilization: number;
  itemCount: number;
  /** Entries evicted over the context's life. */
  evictions: number;
}

/** One cleanup pass. */
export interface MemoryEviction {
  keys: string[];
  stepIds: string[];
  freedBytes: number;
  usedBytesBefore: number;
  usedBytesAfter: number;
  limitBytes: number;
  /** Step entries kept because pending placeholders still reference them. */
  retained: number;
}

interface Entry {
  key: string;
  value: unknown;
  bytes: number;
  stepId: string | undefined;
  createdAtMs: number;
  seq: number;
}

const systemClock: Clock = { now: () => Date.now() };
const STEP_PREFIX = "steps.";
/** History kinds as constants (one shared string each instead of one per step). */
const STEP_KINDS: Record<string, string> = {
  succeeded: "step.succeeded",
  failed: "step.failed",
  skipped: "step.skipped",
  cancelled: "step.cancelled",
};
const STEP_SUFFIX = ".output";

/**
 * The state of one run (never shared between runs): working memory with byte accounting and the
 * 80% → 25% cleanup, execution history, insights and errors with caps, snapshots and a JSON form
 * that round-trips everything, working memory included.
 *
 * Step outputs live in working memory under `steps.<id>.output` and are the only evictable entries;
 * entries the retention predicate marks (outputs that pending placeholders still reference) are
 * never evicted. Other keys (for example values a container wrote over ICC) are never evicted.
 */
export class RuntimeContext {
  readonly runId: string;
  readonly sessionId: string | undefined;
  readonly task: string | undefined;
  readonly memoryLimitBytes: number;
  private readonly evictAbove: number;
  private readonly evictTo: number;
  private readonly maxHistory: number;
  private readonly maxInsights: number;
  private readonly maxErrors: number;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();
  private usedBytes = 0;
  private nextSeq = 0;
  private evictionCount = 0;
  private historyBuffer: HistoryEntry[] = [];
  private insightList: Insight[] = [];
  private readonly insightKeys = new Set<string>();
  private errorList: Array<Record<string, unknown>> = [];
  private isRetained: (stepId: string) => boolean = () => false;
  private evictionListener: ((eviction: MemoryEviction) => void) | undefined;

  constructor(options: RuntimeContextOptions) {
    this.runId = options.runId;
    this.sessionId = options.sessionId;
    this.task = options.task;
    this.memoryLimitBytes = options.memoryLimitBytes ?? CONTEXT_DEFAULTS.memoryLimitBytes;
    if (!Number.isInteger(this.memoryLimitBytes) || this.memoryLimitBytes <= 0) {
      throw new AriaError("CONFIG_INVALID", {
        message: "memoryLimitBytes must be a positive integer",
      });
    }
    const above = options.evictAboveRatio ?? CONTEXT_DEFAULTS.evictAboveRatio;
    const to = options.evictToRatio ?? CONTEXT_DEFAULTS.evictToRatio;
    if (!(to >= 0 && to < above && above <= 1)) {
      throw new AriaError("CONFIG_INVALID", {
        message: "need 0 <= evictToRatio < evictAboveRatio <= 1",
      });
    }
    this.evictAbove = above * this.memoryLimitBytes;
    this.evictTo = to * this.memoryLimitBytes;
    this.maxHistory = options.maxHistory ?? CONTEXT_DEFAULTS.maxHistory;
    this.maxInsights = options.maxInsights ?? CONTEXT_DEFAULTS.maxInsights;
    this.maxErrors = options.maxErrors ?? CONTEXT_DEFAULTS.maxErrors;
    this.clock = options.clock ?? systemClock;
  }

  /** The working-memory key of a step's output. */
  static stepKey(stepId: string): string {
    return STEP_PREFIX + stepId + STEP_SUFFIX;
  }

  /** Sets which step outputs must survive cleanup (the coordinator passes its pending references). */
  setRetention(isRetained: (stepId: string) => boolean): void {
    this.isRetained = isRetained;
  }

  /** Receives every cleanup pass that evicted something (the coordinator emits `memory.evicted`). */
  onEvict(listener: ((eviction: MemoryEviction) => void) | undefined): void {
    this.evictionListener = listener;
  }

  // ---------------------------------------------------------------- working memory

  /**
   * Stores a step's output (evictable), then runs the cleanup rule. `key` may pass the step's
   * precomputed `stepKey(stepId)` (the graph runner keeps them, saving a string per step).
   */
  setStepOutput(stepId: string, output: unknown, key = RuntimeContext.stepKey(stepId)): void {
    this.write(key, output, stepId);
    this.cleanupIfNeeded();
  }

  /** A step's output, or `undefined` when it has none or it was evicted (see {@link hasStepOutput}). */
  getStepOutput(stepId: string): unknown {
    return this.entries.get(RuntimeContext.stepKey(stepId))?.value;
  }

  hasStepOutput(stepId: string): boolean {
    return this.entries.has(RuntimeContext.stepKey(stepId));
  }

  /**
   * Stores a value under a key of the caller's choosing (never evicted). Keys `steps.*.output` are
   * reserved for step outputs. When the value cannot fit under the limit even after cleanup, the
   * write is refused with PAYLOAD_TOO_LARGE and nothing changes.
   */
  set(key: string, value: unknown): void {
    if (key === "")
      throw new AriaError("VALIDATION_FAILED", { message: "working-memory keys cannot be empty" });
    if (key.startsWith(STEP_PREFIX) && key.endsWith(STEP_SUFFIX)) {
      throw new AriaError("VALIDATION_FAILED", {
        message: `'${key}' is reserved for step outputs`,
        details: { key },
      });
    }
    const bytes = entryBytes(key, value);
    const previous = this.entries.get(key);
    const after = this.usedBytes - (previous?.bytes ?? 0) + bytes;
    if (after > this.memoryLimitBytes && after - this.evictableBytes(key) > this.memoryLimitBytes) {
      throw new AriaError("PAYLOAD_TOO_LARGE", {
        message: `Working memory of run ${this.runId} cannot take '${key}' (${bytes} bytes): limit ${this.memoryLimitBytes} bytes, ${this.usedBytes} used`,
        details: { key, bytes, usedBytes: this.usedBytes, limitBytes: this.memoryLimitBytes },
      });
    }
    this.write(key, value, undefined, bytes);
    this.cleanupIfNeeded();
  }

  get(key: string): unknown {
    return this.entries.get(key)?.value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Removes an entry; true when it existed. */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.usedBytes -= entry.bytes;
    return true;
  }

  /** Keys in age order, oldest first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Working memory as a plain record (a copy). */
  workingMemory(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const entry of this.entries.values()) out[entry.key] = copyValue(entry.value);
    return out;
  }

  memoryUsage(): MemoryUsage {
    return {
      usedBytes: this.usedBytes,
      limitBytes: this.memoryLimitBytes,
      utilization: this.usedBytes / this.memoryLimitBytes,
      itemCount: this.entries.size,
      evictions: this.evictionCount,
    };
  }

  /**
   * Runs the cleanup rule now: when usage is above 80% of the limit, evicts the oldest step outputs
   * not retained until usage is at or below 25%. Returns what was evicted, if anything.
   */
  cleanupIfNeeded(): MemoryEviction | undefined {
    if (this.usedBytes <= this.evictAbove) return undefined;
    const before = this.usedBytes;
    const keys: string[] = [];
    const stepIds: string[] = [];
    let retained = 0;
    for (const entry of this.entries.values()) {
      if (this.usedBytes <= this.evictTo) break;
      if (entry.stepId === undefined) continue;
      if (this.isRetained(entry.stepId)) {
        retained++;
        continue;
      }
      this.entries.delete(entry.key);
      this.usedBytes -= entry.bytes;
      keys.push(entry.key);
      stepIds.push(entry.stepId);
    }
    if (keys.length === 0) return undefined;
    this.evictionCount += keys.length;
    const eviction: MemoryEviction = {
      keys,
      stepIds,
      freedBytes: before - this.usedBytes,
      usedBytesBefore: before,
      usedBytesAfter: this.usedBytes,
      limitBytes: this.memoryLimitBytes,
      retained,
    };
    this.evictionListener?.(eviction);
    return eviction;
  }

  /**
   * Puts an entry back exactly as recorded, without limit checks or cleanup (rebuilding a context
   * from checkpoints on resume). Pass `stepId` for a step output.
   */
  restore(key: string, value: unknown, stepId?: string): void {
    this.write(key, value, stepId);
  }

  /** Removes entries by key without running the listener (replaying recorded evictions on resume). */
  evictKeys(keys: readonly string[]): number {
    let removed = 0;
    for (const key of keys) if (this.delete(key)) removed++;
    this.evictionCount += removed;
    return removed;
  }

  private write(
    key: string,
    value: unknown,
    stepId: string | undefined,
    bytes = entryBytes(key, value),
  ): void {
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      // Re-inserting moves the entry to the young end: Map order is the eviction order.
      this.entries.delete(key);
      this.usedBytes -= previous.bytes;
    }
    this.entries.set(key, {
      key,
      value,
      bytes,
      stepId,
      createdAtMs: this.clock.now(),
      seq: this.nextSeq++,
    });
    this.usedBytes += bytes;
  }

  private evictableBytes(except: string): number {
    let total = 0;
    for (const entry of this.entries.values()) {
      if (entry.stepId !== undefined && entry.key !== except && !this.isRetained(entry.stepId))
        total += entry.bytes;
    }
    return total;
  }

  // ---------------------------------------------------------------- history, insights, errors

  /** Appends a history entry (the oldest are dropped beyond `maxHistory`). */
  addHistory(entry: Omit<HistoryEntry, "at"> & { at?: string }): void {
    const { at, ...rest } = entry;
    // `at` first: the key order ContextSnapshotSchema produces, so JSON round-trips byte for byte.
    this.pushHistory({ at: at ?? isoTime(this.clock.now()), ...rest });
  }

  private pushHistory(entry: HistoryEntry): void {
    this.historyBuffer.push(entry);
    // Trim in batches so appending stays O(1) amortised on long runs.
    if (this.historyBuffer.length > this.maxHistory * 2)
      this.historyBuffer = this.historyBuffer.slice(-this.maxHistory);
  }

  /** Records a finished step in the history. */
  recordStep(step: {
    stepId: string;
    status: string;
    durationMs: number;
    attempts: number;
    errorCode?: string;
    summary?: string;
  }): void {
    const data: Record<string, unknown> = { durationMs: step.durationMs, attempts: step.attempts };
    if (step.errorCode !== undefined) data.errorCode = step.errorCode;
    this.pushHistory({
      at: isoTime(this.clock.now()),
      stepId: step.stepId,
      kind: STEP_KINDS[step.status] ?? `step.${step.status}`,
      summary: step.summary ?? `step ${step.stepId} ${step.status}`,
      data,
    });
  }

  /** History, oldest first (at most `maxHistory` entries). */
  history(): HistoryEntry[] {
    const buffer = this.historyBuffer;
    return buffer.length > this.maxHistory ? buffer.slice(-this.maxHistory) : buffer.slice();
  }

  /** Adds an insight unless one with the same source and text exists; false when it was a duplicate. */
  addInsight(insight: Omit<Insight, "at"> & { at?: string }): boolean {
    const key = `${insight.source}\u0000${insight.text}`;
    if (this.insightKeys.has(key)) return false;
    this.insightKeys.add(key);
    const { at, ...rest } = insight;
    this.insightList.push({ at: at ?? isoTime(this.clock.now()), ...rest });
    while (this.insightList.length > this.maxInsights) {
      const dropped = this.insightList.shift()!;
      this.insightKeys.delete(`${dropped.source}\u0000${dropped.text}`);
    }
    return true;
  }

  insights(): Insight[] {
    return this.insightList.slice();
  }

  /** Records an error (an AriaError becomes its serialisable body); the oldest beyond `maxErrors` go. */
  addError(error: unknown): void {
    let record: Record<string, unknown>;
    if (AriaError.is(error)) record = error.toBody() as unknown as Record<string, unknown>;
    else if (error instanceof Error) record = { code: "INTERNAL_ERROR", message: error.message };
    else if (typeof error === "object" && error !== null)
      record = { ...(error as Record<string, unknown>) };
    else record = { code: "INTERNAL_ERROR", message: String(error) };
    if (record.at === undefined) record.at = isoTime(this.clock.now());
    this.errorList.push(record);
    while (this.errorList.length > this.maxErrors) this.errorList.shift();
  }

  errors(): Array<Record<string, unknown>> {
    return this.errorList.slice();
  }

  // ---------------------------------------------------------------- serialisation

  /** The serialisable form (values are referenced, not copied: serialise it before mutating). */
  toJSON(): ContextSnapshot {
    const workingMemory: WorkingMemoryEntry[] = [];
    for (const entry of this.entries.values()) {
      workingMemory.push({
        key: entry.key,
        value: entry.value,
        bytes: entry.bytes,
        ...(entry.stepId !== undefined ? { stepId: entry.stepId } : {}),
        createdAt: isoTime(entry.createdAtMs),
        seq: entry.seq,
      });
    }
    return {
      schemaVersion: 1,
      runId: this.runId,
      ...(this.sessionId !== undefined ? { sessionId: this.sessionId } : {}),
      ...(this.task !== undefined ? { task: this.task } : {}),
      memoryLimitBytes: this.memoryLimitBytes,
      memoryUsedBytes: this.usedBytes,
      nextSeq: this.nextSeq,
      workingMemory,
      history: this.history(),
      insights: this.insights(),
      errors: this.errors(),
      evictions: this.evictionCount,
      takenAt: isoTime(this.clock.now()),
    };
  }

  /** An independent deep copy of the current state. */
  snapshot(): ContextSnapshot {
    return JSON.parse(JSON.stringify(this.toJSON())) as ContextSnapshot;
  }

  /**
   * Rebuilds a context from `toJSON()` output (validated with ContextSnapshotSchema). Entry sizes
   * are recomputed, so a snapshot edited by hand cannot corrupt the accounting.
   */
  static fromJSON(
    snapshot: unknown,
    options: Omit<RuntimeContextOptions, "runId" | "sessionId" | "task" | "memoryLimitBytes"> = {},
  ): RuntimeContext {
    const parsed = ContextSnapshotSchema.safeParse(snapshot);
    if (!parsed.success) {
      throw new AriaError("VALIDATION_FAILED", {
        message: "Not a valid context snapshot",
        details: {
          issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
        },
      });
    }
    const data = parsed.data;
    const context = new RuntimeContext({
      ...options,
      runId: data.runId,
      ...(data.sessionId !== undefined ? { sessionId: data.sessionId } : {}),
      ...(data.task !== undefined ? { task: data.task } : {}),
      memoryLimitBytes: data.memoryLimitBytes,
    });
    const ordered = [...data.workingMemory].sort((a, b) => a.seq - b.seq);
    let maxSeq = -1;
    for (const item of ordered) {
      const bytes = entryBytes(item.key, item.value);
      context.entries.set(item.key, {
        key: item.key,
        value: item.value,
        bytes,
        stepId: item.stepId,
        createdAtMs: Date.parse(item.createdAt),
        seq: item.seq,
      });
      context.usedBytes += bytes;
      if (item.seq > maxSeq) maxSeq = item.seq;
    }
    context.nextSeq = Math.max(data.nextSeq, maxSeq + 1);
    context.evictionCount = data.evictions;
    context.historyBuffer = data.history.slice(-context.maxHistory);
    for (const insight of data.insights) context.addInsight(insight);
    context.errorList = data.errors.slice(-context.maxErrors);
    return context;
  }
}
