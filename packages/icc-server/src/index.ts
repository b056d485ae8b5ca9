/**
 * @aria/icc-server: the hono app that code inside containers calls back over a Unix socket mounted
 * at /run/aria/icc.sock (or a loopback TCP address): `POST /tools/:name`, `POST /agents/:name`,
 * `POST /llm/complete`, `GET|POST /context`, `GET /tools`, `GET /agents`, `GET /health`
 * (contracts §4). HMAC-signed tokens bound to a run, step, container and permission set, key
 * rotation, revocation shared through the state store, per-token rate and size limits, and an
 * audit entry per call. Depends only on @aria/core-types, @aria/errors and hono.
 */
export { createIccApp, type IccAppCore, type IccBindings } from "./app.ts";
export { readJsonBody } from "./body.ts";
export {
  CONTAINER_ICC_URL,
  CONTAINER_SOCKET_DIR,
  ICC_SOCKET_NAME,
  type IccEnvironmentInput,
  iccEnvironment,
  stripSecrets,
} from "./env.ts";
export { generateKeyring, loadSigningKeys } from "./keys.ts";
export {
  ALL_TOKEN_PERMISSIONS,
  allowListAdmits,
  DEFAULT_TOKEN_PERMISSIONS,
  hasPermission,
  permissionsFromManifest,
  type TokenPermissions,
} from "./permissions.ts";
export { type RateDecision, type RateLimitOptions, TokenBucketLimiter } from "./rate-limit.ts";
export {
  createMemoryRevocationList,
  createStateStoreRevocationList,
  type RevocationList,
  type StateStoreRevocationOptions,
} from "./revocation.ts";
export {
  type ContainerSocket,
  createIccDispatchHook,
  createIccServer,
  type IccDispatchGrant,
  type IccDispatchInfo,
  type IccGrantDetails,
  type IccListener,
  type IccListenOptions,
  IccServer,
} from "./server.ts";
export { MAX_SOCKET_PATH, prepareContainerSocketDir } from "./socket-dir.ts";
export {
  createTokenSigner,
  ICC_TOKEN_PREFIX,
  type IccKeyring,
  type IccTokenClaims,
  type IccTokenGrant,
  MAX_TOKEN_LENGTH,
  type MintTokenInput,
  parseSigningKeys,
  TokenSigner,
  type TokenSignerOptions,
} from "./token.ts";
export type {
  AgentInvokeRequest,
  AgentInvokeResult,
  AgentInvoker,
  IccAuditEntry,
  IccServerDeps,
  IccServerOptions,
  RunContextAccess,
  RunContextView,
} from "./types.ts";
