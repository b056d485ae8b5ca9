import { extractJson } from "@aria/core-types";
import type { z } from "zod";

/** Re-exported from `@aria/core-types`, the one implementation. */
export { extractJson };

/** zod issues as short, precise lines a model can act on (`steps.2.tool: Required`). */
export function zodProblems(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((issue) => {
    const path = issue.path.map(String).join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
}

/** JSON text of a value for a prompt, cut at `maxChars` (with a note saying so). */
export function jsonForPrompt(value: unknown, maxChars = 20_000): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? "null");
  } catch {
    text = String(value);
  }
  return text.length > maxChars
    ? `${text.slice(0, maxChars)}… [cut: ${text.length - maxChars} more characters]`
    : text;
}
