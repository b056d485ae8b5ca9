import { describe, expect, it } from "vitest";
import { SseParser } from "../src/api/sse-parser.ts";

describe("SseParser", () => {
  it("parses events with ids, types and multi-line data", () => {
    const p = new SseParser();
    const events = p.push(
      'id: 1\nevent: step.started\ndata: {"a":1}\n\nid: 2\ndata: line one\ndata: line two\n\n',
    );
    expect(events).toEqual([
      { event: "step.started", data: '{"a":1}', id: "1" },
      { event: "message", data: "line one\nline two", id: "2" },
    ]);
    expect(p.lastEventId).toBe("2");
  });

  it("reassembles events split across chunks at any byte, CRLF included", () => {
    const text =
      'event: run.completed\r\nid: 7\r\ndata: {"ok":true}\r\n\r\n: keep-alive\r\n\r\nevent: x\rdata: y\r\r';
    for (let size = 1; size <= text.length; size++) {
      const p = new SseParser();
      const out = [];
      for (let i = 0; i < text.length; i += size) out.push(...p.push(text.slice(i, i + size)));
      expect(out, `chunk size ${size}`).toEqual([
        { event: "run.completed", data: '{"ok":true}', id: "7" },
        { event: "x", data: "y", id: "7" },
      ]);
    }
  });

  it("ignores comments, unknown fields and events without data; strips one leading space only", () => {
    const p = new SseParser();
    const events = p.push(": comment\nfoo: bar\nevent: lonely\n\ndata:  two spaces\ndata\n\n");
    expect(events).toEqual([{ event: "message", data: " two spaces\n", id: "" }]);
  });

  it("keeps the last id across events, ignores ids with NUL, and reads retry", () => {
    const p = new SseParser();
    const events = p.push("id: 5\nretry: 2500\ndata: a\n\nid: bad\0id\ndata: b\n\n");
    expect(events.map((e) => e.id)).toEqual(["5", "5"]);
    expect(p.retryMs).toBe(2500);
  });

  it("drops a leading byte-order mark", () => {
    const p = new SseParser();
    expect(p.push("\uFEFFdata: x\n\n")).toEqual([{ event: "message", data: "x", id: "" }]);
  });

  it("does not dispatch an event until its blank line arrives", () => {
    const p = new SseParser();
    expect(p.push("data: partial\n")).toEqual([]);
    expect(p.push("\n")).toEqual([{ event: "message", data: "partial", id: "" }]);
  });
});
