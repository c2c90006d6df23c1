import { describe, expect, it } from 'vitest';
import { BATCH_DEFAULTS, batchMaxBytesProblem } from '../../../src/common/webhook.js';

describe('batchMaxBytesProblem', () => {
  it('lets a maxBytes up to the payload limit through', () => {
    expect(batchMaxBytesProblem(65_536, 65_536)).toBeNull();
    expect(batchMaxBytesProblem(1024, 1024 ** 2)).toBeNull();
  });

  it('says what is expected of a larger one, naming delivery.maxPayloadBytes and its value', () => {
    expect(batchMaxBytesProblem(65_537, 65_536)).toBe('at most delivery.maxPayloadBytes, 65536 bytes: the payload limit applies to a batch');
  });

  it('says so when the value refused is the default, which the operator may not have written', () => {
    expect(batchMaxBytesProblem(BATCH_DEFAULTS.maxBytes, 65_536)).toMatch(/\(1048576 is also its value when left out\)$/);
  });
});
