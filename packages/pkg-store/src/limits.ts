import { type Limits, LimitsSchema } from "@aria/core-types";

/** The size limits that apply to a `.aria` archive and its contents. */
export interface BundleLimits {
  /** Largest archive (compressed bytes). */
  archiveBytes: number;
  /** Largest single file once unpacked. */
  fileBytes: number;
  /** Largest unpacked total. */
  unpackedBytes: number;
  /** Most files (directories included). */
  fileCount: number;
  /**
   * Largest ratio of decompressed tar bytes to compressed bytes. Past `ratioFloorBytes` of output, a
   * higher ratio is refused as a decompression bomb (real bundles of JS compress about 3-10x).
   */
  maxCompressionRatio: number;
  /** Output size below which the ratio is not checked (tiny archives compress very well). */
  ratioFloorBytes: number;
}

const defaults = LimitsSchema.parse({});

/** The defaults: core-types `LimitsSchema` sizes, a 200:1 ratio after 1 MiB. */
export const DEFAULT_BUNDLE_LIMITS: BundleLimits = Object.freeze({
  archiveBytes: defaults.bundleArchiveBytes,
  fileBytes: defaults.bundleFileBytes,
  unpackedBytes: defaults.bundleUnpackedBytes,
  fileCount: defaults.bundleFileCount,
  maxCompressionRatio: 200,
  ratioFloorBytes: 1024 * 1024,
});

/** Bundle limits from the runtime's configured `Limits` (plus optional overrides). */
export function bundleLimitsFrom(
  limits?: Partial<Limits>,
  overrides?: Partial<BundleLimits>,
): BundleLimits {
  return {
    ...DEFAULT_BUNDLE_LIMITS,
    ...(limits?.bundleArchiveBytes !== undefined
      ? { archiveBytes: limits.bundleArchiveBytes }
      : {}),
    ...(limits?.bundleFileBytes !== undefined ? { fileBytes: limits.bundleFileBytes } : {}),
    ...(limits?.bundleUnpackedBytes !== undefined
      ? { unpackedBytes: limits.bundleUnpackedBytes }
      : {}),
    ...(limits?.bundleFileCount !== undefined ? { fileCount: limits.bundleFileCount } : {}),
    ...overrides,
  };
}
