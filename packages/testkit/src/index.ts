/**
 * @aria/testkit (private, test-only): starters for the real services integration tests use, fake
 * LLM provider servers with scripted replies, and shared contract suites (the StateStore's).
 */

export { startFakeAnthropic } from "./fake-anthropic.ts";
export type {
  FakeProviderServer,
  FakeScript,
  RecordedRequest,
} from "./fake-http.ts";
export { startFakeOpenAI } from "./fake-openai.ts";
export {
  type FakeCompletionOptions,
  type FakeReply,
  type FakeReplyCommon,
  type FakeReplyInput,
  type FakeToolCall,
  type FakeUsage,
  reply,
} from "./fake-replies.ts";
export {
  createScriptedLlm,
  type ScriptedLlm,
  type ScriptedLlmOptions,
  type ScriptedLlmScript,
} from "./fake-scripted-llm.ts";
export {
  dockerSocketPath,
  freePort,
  integrationEnabled,
  pingDocker,
  type RedisHandle,
  requireDocker,
  startRedis,
} from "./services.ts";
export {
  describeStateStoreContract,
  type StateStoreContractOptions,
} from "./state-store-contract.ts";
