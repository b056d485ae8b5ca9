import { createHmac } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { IccError } from "@aria/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { type Fixture, KEYRING, startFixture, unexpected } from "./helpers/fixture.ts";

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = (body: unknown) => JSON.stringify(body);

/** Re-signs a payload with a key (to forge tokens the way an attacker with a key could). */
function sign(kid: string, secret: string, claims: Record<string, unknown>): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = createHmac("sha256", secret)
    .update(`aria1.${kid}.${payload}`)
    .digest("base64url");
  return `aria1.${kid}.${payload}.${signature}`;
}

function expectRefused(
  answer: Awaited<ReturnType<Fixture["raw"]>>,
  status: number,
  code: string,
  reason?: string,
) {
  expect(answer.status).toBe(status);
  expect(answer.json.error.code).toBe(code);
  if (reason !== undefined) expect(answer.json.error.details.reason).toBe(reason);
  // an error answer never carries any run's data
  for (const secret of ["run-A", "run-B", "B's private data", "A's note", "session-", "task of"])
    expect(answer.text).not.toContain(secret);
}

describe("ICC tokens", () => {
  it("refuses a request without a token with 401, and runs nothing", async () => {
    f = await startFixture();
    const answer = await f.raw("POST", "/tools/echo", { body: json({ parameters: {} }) });
    expectRefused(answer, 401, "ICC_UNAUTHORIZED", "missing");
    expect(answer.headers["www-authenticate"]).toContain("Bearer");
    expect(f.tools.calls).toHaveLength(0);
    expect(f.audit.entries.at(-1)).toMatchObject({
      actor: "unknown",
      action: "icc.tools.call",
      outcome: "failure",
      details: { status: 401, code: "ICC_UNAUTHORIZED", reason: "missing" },
    });
  });

  it("refuses malformed tokens and Authorization headers", async () => {
    f = await startFixture();
    const { token } = f.mint();
    const [prefix, kid, payload, signature] = token.split(".");
    const cases: Array<[string, string]> = [
      [`Basic ${token}`, "malformed"],
      ["Bearer", "malformed"],
      [`Bearer  ${token}`, "malformed"],
      [`Bearer ${token} extra`, "malformed"],
      [`Bearer ${token}.`, "malformed"],
      [`Bearer ${prefix}.${kid}.${payload}`, "malformed"],
      [`Bearer aria2.${kid}.${payload}.${signature}`, "malformed"],
      [`Bearer ${prefix}.${kid}.${payload}!.${signature}`, "malformed"],
      [`Bearer ${prefix}.bad kid.${payload}.${signature}`, "malformed"],
      [`Bearer ${"a".repeat(9000)}`, "malformed"],
      ["Bearer not-a-token", "malformed"],
    ];
    for (const [header, reason] of cases) {
      const answer = await f.raw("GET", "/context", { headers: { authorization: header } });
      expectRefused(answer, 401, "ICC_UNAUTHORIZED", reason);
    }
    // a well-signed payload that is not the claims shape is malformed too
    const forged = sign("k1", KEYRING.keys.k1 as string, { runId: "run-A" });
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(forged) }),
      401,
      "ICC_UNAUTHORIZED",
      "malformed",
    );
    const extraField = sign("k1", KEYRING.keys.k1 as string, {
      ...f.mint().claims,
      admin: true,
    });
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(extraField) }),
      401,
      "ICC_UNAUTHORIZED",
      "malformed",
    );
    expect(f.contexts.reads).toHaveLength(0);
  });

  it("refuses a bad signature, including a payload changed to another run", async () => {
    f = await startFixture();
    const { token, claims } = f.mint();
    const [prefix, kid, payload, signature] = token.split(".") as [string, string, string, string];
    const flipped = `${prefix}.${kid}.${payload}.${signature.slice(0, -2)}${signature.endsWith("AA") ? "BB" : "AA"}`;
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(flipped) }),
      401,
      "ICC_UNAUTHORIZED",
      "bad_signature",
    );
    const otherRun = Buffer.from(JSON.stringify({ ...claims, runId: "run-B" })).toString(
      "base64url",
    );
    expectRefused(
      await f.raw("GET", "/context", {
        headers: bearer(`${prefix}.${kid}.${otherRun}.${signature}`),
      }),
      401,
      "ICC_UNAUTHORIZED",
      "bad_signature",
    );
    const wrongKey = sign("k1", "another-secret-of-enough-length-0123456789", {
      ...claims,
      runId: "run-B",
    });
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(wrongKey) }),
      401,
      "ICC_UNAUTHORIZED",
      "bad_signature",
    );
    const truncated = `${prefix}.${kid}.${payload}.${signature.slice(0, 20)}`;
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(truncated) }),
      401,
      "ICC_UNAUTHORIZED",
      "bad_signature",
    );
    expect(f.contexts.reads).toHaveLength(0);
  });

  it("refuses an expired token and one issued in the future", async () => {
    let now = 1_000_000;
    f = await startFixture({ deps: { now: () => now } });
    const { token } = f.mint({ ttlMs: 60_000 });
    expect((await f.raw("GET", "/context", { headers: bearer(token) })).status).toBe(200);
    now += 60_000;
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(token) }),
      401,
      "ICC_UNAUTHORIZED",
      "expired",
    );
    const future = sign("k1", KEYRING.keys.k1 as string, {
      ...f.mint().claims,
      issuedAt: now + 3_600_000,
      expiresAt: now + 7_200_000,
    });
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(future) }),
      401,
      "ICC_UNAUTHORIZED",
      "not_yet_valid",
    );
  });

  it("refuses a revoked token, and aborts its calls in flight", async () => {
    f = await startFixture();
    const { token, claims } = f.mint();
    const aria = f.client(token);
    const slow = aria.tools.call("slow").then(unexpected, (e: IccError) => e);
    await expect.poll(() => f!.tools.calls.length).toBe(1);
    await f.server.revokeToken(token);
    const error = await slow;
    expect(error).toMatchObject({ code: "ICC_UNAUTHORIZED", status: 401 });
    expect(f.tools.calls[0]!.context.signal.aborted).toBe(true);
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(token) }),
      401,
      "ICC_UNAUTHORIZED",
      "revoked",
    );
    // revoking by claims works the same
    const second = f.mint();
    await f.server.revokeToken(second.claims);
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(second.token) }),
      401,
      "ICC_UNAUTHORIZED",
      "revoked",
    );
    expect(claims.jti).not.toBe(second.claims.jti);
    aria.close();
  });

  it("never lets a token reach another run's data", async () => {
    f = await startFixture();
    const a = f.mint({ runId: "run-A" }).token;
    const b = f.mint({ runId: "run-B", containerId: "ctr-B", sessionId: "session-B" }).token;
    // the run comes from the token only: query parameters, headers and body fields cannot change it
    const viaQuery = await f.raw("GET", "/context?runId=run-B&include=workingMemory", {
      headers: { ...bearer(a), "x-aria-run-id": "run-B" },
    });
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.json).toEqual({ runId: "run-A", workingMemory: { note: "A's note" } });
    expect(viaQuery.text).not.toContain("B's private data");
    const viaBody = await f.raw("POST", "/context", {
      headers: { ...bearer(a), "content-type": "application/json" },
      body: json({ key: "x", value: 1, runId: "run-B" }),
    });
    expect(viaBody.status).toBe(400);
    expect(f.contexts.runs["run-B"]!.workingMemory).toEqual({ secret: "B's private data" });
    await f.client(a).tools.call("echo", { runId: "run-B" });
    expect(f.tools.calls.at(-1)!.context.runId).toBe("run-A");
    // and run B's own token sees only B
    expect((await f.client(b).context.get()).runId).toBe("run-B");
    expect(f.contexts.reads.map((r) => r.runId)).toEqual(["run-A", "run-B"]);
  });
});

describe("key rotation", () => {
  it("keeps old tokens valid while their key stays in the keyring, and refuses unknown key ids", async () => {
    f = await startFixture();
    const old = f.mint();
    expect(old.token.split(".")[1]).toBe("k1");
    f.server.setKeyring({
      activeKid: "k2",
      keys: { k2: "second-secret-0123456789abcdefghijklmnop", k1: KEYRING.keys.k1! },
    });
    const fresh = f.mint();
    expect(fresh.token.split(".")[1]).toBe("k2");
    expect((await f.raw("GET", "/context", { headers: bearer(old.token) })).status).toBe(200);
    expect((await f.raw("GET", "/context", { headers: bearer(fresh.token) })).status).toBe(200);
    f.server.setKeyring({
      activeKid: "k2",
      keys: { k2: "second-secret-0123456789abcdefghijklmnop" },
    });
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(old.token) }),
      401,
      "ICC_UNAUTHORIZED",
      "unknown_key",
    );
    expect((await f.raw("GET", "/context", { headers: bearer(fresh.token) })).status).toBe(200);
    const unknownKid = sign(
      "k9",
      "some-secret-0123456789abcdefghijklmnopqrs",
      fresh.claims as never,
    );
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(unknownKid) }),
      401,
      "ICC_UNAUTHORIZED",
      "unknown_key",
    );
  });
});

describe("permission boundaries", () => {
  it("answers 403 for every route the token lacks the permission of", async () => {
    f = await startFixture();
    const none = f.mint({ permissions: [] }).token;
    const routes: Array<[string, string, unknown?]> = [
      ["POST", "/tools/echo", { parameters: {} }],
      ["GET", "/tools"],
      ["POST", "/agents/analyst", { message: "hi" }],
      ["GET", "/agents"],
      ["POST", "/llm/complete", { messages: [{ role: "user", content: "hi" }] }],
      ["GET", "/context"],
      ["POST", "/context", { key: "k", value: 1 }],
    ];
    for (const [method, url, body] of routes) {
      const answer = await f.raw(method, url, {
        headers: bearer(none),
        ...(body ? { body: json(body) } : {}),
      });
      expectRefused(answer, 403, "ICC_FORBIDDEN");
    }
    expect(f.tools.calls).toHaveLength(0);
    expect(f.agents.calls).toHaveLength(0);
    expect(f.llm.requests).toHaveLength(0);
    const toolsOnly = f.client(f.mint({ permissions: ["tools"] }).token);
    expect(await toolsOnly.tools.call("echo", {})).toEqual({ echoed: {} });
    await expect(
      toolsOnly.llm.complete({ messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({
      code: "ICC_FORBIDDEN",
      status: 403,
    });
    expect(f.audit.entries.filter((e) => e.details.code === "ICC_FORBIDDEN")).toHaveLength(8);
  });

  it("enforces tool and agent allow-lists without revealing unknown names", async () => {
    f = await startFixture();
    const aria = f.client(
      f.mint({ tools: ["echo", "text-tools/*"], agents: ["docs/writer"] }).token,
    );
    expect(await aria.tools.call("echo", { a: 1 })).toEqual({ echoed: { a: 1 } });
    expect(await aria.tools.call("wordCount", { text: "x y" })).toEqual({ words: 2 });
    await expect(aria.tools.call("secret-tools/leak")).rejects.toMatchObject({
      code: "ICC_FORBIDDEN",
    });
    await expect(aria.tools.call("leak")).rejects.toMatchObject({ code: "ICC_FORBIDDEN" });
    await expect(aria.tools.call("no-such-tool")).rejects.toMatchObject({ code: "ICC_FORBIDDEN" });
    await expect(aria.agents.invoke("analyst", "hi")).rejects.toMatchObject({
      code: "ICC_FORBIDDEN",
    });
    expect((await aria.agents.invoke("writer", "hi")).success).toBe(true);
    expect(f.tools.calls.map((c) => c.name)).toEqual(["echo", "text-tools/wordCount"]);
    expect(f.agents.calls.map((c) => c.agent)).toEqual(["writer"]);
  });

  it("refuses a tool that needs a person's approval: a container cannot wait for one", async () => {
    f = await startFixture();
    const aria = f.client(f.mint().token);
    await expect(aria.tools.call("payments/transfer", { amount: 1 })).rejects.toMatchObject({
      code: "APPROVAL_REQUIRED",
      status: 409,
    });
    expect(f.tools.calls).toHaveLength(0);
  });

  it("asks the runtime's approval policy when given one (a rule gates a tool without needsApproval)", async () => {
    f = await startFixture({
      deps: { approvalReason: (toolId) => (toolId === "echo" ? "rule:tool:echo" : undefined) },
    });
    const aria = f.client(f.mint().token);
    await expect(aria.tools.call("echo", { a: 1 })).rejects.toMatchObject({
      code: "APPROVAL_REQUIRED",
      status: 409,
    });
    expect(await aria.tools.call("noop", {})).toBeNull();
    expect(f.tools.calls.map((c) => c.name)).toEqual(["noop"]);
  });

  it("lets a read-only context token read but not write, and keeps engine keys reserved", async () => {
    f = await startFixture();
    const reader = f.client(f.mint({ permissions: ["context"], contextAccess: "read" }).token);
    expect((await reader.context.get("task")).task).toBe("task of A");
    await expect(reader.context.set("k", 1)).rejects.toMatchObject({
      code: "ICC_FORBIDDEN",
      status: 403,
    });
    const writer = f.client(f.mint().token);
    for (const key of ["steps.s1.output", "step_1_output", "__proto__", "constructor"])
      await expect(writer.context.set(key, "overwrite")).rejects.toMatchObject({
        code: "ICC_FORBIDDEN",
      });
    expect(Object.keys(f.contexts.runs["run-A"]!.workingMemory)).toEqual(["note"]);
  });
});

describe("request limits", () => {
  it("answers 413 for a declared Content-Length over the limit, before reading the body", async () => {
    f = await startFixture({ maxBodyBytes: 1024 });
    const { token } = f.mint();
    const big = json({ parameters: { blob: "x".repeat(5000) } });
    const answer = await f.raw("POST", "/tools/echo", {
      headers: {
        ...bearer(token),
        "content-type": "application/json",
        "content-length": String(big.length),
      },
      body: big,
    });
    expectRefused(answer, 413, "PAYLOAD_TOO_LARGE");
    expect(answer.headers.connection).toBe("close");
    expect(f.tools.calls).toHaveLength(0);
    // the sdk gets the same code
    await expect(
      f.client(token).tools.call("echo", { blob: "x".repeat(5000) }),
    ).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      status: 413,
    });
  });

  it("answers 413 for a chunked body that grows over the limit while it is read", async () => {
    f = await startFixture({ maxBodyBytes: 1024 });
    const { token } = f.mint();
    const answer = await f.raw("POST", "/tools/echo", {
      headers: {
        ...bearer(token),
        "content-type": "application/json",
        "transfer-encoding": "chunked",
      },
      body: json({ parameters: { blob: "y".repeat(50_000) } }),
    });
    expectRefused(answer, 413, "PAYLOAD_TOO_LARGE");
    expect(f.tools.calls).toHaveLength(0);
    // a body under the limit still works
    expect(await f.client(token).tools.call("echo", { small: true })).toEqual({
      echoed: { small: true },
    });
  });

  it("answers 429 with Retry-After when a token is over its rate, per token", async () => {
    f = await startFixture({ rateLimit: { requestsPerSecond: 0.001, burst: 3 } });
    const first = f.client(f.mint().token);
    for (let i = 0; i < 3; i++) await first.tools.call("echo", {});
    const error = await first.tools.call("echo", {}).then(unexpected, (e: IccError) => e);
    expect(error).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    const { token } = f.mint();
    for (let i = 0; i < 3; i++) await f.client(token).health();
    for (let i = 0; i < 3; i++)
      expect((await f.raw("GET", "/context", { headers: bearer(token) })).status).toBe(200);
    const limited = await f.raw("GET", "/context", { headers: bearer(token) });
    expectRefused(limited, 429, "RATE_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // another container's token has its own bucket
    expect(await f.client(f.mint().token).tools.call("echo", { ok: 1 })).toEqual({
      echoed: { ok: 1 },
    });
  });

  it("answers 429 when a token has too many calls in flight", async () => {
    f = await startFixture({ rateLimit: { maxConcurrent: 1 } });
    const aria = f.client(f.mint().token);
    const slow = aria.tools.call("slow");
    await expect.poll(() => f!.tools.calls.length).toBe(1);
    await expect(aria.tools.call("echo", {})).rejects.toMatchObject({ code: "RATE_LIMITED" });
    f.releaseSlow();
    expect(await slow).toBe("released");
    expect(await aria.tools.call("echo", {})).toEqual({ echoed: {} });
    aria.close();
  });

  it("answers 400 for invalid JSON and for bodies that do not match the schema", async () => {
    f = await startFixture();
    const headers = { ...bearer(f.mint().token), "content-type": "application/json" };
    expectRefused(
      await f.raw("POST", "/tools/echo", { headers, body: "{not json" }),
      400,
      "INVALID_JSON",
    );
    expectRefused(
      await f.raw("POST", "/tools/echo", { headers, body: json({ parameters: [] }) }),
      400,
      "VALIDATION_FAILED",
    );
    expectRefused(
      await f.raw("POST", "/tools/echo", { headers, body: json({ params: {} }) }),
      400,
      "VALIDATION_FAILED",
    );
    expectRefused(
      await f.raw("POST", "/agents/analyst", { headers, body: json({ message: "" }) }),
      400,
      "VALIDATION_FAILED",
    );
    expectRefused(
      await f.raw("POST", "/llm/complete", {
        headers,
        body: json({ messages: [{ role: "wizard", content: "x" }] }),
      }),
      400,
      "VALIDATION_FAILED",
    );
    expect(f.tools.calls).toHaveLength(0);
  });
});

describe("path and header injection", () => {
  it("refuses tool and agent names that try to walk paths or smuggle bytes", async () => {
    f = await startFixture();
    const headers = { ...bearer(f.mint().token), "content-type": "application/json" };
    const body = json({ parameters: {} });
    for (const name of [
      "..",
      "%2e%2e",
      "..%2F..%2Fetc%2Fpasswd",
      "text-tools%2F..%2Fsecret-tools%2Fleak",
      "%2Fetc%2Fpasswd",
      "echo%00",
      "echo%0d%0aX-Injected:%201",
      "a%2Fb%2Fc",
      "%20echo",
      "echo%2F",
    ]) {
      const answer = await f.raw("POST", `/tools/${name}`, { headers, body });
      expect([400, 404]).toContain(answer.status);
      expect(answer.json.error.code).toMatch(/VALIDATION_FAILED|NOT_FOUND/);
    }
    expect((await f.raw("POST", "/tools/text-tools/wordCount", { headers, body })).status).toBe(
      404,
    );
    // dot segments are refused before routing (URL parsing would otherwise resolve them)
    for (const url of [
      "/tools/../context",
      "/tools/./echo",
      "/tools/%2e/echo",
      "/tools/.%2E/context",
      "/tools//echo",
    ]) {
      const answer = await f.raw("POST", url, { headers, body: json({ key: "k", value: 1 }) });
      expect(answer.status).toBe(400);
      expect(answer.json.error.details.field).toBe("path");
    }
    expect(f.contexts.runs["run-A"]!.workingMemory).not.toHaveProperty("k");
    expect(
      (await f.raw("POST", "/agents/..%2Fanalyst", { headers, body: json({ message: "x" }) }))
        .status,
    ).toBe(400);
    expect(f.tools.calls).toHaveLength(0);
    expect(f.agents.calls).toHaveLength(0);
  });

  it("refuses several Authorization headers, even identical ones", async () => {
    f = await startFixture();
    const a = f.mint().token;
    const b = f.mint({ runId: "run-B", containerId: "ctr-B" }).token;
    for (const pair of [
      [`Bearer ${a}`, `Bearer ${b}`],
      [`Bearer ${a}`, `Bearer ${a}`],
      ["Bearer garbage", `Bearer ${a}`],
    ]) {
      const answer = await f.raw("GET", "/context", { headers: { authorization: pair } });
      expectRefused(answer, 401, "ICC_UNAUTHORIZED", "duplicate_header");
    }
    expect(f.contexts.reads).toHaveLength(0);
  });

  it("never parses CR/LF smuggled into headers (Node's parser answers 400)", async () => {
    f = await startFixture();
    const token = f.mint().token;
    const body = json({ parameters: {} });
    const attempts = [
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${token}\rX-Injected: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${token}\nContent-Length: ${body.length}\r\n\r\n${body}`,
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nX-Pad: a\r\n Authorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\nContent-Length: 1\r\n\r\n${body}`,
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ];
    for (const request of attempts) {
      const response = await f.rawBytes(request);
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(f.tools.calls).toHaveLength(0);
    // a clean raw request on the same server works
    const ok = await f.rawBytes(
      `POST /tools/echo HTTP/1.1\r\nHost: icc\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    expect(f.tools.calls).toHaveLength(1);
  });

  it("answers unknown routes with a 404 envelope and audits them", async () => {
    f = await startFixture();
    const answer = await f.raw("DELETE", "/tools/echo", { headers: bearer(f.mint().token) });
    expect(answer.status).toBe(404);
    expect(answer.json.error.code).toBe("NOT_FOUND");
    expect(f.audit.entries.at(-1)).toMatchObject({ action: "icc.unknown", outcome: "failure" });
  });
});

describe("per-container sockets", () => {
  it("accepts only the owning container's tokens on its socket", async () => {
    f = await startFixture();
    const dir = path.join(f.dir, "ctr-A");
    await fs.mkdir(dir, { mode: 0o700 });
    const socket = await f.server.attachContainerSocket(dir, "ctr-A", {
      uid: process.getuid!(),
      gid: process.getgid!(),
    });
    expect(socket.url).toBe("unix:///run/aria/icc.sock");
    const own = f.mint({ containerId: "ctr-A" }).token;
    const other = f.mint({ containerId: "ctr-B" }).token;
    expect(
      (await f.raw("GET", "/context", { headers: bearer(own), socket: socket.hostPath })).status,
    ).toBe(200);
    expectRefused(
      await f.raw("GET", "/context", { headers: bearer(other), socket: socket.hostPath }),
      401,
      "ICC_UNAUTHORIZED",
      "wrong_socket",
    );
    // the shared socket is not bound to a container
    expect((await f.raw("GET", "/context", { headers: bearer(other) })).status).toBe(200);
    await f.server.detachContainerSocket("ctr-A");
    await expect(fs.stat(socket.hostPath)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
