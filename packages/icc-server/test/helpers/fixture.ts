import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { AgentManifest, IccPermission } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import {
  ALL_TOKEN_PERMISSIONS,
  createIccServer,
  type IccKeyring,
  type IccServer,
  type IccServerDeps,
  type IccServerOptions,
  type MintTokenInput,
} from "@aria/icc-server";
import { createIccClient } from "@aria/sdk";
import { createScriptedLlm, reply } from "@aria/testkit";
import {
  createAuditSink,
  createTestAgentInvoker,
  createTestContexts,
  createTestToolRegistry,
} from "./stand-ins.ts";

export const KEYRING: IccKeyring = {
  activeKid: "k1",
  keys: { k1: "test-secret-one-0123456789abcdefghijklmnop" },
};

/** A short temp folder (Unix socket paths are limited to 107 bytes). */
export async function shortTempDir(prefix = "icc-"): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

const agentManifest = (name: string, bundle: string) =>
  ({
    id: `${bundle}/${name}`,
    bundle,
    name,
    description: `agent ${name}`,
    systemPrompt: "You help.",
    tools: ["echo"],
    maxSteps: 4,
  }) as AgentManifest & { id: string; bundle: string };

/** A server on a Unix socket in a temp folder, with in-memory collaborators and two runs. */
export async function startFixture(
  options: IccServerOptions & { deps?: Partial<IccServerDeps> } = {},
) {
  const dir = await shortTempDir();
  const llm = createScriptedLlm((_request, i) =>
    reply.text(`answer ${i + 1}`, { usage: { inputTokens: 11, outputTokens: 7 } }),
  );
  let release: (() => void) | undefined;
  const tools = createTestToolRegistry([
    { id: "echo", handler: (input) => ({ echoed: input }) },
    { id: "noop", handler: () => undefined },
    {
      id: "fail",
      handler: () => {
        throw new Error("tool exploded");
      },
    },
    { id: "needs-x", required: ["x"], handler: (input) => input.x },
    {
      id: "slow",
      handler: (_input, context) =>
        new Promise((resolve, reject) => {
          release = () => resolve("released");
          context.signal.addEventListener("abort", () => reject(context.signal.reason), {
            once: true,
          });
        }),
    },
    {
      id: "text-tools/wordCount",
      bundle: "text-tools",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
      handler: (input) => ({ words: String(input.text).split(/\s+/).filter(Boolean).length }),
    },
    { id: "secret-tools/leak", bundle: "secret-tools", handler: () => "secret" },
    { id: "payments/transfer", bundle: "payments", needsApproval: true, handler: () => "sent" },
  ]);
  const agents = createTestAgentInvoker(llm, ["analyst", "writer"]);
  const agentList = [agentManifest("analyst", "text-tools"), agentManifest("writer", "docs")];
  const agentRegistry = {
    listAgents: () => agentList,
    getAgent: (name: string) => {
      const found = agentList.find((a) => a.id === name || a.name === name);
      if (!found) throw new AriaError("AGENT_NOT_FOUND", { message: `no agent ${name}` });
      return found;
    },
  };
  const contexts = createTestContexts({
    "run-A": {
      sessionId: "session-A",
      task: "task of A",
      workingMemory: { note: "A's note" },
      history: [{ step: "s0", summary: "A started" }],
    },
    "run-B": {
      sessionId: "session-B",
      task: "task of B",
      workingMemory: { secret: "B's private data" },
      history: [{ step: "s0", summary: "B started" }],
    },
  });
  const audit = createAuditSink();
  const { deps: extraDeps, ...serverOptions } = options;
  const server: IccServer = createIccServer(
    {
      keyring: KEYRING,
      tools,
      agents,
      agentRegistry,
      llm,
      context: contexts,
      audit: audit.write,
      ...extraDeps,
    },
    serverOptions,
  );
  const socketPath = path.join(dir, "icc.sock");
  const listener = await server.listen({ socketPath });

  const mint = (input: Partial<MintTokenInput> = {}) =>
    server.mintToken({
      runId: "run-A",
      stepId: "step-1",
      containerId: "ctr-A",
      sessionId: "session-A",
      ...ALL_TOKEN_PERMISSIONS,
      ...input,
    });
  const client = (token: string) =>
    createIccClient({ ARIA_ICC_URL: listener.url, ARIA_ICC_TOKEN: token });

  /** A request with full control over headers; answers status, headers and parsed JSON. */
  const raw = (
    method: string,
    urlPath: string,
    init: {
      headers?: Record<string, string | string[]>;
      body?: string | Buffer;
      socket?: string;
    } = {},
  ) =>
    // biome-ignore lint/suspicious/noExplicitAny: tests probe answers of any shape
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; json: any; text: string }>(
      (resolve, reject) => {
        const req = http.request(
          {
            socketPath: init.socket ?? socketPath,
            method,
            path: urlPath,
            headers: init.headers ?? {},
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let json: unknown;
              try {
                json = JSON.parse(text);
              } catch {
                json = undefined;
              }
              resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
            });
          },
        );
        req.on("error", reject);
        req.end(init.body);
      },
    );

  /** Writes raw bytes on a fresh connection and returns everything the server sends back. */
  const rawBytes = (bytes: string, socket = socketPath) =>
    new Promise<string>((resolve, reject) => {
      const connection = net.connect(socket);
      const chunks: Buffer[] = [];
      connection.on("data", (c) => chunks.push(c));
      connection.on("error", reject);
      connection.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
      connection.write(bytes);
      setTimeout(() => connection.end(), 300).unref();
    });

  return {
    dir,
    socketPath,
    url: listener.url,
    server,
    llm,
    tools,
    agents,
    contexts,
    audit,
    mint,
    client,
    raw,
    rawBytes,
    releaseSlow: () => release?.(),
    async close() {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export type Fixture = Awaited<ReturnType<typeof startFixture>>;

export const perms = (...permissions: IccPermission[]) => ({ permissions });

/** For `promise.then(unexpected, (e) => e)`: a call that was meant to fail succeeded. */
export const unexpected = (): never => {
  throw new Error("expected the call to fail");
};
