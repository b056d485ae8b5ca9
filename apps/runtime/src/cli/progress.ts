/** Prints a run's progress: a live status line per step on a terminal, plain lines otherwise. */
export class Progress {
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly tty: boolean;
  private readonly started = new Map<string, number>();
  private readonly running = new Set<string>();
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private lineShown = false;

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.out = out;
    this.tty = Boolean(out.isTTY) && process.env.TERM !== "dumb";
    if (this.tty) {
      this.timer = setInterval(() => this.redraw(), 120);
      this.timer.unref();
    }
  }

  private clearLine(): void {
    if (this.tty && this.lineShown) {
      this.out.write("\r\x1b[2K");
      this.lineShown = false;
    }
  }

  private redraw(): void {
    if (!this.tty || this.running.size === 0) return;
    const spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[this.frame++ % 10];
    const names = [...this.running].map(
      (id) => `${id} ${((Date.now() - (this.started.get(id) ?? Date.now())) / 1000).toFixed(1)}s`,
    );
    this.out.write(`\r\x1b[2K${spinner} running: ${names.join(", ")}`);
    this.lineShown = true;
  }

  /** Prints a line above the live status line. */
  line(text: string): void {
    this.clearLine();
    this.out.write(`${text}\n`);
    this.redraw();
  }

  event(type: string, data: Record<string, unknown>, stepId?: string): void {
    const id = stepId ?? (typeof data.stepId === "string" ? data.stepId : "");
    switch (type) {
      case "step.started":
        this.started.set(id, Date.now());
        this.running.add(id);
        if (!this.tty) this.line(`… ${id} started`);
        else this.redraw();
        break;
      case "step.completed":
        this.running.delete(id);
        this.line(
          `✓ ${id} (${((Date.now() - (this.started.get(id) ?? Date.now())) / 1000 || 0).toFixed(2)}s)`,
        );
        break;
      case "step.failed":
        this.running.delete(id);
        this.line(
          `✗ ${id}: ${(data.error as { message?: string } | undefined)?.message ?? "failed"}`,
        );
        break;
      case "step.retrying":
        this.line(`↻ ${id} retrying (attempt ${String(data.attempt ?? "?")})`);
        break;
      case "reflection":
      case "plan.adapted":
      case "plan.created":
        this.line(`• ${type}${data.action ? `: ${JSON.stringify(data.action)}` : ""}`);
        break;
      default:
        break;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clearLine();
  }
}
