import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import type { BundleManifest } from "@aria/core-types";
import { bundleError } from "@aria/errors";
import { canonicalJson, sha256Digest } from "./digest.ts";

/** A public key the store trusts for bundle signatures (PEM text or a KeyObject). */
export interface TrustedKey {
  /** Defaults to `keyIdOf(publicKey)`. */
  keyId?: string;
  publicKey: KeyObject | string;
}

/** A private key to sign bundles with when packing. */
export interface SigningKey {
  keyId?: string;
  privateKey: KeyObject | string;
}

/** What signature verification found. */
export interface SignatureStatus {
  signed: boolean;
  verified: boolean;
  keyId?: string;
}

/** The short id of an Ed25519 public key: `ed25519:` and 16 hex chars of the SHA-256 of its SPKI DER. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: "spki", format: "der" });
  return `ed25519:${sha256Digest(der).slice(7, 23)}`;
}

/** A fresh Ed25519 key pair as PEM text, with its key id. */
export function generateSigningKeyPair(): {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem,
    keyId: keyIdOf(publicKey),
  };
}

/**
 * The manifest digest that signatures cover: `sha256:` of the canonical JSON of the manifest
 * without its `signature` field. Because `manifest.files` holds every file's hash, it covers the
 * whole bundle.
 */
export function manifestDigest(manifest: Record<string, unknown> | BundleManifest): string {
  const { signature: _signature, ...rest } = manifest as Record<string, unknown>;
  return sha256Digest(canonicalJson(rest));
}

/** Returns the manifest with an Ed25519 `signature` over its manifest digest. */
export function signManifest<M extends Record<string, unknown> | BundleManifest>(
  manifest: M,
  key: SigningKey,
): M {
  const privateKey =
    typeof key.privateKey === "string" ? createPrivateKey(key.privateKey) : key.privateKey;
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw bundleError.invalid("signing keys must be Ed25519", { details: { reason: "bad_key" } });
  const keyId = key.keyId ?? keyIdOf(createPublicKey(privateKey));
  const value = sign(null, Buffer.from(manifestDigest(manifest), "utf8"), privateKey).toString(
    "base64",
  );
  return { ...manifest, signature: { keyId, algorithm: "ed25519", value } };
}

/**
 * Checks a manifest's signature against the trusted keys. A signed bundle whose key is trusted must
 * verify; with trusted keys configured, a bundle signed by another key is refused; with
 * `requireSignature`, an unsigned one is refused. All refusals are `BUNDLE_INTEGRITY`.
 */
export function verifyManifestSignature(
  raw: Record<string, unknown>,
  trustedKeys: readonly TrustedKey[] = [],
  requireSignature = false,
): SignatureStatus {
  const signature = raw.signature as
    | { keyId: string; algorithm: string; value: string }
    | undefined;
  if (signature === undefined) {
    if (requireSignature)
      throw bundleError.integrity("the bundle is not signed and signatures are required", {
        details: { reason: "unsigned" },
      });
    return { signed: false, verified: false };
  }
  if (trustedKeys.length === 0) {
    if (requireSignature) {
      throw bundleError.integrity("signatures are required but no trusted key is configured", {
        details: { reason: "unknown_key", keyId: signature.keyId },
      });
    }
    return { signed: true, verified: false, keyId: signature.keyId };
  }
  const key = trustedKeys.find((k) => (k.keyId ?? keyIdOf(k.publicKey)) === signature.keyId);
  if (key === undefined) {
    throw bundleError.integrity(`signed by key '${signature.keyId}', which is not trusted`, {
      details: { reason: "unknown_key", keyId: signature.keyId },
    });
  }
  const publicKey =
    typeof key.publicKey === "string" ? createPublicKey(key.publicKey) : key.publicKey;
  let ok = false;
  try {
    ok = verify(
      null,
      Buffer.from(manifestDigest(raw), "utf8"),
      publicKey,
      Buffer.from(signature.value, "base64"),
    );
  } catch {
    ok = false;
  }
  if (!ok) {
    throw bundleError.integrity(
      `the signature by '${signature.keyId}' does not match the manifest`,
      {
        details: { reason: "bad_signature", keyId: signature.keyId },
      },
    );
  }
  return { signed: true, verified: true, keyId: signature.keyId };
}
