import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';
import { createSecretBox } from '../../../src/state/secret-box.js';
import type { WebhookRow } from '../../../src/state/webhooks.js';
import { apiWebhookDefinition, configWebhookId, StoredWebhooksError } from '../../../src/delivery/webhook-sync.js';

const box = createSecretBox(randomBytes(32));
const id = '3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11';
const now = new Date('2025-06-01T12:00:00Z');

function row(changes: Partial<WebhookRow> = {}): WebhookRow {
  return {
    id,
    targetUrl: 'https://example.com/hook',
    operations: ['person.*'],
    description: '',
    format: 'event',
    signatures: ['standard', 'twenty'],
    source: 'api',
    secretSealed: box.seal('new-secret-0123456789', id),
    previousSecretSealed: null,
    previousSecretExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    disabledReason: null,
    failingSince: null,
    ...changes,
  };
}

describe('apiWebhookDefinition', () => {
  it('opens the secret and carries the stored fields', () => {
    expect(apiWebhookDefinition(row(), box, now)).toEqual({
      definition: {
        id,
        targetUrl: 'https://example.com/hook',
        operations: ['person.*'],
        description: '',
        format: 'event',
        signatures: ['standard', 'twenty'],
        secrets: ['new-secret-0123456789'],
        source: 'api',
        workspaceId: null,
        changedFields: [],
        filter: null,
        ordering: 'none',
        maxPerSecond: null,
        batch: null,
      },
      changesAt: null,
    });
  });

  it('signs with the new and the previous secret until the overlap ends, and says when that is', () => {
    const ends = new Date(now.getTime() + 2000);
    const rotated = row({ previousSecretSealed: box.seal('old-secret-0123456789', id), previousSecretExpiresAt: ends });
    expect(apiWebhookDefinition(rotated, box, now)).toMatchObject({
      definition: { secrets: ['new-secret-0123456789', 'old-secret-0123456789'] },
      changesAt: ends,
    });
    expect(apiWebhookDefinition(rotated, box, ends)).toMatchObject({ definition: { secrets: ['new-secret-0123456789'] }, changesAt: null });
  });

  it('says which webhook and which setting when a secret does not decrypt', () => {
    expect(() => apiWebhookDefinition(row(), createSecretBox(randomBytes(32)), now)).toThrow(StoredWebhooksError);
    expect(() => apiWebhookDefinition(row(), createSecretBox(randomBytes(32)), now)).toThrow(
      new RegExp(`cannot decrypt the secret of webhook ${id}.*encryptionKey`),
    );
  });
});

describe('configWebhookId', () => {
  const entry = (extra: Record<string, unknown>) =>
    resolveConfig(
      { database: { url: 'postgres://localhost/crm' }, webhooks: [{ targetUrl: 'https://example.com/a', operations: ['*.*'], secret: 's'.repeat(16), ...extra }] },
      {},
    ).webhooks[0]!;

  it('is the id given, else a stable UUID of the target URL', () => {
    expect(configWebhookId(entry({ id }))).toBe(id);
    expect(configWebhookId(entry({}))).toBe(configWebhookId(entry({ description: 'other' })));
    expect(configWebhookId(entry({}))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
