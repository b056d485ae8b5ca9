import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { composeRuntime, createLogger, loadConfig } from "@aria/runtime";
import { reply, startFakeOpenAI } from "@aria/testkit";
import { describe, expect, it } from "vitest";

describe("credential rotation without a restart", () => {
  it("applies new provider and API keys written to their *_FILE, and never logs a value", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-creds-"));
    const openaiFile = path.join(dir, "openai");
    const apiKeysFile = path.join(dir, "api-keys");
    fs.writeFileSync(openaiFile, "sk-first-key-0123456789\n");
    fs.writeFileSync(apiKeysFile, "client-key-aaaaaaaaaaaaaaaa\n");
    const llm = await startFakeOpenAI(reply.text("hello"));
    let logs = "";
    const logger = createLogger(
      "info",
      new Writable({
        write: (chunk, _encoding, callback) => {
          logs += chunk;
          callback();
        },
      }),
    );
    const env = {
      OPENAI_API_KEY_FILE: openaiFile,
      OPENAI_BASE_URL: llm.baseURL,
      ARIA_API_KEYS_FILE: apiKeysFile,
      ARIA_LLM_PROVIDERS: "openai",
      ARIA_DATA_DIR: path.join(dir, "data"),
      ARIA_FEATURE_CONTAINERS: "false",
    };
    const runtime = await composeRuntime(loadConfig({ env, cwd: dir }), logger, { env });
    try {
      const complete = () =>
        runtime.llm.complete({ messages: [{ role: "user", content: "hi" }], model: "fake-gpt" });
      await complete();
      expect(llm.requests.at(-1)?.headers.authorization).toBe("Bearer sk-first-key-0123456789");
      const tools = (key: string) =>
        runtime.app.request("/v1/tools", { headers: { authorization: `Bearer ${key}` } });
      expect((await tools("client-key-aaaaaaaaaaaaaaaa")).status).toBe(200);

      fs.writeFileSync(openaiFile, "sk-second-key-9876543210\n");
      fs.writeFileSync(apiKeysFile, "client-key-bbbbbbbbbbbbbbbb\n");
      let header: string | undefined;
      for (let i = 0; i < 50 && header !== "Bearer sk-second-key-9876543210"; i++) {
        await new Promise((r) => setTimeout(r, 200));
        await complete();
        header = llm.requests.at(-1)?.headers.authorization;
      }
      expect(header).toBe("Bearer sk-second-key-9876543210");
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await tools("client-key-bbbbbbbbbbbbbbbb")).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
      expect((await tools("client-key-aaaaaaaaaaaaaaaa")).status).toBe(401);

      const auditResponse = await runtime.app.request("/v1/audit?action=credentials.", {
        headers: { authorization: "Bearer client-key-bbbbbbbbbbbbbbbb" },
      });
      const audit = (await auditResponse.json()) as {
        entries: Array<{ target: string; outcome: string }>;
      };
      expect(audit.entries.map((e) => e.target).sort()).toEqual(
        expect.arrayContaining(["ARIA_API_KEYS_FILE", "OPENAI_API_KEY_FILE"]),
      );
      for (const secret of [
        "sk-first-key",
        "sk-second-key",
        "client-key-aaaa",
        "client-key-bbbb",
      ]) {
        expect(logs).not.toContain(secret);
        expect(JSON.stringify(audit)).not.toContain(secret);
      }
    } finally {
      await runtime.close();
      await llm.close();
    }
  }, 60_000);
});
