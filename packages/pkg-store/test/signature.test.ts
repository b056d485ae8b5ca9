import { AriaError } from "@aria/errors";
import {
  canonicalJson,
  generateSigningKeyPair,
  inspectBundle,
  keyIdOf,
  manifestDigest,
  openBundleStore,
  sha256Digest,
  signManifest,
  writeArchive,
} from "@aria/pkg-store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixtureFiles, removeDir, snapshot, tempDir } from "./fixtures.ts";

const trusted = generateSigningKeyPair();
const stranger = generateSigningKeyPair();

async function archive(
  manifest: Record<string, unknown>,
  files: Map<string, Buffer>,
): Promise<Buffer> {
  const all = new Map<string, Uint8Array>(files);
  all.set("manifest.json", Buffer.from(canonicalJson(manifest, 2)));
  return writeArchive(all);
}

async function signedBundle(
  key = trusted,
  tamper?: (m: Record<string, unknown>, files: Map<string, Buffer>) => void,
) {
  const { manifest, files } = fixtureFiles({ name: "signed", version: "1.0.0" });
  const signed = signManifest(manifest, { privateKey: key.privateKeyPem });
  tamper?.(signed, files);
  return archive(signed, files);
}

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDir();
});
afterEach(() => removeDir(dataDir));

const reason = (e: unknown) =>
  AriaError.is(e) ? `${e.code}:${String(e.details.reason)}` : String(e);

describe("Ed25519 signatures", () => {
  it("key ids are stable and derived from the public key", () => {
    expect(keyIdOf(trusted.publicKeyPem)).toBe(trusted.keyId);
    expect(trusted.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
    expect(trusted.keyId).not.toBe(stranger.keyId);
  });

  it("a bundle signed by a trusted key verifies and installs", async () => {
    const bytes = await signedBundle();
    const summary = await inspectBundle(bytes, {
      trustedKeys: [{ publicKey: trusted.publicKeyPem }],
    });
    expect(summary.signature).toEqual({ signed: true, verified: true, keyId: trusted.keyId });
    const store = await openBundleStore({
      dataDir,
      trustedKeys: [{ publicKey: trusted.publicKeyPem }],
      requireSignature: true,
    });
    const result = await store.install(bytes);
    expect(result.signature.verified).toBe(true);
  });

  it("the signature covers the manifest digest, which covers every file", () => {
    const { manifest } = fixtureFiles({ name: "signed", version: "1.0.0" });
    const signed = signManifest(manifest, { privateKey: trusted.privateKeyPem });
    expect(manifestDigest(signed)).toBe(manifestDigest(manifest));
    expect(manifestDigest(signed)).toBe(sha256Digest(canonicalJson(manifest)));
  });

  const refusals: Array<[string, () => Promise<Buffer>, string, { requireSignature?: boolean }]> = [
    [
      "a manifest changed after signing",
      () =>
        signedBundle(trusted, (m) => Object.assign(m, { description: "now does something else" })),
      "BUNDLE_INTEGRITY:bad_signature",
      {},
    ],
    [
      "a file replaced with its hash updated in the manifest",
      () =>
        signedBundle(trusted, (m, files) => {
          const evil = Buffer.from("export const echo = { handler: () => process.exit(1) };\n");
          files.set("dist/index.js", evil);
          (m.files as Record<string, string>)["dist/index.js"] = sha256Digest(evil);
        }),
      "BUNDLE_INTEGRITY:bad_signature",
      {},
    ],
    [
      "a file replaced without updating the manifest",
      () =>
        signedBundle(trusted, (_m, files) =>
          files.set("dist/index.js", Buffer.from("export {};\n")),
        ),
      "BUNDLE_INTEGRITY:file_hash_mismatch",
      {},
    ],
    [
      "a bundle signed by an untrusted key",
      () => signedBundle(stranger),
      "BUNDLE_INTEGRITY:unknown_key",
      {},
    ],
    [
      "a signature that is not valid base64 Ed25519",
      () =>
        signedBundle(trusted, (m) =>
          Object.assign(m, { signature: { ...(m.signature as object), value: "AAAA" } }),
        ),
      "BUNDLE_INTEGRITY:bad_signature",
      {},
    ],
    [
      "an unsigned bundle when signatures are required",
      async () => {
        const { manifest, files } = fixtureFiles({ name: "signed", version: "1.0.0" });
        return archive(manifest, files);
      },
      "BUNDLE_INTEGRITY:unsigned",
      { requireSignature: true },
    ],
  ];

  for (const [name, make, expected, options] of refusals) {
    it(`refuses ${name} (${expected}) and leaves the store unchanged`, async () => {
      const store = await openBundleStore({
        dataDir,
        trustedKeys: [{ publicKey: trusted.publicKeyPem }],
        ...options,
      });
      const before = await snapshot(store.root);
      const error = await store.install(await make()).catch((e: unknown) => e);
      expect(reason(error)).toBe(expected);
      expect(await snapshot(store.root)).toEqual(before);
    });
  }

  it("without trusted keys a signed bundle installs as signed but unverified", async () => {
    const store = await openBundleStore({ dataDir });
    const result = await store.install(await signedBundle(stranger));
    expect(result.signature).toEqual({ signed: true, verified: false, keyId: stranger.keyId });
  });
});
