import { describe, expect, it } from 'vitest';
import { ManagementError } from '../../../src/api/errors.js';
import {
  validateDeliveryState,
  validateId,
  validatePageSize,
  validateSecret,
  validateWebhookFields,
  type WebhookFieldsInput,
  type WebhookLimits,
} from '../../../src/api/validation.js';

/** delivery.maxUrlLength and delivery.maxPayloadBytes at their defaults. */
const LIMITS: WebhookLimits = { maxUrlLength: 2048, maxPayloadBytes: 1024 ** 2 };

const valid: WebhookFieldsInput = {
  targetUrl: 'https://example.com/hook',
  operations: ['person.created'],
  description: '',
  format: 'record',
  signatures: ['standard'],
};

function failure(run: () => unknown): ManagementError {
  try {
    run();
  } catch (error) {
    if (error instanceof ManagementError) return error;
    throw error;
  }
  throw new Error('expected a ManagementError');
}

describe('validateWebhookFields', () => {
  it('returns the fields, operations and signatures without duplicates', () => {
    expect(
      validateWebhookFields({ ...valid, operations: ['person.*', 'person.*', '*.created'], signatures: ['twenty', 'twenty'] }, LIMITS),
    ).toEqual({
      ...valid,
      operations: ['person.*', '*.created'],
      signatures: ['twenty'],
      workspaceId: null,
      changedFields: [],
      filter: null,
      ordering: 'none',
      maxPerSecond: null,
      batch: null,
    });
  });

  it('fills the batch fields left out with their defaults, and takes a linger as a duration', () => {
    expect(validateWebhookFields({ ...valid, batch: {} }, LIMITS).batch).toEqual({ maxEvents: 100, maxBytes: 1024 ** 2, linger: 200 });
    expect(validateWebhookFields({ ...valid, batch: { maxEvents: 10, maxBytes: 4096, linger: '1.5s' } }, LIMITS).batch).toEqual({
      maxEvents: 10,
      maxBytes: 4096,
      linger: 1_500,
    });
  });

  it('names each wrong batch field as batch.<field>, all at once', () => {
    const { problems } = failure(() => validateWebhookFields({ ...valid, batch: { maxEvents: 0, maxBytes: 10, linger: 'soon' } }, LIMITS));
    expect(problems.map(({ field }) => field)).toEqual(['batch.maxEvents', 'batch.maxBytes', 'batch.linger']);
    expect(() => validateWebhookFields({ ...valid, batch: { maxEvents: 1.5 } }, LIMITS)).toThrow(/batch\.maxEvents: a whole number of events from 1 to 10000; got 1\.5/);
    expect(() => validateWebhookFields({ ...valid, batch: { linger: '2m' } }, LIMITS)).toThrow(/batch\.linger: a whole number of ms from 1 to 60000; got 120000/);
  });

  it('refuses a batch.maxBytes above delivery.maxPayloadBytes, naming the field and the limit, rather than lowering it', () => {
    expect(validateWebhookFields({ ...valid, batch: { maxBytes: 1024 ** 2 } }, LIMITS).batch?.maxBytes).toBe(1024 ** 2);
    const { problems } = failure(() => validateWebhookFields({ ...valid, batch: { maxBytes: 2 * 1024 ** 2 } }, LIMITS));
    expect(problems).toEqual([
      { field: 'batch.maxBytes', reason: 'at most delivery.maxPayloadBytes, 1048576 bytes: the payload limit applies to a batch; got 2097152' },
    ]);
    // Left out, maxBytes is its default, which a lower payload limit refuses too: the reason says to give it.
    expect(() => validateWebhookFields({ ...valid, batch: { maxEvents: 10 } }, { ...LIMITS, maxPayloadBytes: 65_536 })).toThrow(
      /^batch\.maxBytes: at most delivery\.maxPayloadBytes, 65536 bytes: the payload limit applies to a batch \(1048576 is also its value when left out\); got 1048576$/,
    );
  });

  it('refuses batch together with ordering record, naming batch', () => {
    const { problems } = failure(() => validateWebhookFields({ ...valid, ordering: 'record', batch: { maxEvents: 5 } }, LIMITS));
    expect(problems).toEqual([{ field: 'batch', reason: expect.stringMatching(/ordering is record/) }]);
  });

  it('takes a positive maxPerSecond, and names the field for anything else', () => {
    expect(validateWebhookFields({ ...valid, maxPerSecond: 0.5 }, LIMITS).maxPerSecond).toBe(0.5);
    for (const wrong of [0, -3, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => validateWebhookFields({ ...valid, maxPerSecond: wrong }, LIMITS)).toThrow(/maxPerSecond: a positive number of requests per second/);
    }
  });

  it('scopes to a workspace when given one, and refuses one with spaces', () => {
    expect(validateWebhookFields({ ...valid, workspaceId: '20202020-1c25-4d02-bf25-6aeccf7ea419' }, LIMITS).workspaceId).toBe(
      '20202020-1c25-4d02-bf25-6aeccf7ea419',
    );
    expect(() => validateWebhookFields({ ...valid, workspaceId: 'two words' }, LIMITS)).toThrow(/workspaceId/);
  });

  it('takes ordering none (the default) or record', () => {
    expect(validateWebhookFields(valid, LIMITS).ordering).toBe('none');
    expect(validateWebhookFields({ ...valid, ordering: 'record' }, LIMITS).ordering).toBe('record');
  });

  it.each([
    ['targetUrl', { targetUrl: 'ftp://example.com' }, 'targetUrl: invalid target URL: scheme ftp is not http or https'],
    ['targetUrl', { targetUrl: '/relative' }, 'targetUrl: invalid target URL: not a valid absolute URL'],
    ['targetUrl', { targetUrl: 'https://user:pw@example.com' }, 'targetUrl: invalid target URL: credentials in the URL are not allowed'],
    ['targetUrl', { targetUrl: `https://e.com/${'x'.repeat(100)}` }, 'targetUrl: invalid target URL: longer than 64 characters (114)'],
    ['operations', { operations: [] }, 'operations: at least one operation is required, such as person.created or company.*'],
    ['operations', { operations: ['person.merged'] }, /^operations: invalid operation "person.merged": action "merged" is unknown/],
    ['operations', { operations: ['person_created'] }, /^operations: invalid operation "person_created": it must have exactly one "."/],
    ['format', { format: 'xml' }, 'format: "xml" is not one of record, event, twenty'],
    ['signatures', { signatures: [] }, 'signatures: at least one of standard, twenty, twenty-legacy is required'],
    ['signatures', { signatures: ['standard', 'sha1'] }, 'signatures: "sha1" is not one of standard, twenty, twenty-legacy'],
  ])('refuses a bad %s', (field, change, message) => {
    const error = failure(() => validateWebhookFields({ ...valid, ...change }, { ...LIMITS, maxUrlLength: 64 }));
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(error.message).toMatch(message);
  });

  it('names every wrong field in one error, in the order of the input, each with its reason', () => {
    const error = failure(() =>
      validateWebhookFields(
        { ...valid, targetUrl: '', operations: [], format: 'xml', signatures: [], workspaceId: 'two words', ordering: 'strict' },
        { ...LIMITS, maxUrlLength: 64 },
      ),
    );
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.problems).toEqual([
      { field: 'targetUrl', reason: 'invalid target URL: not a valid absolute URL' },
      { field: 'operations', reason: 'at least one operation is required, such as person.created or company.*' },
      { field: 'format', reason: '"xml" is not one of record, event, twenty' },
      { field: 'signatures', reason: 'at least one of standard, twenty, twenty-legacy is required' },
      { field: 'workspaceId', reason: expect.stringMatching(/^a workspace id such as/) },
      { field: 'ordering', reason: '"strict" is not one of none, record' },
    ]);
    expect(error.field).toBe('targetUrl');
    expect(error.message).toBe(error.problems.map(({ field, reason }) => `${field}: ${reason}`).join('; '));
  });

  it('accepts every known action and the wildcards', () => {
    const operations = ['*.*', 'person.*', '*.created', 'a.updated', 'b.deleted', 'c.restored', 'd.destroyed'];
    expect(validateWebhookFields({ ...valid, operations }, LIMITS).operations).toEqual(operations);
  });
});

describe('other inputs', () => {
  it('secrets need at least 16 characters', () => {
    expect(validateSecret('0123456789abcdef')).toBe('0123456789abcdef');
    expect(failure(() => validateSecret('0123456789abcde'))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'secret' });
  });

  it('a whsec_ secret must decode to at least 16 key bytes (its Standard Webhooks HMAC key)', () => {
    const sixteen = `whsec_${Buffer.alloc(16, 7).toString('base64')}`;
    expect(validateSecret(sixteen)).toBe(sixteen);
    for (const weak of ['whsec_!!!!!!!!!!!!!!!!!!', `whsec_${Buffer.alloc(15, 7).toString('base64')}`, 'whsec_AAAA AAAA AAAA AAAA AAAA']) {
      expect(failure(() => validateSecret(weak)), weak).toMatchObject({ code: 'BAD_USER_INPUT', field: 'secret' });
    }
  });

  it('an id that is not a UUID is NOT_FOUND; a UUID is normalised to lower case', () => {
    expect(failure(() => validateId('webhook', 'webhook-id'))).toMatchObject({ code: 'NOT_FOUND', message: 'no webhook with id "webhook-id"' });
    expect(validateId('delivery', '3F1C8A52-6A7E-4B0E-9D55-2A1F1F0E7C11')).toBe('3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11');
  });

  it('page sizes run from 1 to 500', () => {
    expect(validatePageSize(1)).toBe(1);
    expect(validatePageSize(500)).toBe(500);
    for (const size of [0, 501, 2.5, Number.NaN]) expect(failure(() => validatePageSize(size))).toMatchObject({ field: 'first' });
  });

  it('delivery states are the four the table holds', () => {
    expect(validateDeliveryState('dead')).toBe('dead');
    expect(failure(() => validateDeliveryState('failed')).message).toBe('status: "failed" is not one of pending, retrying, delivered, dead');
  });
});

describe('validateWebhookFields: filters', () => {
  const valid = { targetUrl: 'https://example.com/hook', operations: ['person.updated'], description: '', format: 'record', signatures: ['standard'] };

  it('keeps changedFields (trimmed, without duplicates) and a filter that compiles', () => {
    expect(validateWebhookFields({ ...valid, changedFields: [' stage', 'stage', 'name.firstName'], filter: 'record.stage == "CUSTOMER"' }, LIMITS)).toMatchObject({
      changedFields: ['stage', 'name.firstName'],
      filter: 'record.stage == "CUSTOMER"',
    });
  });

  it('names filter and changedFields with the reason', () => {
    expect(() => validateWebhookFields({ ...valid, filter: 'record.stage ==' }, LIMITS)).toThrow(/^filter: the filter is not valid CEL/);
    expect(() => validateWebhookFields({ ...valid, changedFields: ['a..b'] }, LIMITS)).toThrow(/^changedFields: .*"a\.\.b"/);
  });
});
