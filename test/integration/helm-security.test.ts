/**
 * What the chart must never do: put a secret where pods or ConfigMap readers
 * see it, or leave the pods open to every peer. Rendered by the real helm
 * binary (scripts/helm.ts).
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { HelmCommandError, runHelm } from '../../scripts/helm.js';

const CHART = resolve(import.meta.dirname, '../../helm/walhook');

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** A database URL, which the chart requires (templates/validate.yaml), so each case fails only for its own reason. */
const DATABASE_URL = 'secret.databaseUrl=postgres://walhook:secret@crm-db:5432/twenty';

function render(...set: string[]): Manifest[] {
  const text = runHelm(['template', 'walhook', CHART, '--namespace', 'crm', ...[DATABASE_URL, ...set].flatMap((value) => ['--set', value])]);
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function renderFailure(...set: string[]): string {
  try {
    render(...set);
  } catch (error) {
    if (error instanceof HelmCommandError) return error.stderr;
    throw error;
  }
  throw new Error(`helm template accepted ${set.join(' ')}`);
}

function one(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
}

const secretAnnotation = (manifests: Manifest[]): string => {
  const template = (one(manifests, 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }).template;
  return template.metadata.annotations['checksum/secret']!;
};

describe('helm chart secrets', () => {
  it('refuses a literal webhook secret, API token, encryption key or database password in values.config (the ConfigMap)', () => {
    const hook = ['config.webhooks[0].targetUrl=https://hooks.example.com/crm', 'config.webhooks[0].operations[0]=person.*'];
    expect(renderFailure(...hook, 'config.webhooks[0].secret=literal-secret-of-24-chars')).toMatch(
      /config\.webhooks\[0\]\.secret is a literal and would be stored in the ConfigMap/,
    );
    expect(renderFailure('config.api.token=a-token-of-more-than-16')).toMatch(/config\.api\.token belongs in secret\.apiToken/);
    expect(renderFailure('config.encryptionKey=abc')).toMatch(/config\.encryptionKey belongs in secret\.encryptionKey/);
    expect(renderFailure('config.database.url=postgres://crm:pw@db/crm')).toMatch(/config\.database\.url holds a password/);
    const configMap = one(render(...hook, 'config.webhooks[0].secret=${HOOK_SECRET}'), 'ConfigMap');
    expect(Object.values(configMap.data ?? {}).join()).toContain('${HOOK_SECRET}');
  });

  it('salts the checksum/secret annotation with a salt kept in the Secret, so the annotation cannot test guesses', () => {
    const salted = (salt: string, token: string) => render(`secretChecksumSalt=${salt}`, `secret.apiToken=${token}`);
    const first = salted('salt-one-of-some-length', 'token-aaaaaaaaaaaaaaaa');
    expect(one(first, 'Secret').stringData?.['checksum-salt']).toBe('salt-one-of-some-length');
    expect(secretAnnotation(first)).toBe(secretAnnotation(salted('salt-one-of-some-length', 'token-aaaaaaaaaaaaaaaa')));
    expect(secretAnnotation(first)).not.toBe(secretAnnotation(salted('salt-one-of-some-length', 'token-bbbbbbbbbbbbbbbb')));
    expect(secretAnnotation(first)).not.toBe(secretAnnotation(salted('salt-two-of-some-length', 'token-aaaaaaaaaaaaaaaa')));
    const random = render('secret.apiToken=token-aaaaaaaaaaaaaaaa');
    expect(one(random, 'Secret').stringData?.['checksum-salt']).toMatch(/^[A-Za-z0-9]{32}$/);
  });
});

describe('helm chart NetworkPolicy', () => {
  it('admits the API port from this namespace and the ops port from Prometheus, nothing else', () => {
    const policy = one(render(), 'NetworkPolicy').spec as {
      policyTypes: string[];
      ingress: { ports: { port: string }[]; from: Record<string, unknown>[] }[];
    };
    expect(policy.policyTypes).toEqual(['Ingress']);
    expect(policy.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }], from: [{ podSelector: {} }] },
      { ports: [{ port: 'ops', protocol: 'TCP' }], from: [{ namespaceSelector: {} }] },
    ]);
    expect(render('networkPolicy.enabled=false').map((manifest) => manifest.kind)).not.toContain('NetworkPolicy');
  });
});
