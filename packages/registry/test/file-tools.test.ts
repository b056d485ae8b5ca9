import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AriaError } from "@aria/errors";
import { createRegistries } from "@aria/registry";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { caught, context, removeDir, tempDir } from "./fixtures.ts";

let workspace: string;
let outside: string;
const { tools } = createRegistries();

beforeEach(async () => {
  workspace = await tempDir("aria-ws-");
  outside = await tempDir("aria-outside-");
  await writeFile(join(outside, "secret.txt"), "top secret");
});
afterEach(async () => {
  await removeDir(workspace);
  await removeDir(outside);
});

const run = (tool: string, input: unknown) =>
  tools.execute(tool, input, context({ workspaceDir: workspace }));
const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(AriaError.is(error), String(error)).toBe(true);
  return (error as AriaError).code;
};

describe("file.read and file.write", () => {
  it("write then read inside the workspace, creating directories", async () => {
    await expect(
      run("file.write", { path: "reports/circle.txt", content: "area 176.71" }),
    ).resolves.toEqual({
      path: "reports/circle.txt",
      bytes: 11,
      appended: false,
    });
    await run("file.write", {
      path: "reports/circle.txt",
      content: "\ncircumference 47.12",
      append: true,
    });
    await expect(run("file.read", { path: "reports/circle.txt" })).resolves.toEqual({
      path: "reports/circle.txt",
      content: "area 176.71\ncircumference 47.12",
      bytes: 31,
      encoding: "utf8",
      truncated: false,
    });
    expect(await readFile(join(workspace, "reports", "circle.txt"), "utf8")).toBe(
      "area 176.71\ncircumference 47.12",
    );
    await expect(
      run("file.read", { path: "reports/circle.txt", maxBytes: 4 }),
    ).resolves.toMatchObject({ content: "area", truncated: true });
    await run("file.write", {
      path: "bin.dat",
      content: Buffer.from([0, 1, 2, 255]).toString("base64"),
      encoding: "base64",
    });
    await expect(run("file.read", { path: "bin.dat", encoding: "base64" })).resolves.toMatchObject({
      content: "AAEC/w==",
      bytes: 4,
    });
  });

  it("refuses traversal and absolute paths outside the workspace", async () => {
    expect(await refusal(run("file.read", { path: "../secret.txt" }))).toBe("TOOL_FORBIDDEN");
    expect(await refusal(run("file.read", { path: join(outside, "secret.txt") }))).toBe(
      "TOOL_FORBIDDEN",
    );
    expect(await refusal(run("file.write", { path: "a/../../escape.txt", content: "x" }))).toBe(
      "TOOL_FORBIDDEN",
    );
    expect(await refusal(run("file.write", { path: "/tmp/escape.txt", content: "x" }))).toBe(
      "TOOL_FORBIDDEN",
    );
  });

  it("refuses symbolic links that leave the workspace, and follows those that stay inside", async () => {
    await symlink(join(outside, "secret.txt"), join(workspace, "link.txt"));
    await symlink(outside, join(workspace, "outdir"));
    expect(await refusal(run("file.read", { path: "link.txt" }))).toBe("TOOL_FORBIDDEN");
    expect(await refusal(run("file.read", { path: "outdir/secret.txt" }))).toBe("TOOL_FORBIDDEN");
    expect(await refusal(run("file.write", { path: "link.txt", content: "overwrite" }))).toBe(
      "TOOL_FORBIDDEN",
    );
    expect(await refusal(run("file.write", { path: "outdir/new.txt", content: "x" }))).toBe(
      "TOOL_FORBIDDEN",
    );
    expect(await readFile(join(outside, "secret.txt"), "utf8")).toBe("top secret");
    await mkdir(join(workspace, "real"));
    await writeFile(join(workspace, "real", "data.txt"), "inside");
    await symlink(join(workspace, "real"), join(workspace, "alias"));
    await expect(run("file.read", { path: "alias/data.txt" })).resolves.toMatchObject({
      content: "inside",
      path: "real/data.txt",
    });
  });

  it("needs a workspace and reports missing files", async () => {
    const error = await caught(tools.execute("file.read", { path: "x" }, context()));
    expect(error.code).toBe("TOOL_FORBIDDEN");
    const missing = await caught(run("file.read", { path: "nothing.txt" }));
    expect(missing.code).toBe("TOOL_EXECUTION_FAILED");
    expect(missing.message).toContain("no such file");
    expect(await refusal(run("file.read", { path: "" }))).toBe("VALIDATION_FAILED");
  });
});
