/**
 * @aria/testkit (private, test-only): starters for the real services integration tests use, and
 * fake LLM provider servers with scripted replies.
 */
export {
  dockerSocketPath,
  freePort,
  integrationEnabled,
  pingDocker,
  type RedisHandle,
  requireDocker,
  startRedis,
} from "./services.ts";
