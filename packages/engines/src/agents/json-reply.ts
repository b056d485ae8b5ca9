import type { z } from "zod";

/**
 * Extracts the JSON value of a model's reply: the whole text, the content of a ```json fence, or
 * the outermost `{...}` / `[...]` span. Returns `undefined` when nothing parses.
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const candidates: string[] = [trimmed];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence?.[1]) candidates.push(fence[1].trim());
  for (const [open, close] of [
    ["{", "}"],
    ["[", "]"],
  ] as const) {
    const start = text.indexOf(open);
    const end = text.lastIndexOf(close);
    if (start >= 0 && end > start) candidates.push(text.slice(start, end + 1));
  }
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate);
    } catch {
      // try the next form
    }
  }
  return undefined;
}

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
