import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, requireDocker } from "@aria/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const TAG = "aria-runtime:test";
let containerId: string | undefined;

beforeAll(async () => {
  await requireDocker();
  // The base: the locally built tool-runner image (Node + uid 1000), since no registry is reachable.
  await run(path.join(root, "deploy/tool-runner/build-local.sh"), [process.execPath], {
    cwd: root,
    timeout: 180_000,
  });
}, 240_000);

afterAll(async () => {
  if (containerId) await run("docker", ["rm", "-f", containerId]).catch(() => undefined);
});

describe("the runtime image (deploy/runtime/Dockerfile)", () => {
  it("builds offline on a local base and serves /health from a read-only container", async () => {
    await run(path.join(root, "deploy/runtime/build-image.sh"), [TAG, "aria-tool-runner:latest"], {
      cwd: root,
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const { stdout: inspect } = await run("docker", [
      "image",
      "inspect",
      TAG,
      "--format",
      "{{json .Config}}",
    ]);
    const config = JSON.parse(inspect) as { User: string; Entrypoint: string[]; Cmd: string[] };
    expect(config.User).toBe("1000:1000");
    expect(config.Entrypoint).toEqual(["node", "/app/dist/cli.js"]);
    expect(config.Cmd).toEqual(["serve", "--role", "all"]);

    const port = await freePort();
    const { stdout } = await run("docker", [
      "run",
      "-d",
      "--rm",
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "--tmpfs",
      "/data:uid=1000,gid=1000",
      "--label",
      "aria.test=runtime-image",
      "-e",
      "ARIA_HOST=127.0.0.1",
      "-e",
      `ARIA_PORT=${port}`,
      "-e",
      "ARIA_FEATURE_CONTAINERS=false",
      TAG,
    ]);
    containerId = stdout.trim();
    let health: Response | undefined;
    for (let i = 0; i < 100 && !health?.ok; i++) {
      health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (!health?.ok) await new Promise((r) => setTimeout(r, 200));
    }
    expect(health?.status).toBe(200);
    expect(((await health!.json()) as { status: string }).status).toBe("ok");
    const tools = (await (await fetch(`http://127.0.0.1:${port}/v1/tools`)).json()) as {
      tools: Array<{ id: string }>;
    };
    expect(tools.tools.map((t) => t.id)).toContain("calculator");
    // The console's production build is in the image and served at /console.
    const page = await fetch(`http://127.0.0.1:${port}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`http://127.0.0.1:${port}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("javascript");
  }, 300_000);
});
