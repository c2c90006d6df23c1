import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envVarFor, listConfigKeys, redactConfig, renderConfigReference, resolveConfig } from '../../../src/config/index.js';
import { SIGNATURE_SCHEMES } from '../../../src/common/verify.js';

const DATABASE_URL = 'postgres://walhook:db-password-1@127.0.0.1:5432/crm';
const repositoryFile = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

describe('envVarFor', () => {
  it.each([
    ['database.url', 'WALHOOK_DATABASE_URL'],
    ['source.slot', 'WALHOOK_SOURCE_SLOT'],
    ['delivery.retrySchedule', 'WALHOOK_DELIVERY_RETRY_SCHEDULE'],
    ['api.token', 'WALHOOK_API_TOKEN'],
    ['encryptionKey', 'WALHOOK_ENCRYPTION_KEY'],
    ['source.reconnect.minDelay', 'WALHOOK_SOURCE_RECONNECT_MIN_DELAY'],
    ['slotSafety.retainedWalWarnBytes', 'WALHOOK_SLOT_SAFETY_RETAINED_WAL_WARN_BYTES'],
  ])('%s → %s', (path, envVar) => {
    expect(envVarFor(path)).toBe(envVar);
  });
});

describe('listConfigKeys', () => {
  const keys = listConfigKeys();

  it('describes every key, with the variable the rule gives it', () => {
    for (const key of keys) {
      expect(key.description.length, key.path).toBeGreaterThan(10);
      expect(key.envVar, key.path).toBe(key.path.includes('[]') ? null : envVarFor(key.path));
    }
    expect(new Set(keys.map((key) => key.envVar).filter(Boolean)).size).toBe(keys.filter((key) => key.envVar).length);
  });

  it('has only the database URL as a required top-level key', () => {
    expect(keys.filter((key) => key.required && !key.path.includes('[]')).map((key) => key.path)).toEqual(['database.url']);
  });

  it('lists the keys of webhook entries and marks the secrets', () => {
    expect(keys.filter((key) => key.secret).map((key) => key.path)).toEqual([
      'database.url',
      'webhooks[].secret',
      'state.databaseUrl',
      'encryptionKey',
      'api.token',
    ]);
    expect(keys.find((key) => key.path === 'webhooks[].signatures')?.default).toEqual([...SIGNATURE_SCHEMES]);
  });

  it('makes every key settable from its variable, over any file value', () => {
    const overridable = keys.filter((key) => key.envVar !== null && key.default !== undefined);
    expect(overridable.length).toBeGreaterThan(30);
    // A value no key accepts in the file, and each key's default written as text in its variable.
    const wrongEverywhere: Record<string, unknown> = {};
    const env: Record<string, string> = { WALHOOK_DATABASE_URL: DATABASE_URL };
    for (const key of overridable) {
      const segments = key.path.split('.');
      const parent = segments
        .slice(0, -1)
        .reduce((node, segment) => (node[segment] ??= {}) as Record<string, unknown>, wrongEverywhere);
      parent[segments.at(-1) ?? ''] = { wrong: true };
      env[key.envVar ?? ''] = typeof key.default === 'object' ? stringify(key.default, { collectionStyle: 'flow' }) : String(key.default);
    }
    expect(resolveConfig(wrongEverywhere, env)).toEqual(resolveConfig({}, { WALHOOK_DATABASE_URL: DATABASE_URL }));
  });
});

describe('redactConfig', () => {
  it('masks every secret and leaves the config untouched', () => {
    const webhookSecret = 'webhook-secret-0123456789';
    const token = 'api-token-0123456789';
    const key = randomBytes(32).toString('hex');
    const config = resolveConfig(
      { webhooks: [{ targetUrl: 'https://hooks.example.com', operations: ['*.*'], secret: webhookSecret }] },
      { WALHOOK_DATABASE_URL: DATABASE_URL, WALHOOK_API_TOKEN: token, WALHOOK_ENCRYPTION_KEY: key },
    );
    const printed = JSON.stringify(redactConfig(config));
    for (const secret of [webhookSecret, token, key, 'db-password-1']) expect(printed).not.toContain(secret);
    expect(printed).toContain('postgres://walhook:[redacted]@127.0.0.1:5432/crm');
    expect(printed).toContain('"targetUrl":"https://hooks.example.com"');
    expect(config.webhooks[0]?.secret).toBe(webhookSecret);
    expect(config.database.url).toBe(DATABASE_URL);
  });
});

describe('the configuration reference', () => {
  it('docs/configuration.md is what the schema renders (else: npm run docs:config)', () => {
    expect(readFileSync(repositoryFile('docs/configuration.md'), 'utf8')).toBe(renderConfigReference());
  });

  it('has a row per key', () => {
    const reference = renderConfigReference();
    for (const key of listConfigKeys()) expect(reference).toContain(`| \`${key.path}\` |`);
  });

  it('passes the script check that CI runs', () => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', repositoryFile('scripts/config-reference.ts'), '--check'], {
      encoding: 'utf8',
    });
    expect(output).toBe('');
  });
});
