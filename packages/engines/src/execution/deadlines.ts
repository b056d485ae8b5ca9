/** Something with a deadline (milliseconds of `performance.now()`). */
export interface Expiring {
  readonly deadline: number;
  expire(): void;
}

/**
 * Step timeouts without a timer per attempt: one unref'd interval sweeps the attempts in flight
 * every `resolutionMs`, so a timeout fires between its deadline and `resolutionMs` later. A timeout
 * shorter than four sweeps gets its own exact timer instead. Most steps finish long before their
 * timeout, and adding and removing a set entry costs far less than arming and clearing a timer.
 */
export class Deadlines {
  private readonly active = new Set<Expiring>();
  private readonly resolutionMs: number;
  private interval: ReturnType<typeof setInterval> | undefined;

  constructor(resolutionMs = 10) {
    this.resolutionMs = resolutionMs;
  }

  /** Watches `item`; returns a handle to pass to {@link remove}. */
  add(item: Expiring, timeoutMs: number): ReturnType<typeof setTimeout> | undefined {
    if (timeoutMs < this.resolutionMs * 4) {
      const timer = setTimeout(expireItem, timeoutMs, item);
      return timer;
    }
    this.active.add(item);
    if (this.interval === undefined) {
      this.interval = setInterval(sweep, this.resolutionMs, this);
      this.interval.unref?.();
    }
    return undefined;
  }

  remove(item: Expiring, handle: ReturnType<typeof setTimeout> | undefined): void {
    if (handle !== undefined) clearTimeout(handle);
    else this.active.delete(item);
  }

  /** Expires what is due; stops the interval when nothing is watched. */
  sweep(): void {
    if (this.active.size === 0) {
      clearInterval(this.interval);
      this.interval = undefined;
      return;
    }
    const now = performance.now();
    for (const item of this.active) {
      if (item.deadline <= now) {
        this.active.delete(item);
        item.expire();
      }
    }
  }
}

function expireItem(item: Expiring): void {
  item.expire();
}

function sweep(deadlines: Deadlines): void {
  deadlines.sweep();
}
