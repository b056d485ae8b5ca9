/** One Server-Sent Event, as the WHATWG event-stream format defines it. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen so far (what a reconnect sends as `Last-Event-ID`). */
  id: string;
}

/**
 * An incremental parser for `text/event-stream` (the WHATWG "event stream interpretation"):
 * `push` takes text as it arrives, in chunks of any size, and returns the events completed by it.
 * It handles CRLF, CR and LF line ends (a CRLF split across chunks included), comments, multi-line
 * data, a leading BOM, fields without a colon, and keeps the last event id across events.
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private eventType = "";
  private lastId = "";
  private retry: number | undefined;
  private first = true;
  private pendingCr = false;

  /** The id of the last event seen (for `Last-Event-ID`). */
  get lastEventId(): string {
    return this.lastId;
  }

  /** The reconnection delay the server asked for with `retry:`, if any. */
  get retryMs(): number | undefined {
    return this.retry;
  }

  push(chunk: string): SseEvent[] {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    // A CR that ended the previous chunk, followed by LF here, is one line end.
    if (this.pendingCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.pendingCr = false;
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      const line = this.buffer.slice(start, i);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const hasData = this.data.length > 0;
    const event: SseEvent = {
      event: this.eventType || "message",
      data: this.data.join("\n"),
      id: this.lastId,
    };
    this.data = [];
    this.eventType = "";
    // An event with no data lines is not dispatched (the spec), but its id still counts.
    return hasData ? event : undefined;
  }
}
