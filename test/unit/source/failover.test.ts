import { describe, expect, it } from 'vitest';
import { createsFailoverSlots, failoverWarnings, type FailoverFacts } from '../../../src/source/failover.js';

/** A PostgreSQL 17 primary set up as the README says: failover slot, one connected standby, named in synchronized_standby_slots. */
const ready: FailoverFacts = {
  serverVersionNum: 170010,
  slotFailover: true,
  streamingStandbys: 1,
  physicalSlots: [{ name: 'standby1', active: true }],
  synchronizedStandbySlots: ['standby1'],
};

const problems = (facts: Partial<FailoverFacts>) => failoverWarnings('walhook', { ...ready, ...facts }).map((w) => w.problem);

describe('failover readiness', () => {
  it('has nothing to say about a primary set up for failover slots', () => {
    expect(failoverWarnings('walhook', ready)).toEqual([]);
  });

  it('has nothing to say about a server without standbys, on any version', () => {
    const alone = { streamingStandbys: 0, physicalSlots: [], synchronizedStandbySlots: [] };
    expect(problems({ ...alone, serverVersionNum: 140023, slotFailover: null })).toEqual([]);
    expect(problems(alone)).toEqual([]);
  });

  it('says that before 17 a failover loses the slot, when there are standbys', () => {
    const [warning, ...rest] = failoverWarnings('walhook', { ...ready, serverVersionNum: 160014, slotFailover: null, synchronizedStandbySlots: [] });
    expect(rest).toEqual([]);
    expect(warning?.problem).toMatch(/PostgreSQL 16 does not copy logical slots.*slot 'walhook' is gone/);
    expect(warning?.fix).toMatch(/backfill/);
  });

  it('names a slot created without failover, with the command that fixes it', () => {
    const [warning] = failoverWarnings('walhook', { ...ready, slotFailover: false });
    expect(warning?.problem).toMatch(/created without failover = true/);
    expect(warning?.fix).toContain('ALTER_REPLICATION_SLOT "walhook" (FAILOVER true)');
  });

  it('warns that streaming stalls when synchronized_standby_slots names a missing slot (a promoted standby with the old setting)', () => {
    expect(problems({ physicalSlots: [], streamingStandbys: 0 })).toEqual([expect.stringMatching(/names 'standby1', which is not a physical slot.*stalls/)]);
  });

  it('warns that streaming waits while a standby in synchronized_standby_slots is disconnected', () => {
    expect(problems({ physicalSlots: [{ name: 'standby1', active: false }], streamingStandbys: 0 })).toEqual([
      expect.stringMatching(/standby of slot 'standby1'.*not connected/),
    ]);
  });

  it('asks for synchronized_standby_slots when standbys have slots but it is empty, naming them', () => {
    const [warning] = failoverWarnings('walhook', { ...ready, synchronizedStandbySlots: [] });
    expect(warning?.problem).toMatch(/synchronized_standby_slots is empty/);
    expect(warning?.fix).toContain(`synchronized_standby_slots = 'standby1'`);
  });

  it('warns about a standby streaming without a slot', () => {
    expect(problems({ streamingStandbys: 2 })).toEqual([expect.stringMatching(/without a replication slot/)]);
  });

  it('creates failover slots from PostgreSQL 17 on', () => {
    expect(createsFailoverSlots(160014)).toBe(false);
    expect(createsFailoverSlots(170000)).toBe(true);
    expect(createsFailoverSlots(180004)).toBe(true);
  });
});
