import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger, type Runtime } from "@aria/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { createConsoleApp, resolveConsoleDir } from "../src/console.ts";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));
const KEY = "console-test-key-0123456789";
const root = path.resolve(import.meta.dirname, "../../..");
let runtime: Runtime | undefined;
const saved = process.env.ARIA_CONSOLE_DIR;

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  if (saved === undefined) delete process.env.ARIA_CONSOLE_DIR;
  else process.env.ARIA_CONSOLE_DIR = saved;
});

function fakeBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-console-"));
  fs.mkdirSync(path.join(dir, "assets"));
  fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>console</title>");
  fs.writeFileSync(path.join(dir, "assets", "index-Ab12Cd.js"), "console.log(1)");
  fs.writeFileSync(path.join(dir, "assets", "index-Ab12Cd.css"), "body{}");
  fs.writeFileSync(path.join(dir, "icon.svg"), "<svg/>");
  fs.writeFileSync(path.join(os.tmpdir(), "outside-console.txt"), "secret");
  return dir;
}

async function compose(env: { dir: string }, extra: Record<string, unknown> = {}) {
  process.env.ARIA_CONSOLE_DIR = env.dir;
  runtime = await composeRuntime(
    RuntimeConfigSchema.parse({ apiKeys: [KEY], features: { containers: false }, ...extra }),
    silent,
  );
  return runtime;
}

describe("the console's assets at /console", () => {
  it("serves them without an API key, with content types, cache headers and an SPA fallback", async () => {
    const rt = await compose({ dir: fakeBuild() });
    for (const route of ["/console", "/console/", "/console/runs/run_123", "/console/approvals"]) {
      const res = await rt.app.request(route);
      expect(res.status, route).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toContain("connect-src 'self'");
      expect(await res.text()).toContain("<title>console</title>");
    }
    const js = await rt.app.request("/console/assets/index-Ab12Cd.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await js.text()).toBe("console.log(1)");
    const css = await rt.app.request("/console/assets/index-Ab12Cd.css");
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    const svg = await rt.app.request("/console/icon.svg");
    expect(svg.headers.get("content-type")).toBe("image/svg+xml");
    expect(svg.headers.get("cache-control")).toBe("no-cache");
    const head = await rt.app.request("/console/assets/index-Ab12Cd.js", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");

    // A missing asset is a 404 (not the HTML), and nothing outside the directory is readable.
    expect((await rt.app.request("/console/assets/index-Gone.js")).status).toBe(404);
    for (const attempt of [
      "/console/..%2foutside-console.txt",
      "/console/%2e%2e/outside-console.txt",
      "/console/assets/..%2f..%2foutside-console.txt",
    ]) {
      const res = await rt.app.request(attempt);
      expect(await res.text(), attempt).not.toContain("secret");
    }
    // The API itself still needs the key.
    expect((await rt.app.request("/v1/tools")).status).toBe(401);
    expect((await rt.app.request("/v1/events")).status).toBe(401);
  });

  it("answers how to build the console when its assets are missing", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "aria-console-empty-"));
    const rt = await compose({ dir: empty });
    const html = await rt.app.request("/console/");
    expect(html.status).toBe(503);
    expect(html.headers.get("content-type")).toContain("text/html");
    const text = await html.text();
    expect(text).toContain("not built");
    expect(text).toContain("pnpm build");
    const json = await rt.app.request("/console/runs", { headers: { accept: "application/json" } });
    expect(json.status).toBe(503);
    const body = (await json.json()) as { error: { code: string; userGuidance: string } };
    expect(body.error.code).toBe("CONSOLE_NOT_BUILT");
    expect(body.error.userGuidance).toContain("ARIA_CONSOLE_DIR");
  });

  it("finds the monorepo's apps/console/dist by default, and ARIA_CONSOLE_DIR when set", () => {
    expect(resolveConsoleDir({})).toBe(path.join(root, "apps/console/dist"));
    expect(resolveConsoleDir({ ARIA_CONSOLE_DIR: "/srv/console" })).toBe("/srv/console");
    // A directory given explicitly wins over the environment.
    const app = createConsoleApp({ dir: fakeBuild() });
    expect(app).toBeDefined();
  });
});

describe("GET /v1/events", () => {
  it("sends a snapshot of the runs, then each change of a run as it happens", async () => {
    const rt = await compose({ dir: fakeBuild() }, { examplesDir: path.join(root, "examples") });
    const auth = { authorization: `Bearer ${KEY}` };
    const controller = new AbortController();
    const res = await rt.app.request("/v1/events", { headers: auth, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
        text += value;
      }
    };
    await until(/event: runs\.snapshot\ndata: \{"runs":\[\]\}/);
    const submitted = await rt.app.request("/v1/runs", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "text-report", input: { text: "one two three" } }),
    });
    expect(submitted.status).toBe(202);
    const { runId } = (await submitted.json()) as { runId: string };
    await until(new RegExp(`event: run\\.updated\\ndata: \\{"id":"${runId}","status":"succeeded"`));
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });
});
