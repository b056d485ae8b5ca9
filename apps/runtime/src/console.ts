import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import type { AppEnv } from "./app.ts";

/** Where the console is served (its Vite `base` is this path plus a slash). */
export const CONSOLE_PATH = "/console";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/**
 * The console's page policy: everything from this origin only (the console never loads a font, a
 * script or an image from anywhere else, and talks only to this runtime's API).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Finds the console's built assets: `ARIA_CONSOLE_DIR` when set; else `console/` inside the runtime
 * package (where the runtime image puts them); else the monorepo's `apps/console/dist`. Returns the
 * first candidate holding an `index.html`, or the last candidate when none does (so the "not built"
 * answer can name where it looked).
 */
export function resolveConsoleDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ARIA_CONSOLE_DIR) return path.resolve(env.ARIA_CONSOLE_DIR);
  // This file is src/console.ts or dist/console.js: the package root is one level up.
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const candidates = [
    path.join(packageRoot, "console"),
    path.resolve(packageRoot, "../console/dist"),
  ];
  return (
    candidates.find((dir) => fs.existsSync(path.join(dir, "index.html"))) ?? candidates.at(-1)!
  );
}

function notBuilt(dir: string, wantsJson: boolean): Response {
  const message = `The console's assets are not built (looked in ${dir}).`;
  const guidance =
    "Build them with `pnpm build` (or `pnpm --filter @aria/console build`) and reload, or point ARIA_CONSOLE_DIR at a built console.";
  if (wantsJson) {
    return Response.json(
      { error: { code: "CONSOLE_NOT_BUILT", message, userGuidance: guidance } },
      { status: 503, headers: { "cache-control": "no-store" } },
    );
  }
  const escapeHtml = (s: string) =>
    s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Aria console: not built</title></head><body><main><h1>The Aria console is not built</h1><p>${escapeHtml(message)}</p><p>${escapeHtml(guidance)}</p></main></body></html>`;
  return new Response(html, {
    status: 503,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Serves the console's built assets under `/console`: files by path with their content type,
 * hashed `assets/*` cached for a year (immutable), `index.html` never cached and returned for every
 * client route (SPA fallback). No API key is needed for the assets: they hold no data, and the
 * console asks for the key before it calls the API. When the assets are missing it answers 503 with
 * how to build them instead of failing.
 */
export function createConsoleApp(options: { dir?: string } = {}): Hono<AppEnv> {
  const dir = path.resolve(options.dir ?? resolveConsoleDir());
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer>();

  const read = (file: string): Buffer | undefined => {
    const hit = cache.get(file);
    if (hit) return hit;
    try {
      const stat = fs.statSync(file);
      if (!stat.isFile()) return undefined;
      const bytes = fs.readFileSync(file);
      // Hashed assets never change under a name; index.html is re-read so a rebuild shows at once.
      if (file.includes(`${path.sep}assets${path.sep}`)) cache.set(file, bytes);
      return bytes;
    } catch {
      return undefined;
    }
  };

  const handler = (c: {
    req: { path: string; method: string; header(name: string): string | undefined };
  }) => {
    const wantsJson = (c.req.header("accept") ?? "").includes("application/json");
    const index = read(path.join(dir, "index.html"));
    if (!index) return notBuilt(dir, wantsJson);
    let relative = c.req.path.slice(CONSOLE_PATH.length).replace(/^\/+/, "");
    try {
      relative = decodeURIComponent(relative);
    } catch {
      relative = "";
    }
    const file = path.resolve(dir, relative);
    const inside = file === dir || file.startsWith(dir + path.sep);
    const body = (bytes: Buffer) => (c.req.method === "HEAD" ? null : new Uint8Array(bytes));
    if (inside && relative !== "" && relative !== "index.html") {
      const bytes = read(file);
      if (bytes) {
        const ext = path.extname(file).toLowerCase();
        const hashed = relative.startsWith("assets/");
        return new Response(body(bytes), {
          headers: {
            "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
            "cache-control": hashed ? "public, max-age=31536000, immutable" : "no-cache",
            "x-content-type-options": "nosniff",
          },
        });
      }
      // A missing file (a stale hashed asset, a typo) is a 404, not the app's HTML.
      if (relative.startsWith("assets/") || path.extname(relative) !== "") {
        return Response.json(
          {
            error: {
              code: "NOT_FOUND",
              message: `No console file ${relative}`,
              userGuidance: "Reload the console: its assets may have been rebuilt.",
            },
          },
          { status: 404 },
        );
      }
    }
    // Client routes (/console, /console/runs/ID, ...) all get the app.
    return new Response(body(index), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-cache",
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      },
    });
  };

  app.get("/", handler);
  app.get("/*", handler);
  return app;
}
