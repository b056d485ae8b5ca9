import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readlink, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import type { ToolExecutionContext } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import type { ToolRegistration } from "../tool-registry.ts";

const DEFAULT_MAX_READ = 1024 * 1024;
const MAX_BYTES = 50 * 1024 * 1024;

function forbidden(message: string, path: string): AriaError {
  return new AriaError("TOOL_FORBIDDEN", {
    message,
    details: { path },
    userGuidance: "File tools only reach files inside the run's workspace.",
  });
}

const inside = (root: string, path: string) => path === root || path.startsWith(root + sep);

async function workspaceRoot(context: ToolExecutionContext): Promise<string> {
  if (!context.workspaceDir)
    throw forbidden("this run has no workspace, so file tools cannot be used", "");
  try {
    return await realpath(context.workspaceDir);
  } catch (error) {
    throw new AriaError("TOOL_EXECUTION_FAILED", {
      message: `the workspace ${context.workspaceDir} is not accessible`,
      cause: error,
    });
  }
}

/**
 * Resolves a path inside the workspace. Refuses `..` escapes and absolute paths outside it, and
 * follows existing symbolic links only while they stay inside (a link to `/etc` is refused).
 */
async function confine(root: string, requested: string): Promise<string> {
  if (requested.length === 0 || requested.includes("\0"))
    throw forbidden("an empty or invalid path", requested);
  const target = resolve(root, requested);
  if (!inside(root, target))
    throw forbidden(`'${requested}' lies outside the workspace`, requested);
  // Resolve every existing component, so a symlinked directory cannot lead out.
  const parts = relative(root, target).split(sep).filter(Boolean);
  let current = root;
  for (const part of parts) {
    const next = resolve(current, part);
    const info = await lstat(next).catch(() => undefined);
    if (!info) {
      current = next;
      continue;
    }
    if (info.isSymbolicLink()) {
      const real = await realpath(next).catch(() => undefined);
      if (!real || !inside(root, real))
        throw forbidden(
          `'${requested}' goes through a symbolic link that leaves the workspace`,
          requested,
        );
      current = real;
    } else current = next;
  }
  return current;
}

/** After opening, checks where the descriptor really points (closes a check-then-open race on Linux). */
async function verifyOpened(handle: FileHandle, root: string, requested: string): Promise<void> {
  const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (real !== undefined && !inside(root, real)) {
    await handle.close();
    throw forbidden(`'${requested}' resolved outside the workspace`, requested);
  }
}

async function ensureDirectories(root: string, dir: string, requested: string): Promise<void> {
  const parts = relative(root, dir).split(sep).filter(Boolean);
  let current = root;
  for (const part of parts) {
    current = resolve(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) {
      await mkdir(current).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
      });
    } else if (info.isSymbolicLink()) {
      const real = await realpath(current);
      if (!inside(root, real))
        throw forbidden(
          `'${requested}' goes through a symbolic link that leaves the workspace`,
          requested,
        );
      current = real;
    } else if (!info.isDirectory()) {
      throw new AriaError("TOOL_EXECUTION_FAILED", {
        message: `'${relative(root, current)}' exists and is not a directory`,
      });
    }
  }
}

function ioError(error: unknown, path: string, verb: string): AriaError {
  if (AriaError.is(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ELOOP") return forbidden(`'${path}' is a symbolic link`, path);
  return new AriaError("TOOL_EXECUTION_FAILED", {
    message: `could not ${verb} '${path}': ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (error as Error).message}`,
    details: { path, errno: code ?? null },
    retryable: false,
    cause: error,
  });
}

/** The built-in `file.read`: reads a file inside the run's workspace. */
export function fileReadTool(): ToolRegistration {
  return {
    name: "file.read",
    description:
      "Reads a file from the run's workspace (paths are relative to it; nothing outside it can be read).",
    inputSchema: {
      type: "object",
      properties: {
        path: { type: "string", minLength: 1, maxLength: 4096 },
        encoding: { type: "string", enum: ["utf8", "base64"], default: "utf8" },
        maxBytes: { type: "integer", minimum: 1, maximum: MAX_BYTES },
      },
      required: ["path"],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      properties: {
        path: { type: "string" },
        content: { type: "string" },
        bytes: { type: "integer" },
        encoding: { type: "string" },
        truncated: { type: "boolean" },
      },
      required: ["path", "content", "bytes", "encoding", "truncated"],
    },
    securityLevel: "safe",
    handler: async (raw, context) => {
      const input = raw as { path: string; encoding?: "utf8" | "base64"; maxBytes?: number };
      const root = await workspaceRoot(context);
      const target = await confine(root, input.path);
      const limit = input.maxBytes ?? DEFAULT_MAX_READ;
      let handle: FileHandle | undefined;
      try {
        handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
        await verifyOpened(handle, root, input.path);
        const info = await handle.stat();
        if (!info.isFile())
          throw new AriaError("TOOL_EXECUTION_FAILED", {
            message: `'${input.path}' is not a regular file`,
          });
        const length = Math.min(info.size, limit);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, 0);
        const encoding = input.encoding ?? "utf8";
        return {
          path: relative(root, target).split(sep).join("/"),
          content: buffer.subarray(0, bytesRead).toString(encoding),
          bytes: bytesRead,
          encoding,
          truncated: info.size > bytesRead,
        };
      } catch (error) {
        throw ioError(error, input.path, "read");
      } finally {
        await handle?.close().catch(() => undefined);
      }
    },
  };
}

/** The built-in `file.write`: writes a file inside the run's workspace. */
export function fileWriteTool(): ToolRegistration {
  return {
    name: "file.write",
    description:
      "Writes (or appends to) a file in the run's workspace, creating directories as needed. Paths are relative to the workspace.",
    inputSchema: {
      type: "object",
      properties: {
        path: { type: "string", minLength: 1, maxLength: 4096 },
        content: { type: "string", maxLength: MAX_BYTES },
        encoding: { type: "string", enum: ["utf8", "base64"], default: "utf8" },
        append: { type: "boolean", default: false },
      },
      required: ["path", "content"],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      properties: {
        path: { type: "string" },
        bytes: { type: "integer" },
        appended: { type: "boolean" },
      },
      required: ["path", "bytes", "appended"],
    },
    securityLevel: "limited",
    handler: async (raw, context) => {
      const input = raw as {
        path: string;
        content: string;
        encoding?: "utf8" | "base64";
        append?: boolean;
      };
      const root = await workspaceRoot(context);
      if (isAbsolute(input.path) && !inside(root, resolve(input.path)))
        throw forbidden(`'${input.path}' lies outside the workspace`, input.path);
      const target = await confine(root, input.path);
      if (target === root)
        throw forbidden("cannot write the workspace directory itself", input.path);
      const data = Buffer.from(input.content, input.encoding ?? "utf8");
      let handle: FileHandle | undefined;
      try {
        await ensureDirectories(root, resolve(target, ".."), input.path);
        // Truncate only after checking where the descriptor points, so a raced link is never emptied.
        const flags =
          constants.O_WRONLY |
          constants.O_CREAT |
          constants.O_NOFOLLOW |
          (input.append ? constants.O_APPEND : 0);
        handle = await open(target, flags, 0o644);
        await verifyOpened(handle, root, input.path);
        if (!input.append) await handle.truncate(0);
        await handle.writeFile(data);
        return {
          path: relative(root, target).split(sep).join("/"),
          bytes: data.length,
          appended: input.append === true,
        };
      } catch (error) {
        throw ioError(error, input.path, "write");
      } finally {
        await handle?.close().catch(() => undefined);
      }
    },
  };
}
