import fs from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { AriaError, iccError } from "@aria/errors";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import { createIccApp, type IccBindings } from "./app.ts";
import { CONTAINER_ICC_URL, ICC_SOCKET_NAME, iccEnvironment } from "./env.ts";
import { DEFAULT_TOKEN_PERMISSIONS, type TokenPermissions } from "./permissions.ts";
import { TokenBucketLimiter } from "./rate-limit.ts";
import { createMemoryRevocationList, type RevocationList } from "./revocation.ts";
import {
  type IccKeyring,
  type IccTokenClaims,
  type IccTokenGrant,
  type MintTokenInput,
  TokenSigner,
} from "./token.ts";
import type { IccServerDeps, IccServerOptions } from "./types.ts";

/** Where `listen` serves. */
export interface IccListenOptions {
  /** A Unix socket path (created mode 0600; a stale socket file is replaced). */
  socketPath?: string;
  /** TCP port (0: any free port) on `host` (default 127.0.0.1; loopback only unless allowed). */
  port?: number;
  host?: string;
}

/** A listener the server runs. */
export interface IccListener {
  /** `unix://PATH` or `http://HOST:PORT` as seen from the host. */
  url: string;
  close(): Promise<void>;
}

/** A per-container socket: `<dir>/icc.sock`, reachable only by that container's uid. */
export interface ContainerSocket {
  /** The socket's host path. */
  hostPath: string;
  /** The URL the container uses (`unix:///run/aria/icc.sock`). */
  url: string;
}

/** What the dispatch hook receives (structurally the `DispatchInfo` of @aria/quilt-client). */
export interface IccDispatchInfo {
  containerName: string;
  socketDir?: string | undefined;
  uid: number;
  gid: number;
  runId?: string | undefined;
  stepId?: string | undefined;
  bundle?: { name: string; version: string; digest: string } | undefined;
}

/** What the runtime adds to a grant: the context of the step and the token's permissions. */
export interface IccGrantDetails extends Partial<TokenPermissions> {
  sessionId?: string | undefined;
  task?: string | undefined;
  stepIndex?: number | undefined;
  totalSteps?: number | undefined;
  ttlMs?: number | undefined;
}

/** A dispatch grant (structurally the `DispatchGrant` of @aria/quilt-client). */
export interface IccDispatchGrant {
  env: Record<string, string>;
  release: () => Promise<void>;
  /** The minted token's claims (for the runtime's records). */
  claims: IccTokenClaims;
}

const BOUND = Symbol("aria.icc.container");
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  const stat = await fs.lstat(socketPath).catch(() => undefined);
  if (stat === undefined) return;
  if (!stat.isSocket())
    throw new AriaError("CONFIG_INVALID", {
      message: `'${socketPath}' exists and is not a socket`,
      details: { field: "socketPath" },
    });
  await fs.unlink(socketPath);
}

function listenNet(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(options, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Stops accepting and ends open (keep-alive) connections. */
function closeNet(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The ICC server: one hono app and one Node HTTP server behind any number of listeners (a shared
 * Unix socket or loopback TCP address, and one socket per container in that container's folder).
 * Every connection accepted by a container's listener is bound to that container: a token of
 * another container is refused on it.
 */
export class IccServer {
  readonly app: Hono<{ Bindings: IccBindings }>;
  readonly signer: TokenSigner;
  readonly revocations: RevocationList;
  readonly limiter: TokenBucketLimiter;
  readonly #deps: IccServerDeps;
  readonly #options: IccServerOptions;
  readonly #handler: http.RequestListener;
  readonly #inflight = new Map<string, Set<AbortController>>();
  readonly #closing = new AbortController();
  readonly #listeners = new Set<http.Server>();
  /** Per-container listeners by container key, with the number of grants using each. */
  readonly #containers = new Map<
    string,
    { server: http.Server; hostPath: string; refs: number; ready: Promise<void> }
  >();
  #closed = false;

  constructor(deps: IccServerDeps, options: IccServerOptions = {}) {
    this.#deps = deps;
    this.#options = options;
    const signer =
      deps.signer ??
      (deps.keyring
        ? new TokenSigner({
            keyring: deps.keyring,
            ...(options.tokenTtlMs !== undefined ? { defaultTtlMs: options.tokenTtlMs } : {}),
            ...(options.maxTokenTtlMs !== undefined ? { maxTtlMs: options.maxTokenTtlMs } : {}),
            ...(deps.now ? { now: deps.now } : {}),
          })
        : undefined);
    if (signer === undefined)
      throw new AriaError("CONFIG_INVALID", {
        message: "the ICC server needs a keyring or a signer",
        details: { field: "ARIA_ICC_SIGNING_KEY" },
      });
    this.signer = signer;
    this.revocations = deps.revocations ?? createMemoryRevocationList();
    this.limiter = new TokenBucketLimiter(options.rateLimit ?? {});
    const now = deps.now ?? Date.now;
    this.app = createIccApp({
      deps,
      signer,
      revocations: this.revocations,
      limiter: this.limiter,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      defaultToolTimeoutMs: options.defaultToolTimeoutMs ?? 60_000,
      maxToolTimeoutMs: options.maxToolTimeoutMs ?? 600_000,
      agentTimeoutMs: options.agentTimeoutMs ?? 600_000,
      llmTimeoutMs: options.llmTimeoutMs ?? 600_000,
      inflight: this.#inflight,
      closing: this.#closing.signal,
      boundContainer: (socket) =>
        socket ? (socket as unknown as Record<symbol, string | undefined>)[BOUND] : undefined,
      now,
    });
    const listener = getRequestListener(this.app.fetch, {
      errorHandler: () =>
        new Response(JSON.stringify(new AriaError("INTERNAL_ERROR").toJSON()), {
          status: 500,
          headers: { "content-type": "application/json" },
        }),
    });
    this.#handler = (req, res) => {
      void listener(req, res);
    };
  }

  /**
   * One Node HTTP server per listener, all with the same request handler (a server that accepts
   * its own connections lets the HTTP parser read the socket directly, which is measurably cheaper
   * than handing connections from a net.Server to a shared HTTP server).
   */
  #createHttp(containerKey?: string): http.Server {
    const server = http.createServer(
      {
        keepAliveTimeout: this.#options.keepAliveTimeoutMs ?? 65_000,
        headersTimeout: 10_000,
        requestTimeout: 0,
        maxHeaderSize: 16 * 1024,
        // Header names and values with CR, LF or NUL are refused by Node's parser (400) already.
        insecureHTTPParser: false,
      },
      this.#handler,
    );
    if (containerKey !== undefined)
      server.on("connection", (socket) => {
        (socket as unknown as Record<symbol, string>)[BOUND] = containerKey;
      });
    server.on("error", (error) => this.#deps.logger?.warn({ err: error }, "ICC listener error"));
    return server;
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new AriaError("INTERNAL_ERROR", {
        message: "the ICC server is closed",
        httpStatus: 503,
      });
  }

  /** Serves on a Unix socket and/or a loopback TCP address. */
  async listen(options: IccListenOptions): Promise<IccListener> {
    this.#assertOpen();
    const server = this.#createHttp();
    let url: string;
    if (options.socketPath !== undefined) {
      const socketPath = path.resolve(options.socketPath);
      await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
      await removeStaleSocket(socketPath);
      await listenNet(server, { path: socketPath });
      await fs.chmod(socketPath, 0o600);
      url = `unix://${socketPath}`;
    } else {
      const host = options.host ?? "127.0.0.1";
      if (!isLoopback(host) && this.#options.allowNonLoopback !== true)
        throw new AriaError("CONFIG_INVALID", {
          message: `ICC over TCP listens on loopback only ('${host}' refused; set allowNonLoopback to override)`,
          details: { field: "host" },
        });
      await listenNet(server, { port: options.port ?? 0, host });
      const address = server.address() as net.AddressInfo;
      url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    }
    this.#listeners.add(server);
    return {
      url,
      close: async () => {
        this.#listeners.delete(server);
        await closeNet(server);
      },
    };
  }

  /**
   * Serves the app on `<dir>/icc.sock` for one container (the folder is the one mounted at
   * /run/aria, see `prepareContainerSocketDir`): the socket is owned by `uid:gid`, mode 0600, and
   * connections on it only accept that container's tokens. Calling it again for the same key adds
   * a reference; `detachContainerSocket` removes one and closes the socket at zero.
   */
  async attachContainerSocket(
    dir: string,
    containerKey: string,
    owner: { uid: number; gid: number },
  ): Promise<ContainerSocket> {
    this.#assertOpen();
    const existing = this.#containers.get(containerKey);
    if (existing !== undefined) {
      existing.refs += 1;
      await existing.ready;
      return { hostPath: existing.hostPath, url: CONTAINER_ICC_URL };
    }
    const hostPath = path.join(dir, ICC_SOCKET_NAME);
    const server = this.#createHttp(containerKey);
    const ready = (async () => {
      await removeStaleSocket(hostPath);
      await listenNet(server, { path: hostPath });
      try {
        await fs.chown(hostPath, owner.uid, owner.gid);
        await fs.chmod(hostPath, 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
        // Not root: the folder (0700, owned by the container uid or relaxed by its creator) guards it.
        await fs.chmod(hostPath, 0o666);
      }
    })();
    const entry = { server, hostPath, refs: 1, ready };
    this.#containers.set(containerKey, entry);
    try {
      await ready;
    } catch (error) {
      this.#containers.delete(containerKey);
      await closeNet(server).catch(() => {});
      throw error;
    }
    return { hostPath, url: CONTAINER_ICC_URL };
  }

  /** Drops one reference to a container's socket; closes and removes it at zero. */
  async detachContainerSocket(containerKey: string): Promise<void> {
    const entry = this.#containers.get(containerKey);
    if (entry === undefined) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    this.#containers.delete(containerKey);
    await closeNet(entry.server);
    await fs.unlink(entry.hostPath).catch(() => {});
  }

  /** Mints a token bound to a run, step and container with a permission set. */
  mintToken(input: MintTokenInput): IccTokenGrant {
    this.#assertOpen();
    return this.signer.mint(input);
  }

  /**
   * Revokes a token (the token text, its claims, or its id with its expiry): refused from now on by
   * every replica sharing the revocation list, and its calls in flight here are aborted.
   */
  async revokeToken(
    token: string | IccTokenClaims | { jti: string; expiresAt: number },
  ): Promise<void> {
    let jti: string;
    let expiresAt: number;
    if (typeof token === "string") {
      let claims: IccTokenClaims;
      try {
        claims = this.signer.verify(token);
      } catch {
        return; // expired, or not ours: nothing to revoke
      }
      jti = claims.jti;
      expiresAt = claims.expiresAt;
    } else {
      jti = token.jti;
      expiresAt = token.expiresAt;
    }
    await this.revocations.revoke(jti, expiresAt);
    const inflight = this.#inflight.get(jti);
    if (inflight !== undefined)
      for (const controller of inflight)
        controller.abort(
          iccError.unauthorized("token revoked during the call", {
            details: { reason: "revoked" },
          }),
        );
    this.limiter.forget(jti);
  }

  /** Replaces the signing keyring (rotation). */
  setKeyring(keyring: IccKeyring): void {
    this.signer.setKeyring(keyring);
  }

  /**
   * Everything a container needs for one piece of work, for quilt-client's `onDispatch`: attaches
   * the container's socket (when it has a socket folder), mints a token for the run/step/container
   * and returns the contract environment; `release()` revokes the token and detaches the socket.
   * Work without a run gets no ICC (undefined).
   */
  async grant(
    info: IccDispatchInfo,
    details: IccGrantDetails = {},
  ): Promise<IccDispatchGrant | undefined> {
    if (!info.runId) return undefined;
    const permissions: TokenPermissions = details.permissions
      ? {
          permissions: details.permissions,
          ...(details.tools ? { tools: details.tools } : {}),
          ...(details.agents ? { agents: details.agents } : {}),
          ...(details.contextAccess ? { contextAccess: details.contextAccess } : {}),
        }
      : DEFAULT_TOKEN_PERMISSIONS;
    let url: string | undefined;
    if (info.socketDir !== undefined) {
      const socket = await this.attachContainerSocket(info.socketDir, info.containerName, {
        uid: info.uid,
        gid: info.gid,
      });
      url = socket.url;
    }
    const grant = this.mintToken({
      runId: info.runId,
      stepId: info.stepId ?? "step",
      containerId: info.containerName,
      sessionId: details.sessionId,
      ttlMs: details.ttlMs,
      ...permissions,
    });
    let released = false;
    return {
      env: iccEnvironment({
        ...(url !== undefined ? { url } : { url: this.#tcpUrl() }),
        token: grant.token,
        sessionId: details.sessionId,
        runId: info.runId,
        stepId: grant.claims.stepId,
        containerId: info.containerName,
        task: details.task,
        stepIndex: details.stepIndex,
        totalSteps: details.totalSteps,
        bundle: info.bundle,
      }),
      claims: grant.claims,
      release: async () => {
        if (released) return;
        released = true;
        await this.revokeToken(grant.claims);
        if (url !== undefined) await this.detachContainerSocket(info.containerName);
      },
    };
  }

  #tcpUrl(): string {
    for (const server of this.#listeners) {
      const address = server.address();
      if (address !== null && typeof address === "object")
        return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    }
    throw new AriaError("CONFIG_INVALID", {
      message: "the container has no socket folder and the ICC server listens on no TCP address",
      details: { field: "socketDir" },
    });
  }

  /** Stops every listener, aborts calls in flight and closes open connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new AriaError("INTERNAL_ERROR", {
      message: "the ICC server is shutting down",
      httpStatus: 503,
      retryable: true,
    });
    this.#closing.abort(reason);
    for (const set of this.#inflight.values())
      for (const controller of set) controller.abort(reason);
    const closes: Promise<void>[] = [];
    for (const server of this.#listeners) closes.push(closeNet(server));
    for (const [key, entry] of this.#containers) {
      closes.push(closeNet(entry.server).then(() => fs.unlink(entry.hostPath).catch(() => {})));
      this.#containers.delete(key);
    }
    this.#listeners.clear();
    await Promise.all(closes);
  }
}

/** Creates the ICC server (see `IccServer`). */
export function createIccServer(deps: IccServerDeps, options: IccServerOptions = {}): IccServer {
  return new IccServer(deps, options);
}

/**
 * The `onDispatch` hook for @aria/quilt-client's container manager: `describe(info)` gives the
 * step's context and permissions (e.g. from the tool's manifest via `permissionsFromManifest`).
 */
export function createIccDispatchHook(
  server: IccServer,
  describe?: (info: IccDispatchInfo) => IccGrantDetails | Promise<IccGrantDetails>,
): (info: IccDispatchInfo) => Promise<IccDispatchGrant | undefined> {
  return async (info) => server.grant(info, describe ? await describe(info) : {});
}
