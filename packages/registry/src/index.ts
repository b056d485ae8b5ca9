/**
 * @aria/registry: the tool registry and the agent registry (agents, teams, pipelines), fed by
 * built-in tools and installed bundles, with versions, rollback, change events, cross-registry
 * dependency checks, JSON Schema validation, a security policy, LLM-safe tool names, development hot
 * reload, the built-in tools the engines need (calculator, file.read, file.write, ponder,
 * createPlan), and an MCP client whose servers' tools register as `mcp:<server>/<tool>`.
 */

export {
  AgentGuardrails,
  type AgentGuardrailsDeps,
  type GuardedAgent,
} from "./agent-guardrails.ts";
export {
  AgentRegistry,
  type AgentRegistryDeps,
  type Registered,
  type RegisteredAgent,
  type RegisteredPipeline,
  type RegisteredTeam,
  type ToolLookup,
} from "./agent-registry.ts";
export { calculatorTool } from "./builtins/calculator.ts";
export { type CreatePlanResult, createPlanTool } from "./builtins/create-plan.ts";
export {
  EXPRESSION_FUNCTIONS,
  ExpressionError,
  evaluateExpression,
} from "./builtins/expression.ts";
export { fileReadTool, fileWriteTool } from "./builtins/file-tools.ts";
export { type BuiltinToolOptions, registerBuiltinTools } from "./builtins/index.ts";
export { extractJson, type LlmToolOptions } from "./builtins/llm-json.ts";
export { type PonderResult, PonderResultSchema, ponderTool } from "./builtins/ponder.ts";
export {
  type BundleLoadEvent,
  BundleModuleCache,
  bindHandler,
  bundleEntryUrl,
  loadBundleModule,
} from "./bundle-loader.ts";
export {
  type BundleRef,
  ChangeHub,
  type RegistryChange,
  type RegistryEvent,
  type RegistryListener,
} from "./events.ts";
export {
  applyGuardrails,
  type CompiledGuardrail,
  type CustomCheckResolver,
  compileGuardrails,
  type GuardrailCheck,
  type GuardrailCheckContext,
  type GuardrailCheckResult,
  type GuardrailConfig,
  type GuardrailDirection,
  type GuardrailTrip,
  ibanValid,
  jsonBytes,
  luhnValid,
  mapStrings,
  PII_KINDS,
  type PiiKind,
  piiCheck,
  REDACTED,
  regexCheck,
  schemaCheck,
  sizeCheck,
  toGuardrailCheck,
} from "./guardrails.ts";
export { type HotReloader, type HotReloadOptions, watchBundleSource } from "./hot-reload.ts";
export {
  createMcpClientManager,
  MCP_TOOL_PREFIX,
  McpClientManager,
  type McpClientManagerDeps,
  type McpServerStatus,
  mcpToolId,
  parseMcpToolId,
} from "./mcp/client-manager.ts";
export {
  type McpConnectionStatus,
  type McpRestartOptions,
  type McpServerConfig,
  McpServerConnection,
  type McpServerState,
} from "./mcp/connection.ts";
export { isLoopbackHost, loopbackUrl } from "./mcp/loopback.ts";
export { type McpCallResult, resultText, toToolOutput } from "./mcp/results.ts";
export { LlmNameTable, parseQualifiedName, qualifiedName, toLlmToolName } from "./names.ts";
export {
  createSecurityPolicy,
  type PolicyDecision,
  type SecurityPolicy,
  type SecurityPolicyOptions,
  securityRank,
} from "./policy.ts";
export {
  createRegistries,
  type InstalledBundleSource,
  type RegisteredBundle,
  Registries,
  type RegistriesDeps,
} from "./registries.ts";
export {
  type ToolRegistration,
  ToolRegistry,
  type ToolRegistryDeps,
  type ToolStats,
} from "./tool-registry.ts";
export { SchemaValidator, type ValidationIssue } from "./validation.ts";
