import type { IncomingMessage } from "node:http";
import { AriaError } from "@aria/errors";

function tooLarge(limit: number, size?: number): AriaError {
  return new AriaError("PAYLOAD_TOO_LARGE", {
    message: `request body is larger than ${limit} bytes`,
    details: { limitBytes: limit, ...(size !== undefined ? { contentLength: size } : {}) },
  });
}

/** Reads a Node request body, refusing it as soon as it passes `limit` bytes. */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        incoming.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new AriaError("VALIDATION_FAILED", {
          message: "the request body could not be read",
          cause: error,
        }),
      );
    };
    const onAborted = () => onError(new Error("request aborted"));
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("aborted", onAborted);
  });
}

/** Reads a fetch Request body (tests through `app.request`), with the same limit. */
async function readRequest(request: Request, limit: number): Promise<Buffer> {
  if (request.body === null) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Reads and parses a JSON body: `Content-Length` above `limit` is refused before reading, and a
 * body without one (chunked) is refused as soon as it passes `limit`. An empty body reads as `{}`.
 * Throws PAYLOAD_TOO_LARGE (413) or INVALID_JSON (400).
 */
export async function readJsonBody(
  request: Request,
  incoming: IncomingMessage | undefined,
  limit: number,
): Promise<unknown> {
  const declared = incoming
    ? incoming.headers["content-length"]
    : request.headers.get("content-length");
  if (declared !== undefined && declared !== null) {
    const size = Number(declared);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new AriaError("VALIDATION_FAILED", { message: "invalid Content-Length" });
    if (size > limit) throw tooLarge(limit, size);
  }
  const bytes = incoming ? await readIncoming(incoming, limit) : await readRequest(request, limit);
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new AriaError("INVALID_JSON", {
      message: "the request body is not valid JSON",
      cause: error,
    });
  }
}
