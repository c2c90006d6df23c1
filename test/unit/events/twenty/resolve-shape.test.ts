import { describe, expect, it } from 'vitest';
import { asOperatorError } from '../../../../src/command-line.js';
import { EXIT_STATUS } from '../../../../src/common/operator-error.js';
import { resolveShape, TwentyShapeError } from '../../../../src/events/twenty/metadata-follower.js';

/** What the check of Twenty's metadata tables answers on a database without them. */
const notTwenty = { query: async () => ({ rows: [{ found: false }] }) } as never;
const twenty = { query: async () => ({ rows: [{ found: true }] }) } as never;

describe('resolveShape', () => {
  it('resolves auto by the database, and never asks for columns', async () => {
    expect(await resolveShape(twenty, 'auto')).toBe('twenty');
    expect(await resolveShape(notTwenty, 'auto')).toBe('columns');
    expect(await resolveShape(notTwenty, 'columns')).toBe('columns');
  });

  it('refuses events.shape twenty without Twenty metadata as an operator error with a fix, not a stack trace', async () => {
    const error = await resolveShape(notTwenty, 'twenty').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TwentyShapeError);
    expect(asOperatorError(error)).toBe(error);
    expect(error).toMatchObject({ code: 'EVENTS_SHAPE', exitStatus: EXIT_STATUS.config, fix: expect.stringMatching(/events\.shape to auto or columns/) });
  });
});
