/**
 * What a webhook filter costs: walhook's CPU per delivered change with a
 * typical CEL filter (one that lets every change through, so both runs send
 * exactly the same requests) against the same walhook without one, in the
 * same run, on the same database and receiver. CPU time of the walhook
 * process from the first write to the last delivery, as in the cpu scenario.
 * The details add the filter's own evaluation cost, measured in this process
 * on an event of the shape the runs send.
 */
import { compileFilter, type FilterInput } from '../../src/common/webhook-filter.js';
import { crmDatabase, waitForChanges, type BenchContext, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { cpuTimeOf, startWalhook, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';
import type { TestDatabase } from '../../test/harness/database.js';

/** Every person written is in Paris: the filter lets each of them through. */
const TYPICAL_FILTER = 'record.city == "Paris" && (operation == "person.created" || "city" in updatedFields)';
const EVALUATIONS = 100_000;

/**
 * walhook's CPU µs per change delivered to one webhook (`filter` or none),
 * over `changes` fresh writes after `warmUp` unmeasured ones (JIT and
 * connection set-up would otherwise weigh on whichever run is shorter).
 */
async function cpuPerChange(context: BenchContext, db: TestDatabase, filter: string | null, changes: number, from: number, warmUp: number): Promise<number> {
  const receiver = await startTallyReceiver({ secret: context.secret });
  try {
    const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'], ...(filter && { filter }) }] });
    const walhook = await startWalhook(setup);
    const what = `walhook ${filter ? 'with' : 'without'} a filter to deliver every change`;
    try {
      await writePersons(db, { count: warmUp, from, perTransaction: 1 });
      await waitForChanges([receiver], warmUp, what);
      const cpuFrom = cpuTimeOf(walhook.pid);
      await writePersons(db, { count: changes, from: from + warmUp, perTransaction: 1 });
      await waitForChanges([receiver], warmUp + changes, what);
      return (cpuTimeOf(walhook.pid) - cpuFrom) / changes;
    } finally {
      await walhook.stop();
    }
  } finally {
    await receiver.close();
  }
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
      context.progress(`filter: ${changes} changes without a filter, then ${changes} with one`);
      const unfiltered = await cpuPerChange(context, db, null, changes, 1, warmUp);
      const filtered = await cpuPerChange(context, db, TYPICAL_FILTER, changes, warmUp + changes + 1, warmUp);
      return [
        result({
          scenario: 'CPU per delivery with a CEL filter, 1 endpoint',
          unit: 'µs',
          walhook: filtered,
          baseline: { name: 'same walhook, no filter', value: unfiltered },
          details: { changes, warmUp, filter: TYPICAL_FILTER, evaluationMicroseconds: evaluationMicroseconds() },
        }),
      ];
    } finally {
      await db.drop();
    }
  },
};
