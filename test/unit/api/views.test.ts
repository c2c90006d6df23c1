import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, webhookView } from '../../../src/api/views.js';
import type { WebhookRow } from '../../../src/state/webhooks.js';

const row: WebhookRow = {
  id: '3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11',
  targetUrl: 'https://example.com/hook',
  operations: ['person.*'],
  description: 'd',
  format: 'record',
  signatures: ['standard'],
  source: 'api',
  secretSealed: 'v1:a:b:c',
  previousSecretSealed: 'v1:d:e:f',
  previousSecretExpiresAt: new Date('2030-01-01T00:00:00Z'),
  createdAt: new Date('2024-03-04T10:30:00Z'),
  updatedAt: new Date('2024-03-04T11:00:00Z'),
  disabledReason: null,
  failingSince: null,
};

describe('webhookView', () => {
  it('never shows a sealed secret, and the clear one only when given', () => {
    const view = webhookView(row, { now: new Date('2025-01-01T00:00:00Z') });
    expect(JSON.stringify(view)).not.toMatch(/v1:/);
    expect(view.secret).toBeNull();
    expect(webhookView(row, { secret: 'clear-secret-value' }).secret).toBe('clear-secret-value');
  });

  it('shows the end of the rotation overlap only while it lasts', () => {
    expect(webhookView(row, { now: new Date('2029-12-31T23:59:59Z') }).previousSecretExpiresAt).toBe('2030-01-01T00:00:00.000Z');
    expect(webhookView(row, { now: new Date('2030-01-01T00:00:00Z') }).previousSecretExpiresAt).toBeNull();
  });

  it('derives status, source and readOnly', () => {
    expect(webhookView(row)).toMatchObject({ status: 'active', disabledReason: null, source: 'api', readOnly: false });
    expect(webhookView({ ...row, source: 'config', disabledReason: 'receiver answered 410 Gone' })).toMatchObject({
      status: 'disabled',
      disabledReason: 'receiver answered 410 Gone',
      readOnly: true,
    });
  });
});

describe('delivery cursors', () => {
  const key = { createdAtExact: '2024-03-04T10:30:00.123456', id: '3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11' };

  it('round-trip the keyset position, microseconds included', () => {
    expect(decodeCursor(encodeCursor(key))).toEqual(key);
  });

  it.each(['', 'garbage', Buffer.from('2024-03-04T10:30:00|x').toString('base64url'), Buffer.from(`x|${key.id}`).toString('base64url')])(
    'refuses %j',
    (cursor) => {
      expect(() => decodeCursor(cursor)).toThrow(/after: not a cursor returned by deliveries/);
    },
  );
});
