import { describe, expect, it } from 'vitest';
import type { WebhookInput } from '../../../../src/api/console/browser/api.js';
import { formProblems } from '../../../../src/api/console/browser/form-check.js';

const complete: WebhookInput = {
  targetUrl: 'https://example.com/hook',
  description: '',
  operations: ['person.created'],
  format: 'record',
  signatures: ['standard'],
  workspaceId: null,
  changedFields: [],
  filter: null,
  ordering: 'none',
  maxPerSecond: null,
  batch: null,
};

describe('formProblems', () => {
  it('finds nothing missing in a complete form, whatever the optional fields hold', () => {
    expect(formProblems(complete)).toEqual([]);
    expect(formProblems({ ...complete, description: 'CRM sync', workspaceId: 'acme' })).toEqual([]);
  });

  it('names every empty required field at once, in the order of the form, as the API names them', () => {
    const missing = formProblems({ ...complete, targetUrl: '', operations: [], format: '', signatures: [] });
    expect(missing.map(({ field }) => field)).toEqual(['targetUrl', 'operations', 'format', 'signatures']);
    for (const { reason } of missing) expect(reason).not.toBe('');
  });

  it.each([
    ['targetUrl', { targetUrl: '' }, /enter the URL/],
    ['operations', { operations: [] }, /at least one operation/],
    ['format', { format: '' }, /format/],
    ['signatures', { signatures: [] }, /at least one signature scheme/],
  ])('names a missing %s alone', (field, change, reason) => {
    expect(formProblems({ ...complete, ...change })).toEqual([{ field, reason: expect.stringMatching(reason) }]);
  });

  it('names a number field that holds no number, which JSON would send as null (the default)', () => {
    const input = { ...complete, maxPerSecond: Number('ten'), batch: { maxEvents: Number('many'), maxBytes: Number('1 MB'), linger: '1s' } };
    expect(formProblems(input).map(({ field }) => field)).toEqual(['maxPerSecond', 'batch.maxEvents', 'batch.maxBytes']);
    expect(formProblems({ ...complete, maxPerSecond: 0, batch: { maxEvents: null, maxBytes: 2 ** 40, linger: null } })).toEqual([]);
  });

  it('leaves what a present value is worth to the API: a wrong URL or operation is not missing', () => {
    expect(formProblems({ ...complete, targetUrl: 'ftp://x', operations: ['person.nope'] })).toEqual([]);
  });
});
