import type { BundleManifest } from "@aria/core-types";
import { bundleError } from "@aria/errors";
import { type ArchiveFiles, readArchive } from "./archive.ts";
import { sha256Digest } from "./digest.ts";
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS } from "./limits.ts";
import { type ManifestCheckOptions, parseManifestBytes } from "./manifest.ts";
import {
  manifestDigest,
  type SignatureStatus,
  type TrustedKey,
  verifyManifestSignature,
} from "./signature.ts";

/** How bundles are checked when read. */
export interface VerifyOptions extends ManifestCheckOptions {
  limits?: BundleLimits;
  trustedKeys?: readonly TrustedKey[];
  requireSignature?: boolean;
}

/** A bundle read and fully verified in memory. */
export interface OpenedBundle {
  /** `sha256:` of the archive bytes (the content address). */
  digest: string;
  /** Archive size in bytes. */
  size: number;
  manifest: BundleManifest;
  /** `sha256:` of the canonical manifest without its signature (what a signature covers). */
  manifestDigest: string;
  /** Every file but `manifest.json`, by path. */
  files: ArchiveFiles;
  signature: SignatureStatus;
}

/**
 * Reads and verifies a `.aria` archive: safe unpacking in memory (`readArchive`), `manifest.json`
 * (JSON, schema version, schema, cross references), every file's SHA-256 against
 * `manifest.files` (no file missing, none unlisted), and the signature. Throws `BUNDLE_UNSAFE`,
 * `BUNDLE_INVALID` or `BUNDLE_INTEGRITY` with `details.reason`.
 */
export async function openBundle(
  bytes: Uint8Array,
  options: VerifyOptions = {},
): Promise<OpenedBundle> {
  const limits = options.limits ?? DEFAULT_BUNDLE_LIMITS;
  const entries = await readArchive(bytes, limits);
  const manifestBytes = entries.get("manifest.json");
  if (manifestBytes === undefined) {
    throw bundleError.invalid("the archive has no manifest.json at its root", {
      details: { reason: "missing_manifest" },
    });
  }
  const { manifest, raw } = parseManifestBytes(manifestBytes, options);
  const files: ArchiveFiles = new Map();
  for (const [path, content] of entries) {
    if (path === "manifest.json") continue;
    const expected = manifest.files[path];
    if (expected === undefined) {
      throw bundleError.integrity(`'${path}' is in the archive but not in manifest.files`, {
        details: { reason: "unlisted_file", path },
      });
    }
    const actual = sha256Digest(content);
    if (actual !== expected) {
      throw bundleError.integrity(`'${path}' does not match its hash in manifest.files`, {
        details: { reason: "file_hash_mismatch", path, expected, actual },
      });
    }
    files.set(path, content);
  }
  for (const path of Object.keys(manifest.files)) {
    if (!files.has(path)) {
      throw bundleError.integrity(`manifest.files lists '${path}', which is not in the archive`, {
        details: { reason: "missing_file", path },
      });
    }
  }
  const signature = verifyManifestSignature(raw, options.trustedKeys, options.requireSignature);
  return {
    digest: sha256Digest(bytes),
    size: bytes.length,
    manifest,
    manifestDigest: manifestDigest(raw),
    files,
    signature,
  };
}

/** What `aria bundle inspect` shows. */
export interface BundleSummary {
  digest: string;
  size: number;
  name: string;
  version: string;
  description: string;
  entry: string;
  dependencies: Record<string, string>;
  tools: Array<{
    name: string;
    description: string;
    execution: string;
    securityLevel: string;
    network: boolean;
  }>;
  agents: Array<{ name: string; description: string; tools: string[] }>;
  teams: Array<{ name: string; description: string; strategy: string; members: string[] }>;
  pipelines: Array<{ name: string; description: string; steps: number }>;
  files: Array<{ path: string; size: number; digest: string }>;
  unpackedBytes: number;
  manifestDigest: string;
  signature: SignatureStatus;
  /** True once every check passed (inspect throws otherwise). */
  verified: true;
}

/** Verifies a bundle (as `openBundle`) and summarises it. */
export async function inspectBundle(
  bytes: Uint8Array,
  options: VerifyOptions = {},
): Promise<BundleSummary> {
  return summarise(await openBundle(bytes, options));
}

/** The summary of an opened bundle. */
export function summarise(bundle: OpenedBundle): BundleSummary {
  const { manifest } = bundle;
  const files = [...bundle.files.entries()]
    .map(([path, content]) => ({
      path,
      size: content.length,
      digest: manifest.files[path] as string,
    }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    digest: bundle.digest,
    size: bundle.size,
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    entry: manifest.entry,
    dependencies: manifest.dependencies,
    tools: manifest.tools.map((t) => ({
      name: t.name,
      description: t.description,
      execution: t.execution,
      securityLevel: t.securityLevel,
      network: t.network,
    })),
    agents: manifest.agents.map((a) => ({
      name: a.name,
      description: a.description,
      tools: a.tools,
    })),
    teams: manifest.teams.map((t) => ({
      name: t.name,
      description: t.description,
      strategy: t.strategy,
      members: t.members,
    })),
    pipelines: manifest.pipelines.map((p) => ({
      name: p.name,
      description: p.description,
      steps: p.steps.length,
    })),
    files,
    unpackedBytes: files.reduce((sum, f) => sum + f.size, 0),
    manifestDigest: bundle.manifestDigest,
    signature: bundle.signature,
    verified: true,
  };
}
