import { AriaError } from "@aria/errors";

/** A small client of the public HTTP API, used by the CLI. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  /** The server runs inside this CLI process (none was reachable): it ends with the command. */
  readonly inProcess: boolean;

  constructor(baseUrl: string, apiKey?: string, options: { inProcess?: boolean } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.apiKey = apiKey;
    this.inProcess = options.inProcess ?? false;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  /** True when a runtime answers `/health` within `timeoutMs`. */
  async reachable(timeoutMs = 800): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      return res.ok;
    } catch {
      return false;
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: this.headers(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new AriaError("INTERNAL_ERROR", {
        message: `The server answered ${res.status} with a body that is not JSON`,
      });
    }
    if (!res.ok) {
      const error = (
        parsed as { error?: { code?: string; message?: string; userGuidance?: string } }
      ).error;
      const code = (error?.code ?? "INTERNAL_ERROR") as ConstructorParameters<typeof AriaError>[0];
      throw new AriaError(code, {
        message: error?.message ?? `HTTP ${res.status}`,
        ...(error?.userGuidance ? { userGuidance: error.userGuidance } : {}),
      });
    }
    return parsed as T;
  }

  /**
   * Reads a run's Server-Sent Events, calling `onEvent` for each, until the stream ends or
   * `onEvent` answers `false`.
   */
  async events(
    runId: string,
    onEvent: (event: {
      id: number;
      type: string;
      stepId?: string;
      data: Record<string, unknown>;
    }) => boolean | undefined | void,
  ): Promise<void> {
    const res = await fetch(`${this.baseUrl}/v1/runs/${encodeURIComponent(runId)}/events`, {
      headers: this.headers(),
    });
    if (!res.ok || !res.body)
      throw new AriaError("INTERNAL_ERROR", {
        message: `Cannot stream events: HTTP ${res.status}`,
      });
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let split = buffer.indexOf("\n\n");
      while (split >= 0) {
        const block = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        split = buffer.indexOf("\n\n");
        let id = 0;
        let type = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = Number(line.slice(4));
          else if (line.startsWith("event: ")) type = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) {
          const parsed = JSON.parse(data) as { stepId?: string; data?: Record<string, unknown> };
          const more = onEvent({
            id,
            type,
            ...(parsed.stepId ? { stepId: parsed.stepId } : {}),
            data: parsed.data ?? {},
          });
          // Leaving the loop cancels the response body (the stream's iterator is closed).
          if (more === false) return;
        }
      }
    }
  }
}
