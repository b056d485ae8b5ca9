import { parseArgs } from "node:util";

/** Bad usage of a command: the CLI prints the message and the usage, and exits with status 2. */
export class UsageError extends Error {}

export type FlagSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** Parsed arguments (values are checked where they are used). */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses a subcommand's arguments strictly, with the flags every subcommand takes (`--json`,
 * `--help`, `--data-dir`) plus its own; a parse failure is a UsageError.
 */
export function parseCommandArgs(argv: string[], flags: FlagSpec = {}): ParsedArgs {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: "boolean" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
        ...flags,
      },
    }) as ParsedArgs;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
