/** One problem found by a schema check, with the path of the field it concerns. */
export interface SdkIssue {
  path: string;
  message: string;
  code?: string;
}

/**
 * The error a tool's wrapped handler throws when its input or output does not match its zod
 * schema. It carries the catalogue code (`VALIDATION_FAILED` or `TOOL_OUTPUT_INVALID`) so the
 * runtime maps it to the right `AriaError` without the SDK depending on `@aria/errors`.
 */
export class SdkValidationError extends Error {
  readonly code: "VALIDATION_FAILED" | "TOOL_OUTPUT_INVALID";
  readonly issues: SdkIssue[];

  constructor(
    code: "VALIDATION_FAILED" | "TOOL_OUTPUT_INVALID",
    message: string,
    issues: SdkIssue[],
  ) {
    super(message);
    this.name = "SdkValidationError";
    this.code = code;
    this.issues = issues;
  }
}
