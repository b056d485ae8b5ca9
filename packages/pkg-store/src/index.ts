/**
 * @aria/pkg-store: the `.aria` bundle format (pack, read, verify, sign) and the content-addressed
 * bundle store on disk (install, integrity on every read, dependency resolution, uninstall, gc).
 */
export { type ArchiveFiles, readArchive, safeArchivePath, writeArchive } from "./archive.ts";
export {
  type BundleSummary,
  inspectBundle,
  type OpenedBundle,
  openBundle,
  summarise,
  type VerifyOptions,
} from "./bundle.ts";
export {
  type DependencyNode,
  dependencyOrder,
  pickVersion,
  resolveDependencies,
  type VersionLookup,
} from "./dependencies.ts";
export { canonicalJson, digestHex, sha256Digest } from "./digest.ts";
export { fsyncDir, writeFileAtomic } from "./fs-atomic.ts";
export { type BundleLimits, bundleLimitsFrom, DEFAULT_BUNDLE_LIMITS } from "./limits.ts";
export {
  crossReferenceProblems,
  type ManifestCheckOptions,
  parseManifestBytes,
  splitReference,
  validateManifest,
} from "./manifest.ts";
export { type PackOptions, type PackResult, packBundle } from "./pack.ts";
export {
  generateSigningKeyPair,
  keyIdOf,
  manifestDigest,
  type SignatureStatus,
  type SigningKey,
  signManifest,
  type TrustedKey,
  verifyManifestSignature,
} from "./signature.ts";
export {
  BundleStore,
  type BundleStoreOptions,
  type GcResult,
  type InstallResult,
  openBundleStore,
  type StoreFaults,
  type StoreIssue,
} from "./store.ts";
export { buildDevBundle, unpackBundle, writeFilesSafely } from "./unpack.ts";
