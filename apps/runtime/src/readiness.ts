import http from "node:http";

export type DependencyStatus = "up" | "down" | "degraded" | "disabled";

export interface DependencyState {
  status: DependencyStatus;
  detail?: string;
  [key: string]: unknown;
}

/** One dependency `/ready` reports on. `required` ones make the runtime not ready when down. */
export interface ReadinessCheck {
  name: string;
  required: boolean;
  check(): Promise<DependencyState>;
}

/** Pings a Docker engine over its Unix socket with a short timeout. */
export function dockerCheck(dockerHost: string | undefined, enabled: boolean): ReadinessCheck {
  const socketPath = dockerHost?.startsWith("unix://")
    ? dockerHost.slice(7)
    : "/var/run/docker.sock";
  return {
    name: "containerEngine",
    required: false,
    check: () =>
      enabled
        ? new Promise<DependencyState>((resolve) => {
            const req = http.get({ socketPath, path: "/_ping", timeout: 1500 }, (res) => {
              res.resume();
              resolve(
                res.statusCode === 200
                  ? { status: "up", socket: socketPath }
                  : { status: "down", detail: `HTTP ${res.statusCode}` },
              );
            });
            req.on("error", (error) =>
              resolve({
                status: "down",
                detail: `${error.message}; start dockerd or set DOCKER_HOST`,
              }),
            );
            req.on("timeout", () => {
              req.destroy();
              resolve({ status: "down", detail: "timed out" });
            });
          })
        : Promise.resolve({ status: "disabled", detail: "features.containers is off" }),
  };
}

/** Runs every check concurrently, each bounded by a timeout. */
export async function runChecks(
  checks: ReadinessCheck[],
  timeoutMs = 3000,
): Promise<{ ready: boolean; dependencies: Record<string, DependencyState> }> {
  const results = await Promise.all(
    checks.map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<DependencyState>((resolve) => {
        timer = setTimeout(
          () => resolve({ status: "down", detail: `check timed out after ${timeoutMs} ms` }),
          timeoutMs,
        );
      });
      try {
        return [
          c,
          await Promise.race([
            c.check().catch((e: Error) => ({ status: "down" as const, detail: e.message })),
            timeout,
          ]),
        ] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const dependencies: Record<string, DependencyState> = {};
  let ready = true;
  for (const [c, state] of results) {
    dependencies[c.name] = state;
    if (c.required && state.status === "down") ready = false;
  }
  return { ready, dependencies };
}
