import { describe, expect, it } from 'vitest';
import { ACTIONS, InvalidOperationError, parseOperationPattern, validateOperations } from '../../../src/common/operations.js';
import { compileOperations, matchesOperation } from '../../../src/events/matching.js';

const matcher = (...operations: string[]) => compileOperations(validateOperations(operations));

describe('parseOperationPattern', () => {
  it('parses object.action with wildcards', () => {
    expect(parseOperationPattern('person.created')).toStrictEqual({ object: 'person', action: 'created' });
    expect(parseOperationPattern('workspaceMember.*')).toStrictEqual({ object: 'workspaceMember', action: '*' });
    expect(parseOperationPattern('*.destroyed')).toStrictEqual({ object: '*', action: 'destroyed' });
    expect(parseOperationPattern('*.*')).toStrictEqual({ object: '*', action: '*' });
  });

  it.each([
    ['person', 'exactly one "."'],
    ['person.created.now', 'exactly one "."'],
    ['.created', 'object ""'],
    ['Person.created', 'object "Person"'],
    ['per son.created', 'object "per son"'],
    ['pe*.created', 'object "pe*"'],
    ['person.upserted', 'action "upserted"'],
    ['person.', 'action ""'],
    [' person.created', 'object " person"'],
  ])('rejects %j, saying why', (text, reason) => {
    let error: unknown;
    try {
      parseOperationPattern(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOperationError);
    const { message, operation } = error as InvalidOperationError;
    expect(operation).toBe(text);
    expect(message).toContain(reason);
    expect(message).toContain('object.action');
    for (const action of ACTIONS) expect(message).toContain(action);
  });
});

describe('validateOperations', () => {
  it('returns the parsed patterns in order', () => {
    expect(validateOperations(['person.created', '*.*'])).toStrictEqual([
      { object: 'person', action: 'created' },
      { object: '*', action: '*' },
    ]);
  });

  it('rejects an empty list and any invalid entry', () => {
    expect(() => validateOperations([])).toThrow(/empty/);
    expect(() => validateOperations(['person.created', 'bad'])).toThrow(InvalidOperationError);
  });
});

describe('matchesOperation', () => {
  it.each(['person.updated', 'person.*', '*.updated', '*.*'])('%s matches person.updated', (operation) => {
    expect(matchesOperation(matcher(operation), 'person', 'updated')).toBe(true);
  });

  it.each(['person.created', 'company.*', '*.deleted', 'company.updated'])(
    '%s does not match person.updated',
    (operation) => {
      expect(matchesOperation(matcher(operation), 'person', 'updated')).toBe(false);
    },
  );

  it('matches any of several operations', () => {
    const m = matcher('person.created', 'company.*', '*.restored');
    expect(matchesOperation(m, 'person', 'created')).toBe(true);
    expect(matchesOperation(m, 'company', 'destroyed')).toBe(true);
    expect(matchesOperation(m, 'note', 'restored')).toBe(true);
    expect(matchesOperation(m, 'person', 'updated')).toBe(false);
    expect(matchesOperation(m, 'note', 'created')).toBe(false);
  });

  it('is case-sensitive, as Twenty compares the strings', () => {
    expect(matchesOperation(matcher('workspaceMember.created'), 'workspacemember', 'created')).toBe(false);
  });
});
