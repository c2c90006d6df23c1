/**
 * What a webhook filter costs: walhook's CPU per delivered change with a
 * typical CEL filter (one that lets every change through, so both runs send
 * exactly the same requests) against the same walhook without one, in the
 * same run, on the same database and receiver. CPU time of the walhook
 * process from the first write to the last delivery, as in the cpu scenario.
 * The details add the filter's own evaluation cost, measured in this process
 * on an event of the shape the runs send.
 *
 * Then what a change a filter keeps out costs: a run whose filter lets one
 * change in `warmUp` through (the last write of each stage, so its arrival
 * says every change before it was judged). An event kept out is decoded only
 * as far as its filter reads: the last figure is that decoding, measured in
 * this process on a Twenty person (40 columns, composite fields), for a
 * filter reading one field against the whole event a body needs.
 */
import { compileFilter, type FilterInput, type FilterReads } from '../../src/common/webhook-filter.js';
import { classifyChange } from '../../src/events/mapping.js';
import { LazyEvent } from '../../src/events/pending-event.js';
import { BUILTIN_TYPE_CATALOG } from '../../src/events/values.js';
import { METADATA, OPTIONS, POSITION, ROW, TABLE } from '../../test/fixtures/twenty-person.js';
import { crmDatabase, waitForChanges, type BenchContext, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { cpuTimeOf, startWalhook, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';
import type { TestDatabase } from '../../test/harness/database.js';

/** Every person written is in Paris: the filter lets each of them through. */
const TYPICAL_FILTER = 'record.city == "Paris" && (operation == "person.created" || "city" in updatedFields)';
const EVALUATIONS = 100_000;

interface FilterRun {
  filter: string | null;
  /** Positions `from`..: `from - 1` is a multiple of `warmUp`, so each stage ends on a change `oneIn` lets through. */
  from: number;
  changes: number;
  warmUp: number;
  /** The filter lets the changes whose position is a multiple of this through; absent: all of them. */
  oneIn?: number;
}

/**
 * walhook's CPU µs per change written, for one webhook with `filter` (or
 * none), over `changes` fresh writes after `warmUp` unmeasured ones (JIT and
 * connection set-up would otherwise weigh on whichever run is shorter).
 */
async function cpuPerChange(context: BenchContext, db: TestDatabase, { filter, from, changes, warmUp, oneIn = 1 }: FilterRun): Promise<number> {
  const receiver = await startTallyReceiver({ secret: context.secret });
  try {
    const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'], ...(filter && { filter }) }] });
    const walhook = await startWalhook(setup);
    const what = `walhook ${filter ? `with the filter ${filter}` : 'without a filter'} to judge every change`;
    try {
      await writePersons(db, { count: warmUp, from, perTransaction: 1 });
      await waitForChanges([receiver], warmUp / oneIn, what);
      const cpuFrom = cpuTimeOf(walhook.pid);
      await writePersons(db, { count: changes, from: from + warmUp, perTransaction: 1 });
      await waitForChanges([receiver], (warmUp + changes) / oneIn, what);
      return (cpuTimeOf(walhook.pid) - cpuFrom) / changes;
    } finally {
      await walhook.stop();
    }
  } finally {
    await receiver.close();
  }
}

const DECODINGS = 20_000;
const READS_JOB_TITLE: FilterReads = { keys: new Set(['jobTitle']), allUpdatedFields: false };

/** µs per decoding of a Twenty person update, for a filter reading `jobTitle` and whole, in this process (after as many unmeasured). */
function decodingMicroseconds(): { oneField: number; whole: number } {
  const classified = classifyChange({ kind: 'update', table: TABLE, oldRow: ROW, newRow: { ...ROW, jobTitle: 'CTO' } }, OPTIONS);
  const measure = (decode: (event: LazyEvent) => unknown): number => {
    const fresh = () => new LazyEvent(classified, POSITION, OPTIONS, BUILTIN_TYPE_CATALOG, METADATA);
    for (let i = 0; i < DECODINGS; i++) decode(fresh());
    const started = process.cpuUsage();
    for (let i = 0; i < DECODINGS; i++) decode(fresh());
    const used = process.cpuUsage(started);
    return (used.user + used.system) / DECODINGS;
  };
  return { oneField: measure((event) => event.filterInput(READS_JOB_TITLE)), whole: measure((event) => event.event()) };
}

/** µs per evaluation of the filter on one event, in this process. */
function evaluationMicroseconds(): number {
  const compiled = compileFilter(TYPICAL_FILTER);
  if (!('program' in compiled)) throw new Error(`the bench filter does not compile: ${compiled.problem}`);
  const event: FilterInput = {
    operation: 'person.created',
    workspaceId: '20202020-1c25-4d02-bf25-6aeccf7ea419',
    record: { id: '4b1c3f1e-0000-4000-8000-000000000001', nameFirstName: 'Person', nameLastName: '1', jobTitle: 'Engineer', city: 'Paris', position: 1 },
    previousRecord: null,
    updatedFields: null,
  };
  const started = process.cpuUsage();
  for (let i = 0; i < EVALUATIONS; i++) if (!compiled.program(event)) throw new Error('the bench filter kept its event out');
  const used = process.cpuUsage(started);
  return (used.user + used.system) / EVALUATIONS;
}

export const filterCost: BenchScenario = {
  name: 'filter',
  async run(context) {
    const changes = context.quick ? 1_000 : 20_000;
    const warmUp = context.quick ? 200 : 2_000;
    const db = await crmDatabase(context, 'bench_filter');
    try {
      context.progress(`filter: ${changes} changes without a filter, with one, and with one that keeps out all but 1 in ${warmUp}`);
      const run = (index: number, filter: string | null, oneIn?: number) =>
        cpuPerChange(context, db, { filter, from: index * (warmUp + changes) + 1, changes, warmUp, ...(oneIn && { oneIn }) });
      const unfiltered = await run(0, null);
      const filtered = await run(1, TYPICAL_FILTER);
      const keepsOut = `int(record.position) % ${warmUp} == 0`;
      const keptOut = await run(2, keepsOut, warmUp);
      const decoding = decodingMicroseconds();
      return [
        result({
          scenario: 'CPU per delivery with a CEL filter, 1 endpoint',
          unit: 'µs',
          walhook: filtered,
          baseline: { name: 'same walhook, no filter', value: unfiltered },
          details: { changes, warmUp, filter: TYPICAL_FILTER, evaluationMicroseconds: evaluationMicroseconds() },
        }),
        result({
          scenario: 'CPU per change a CEL filter keeps out',
          unit: 'µs',
          walhook: keptOut,
          baseline: { name: 'same walhook, no filter (each change delivered)', value: unfiltered },
          details: { changes, warmUp, letThrough: `1 in ${warmUp}`, filter: keepsOut },
        }),
        result({
          scenario: 'decoding a Twenty person for a filter reading one field',
          unit: 'µs',
          walhook: decoding.oneField,
          baseline: { name: 'decoding the whole event', value: decoding.whole },
          details: { decodings: DECODINGS, field: 'jobTitle', columns: TABLE.columns.length },
        }),
      ];
    } finally {
      await db.drop();
    }
  },
};
