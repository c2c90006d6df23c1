/** Configuration: one YAML file, `${VAR}` interpolation, `WALHOOK_*` overrides, validated at start. */
export { unknownEnvVariables } from './env.js';
export { ConfigError } from './errors.js';
export { envVarFor, listConfigKeys } from './keys.js';
export { loadConfig, resolveConfig } from './load.js';
export { closestName } from './problems.js';
export { redactConfig } from './redact.js';
export { renderConfigReference } from './reference.js';
export { parseDuration } from './units.js';
