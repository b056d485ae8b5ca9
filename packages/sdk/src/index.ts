/**
 * @aria/sdk: what bundle authors import. `defineTool`, `defineAgent`, `defineTeam` and
 * `definePipeline` return plain objects carrying a marker; `aria bundle pack` finds them among the
 * entry module's exports and derives `manifest.json` from them (zod schemas become JSON Schema).
 * The SDK depends only on `@aria/core-types` and zod, so it also runs inside containers.
 * The ICC client (`aria`, `createIccClient`) is what code inside a container uses to call the
 * runtime back (tools, agents, the LLM, the run's context).
 */
export {
  type AgentConfig,
  type AgentDefinition,
  type AgentManifestEntry,
  defineAgent,
  defineTeam,
  type TeamConfig,
  type TeamDefinition,
  type TeamManifestEntry,
} from "./define-agent.ts";
export {
  definePipeline,
  type PipelineConfig,
  type PipelineDefinition,
  type PipelineManifestEntry,
  type PipelineStepConfig,
  type PipelineStepEntry,
} from "./define-pipeline.ts";
export {
  type AnyToolDefinition,
  defineTool,
  type GuardrailConfig,
  type ToolConfig,
  type ToolContext,
  type ToolDefinition,
  type ToolManifestEntry,
  toJsonSchema,
} from "./define-tool.ts";
export { type SdkIssue, SdkValidationError } from "./errors.ts";
export {
  type AriaIccClient,
  aria,
  createIccClient,
  type IccCallOptions,
  type IccClientCode,
  IccError,
  type IccLlmCompleteRequest,
} from "./icc-client.ts";
export { DEFINITION_MARKER, isDefinition } from "./marker.ts";
