/** Configuration: one YAML file, `${VAR}` interpolation, `WALHOOK_*` overrides, validated at start. */
export { unknownEnvVariables, type UnknownEnvVariable } from './env.js';
export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export type { ListenAddress } from './fields.js';
export { envVarFor, listConfigKeys, type ConfigKey } from './keys.js';
export { loadConfig, readConfigFile, resolveConfig, type LoadConfigOptions } from './load.js';
export { closestName } from './problems.js';
export { redactConfig } from './redact.js';
export { renderConfigReference } from './reference.js';
export {
  configSchema,
  LOG_LEVELS,
  SOURCE_PLUGINS,
  type WalhookConfig,
  type WebhookConfig,
} from './schema.js';
export { parseByteSize, parseDuration } from './units.js';
