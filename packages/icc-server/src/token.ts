import {
  createHmac,
  createSecretKey,
  type KeyObject,
  randomUUID,
  timingSafeEqual,
} from "node:crypto";
import { type IccPermission, IccPermissionSchema } from "@aria/core-types";
import { AriaError, iccError } from "@aria/errors";

/** The token format's prefix and version. */
export const ICC_TOKEN_PREFIX = "aria1";

const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Longest token accepted (a token with two allow-lists of 64 names is far below this). */
export const MAX_TOKEN_LENGTH = 8192;
const MIN_SECRET_BYTES = 32;
/** Verified tokens remembered (one per live container is typical; cleared when full). */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Signing keys. `activeKid` signs new tokens; every key in `keys` verifies tokens that name it, so a
 * key can rotate while tokens signed with the old one live out their expiry.
 */
export interface IccKeyring {
  activeKid: string;
  keys: Record<string, string | Uint8Array>;
}

/** What a token grants: bound to one run, one step and one container. */
export interface IccTokenClaims {
  /** Unique token id (revocation, rate limits and audit are keyed by it). */
  jti: string;
  runId: string;
  stepId: string;
  containerId: string;
  sessionId?: string;
  permissions: IccPermission[];
  /** When present, only these tools (`BUNDLE/TOOL`, a built-in's name, or `BUNDLE/*`). */
  tools?: string[];
  /** When present, only these agents (name or id, or `BUNDLE/*`). */
  agents?: string[];
  /** With the `context` permission: `read` refuses `POST /context` (default `readwrite`). */
  contextAccess?: "read" | "readwrite";
  /** Epoch milliseconds. */
  issuedAt: number;
  expiresAt: number;
}

/** What `mintToken` takes. */
export interface MintTokenInput {
  runId: string;
  stepId: string;
  containerId: string;
  sessionId?: string | undefined;
  permissions: readonly IccPermission[];
  tools?: readonly string[] | undefined;
  agents?: readonly string[] | undefined;
  contextAccess?: "read" | "readwrite" | undefined;
  /** Lifetime (default: the signer's `defaultTtlMs`; capped at its `maxTtlMs`). */
  ttlMs?: number | undefined;
}

/** A minted token and what it carries. */
export interface IccTokenGrant {
  token: string;
  claims: IccTokenClaims;
}

/** Options of the token signer. */
export interface TokenSignerOptions {
  keyring: IccKeyring;
  /** Default lifetime of a token (default 15 minutes). */
  defaultTtlMs?: number;
  /** Longest lifetime a token may get (default 24 hours). */
  maxTtlMs?: number;
  /** Clock skew tolerated on `issuedAt` (default 5 s). */
  clockSkewMs?: number;
  now?: () => number;
}

const encoder = new TextEncoder();

function toKeyBytes(kid: string, secret: string | Uint8Array): Buffer {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_BYTES)
    throw new AriaError("CONFIG_INVALID", {
      message: `ICC signing key '${kid}' is shorter than ${MIN_SECRET_BYTES} bytes`,
      details: { field: "ARIA_ICC_SIGNING_KEY", kid },
    });
  return bytes;
}

/** Key objects are made once: `createHmac` with a raw key re-imports it on every call (~5× slower). */
function checkKeyring(keyring: IccKeyring): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const [kid, secret] of Object.entries(keyring.keys)) {
    if (!KID_PATTERN.test(kid))
      throw new AriaError("CONFIG_INVALID", {
        message: `ICC signing key id '${kid}' must match [A-Za-z0-9_-]{1,32}`,
        details: { field: "ARIA_ICC_SIGNING_KEY", kid },
      });
    keys.set(kid, createSecretKey(toKeyBytes(kid, secret)));
  }
  if (!keys.has(keyring.activeKid))
    throw new AriaError("CONFIG_INVALID", {
      message: `the active ICC key id '${keyring.activeKid}' is not in the keyring`,
      details: { field: "ARIA_ICC_SIGNING_KEY", kid: keyring.activeKid },
    });
  return keys;
}

const PERMISSIONS = new Set<string>(IccPermissionSchema.options);
const NAME_LIST_MAX = 256;

function isNameList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= NAME_LIST_MAX &&
    value.every((v) => typeof v === "string" && v.length > 0 && v.length <= 256)
  );
}

function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 256;
}

/** Checks the decoded payload field by field; anything unexpected makes the token malformed. */
function parseClaims(value: unknown): IccTokenClaims | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (
    !isId(v.jti) ||
    !isId(v.runId) ||
    !isId(v.stepId) ||
    !isId(v.containerId) ||
    (v.sessionId !== undefined && !isId(v.sessionId)) ||
    !Array.isArray(v.permissions) ||
    !v.permissions.every((p) => typeof p === "string" && PERMISSIONS.has(p)) ||
    (v.tools !== undefined && !isNameList(v.tools)) ||
    (v.agents !== undefined && !isNameList(v.agents)) ||
    (v.contextAccess !== undefined &&
      v.contextAccess !== "read" &&
      v.contextAccess !== "readwrite") ||
    !Number.isSafeInteger(v.issuedAt) ||
    !Number.isSafeInteger(v.expiresAt)
  )
    return undefined;
  const allowed = new Set([
    "jti",
    "runId",
    "stepId",
    "containerId",
    "sessionId",
    "permissions",
    "tools",
    "agents",
    "contextAccess",
    "issuedAt",
    "expiresAt",
  ]);
  for (const key of Object.keys(v)) if (!allowed.has(key)) return undefined;
  return v as unknown as IccTokenClaims;
}

/**
 * Mints and verifies ICC tokens: `aria1.<kid>.<payload>.<signature>`, where the payload is the
 * base64url JSON of the claims and the signature is HMAC-SHA256 over `aria1.<kid>.<payload>` with
 * the key `kid`, compared in constant time.
 */
export class TokenSigner {
  #keys: Map<string, KeyObject>;
  #activeKid: string;
  /** Tokens already verified (token text → frozen claims); their lifetime is still checked each time. */
  #verified = new Map<string, IccTokenClaims>();
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly clockSkewMs: number;
  readonly #now: () => number;

  constructor(options: TokenSignerOptions) {
    this.#keys = checkKeyring(options.keyring);
    this.#activeKid = options.keyring.activeKid;
    this.defaultTtlMs = options.defaultTtlMs ?? 15 * 60_000;
    this.maxTtlMs = options.maxTtlMs ?? 24 * 60 * 60_000;
    this.clockSkewMs = options.clockSkewMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  /** The key id new tokens are signed with. */
  get activeKid(): string {
    return this.#activeKid;
  }

  /** The key ids that verify tokens. */
  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * Replaces the keyring (rotation): tokens signed with a key id still in `keys` stay valid until
   * they expire; tokens of a removed key id are refused from now on.
   */
  setKeyring(keyring: IccKeyring): void {
    this.#keys = checkKeyring(keyring);
    this.#activeKid = keyring.activeKid;
    this.#verified.clear();
  }

  #sign(kid: string, key: KeyObject, payload: string): string {
    return createHmac("sha256", key)
      .update(`${ICC_TOKEN_PREFIX}.${kid}.${payload}`)
      .digest("base64url");
  }

  /** Mints a token. */
  mint(input: MintTokenInput): IccTokenGrant {
    for (const [field, value] of [
      ["runId", input.runId],
      ["stepId", input.stepId],
      ["containerId", input.containerId],
    ] as const)
      if (!isId(value))
        throw new AriaError("VALIDATION_FAILED", {
          message: `an ICC token needs a ${field} (1-256 characters)`,
          details: { field },
        });
    for (const permission of input.permissions)
      if (!PERMISSIONS.has(permission))
        throw new AriaError("VALIDATION_FAILED", {
          message: `unknown ICC permission '${permission}'`,
          details: { field: "permissions" },
        });
    const ttl = Math.min(input.ttlMs ?? this.defaultTtlMs, this.maxTtlMs);
    if (!(ttl > 0))
      throw new AriaError("VALIDATION_FAILED", {
        message: "an ICC token's ttlMs must be positive",
        details: { field: "ttlMs" },
      });
    const issuedAt = this.#now();
    const claims: IccTokenClaims = {
      jti: randomUUID(),
      runId: input.runId,
      stepId: input.stepId,
      containerId: input.containerId,
      ...(input.sessionId ? { sessionId: input.sessionId } : {}),
      permissions: [...new Set(input.permissions)],
      ...(input.tools ? { tools: [...input.tools] } : {}),
      ...(input.agents ? { agents: [...input.agents] } : {}),
      ...(input.contextAccess ? { contextAccess: input.contextAccess } : {}),
      issuedAt,
      expiresAt: issuedAt + Math.floor(ttl),
    };
    if (parseClaims(claims) === undefined)
      throw new AriaError("VALIDATION_FAILED", {
        message: "the ICC token's allow-lists are invalid (at most 256 names of 1-256 characters)",
        details: { field: "tools/agents" },
      });
    const kid = this.#activeKid;
    const payload = Buffer.from(encoder.encode(JSON.stringify(claims))).toString("base64url");
    const token = `${ICC_TOKEN_PREFIX}.${kid}.${payload}.${this.#sign(kid, this.#keys.get(kid)!, payload)}`;
    return { token, claims };
  }

  /**
   * Verifies a token's form, key id, signature (constant time) and lifetime; returns its claims.
   * Throws ICC_UNAUTHORIZED (with a reason in `details.reason`) for anything wrong. Revocation is
   * checked by the caller.
   */
  verify(token: string): IccTokenClaims {
    const known = this.#verified.get(token);
    if (known !== undefined) {
      if (known.expiresAt <= this.#now()) {
        this.#verified.delete(token);
        throw unauthorized("expired", "token expired");
      }
      return known;
    }
    const claims = this.#verifyFully(token);
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) this.#verified.clear();
    this.#verified.set(token, claims);
    return claims;
  }

  #verifyFully(token: string): IccTokenClaims {
    if (token.length > MAX_TOKEN_LENGTH) throw unauthorized("malformed", "token too long");
    const parts = token.split(".");
    if (parts.length !== 4 || parts[0] !== ICC_TOKEN_PREFIX)
      throw unauthorized("malformed", "not an aria1 token");
    const [, kid, payload, signature] = parts as [string, string, string, string];
    if (!KID_PATTERN.test(kid) || !B64URL_PATTERN.test(payload) || !B64URL_PATTERN.test(signature))
      throw unauthorized("malformed", "bad token encoding");
    const key = this.#keys.get(kid);
    if (key === undefined) throw unauthorized("unknown_key", "unknown signing key id");
    const expected = createHmac("sha256", key)
      .update(`${ICC_TOKEN_PREFIX}.${kid}.${payload}`)
      .digest();
    const given = Buffer.from(signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw unauthorized("bad_signature", "signature mismatch");
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      throw unauthorized("malformed", "payload is not JSON");
    }
    const claims = parseClaims(decoded);
    if (claims === undefined) throw unauthorized("malformed", "payload has the wrong shape");
    const now = this.#now();
    if (claims.expiresAt <= now) throw unauthorized("expired", "token expired");
    if (claims.issuedAt > now + this.clockSkewMs)
      throw unauthorized("not_yet_valid", "token issued in the future");
    Object.freeze(claims.permissions);
    if (claims.tools) Object.freeze(claims.tools);
    if (claims.agents) Object.freeze(claims.agents);
    return Object.freeze(claims);
  }
}

function unauthorized(reason: string, detail: string): AriaError {
  return iccError.unauthorized(detail, { details: { reason } });
}

/** Creates a token signer over a keyring. */
export function createTokenSigner(options: TokenSignerOptions): TokenSigner {
  return new TokenSigner(options);
}

/**
 * Reads a keyring from the text of `ARIA_ICC_SIGNING_KEY` (or the file `ARIA_ICC_SIGNING_KEY_FILE`
 * names): either one secret (its key id is `k` plus the first 8 hex of its SHA-256, so the same
 * secret always gets the same id) or `kid:secret` entries separated by commas or newlines, the
 * first being the active one (`k2:NEW,k1:OLD` during a rotation).
 */
export function parseSigningKeys(text: string): IccKeyring {
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0)
    throw new AriaError("CONFIG_INVALID", {
      message: "ARIA_ICC_SIGNING_KEY is empty",
      details: { field: "ARIA_ICC_SIGNING_KEY" },
    });
  const keys: Record<string, string> = {};
  let activeKid: string | undefined;
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    let kid: string;
    let secret: string;
    if (colon > 0 && KID_PATTERN.test(entry.slice(0, colon))) {
      kid = entry.slice(0, colon);
      secret = entry.slice(colon + 1);
    } else if (entries.length === 1) {
      secret = entry;
      kid = `k${createHmac("sha256", "aria-icc-kid").update(secret).digest("hex").slice(0, 8)}`;
    } else {
      throw new AriaError("CONFIG_INVALID", {
        message: "ARIA_ICC_SIGNING_KEY with several keys needs 'kid:secret' entries",
        details: { field: "ARIA_ICC_SIGNING_KEY" },
      });
    }
    if (kid in keys)
      throw new AriaError("CONFIG_INVALID", {
        message: `ARIA_ICC_SIGNING_KEY names key id '${kid}' twice`,
        details: { field: "ARIA_ICC_SIGNING_KEY", kid },
      });
    keys[kid] = secret;
    activeKid ??= kid;
  }
  const keyring = { activeKid: activeKid!, keys };
  checkKeyring(keyring);
  return keyring;
}
