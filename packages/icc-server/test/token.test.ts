import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  createTokenSigner,
  generateKeyring,
  loadSigningKeys,
  parseSigningKeys,
  TokenSigner,
} from "@aria/icc-server";
import { describe, expect, it } from "vitest";

const secret = (c: string) => c.repeat(40);
const base = {
  runId: "run-1",
  stepId: "step-1",
  containerId: "ctr-1",
  permissions: ["tools", "llm"] as const,
};

describe("TokenSigner", () => {
  it("mints tokens that verify to the same claims, each with its own id", () => {
    let now = 5_000;
    const signer = createTokenSigner({
      keyring: { activeKid: "a", keys: { a: secret("a") } },
      now: () => now,
    });
    const one = signer.mint({ ...base, sessionId: "s", tools: ["echo"], ttlMs: 1000 });
    const two = signer.mint(base);
    expect(one.token).toMatch(/^aria1\.a\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(one.claims).toMatchObject({
      runId: "run-1",
      stepId: "step-1",
      containerId: "ctr-1",
      sessionId: "s",
      permissions: ["tools", "llm"],
      tools: ["echo"],
      issuedAt: 5_000,
      expiresAt: 6_000,
    });
    expect(one.claims.jti).not.toBe(two.claims.jti);
    expect(signer.verify(one.token)).toEqual(one.claims);
    now = 5_999;
    expect(signer.verify(one.token).jti).toBe(one.claims.jti);
    now = 6_000;
    expect(() => signer.verify(one.token)).toThrow(
      expect.objectContaining({ code: "ICC_UNAUTHORIZED" }),
    );
  });

  it("caps lifetimes and refuses bad mint input", () => {
    const signer = new TokenSigner({
      keyring: { activeKid: "a", keys: { a: secret("a") } },
      maxTtlMs: 10_000,
      now: () => 0,
    });
    expect(signer.mint({ ...base, ttlMs: 1e9 }).claims.expiresAt).toBe(10_000);
    expect(() => signer.mint({ ...base, runId: "" })).toThrow(/runId/);
    expect(() => signer.mint({ ...base, ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => signer.mint({ ...base, permissions: ["root" as never] })).toThrow(/permission/);
    expect(() => signer.mint({ ...base, tools: [""] })).toThrow(/allow-lists/);
  });

  it("refuses short secrets, bad key ids and an active key id missing from the keyring", () => {
    expect(() => createTokenSigner({ keyring: { activeKid: "a", keys: { a: "short" } } })).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID" }),
    );
    expect(() =>
      createTokenSigner({ keyring: { activeKid: "a.b", keys: { "a.b": secret("x") } } }),
    ).toThrow(/key id/);
    expect(() =>
      createTokenSigner({ keyring: { activeKid: "b", keys: { a: secret("x") } } }),
    ).toThrow(/not in the keyring/);
  });

  it("rotates: old key ids verify until removed, new tokens use the active id", () => {
    const signer = createTokenSigner({ keyring: { activeKid: "old", keys: { old: secret("o") } } });
    const before = signer.mint(base);
    signer.setKeyring({ activeKid: "new", keys: { new: secret("n"), old: secret("o") } });
    expect(signer.activeKid).toBe("new");
    expect(signer.kids.sort()).toEqual(["new", "old"]);
    const after = signer.mint(base);
    expect(after.token.split(".")[1]).toBe("new");
    expect(signer.verify(before.token).jti).toBe(before.claims.jti);
    signer.setKeyring({ activeKid: "new", keys: { new: secret("n") } });
    expect(() => signer.verify(before.token)).toThrow(
      expect.objectContaining({ details: { reason: "unknown_key" } }),
    );
    // same key id with a different secret: the signature no longer matches
    signer.setKeyring({ activeKid: "new", keys: { new: secret("m") } });
    expect(() => signer.verify(after.token)).toThrow(
      expect.objectContaining({ details: { reason: "bad_signature" } }),
    );
  });
});

describe("signing keys from the environment", () => {
  it("parses one secret with a stable derived key id, or kid:secret lists (first active)", () => {
    const one = parseSigningKeys(secret("z"));
    expect(Object.keys(one.keys)).toEqual([one.activeKid]);
    expect(one.activeKid).toMatch(/^k[0-9a-f]{8}$/);
    expect(parseSigningKeys(secret("z")).activeKid).toBe(one.activeKid);
    const many = parseSigningKeys(`k2:${secret("b")},\nk1:${secret("a")}`);
    expect(many).toEqual({ activeKid: "k2", keys: { k2: secret("b"), k1: secret("a") } });
    expect(() => parseSigningKeys("")).toThrow(/empty/);
    expect(() => parseSigningKeys(`${secret("a")},${secret("b")}`)).toThrow(/kid:secret/);
    expect(() => parseSigningKeys(`k1:${secret("a")},k1:${secret("b")}`)).toThrow(/twice/);
    expect(() => parseSigningKeys("k1:short")).toThrow(/shorter/);
  });

  it("loads ARIA_ICC_SIGNING_KEY, then ARIA_ICC_SIGNING_KEY_FILE, else generates a key", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "icc-keys-"));
    const file = path.join(dir, "keys");
    await fs.writeFile(file, `k7:${secret("f")}\n`);
    expect(loadSigningKeys({ ARIA_ICC_SIGNING_KEY: `k1:${secret("e")}` })).toEqual({
      keyring: { activeKid: "k1", keys: { k1: secret("e") } },
      source: "env",
    });
    expect(loadSigningKeys({ ARIA_ICC_SIGNING_KEY_FILE: file })).toEqual({
      keyring: { activeKid: "k7", keys: { k7: secret("f") } },
      source: "file",
    });
    expect(() => loadSigningKeys({ ARIA_ICC_SIGNING_KEY_FILE: path.join(dir, "missing") })).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID" }),
    );
    const generated = loadSigningKeys({});
    expect(generated.source).toBe("generated");
    expect(createTokenSigner({ keyring: generated.keyring }).mint(base).token).toMatch(/^aria1\./);
    expect(generateKeyring("kx").activeKid).toBe("kx");
    await fs.rm(dir, { recursive: true });
  });
});
