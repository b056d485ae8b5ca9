import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { RuntimeConfigSchema } from "@aria/core-types";
import { composeRuntime, createLogger } from "@aria/runtime";
import { describe, expect, it } from "vitest";

const silent = createLogger("silent", new Writable({ write: (_c, _e, cb) => cb() }));

describe("development hot reload (ARIA_HOT_RELOAD)", () => {
  it("rebuilds and re-registers a bundle when its source changes", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "aria-hot-"));
    const examples = path.join(root, "examples");
    const bundle = path.join(examples, "counting-bundle");
    fs.mkdirSync(examples);
    fs.cpSync(path.resolve(import.meta.dirname, "fixtures/counting-bundle"), bundle, {
      recursive: true,
    });
    fs.symlinkSync(
      path.resolve(import.meta.dirname, "../node_modules"),
      path.join(bundle, "node_modules"),
    );
    const runtime = await composeRuntime(
      RuntimeConfigSchema.parse({
        dataDir: path.join(root, "data"),
        examplesDir: examples,
        hotReload: true,
        features: { containers: false },
      }),
      silent,
    );
    try {
      const invoke = async () =>
        (await (
          await runtime.app.request(
            `/v1/tools/${encodeURIComponent("counting-tools/count")}/invoke`,
            {
              method: "POST",
              body: JSON.stringify({ input: { n: 1 } }),
            },
          )
        ).json()) as { output: { n: number } };
      expect((await invoke()).output.n).toBe(2);

      const source = path.join(bundle, "src/index.ts");
      fs.writeFileSync(
        source,
        fs.readFileSync(source, "utf8").replace("return { n: n + 1 };", "return { n: n + 100 };"),
      );
      let n = 0;
      for (let i = 0; i < 100 && n !== 101; i++) {
        await new Promise((r) => setTimeout(r, 200));
        n = (await invoke()).output.n;
      }
      expect(n).toBe(101);
    } finally {
      await runtime.close();
    }
  }, 60_000);
});
