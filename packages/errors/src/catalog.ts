/** Error categories: who has to act. */
export const ERROR_CATEGORIES = [
  "validation",
  "configuration",
  "tool",
  "agent",
  "execution",
  "planning",
  "bundle",
  "container",
  "llm",
  "icc",
  "auth",
  "rate_limit",
  "state",
  "not_found",
  "guardrail",
  "internal",
] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

export type Severity = "low" | "medium" | "high" | "critical";

export interface CatalogEntry {
  category: ErrorCategory;
  severity: Severity;
  httpStatus: number;
  retryable: boolean;
  guidance: string;
  recoveryActions: readonly string[];
}

/**
 * The single source of truth for every error code: category, severity, HTTP status, whether a retry
 * can help, what to tell the user and what can be done about it.
 */
export const ERROR_CATALOG = {
  VALIDATION_FAILED: {
    category: "validation",
    severity: "low",
    httpStatus: 400,
    retryable: false,
    guidance:
      "The input does not match the expected shape. Fix the fields named in the details and send it again.",
    recoveryActions: [
      "Correct the fields listed in details.issues",
      "Check the schema in the API reference",
    ],
  },
  INVALID_JSON: {
    category: "validation",
    severity: "low",
    httpStatus: 400,
    retryable: false,
    guidance:
      "The body is not valid JSON. Send a JSON document with Content-Type: application/json.",
    recoveryActions: ["Validate the body with a JSON linter", "Check quoting and trailing commas"],
  },
  PAYLOAD_TOO_LARGE: {
    category: "validation",
    severity: "low",
    httpStatus: 413,
    retryable: false,
    guidance: "The request body is larger than the configured limit.",
    recoveryActions: [
      "Send a smaller body",
      "Raise limits.requestBodyBytes if the size is intended",
    ],
  },
  CONFIG_INVALID: {
    category: "configuration",
    severity: "critical",
    httpStatus: 500,
    retryable: false,
    guidance:
      "A configuration value is invalid. The message names the field; fix it in the environment or aria.config.json.",
    recoveryActions: ["Fix the named field", "Run `aria doctor` to check the configuration"],
  },
  NOT_FOUND: {
    category: "not_found",
    severity: "low",
    httpStatus: 404,
    retryable: false,
    guidance: "Nothing exists at this path. Check the method and path against the API reference.",
    recoveryActions: ["Check the URL", "See GET /openapi.json for the routes"],
  },
  TOOL_NOT_FOUND: {
    category: "tool",
    severity: "medium",
    httpStatus: 404,
    retryable: false,
    guidance: "No installed tool has this name. List the tools with `aria tools` or GET /v1/tools.",
    recoveryActions: [
      "Check the tool name (BUNDLE/TOOL when several bundles share it)",
      "Install the bundle that provides it",
    ],
  },
  TOOL_AMBIGUOUS: {
    category: "tool",
    severity: "low",
    httpStatus: 409,
    retryable: false,
    guidance: "Several installed bundles provide a tool with this name. Address it as BUNDLE/TOOL.",
    recoveryActions: ["Use the qualified name BUNDLE/TOOL"],
  },
  TOOL_EXECUTION_FAILED: {
    category: "tool",
    severity: "medium",
    httpStatus: 500,
    retryable: true,
    guidance:
      "The tool ran and failed. The cause says why; check its input and its own error message.",
    recoveryActions: [
      "Inspect the cause",
      "Retry with corrected parameters",
      "Let reflection propose a different tool",
    ],
  },
  TOOL_TIMEOUT: {
    category: "tool",
    severity: "medium",
    httpStatus: 504,
    retryable: true,
    guidance: "The tool did not finish within its timeout.",
    recoveryActions: [
      "Raise the step's timeoutMs or the tool's resources.timeoutMs",
      "Retry",
      "Split the work into smaller steps",
    ],
  },
  TOOL_OUTPUT_INVALID: {
    category: "tool",
    severity: "medium",
    httpStatus: 502,
    retryable: false,
    guidance: "The tool returned output that does not match its declared outputSchema.",
    recoveryActions: [
      "Fix the tool so its output matches the schema",
      "Correct the outputSchema in the manifest",
    ],
  },
  TOOL_FORBIDDEN: {
    category: "tool",
    severity: "high",
    httpStatus: 403,
    retryable: false,
    guidance:
      "The policy does not allow this tool here (security level, agent tool list or permissions).",
    recoveryActions: [
      "Add the tool to the agent's tools",
      "Adjust the security policy if the use is intended",
    ],
  },
  MCP_SERVER_UNAVAILABLE: {
    category: "tool",
    severity: "high",
    httpStatus: 503,
    retryable: true,
    guidance:
      "The MCP server behind this tool is not connected: it could not be started or reached, or it stopped and is being restarted. Its tools answer this error until it is back.",
    recoveryActions: [
      "Check the server's command or URL in the manifest or mcp.servers",
      "Look at the server's stderr in the runtime log",
      "Retry once GET /ready shows the server up",
    ],
  },
  MCP_SERVER_FORBIDDEN: {
    category: "tool",
    severity: "high",
    httpStatus: 403,
    retryable: false,
    guidance:
      "This MCP server may not be used: its URL is not on loopback (127.0.0.0/8, ::1, localhost), or a bundle declares a command to run on the host while mcp.allowBundleCommands does not allow it.",
    recoveryActions: [
      "Serve the MCP server on 127.0.0.1 and use that URL",
      "Declare the server in the runtime configuration (mcp.servers) instead of the bundle",
      "Set mcp.allowBundleCommands (true, or a list of bundle names) if you trust the bundle",
    ],
  },
  MCP_TOOL_FAILED: {
    category: "tool",
    severity: "medium",
    httpStatus: 502,
    retryable: true,
    guidance:
      "The MCP server ran the tool and reported a failure (isError), or answered the call with a protocol error. The message carries the server's text.",
    recoveryActions: [
      "Read the server's message and correct the arguments",
      "Check the tool's inputSchema (GET /v1/tools)",
    ],
  },
  AGENT_NOT_FOUND: {
    category: "agent",
    severity: "medium",
    httpStatus: 404,
    retryable: false,
    guidance: "No installed agent has this name. List agents with GET /v1/agents.",
    recoveryActions: ["Check the agent name", "Install the bundle that provides it"],
  },
  TEAM_NOT_FOUND: {
    category: "agent",
    severity: "medium",
    httpStatus: 404,
    retryable: false,
    guidance: "No installed team has this name. List teams with GET /v1/teams.",
    recoveryActions: ["Check the team name", "Install the bundle that provides it"],
  },
  PIPELINE_NOT_FOUND: {
    category: "agent",
    severity: "medium",
    httpStatus: 404,
    retryable: false,
    guidance: "No installed pipeline has this name. List pipelines with GET /v1/pipelines.",
    recoveryActions: ["Check the pipeline name", "Install the bundle that provides it"],
  },
  PLACEHOLDER_UNRESOLVED: {
    category: "execution",
    severity: "medium",
    httpStatus: 422,
    retryable: false,
    guidance:
      "A {{...}} placeholder points at a step, output or path that does not exist or failed.",
    recoveryActions: [
      "Check the step number or id in the placeholder",
      "Check the path against the step's output",
      "Make the step depend on the one it references",
    ],
  },
  PLAN_INVALID: {
    category: "planning",
    severity: "medium",
    httpStatus: 422,
    retryable: false,
    guidance:
      "The plan is not valid: unknown steps or tools, cycles, or references to steps that do not run before.",
    recoveryActions: [
      "Read details.problems",
      "Fix the pipeline definition or let the planner repair the plan",
    ],
  },
  MAX_STEPS_EXCEEDED: {
    category: "execution",
    severity: "medium",
    httpStatus: 422,
    retryable: false,
    guidance: "The run needed more steps than its limit allows.",
    recoveryActions: [
      "Raise options.maxSteps or the agent's maxSteps",
      "Make the task more specific",
    ],
  },
  BUDGET_EXCEEDED: {
    category: "execution",
    severity: "medium",
    httpStatus: 402,
    retryable: false,
    guidance:
      "The run or session spent its token, cost, revision or reflection budget; the next call was refused, not made.",
    recoveryActions: ["Raise the budget in the run options or configuration", "Simplify the task"],
  },
  STEP_FAILED: {
    category: "execution",
    severity: "medium",
    httpStatus: 500,
    retryable: false,
    guidance: "A step failed and its dependants could not run.",
    recoveryActions: [
      "Inspect the failed step's error",
      "Mark the step continueOnError if its failure is acceptable",
    ],
  },
  BUNDLE_INVALID: {
    category: "bundle",
    severity: "medium",
    httpStatus: 400,
    retryable: false,
    guidance: "The .aria file is not a valid bundle: bad archive, bad manifest or unsafe entries.",
    recoveryActions: [
      "Re-pack the bundle with `aria bundle pack`",
      "Run `aria bundle inspect FILE` for details",
    ],
  },
  BUNDLE_UNSAFE: {
    category: "bundle",
    severity: "high",
    httpStatus: 400,
    retryable: false,
    guidance:
      "The archive has an unsafe entry (path traversal, absolute path, link or device) or breaks a size limit.",
    recoveryActions: ["Do not install this file", "Re-pack it from source with `aria bundle pack`"],
  },
  BUNDLE_INTEGRITY: {
    category: "bundle",
    severity: "high",
    httpStatus: 400,
    retryable: false,
    guidance: "A hash or signature does not match: the bundle was altered or damaged.",
    recoveryActions: ["Obtain the bundle again from its source", "Re-pack it and reinstall"],
  },
  BUNDLE_DEPENDENCY: {
    category: "bundle",
    severity: "medium",
    httpStatus: 409,
    retryable: false,
    guidance: "A dependency is missing, at an incompatible version, or part of a cycle.",
    recoveryActions: [
      "Install the missing dependency first",
      "Check the version ranges in the manifest",
    ],
  },
  BUNDLE_NOT_FOUND: {
    category: "bundle",
    severity: "low",
    httpStatus: 404,
    retryable: false,
    guidance: "No bundle with this name and version is installed.",
    recoveryActions: ["List bundles with `aria bundle list`"],
  },
  BUNDLE_CONFLICT: {
    category: "bundle",
    severity: "low",
    httpStatus: 409,
    retryable: false,
    guidance:
      "This bundle version is already installed with different contents, or another bundle still depends on it.",
    recoveryActions: ["Bump the version", "Uninstall the dependants first"],
  },
  CONTAINER_RUNTIME_UNAVAILABLE: {
    category: "container",
    severity: "high",
    httpStatus: 503,
    retryable: true,
    guidance:
      "The container engine (Docker) is not reachable. Container steps cannot run; other steps still can.",
    recoveryActions: ["Start Docker (dockerd)", "Check DOCKER_HOST", "Run `aria doctor`"],
  },
  CONTAINER_START_FAILED: {
    category: "container",
    severity: "high",
    httpStatus: 500,
    retryable: true,
    guidance:
      "The container could not be created or started (missing image, bad command or limits).",
    recoveryActions: [
      "Build the tool image (see docs/containers.md)",
      "Check the image and command",
      "Run `aria doctor`",
    ],
  },
  CONTAINER_TIMEOUT: {
    category: "container",
    severity: "medium",
    httpStatus: 504,
    retryable: true,
    guidance:
      "The container workload did not finish within its wall-clock timeout and was stopped.",
    recoveryActions: ["Raise resources.timeoutMs", "Make the workload faster"],
  },
  CONTAINER_OOM: {
    category: "container",
    severity: "medium",
    httpStatus: 500,
    retryable: false,
    guidance: "The container ran out of memory and was killed.",
    recoveryActions: ["Raise resources.memoryMb", "Process less data per step"],
  },
  CONTAINER_EXEC_FAILED: {
    category: "container",
    severity: "medium",
    httpStatus: 500,
    retryable: false,
    guidance: "The workload exited with a non-zero status.",
    recoveryActions: [
      "Read the container's stderr in the error details",
      "Fix the command or its input",
    ],
  },
  CONTAINER_LIMIT_REACHED: {
    category: "container",
    severity: "medium",
    httpStatus: 429,
    retryable: true,
    guidance: "The concurrent container or memory limit is reached.",
    recoveryActions: ["Wait and retry", "Raise limits.maxConcurrentContainers"],
  },
  LLM_NOT_CONFIGURED: {
    category: "llm",
    severity: "high",
    httpStatus: 503,
    retryable: false,
    guidance:
      "No LLM provider is configured for this request. Set OPENAI_API_KEY, ANTHROPIC_API_KEY or ARIA_LOCAL_LLM_URL.",
    recoveryActions: [
      "Set a provider's key or URL",
      "Check ARIA_LLM_PROVIDERS",
      "Run `aria doctor`",
    ],
  },
  LLM_RATE_LIMITED: {
    category: "llm",
    severity: "medium",
    httpStatus: 429,
    retryable: true,
    guidance: "The LLM provider is rate limiting requests.",
    recoveryActions: ["Wait and retry", "Configure a fallback provider", "Lower concurrency"],
  },
  LLM_UNAVAILABLE: {
    category: "llm",
    severity: "high",
    httpStatus: 503,
    retryable: true,
    guidance:
      "The LLM provider failed or could not be reached (5xx, timeout, connection refused or circuit open).",
    recoveryActions: [
      "Retry later",
      "Configure a fallback provider",
      "Check the provider's status and base URL",
    ],
  },
  LLM_INVALID_RESPONSE: {
    category: "llm",
    severity: "medium",
    httpStatus: 502,
    retryable: true,
    guidance: "The LLM provider answered with something that is not a valid completion.",
    recoveryActions: ["Retry", "Check that the base URL points at a compatible server"],
  },
  LLM_REQUEST_REJECTED: {
    category: "llm",
    severity: "medium",
    httpStatus: 400,
    retryable: false,
    guidance:
      "The LLM provider rejected the request (400/401/403/404): bad parameters, key or model.",
    recoveryActions: ["Check the model name and parameters", "Check the provider's API key"],
  },
  ICC_UNAUTHORIZED: {
    category: "icc",
    severity: "high",
    httpStatus: 401,
    retryable: false,
    guidance: "The ICC token is missing, malformed, expired or revoked.",
    recoveryActions: [
      "Use the ARIA_ICC_TOKEN injected into the container",
      "Do not reuse tokens after a container ends",
    ],
  },
  ICC_FORBIDDEN: {
    category: "icc",
    severity: "high",
    httpStatus: 403,
    retryable: false,
    guidance: "The ICC token does not permit this call.",
    recoveryActions: [
      "Declare the permission in the tool's manifest",
      "Call only what GET /tools and GET /agents list",
    ],
  },
  UNAUTHORIZED: {
    category: "auth",
    severity: "medium",
    httpStatus: 401,
    retryable: false,
    guidance: "This route needs an API key: send Authorization: Bearer KEY.",
    recoveryActions: ["Send a key listed in ARIA_API_KEYS"],
  },
  FORBIDDEN: {
    category: "auth",
    severity: "medium",
    httpStatus: 403,
    retryable: false,
    guidance: "The credentials are valid but do not allow this operation.",
    recoveryActions: ["Use a key with the needed rights"],
  },
  RATE_LIMITED: {
    category: "rate_limit",
    severity: "low",
    httpStatus: 429,
    retryable: true,
    guidance: "Too many requests. Wait for the time in Retry-After.",
    recoveryActions: ["Wait and retry", "Spread requests over time"],
  },
  RUN_NOT_FOUND: {
    category: "not_found",
    severity: "low",
    httpStatus: 404,
    retryable: false,
    guidance: "No run has this id. It may never have existed or may have expired.",
    recoveryActions: ["List runs with `aria runs`"],
  },
  RUN_CANCELLED: {
    category: "execution",
    severity: "low",
    httpStatus: 409,
    retryable: false,
    guidance: "The run was cancelled before it finished.",
    recoveryActions: ["Submit the run again if it is still wanted"],
  },
  RUN_TIMEOUT: {
    category: "execution",
    severity: "medium",
    httpStatus: 504,
    retryable: true,
    guidance: "The run did not finish within its timeout.",
    recoveryActions: ["Raise options.timeoutMs", "Split the task"],
  },
  RUN_CONFLICT: {
    category: "state",
    severity: "medium",
    httpStatus: 409,
    retryable: true,
    guidance: "Another worker holds or advanced this run; this write was refused (fencing).",
    recoveryActions: ["Nothing to do: the run continues on the worker that holds it"],
  },
  SESSION_NOT_FOUND: {
    category: "not_found",
    severity: "low",
    httpStatus: 404,
    retryable: false,
    guidance: "No session has this id. Create one first or check the id.",
    recoveryActions: ["Create a session with POST /v1/sessions"],
  },
  STORE_UNAVAILABLE: {
    category: "state",
    severity: "critical",
    httpStatus: 503,
    retryable: true,
    guidance:
      "The state store (Redis) is not reachable. Nothing was written; retry when it is back.",
    recoveryActions: ["Check REDIS_URL and that Redis runs", "Retry the request"],
  },
  APPROVAL_REQUIRED: {
    category: "execution",
    severity: "low",
    httpStatus: 409,
    retryable: false,
    guidance: "The step waits for a human approval.",
    recoveryActions: ["Approve or reject with POST /v1/runs/:id/approvals/:stepId"],
  },
  APPROVAL_REJECTED: {
    category: "execution",
    severity: "medium",
    httpStatus: 422,
    retryable: false,
    guidance:
      "A person rejected the step (or its approval timed out with onTimeout 'reject'); it did not run.",
    recoveryActions: [
      "Read the rejection's comment in the run's approval.resolved event",
      "Mark the step continueOnError if the run should go on without it",
      "Submit the run again with different input",
    ],
  },
  APPROVAL_NOT_FOUND: {
    category: "validation",
    severity: "low",
    httpStatus: 404,
    retryable: false,
    guidance: "No approval is pending or recorded for that run and step.",
    recoveryActions: [
      "List pending approvals with GET /v1/approvals or aria approvals",
      "Check the run id and the step id",
    ],
  },
  APPROVAL_ALREADY_DECIDED: {
    category: "validation",
    severity: "low",
    httpStatus: 409,
    retryable: false,
    guidance: "The approval was already approved or rejected (by someone else or by its timeout).",
    recoveryActions: ["Read the run's approval.resolved event to see the decision"],
  },
  GUARDRAIL_TRIPPED: {
    category: "guardrail",
    severity: "medium",
    httpStatus: 422,
    retryable: false,
    guidance: "A guardrail blocked the input or output.",
    recoveryActions: ["Change the input", "Review the guardrail's rule"],
  },
  INTERNAL_ERROR: {
    category: "internal",
    severity: "high",
    httpStatus: 500,
    retryable: false,
    guidance: "An unexpected error happened inside the runtime. It has been logged.",
    recoveryActions: ["Retry", "Report the issue with the request id and logs"],
  },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Every known code. */
export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];
