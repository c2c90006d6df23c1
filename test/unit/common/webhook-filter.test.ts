import { describe, expect, it } from 'vitest';
import {
  changedFieldsAdmit,
  changedFieldsProblem,
  changedFieldsReads,
  combinedReads,
  compileFilter,
  FilterEvaluationError,
  type FilterInput,
} from '../../../src/common/webhook-filter.js';

/** A Twenty-shaped person update: composites nested, numerics as PostgreSQL prints them (text), jsonb as JSON. */
function personUpdate(overrides: Partial<FilterInput> = {}): FilterInput {
  const previousRecord = {
    id: '4b1c3f1e-0000-4000-8000-000000000001',
    name: { firstName: 'Ada', lastName: 'Lovelace' },
    emails: { primaryEmail: 'ada@example.com', additionalEmails: [] },
    jobTitle: 'Engineer',
    stage: 'LEAD',
    annualRecurringRevenue: { amountMicros: '5000000000', currencyCode: 'EUR' },
    employees: 12,
    score: 4.5,
    isVip: false,
    tags: ['a', 'b'],
    createdAt: '2026-01-02T03:04:05.000Z',
    settings: { theme: 'dark', limits: { seats: 3 } },
    deletedAt: null,
  };
  return {
    operation: 'person.updated',
    workspaceId: '20202020-1c25-4d02-bf25-6aeccf7ea419',
    previousRecord,
    record: { ...previousRecord, stage: 'CUSTOMER', name: { firstName: 'Ada', lastName: 'King' } },
    updatedFields: ['stage', 'name'],
    ...overrides,
  };
}

function run(expression: string, input: FilterInput = personUpdate()): boolean {
  const compiled = compileFilter(expression);
  if ('problem' in compiled) throw new Error(`did not compile: ${compiled.problem}`);
  return compiled.program(input);
}

describe('compileFilter', () => {
  it('evaluates over every value type of a record', () => {
    expect(run('record.stage == "CUSTOMER" && previousRecord.stage != "CUSTOMER"')).toBe(true);
    expect(run('record.name.firstName == "Ada" && record.name.lastName != previousRecord.name.lastName')).toBe(true);
    expect(run('record.emails.primaryEmail.endsWith("@example.com")')).toBe(true);
    expect(run('int(record.annualRecurringRevenue.amountMicros) >= 5000000000')).toBe(true);
    expect(run('record.annualRecurringRevenue.currencyCode in ["EUR", "USD"]')).toBe(true);
    expect(run('record.employees > 10 && record.employees == 12')).toBe(true);
    expect(run('record.score >= 4.5')).toBe(true);
    expect(run('!record.isVip')).toBe(true);
    expect(run('"b" in record.tags && size(record.tags) == 2')).toBe(true);
    expect(run('timestamp(record.createdAt) < timestamp("2026-06-01T00:00:00Z")')).toBe(true);
    expect(run('record.settings.theme == "dark" && record.settings.limits.seats == 3')).toBe(true);
    expect(run('record.deletedAt == null')).toBe(true);
    expect(run('has(record.settings.theme) && !has(record.settings.font)')).toBe(true);
    expect(run('"stage" in updatedFields && operation == "person.updated"')).toBe(true);
    expect(run('workspaceId == "20202020-1c25-4d02-bf25-6aeccf7ea419"')).toBe(true);
    expect(run('record.stage == "LEAD"')).toBe(false);
  });

  it('sees a create as the event shows it: previousRecord and updatedFields are null', () => {
    const create = personUpdate({ operation: 'person.created', previousRecord: null, updatedFields: null });
    expect(run('previousRecord == null && updatedFields == null', create)).toBe(true);
    expect(run('operation.endsWith(".created") || previousRecord.stage != record.stage', create)).toBe(true);
  });

  it('rejects syntax errors, unknown variables, non-bool results and type errors at compile time, with the reason', () => {
    const problem = (expression: string) => {
      const compiled = compileFilter(expression);
      return 'problem' in compiled ? compiled.problem : null;
    };
    expect(problem('record.stage ==')).toMatch(/^is not valid CEL: .*\(at column \d+\)$/);
    expect(problem('recrod.stage == "A"')).toMatch(/not valid CEL: .*recrod/);
    expect(problem('operation + 1 == 2')).toMatch(/not valid CEL: .*string.*int/);
    expect(problem('operation')).toBe('must be a bool condition, but its type is string');
    expect(problem('   ')).toMatch(/is empty/);
    expect(problem(`${'record.a == 1 && '.repeat(400)}true`)).toMatch(/longer than|not valid CEL/);
  });

  it('bounds the size of an expression with the library limits', () => {
    const deep = `${'('.repeat(100)}true${')'.repeat(100)}`;
    const compiled = compileFilter(deep);
    expect('problem' in compiled && compiled.problem).toMatch(/not valid CEL/);
  });

  it('throws a FilterEvaluationError when an event makes it fail: a missing key, division by zero, a non-bool dyn', () => {
    const failing = (expression: string) => () => run(expression);
    expect(failing('record.missing == "x"')).toThrow(FilterEvaluationError);
    expect(failing('record.missing == "x"')).toThrow(/missing/);
    expect(failing('1 / (size(record.tags) - 2) == 1')).toThrow(/division by zero/);
    expect(failing('record.stage')).toThrow(/not a bool/);
    expect(failing('previousRecord.stage == "LEAD"').bind(null)).not.toThrow();
    expect(() => run('previousRecord.stage == "LEAD"', personUpdate({ previousRecord: null }))).toThrow(FilterEvaluationError);
  });
});

describe('changedFieldsAdmit', () => {
  const update = personUpdate();

  it('lets an update in when one of the fields changed', () => {
    expect(changedFieldsAdmit(['jobTitle', 'stage'], update, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['jobTitle'], update, 'updated')).toBe(false);
  });

  it("covers a Twenty composite's subfields with its name, and compares a dotted path's values", () => {
    expect(changedFieldsAdmit(['name'], update, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['name.lastName'], update, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['name.firstName'], update, 'updated')).toBe(false);
  });

  it('compares inside a jsonb column', () => {
    const before = { id: 1, settings: { theme: 'dark', limits: { seats: 3 } } };
    const after = { id: 1, settings: { theme: 'dark', limits: { seats: 4 } } };
    const change: FilterInput = { operation: 'account.updated', workspaceId: null, record: after, previousRecord: before, updatedFields: ['settings'] };
    expect(changedFieldsAdmit(['settings'], change, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['settings.limits.seats'], change, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['settings.limits'], change, 'updated')).toBe(true);
    expect(changedFieldsAdmit(['settings.theme'], change, 'updated')).toBe(false);
  });

  it('leaves creates, deletes and updates whose changes are unknown alone', () => {
    expect(changedFieldsAdmit(['jobTitle'], personUpdate({ previousRecord: null, updatedFields: null }), 'created')).toBe(true);
    expect(changedFieldsAdmit(['jobTitle'], personUpdate({ updatedFields: null }), 'destroyed')).toBe(true);
    expect(changedFieldsAdmit(['jobTitle'], personUpdate({ updatedFields: null }), 'updated')).toBe(true);
    expect(changedFieldsAdmit([], update, 'updated')).toBe(true);
  });

  it('names what is wrong with a list', () => {
    expect(changedFieldsProblem(['stage', 'name.firstName'])).toBeNull();
    expect(changedFieldsProblem(['name.'])).toMatch(/"name\."/);
    expect(changedFieldsProblem([''])).toMatch(/expected a field name/);
  });
});

describe('what a filter reads', () => {
  const readsOf = (expression: string) => {
    const compiled = compileFilter(expression);
    if ('problem' in compiled) throw new Error(`did not compile: ${compiled.problem}`);
    return { keys: compiled.reads.keys && [...compiled.reads.keys].sort(), allUpdatedFields: compiled.reads.allUpdatedFields };
  };

  it('reads the fields it names, however it names them', () => {
    expect(readsOf('record.stage == "CUSTOMER" && previousRecord.stage != "CUSTOMER"')).toEqual({ keys: ['stage'], allUpdatedFields: false });
    expect(readsOf('has(record.name) && record.name.firstName == "Ada"')).toEqual({ keys: ['name'], allUpdatedFields: false });
    expect(readsOf('record.?jobTitle.orValue("") != "" || record["employees"] > 10 || previousRecord[?"score"].hasValue()')).toEqual({
      keys: ['employees', 'jobTitle', 'score'],
      allUpdatedFields: false,
    });
    expect(readsOf('operation == "person.created" && workspaceId != null')).toEqual({ keys: [], allUpdatedFields: false });
  });

  it('reads whole records when it uses one otherwise', () => {
    expect(readsOf('size(record) > 3').keys).toBeNull();
    expect(readsOf('"stage" in previousRecord').keys).toBeNull();
    expect(readsOf('record[operation] == 1').keys).toBeNull();
    expect(readsOf('[record].exists(r, r.stage == "LEAD")').keys).toBeNull();
  });

  it('reads all of updatedFields when it names it', () => {
    expect(readsOf('"stage" in updatedFields && record.stage == "CUSTOMER"')).toEqual({ keys: ['stage'], allUpdatedFields: true });
  });

  it('combines with changedFields, whose dotted paths read their first field', () => {
    const changed = changedFieldsReads(['name.firstName', 'stage']);
    expect([...changed.keys!].sort()).toEqual(['name', 'stage']);
    const both = combinedReads(changed, { keys: new Set(['jobTitle']), allUpdatedFields: true });
    expect({ keys: [...both.keys!].sort(), allUpdatedFields: both.allUpdatedFields }).toEqual({ keys: ['jobTitle', 'name', 'stage'], allUpdatedFields: true });
    expect(combinedReads(changed, { keys: null, allUpdatedFields: false }).keys).toBeNull();
  });

  it('never reads less than it evaluates: a filter run on only what it reads decides as on the whole event', () => {
    const expressions = [
      'record.stage == "CUSTOMER" && previousRecord.stage != "CUSTOMER"',
      'record.name.lastName != previousRecord.name.lastName',
      'record.?settings.limits.seats.orValue(0) >= 3',
      'has(record.stage) && "stage" in updatedFields',
    ];
    const whole = personUpdate();
    for (const expression of expressions) {
      const compiled = compileFilter(expression);
      if ('problem' in compiled) throw new Error(expression);
      const only = (record: Record<string, unknown> | null) =>
        record && Object.fromEntries(Object.entries(record).filter(([key]) => compiled.reads.keys!.has(key)));
      const partial = { ...whole, record: only(whole.record)!, previousRecord: only(whole.previousRecord) };
      expect(compiled.program(partial), expression).toBe(compiled.program(whole));
    }
  });
});
