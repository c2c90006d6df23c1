/**
 * At-least-once across kill -9: `walhook start` is killed while 5 000 persons
 * are being inserted (one transaction each), then started again. Nothing may
 * be lost, a redelivered change must carry the id it had before, and the slot
 * must never have been confirmed past a change that was not yet settled.
 */
import { describe, expect, it } from 'vitest';
import { formatLsn, type Lsn } from '../../src/source/lsn.js';
import {
  confirmedFlushLsn,
  insertPersonsOneByOne,
  useCrmTestBed,
  type InsertedPerson,
  type WalhookSetup,
} from '../harness/crm.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const TOTAL = 5_000;

const bed = useCrmTestBed('crash');

function rowIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

/**
 * The watermark check. Persons are inserted one after the other on one
 * connection, each in its own transaction, so person n+1's insert starts
 * after person n's commit: the WAL position read inside n+1's insert is at or
 * past the end of n's commit record. When the slot's confirmed_flush_lsn has
 * reached that position, walhook has declared person n settled, which is only
 * true if it was received (2xx) or stored in walhook's state table by then.
 *
 * Each check reads the slot first and only then what was received and stored:
 * both only grow, so a change found in neither was confirmed while unsettled.
 */
class WatermarkAudit {
  /** Person index → what was wrong, first time seen. */
  readonly violations = new Map<number, string>();
  /** The most persons one check covered, to show the checks were not vacuous. */
  mostCovered = 0;

  constructor(
    private readonly setup: WalhookSetup,
    private readonly persons: readonly InsertedPerson[],
    private readonly received: () => readonly ReceivedRequest[],
  ) {}

  async check(): Promise<void> {
    const confirmed = await confirmedFlushLsn(bed.db, this.setup.slot);
    if (confirmed === null) return;
    const delivered = new Set(this.received().map(rowIdOf));
    const covered = this.coveredBy(confirmed);
    this.mostCovered = Math.max(this.mostCovered, covered.length);
    const missing = covered.filter((person) => !delivered.has(person.id));
    if (missing.length === 0) return;
    const stored = await bed.db.sql<{ id: string }>(
      `SELECT (body::jsonb)->'record'->>'id' AS id FROM ${this.setup.stateSchema}.deliveries`,
    ).catch(() => []);
    const storedIds = new Set(stored.map((row) => row.id));
    for (const person of missing) {
      if (!storedIds.has(person.id) && !this.violations.has(person.index)) {
        this.violations.set(person.index, `person ${person.index} confirmed (slot at ${formatLsn(confirmed)}) before it was settled`);
      }
    }
  }

  /** Persons whose commit ends at or before `confirmed`. */
  private coveredBy(confirmed: Lsn): InsertedPerson[] {
    const covered: InsertedPerson[] = [];
    for (let i = 0; i + 1 < this.persons.length && this.persons[i + 1]!.walLsn <= confirmed; i++) covered.push(this.persons[i]!);
    return covered;
  }
}

describe('kill -9 in the middle of a stream of changes', () => {
  it('delivers every change at least once, with the same delivery id, and never confirms an unsettled one', async () => {
    // While `hold` is set the receiver takes requests but does not answer them: those deliveries are certainly
    // unsettled when the daemon dies, so they must come again after the restart.
    let hold = false;
    const hooks = await bed.receiver(() => (hold ? { status: 200, delayMs: 60_000 } : { status: 200 }));
    const setup = bed.setup({
      webhooks: [{ targetUrl: hooks.url }],
      delivery: { leaseDuration: '2s' },
    });
    const persons: InsertedPerson[] = [];
    const audit = new WatermarkAudit(setup, persons, () => hooks.requests);
    let auditing = true;
    const auditLoop = (async () => {
      while (auditing) {
        await audit.check();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    let inserting: Promise<unknown> | undefined;
    try {
      const first = await bed.walhook(setup);
      inserting = insertPersonsOneByOne(bed.db, TOTAL, { inserted: (person) => persons.push(person) });

      await waitFor(() => hooks.requests.length >= TOTAL / 2, () => `half of the changes to arrive (${hooks.requests.length} of ${TOTAL})`, 90_000, 10);
      hold = true;
      const heldFrom = hooks.requests.length;
      await waitFor(() => hooks.requests.length > heldFrom, 'a request to be held unanswered', 5_000, 5);
      await first.kill9();
      const held = hooks.requests.slice(heldFrom);
      const receivedBeforeRestart = hooks.requests.length;
      await audit.check();
      hold = false;

      await bed.walhook(setup);
      await inserting;
      await waitFor(
        () => new Set(hooks.requests.map(rowIdOf)).size >= TOTAL,
        () => `every change to arrive (${new Set(hooks.requests.map(rowIdOf)).size} of ${TOTAL})`,
        90_000,
      );
      auditing = false;
      await auditLoop;
      await audit.check();

      expect([...audit.violations.values()]).toEqual([]);
      expect(audit.mostCovered).toBeGreaterThan(TOTAL / 2);
      expect(hooks.requests.length).toBeGreaterThan(receivedBeforeRestart);
      expect(hooks.verified()).toHaveLength(hooks.requests.length);

      const idsByRow = new Map<string, Set<string>>();
      for (const request of hooks.requests) {
        const ids = idsByRow.get(rowIdOf(request)) ?? new Set<string>();
        ids.add(String(request.json.id));
        idsByRow.set(rowIdOf(request), ids);
      }
      expect(new Set(idsByRow.keys())).toEqual(new Set(persons.map((person) => person.id)));
      expect([...idsByRow.values()].filter((ids) => ids.size !== 1)).toEqual([]);

      expect(held.length).toBeGreaterThan(0);
      for (const request of held) {
        const again = hooks.requests.slice(receivedBeforeRestart).filter((later) => rowIdOf(later) === rowIdOf(request));
        expect(again.length, `held person ${rowIdOf(request)} is sent again`).toBeGreaterThan(0);
        expect(again.every((later) => later.json.id === request.json.id && later.headers['webhook-id'] === request.headers['webhook-id'])).toBe(true);
      }
    } finally {
      auditing = false;
      await auditLoop;
      // A failed run must not leave the writer inserting into a database that is about to be dropped.
      await inserting?.catch(() => undefined);
    }
  }, 240_000);
});
