/**
 * calculator-tools: an example bundle written with @aria/sdk. Real arithmetic and circle geometry,
 * and `formatReport`, which renders a plain-text report and writes it into the run's workspace.
 * `approved-report` shows human approval: the report is written only once a person approves.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { definePipeline, defineTool } from "@aria/sdk";
import { z } from "zod";

const finite = (value: number, what: string): number => {
  if (!Number.isFinite(value)) throw new RangeError(`${what} is not a finite number`);
  return value;
};

export const add = defineTool({
  name: "add",
  description: "Adds numbers: returns the sum of all the given numbers",
  input: z.object({ numbers: z.array(z.number()).min(1).describe("the numbers to add") }),
  output: z.object({ sum: z.number() }),
  handler: ({ numbers }) => ({
    sum: finite(
      numbers.reduce((a, b) => a + b, 0),
      "the sum",
    ),
  }),
});

export const multiply = defineTool({
  name: "multiply",
  description: "Multiplies numbers: returns the product of all the given numbers",
  input: z.object({ numbers: z.array(z.number()).min(1).describe("the numbers to multiply") }),
  output: z.object({ product: z.number() }),
  handler: ({ numbers }) => ({
    product: finite(
      numbers.reduce((a, b) => a * b, 1),
      "the product",
    ),
  }),
});

const Radius = z.object({ radius: z.number().nonnegative().describe("the circle's radius") });

export const circleArea = defineTool({
  name: "circleArea",
  description: "Computes the area of a circle from its radius (pi * r^2)",
  input: Radius,
  output: z.object({ radius: z.number(), area: z.number() }),
  handler: ({ radius }) => ({ radius, area: finite(Math.PI * radius * radius, "the area") }),
});

export const circleCircumference = defineTool({
  name: "circleCircumference",
  description: "Computes the circumference of a circle from its radius (2 * pi * r)",
  input: Radius,
  output: z.object({ radius: z.number(), circumference: z.number() }),
  handler: ({ radius }) => ({
    radius,
    circumference: finite(2 * Math.PI * radius, "the circumference"),
  }),
});

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Renders a value for the report: numbers rounded to 4 decimals, objects as JSON. */
function render(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

export const formatReport = defineTool({
  name: "formatReport",
  description:
    "Formats a titled plain-text report from named values and optional notes, and writes it to a file in the run's workspace when fileName is given",
  input: z.object({
    title: z.string().min(1),
    values: z.record(z.string(), z.unknown()).default({}),
    notes: z.unknown().optional(),
    fileName: z.string().regex(FILE_NAME, "a plain file name, no directories").optional(),
  }),
  output: z.object({ report: z.string(), lines: z.number().int(), path: z.string().optional() }),
  handler: async ({ title, values, notes, fileName }, context) => {
    const lines = [title, "=".repeat(title.length), ""];
    const width = Math.max(0, ...Object.keys(values).map((k) => k.length));
    for (const [key, value] of Object.entries(values))
      lines.push(`${key.padEnd(width)} : ${render(value)}`);
    if (notes !== undefined && notes !== null && notes !== "")
      lines.push("", "Notes", "-----", render(notes));
    const report = `${lines.join("\n")}\n`;
    if (fileName === undefined) return { report, lines: lines.length };
    if (!context.workspaceDir)
      throw new Error("formatReport needs a workspace to write a file; none was given");
    const path = join(context.workspaceDir, fileName);
    // "wx" never follows or overwrites an existing entry (a symlink planted in the workspace included).
    const handle = await open(path, "wx", 0o644);
    try {
      await handle.writeFile(report, "utf8");
    } finally {
      await handle.close();
    }
    return { report, lines: lines.length, path: fileName };
  },
});

/**
 * Human approval: the area is computed at once; writing the report file waits for a person
 * (`aria approve RUN report`, the console's approvals inbox, or the HTTP API). Nobody answering
 * within 10 minutes rejects it.
 */
export const approvedReport = definePipeline({
  name: "approved-report",
  description: "Computes a circle's area, then writes a report file once a person approves",
  input: Radius,
  steps: [
    { id: "area", type: "tool", tool: circleArea, params: { radius: "{{input.radius}}" } },
    {
      id: "report",
      type: "tool",
      tool: formatReport,
      params: {
        title: "Approved circle report",
        values: { radius: "{{steps.area.output.radius}}", area: "{{steps.area.output.area}}" },
        fileName: "approved_report.txt",
      },
      needsApproval: true,
      approval: { timeoutMs: 600_000, onTimeout: "reject" },
    },
  ],
  output: "{{steps.report.output}}",
});
