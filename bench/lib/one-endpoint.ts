/**
 * The skeleton the one-endpoint scenarios (throughput, CPU per delivery)
 * share: a database of their own and a receiver that keeps the body of every
 * delivery it verified, cleaned up whatever happens; walhook stopped once
 * measured; a bare undici client POSTing the very same bodies to the same
 * receiver.
 */
import type { TestDatabase } from '../../test/harness/database.js';
import { crmDatabase, type BenchContext } from './context.js';
import { postInChildProcess, type RawPostSummary } from './raw-poster.js';
import { startCollectingReceiver, type ReceivedBody, type TallyReceiver } from './receiver.js';
import type { RunningWalhook } from './walhook.js';

export interface OneEndpoint {
  db: TestDatabase;
  receiver: TallyReceiver;
  /** The first body of every delivery the receiver verified, in arrival order: the baseline's requests. */
  bodies: ReceivedBody[];
}

/** Runs `scenario` against a fresh database and a receiver expecting `changes` deliveries, then drops and closes both. */
export async function withOneEndpoint<T>(context: BenchContext, database: string, changes: number, scenario: (endpoint: OneEndpoint) => Promise<T>): Promise<T> {
  const db = await crmDatabase(context, database);
  const { receiver, bodies } = await startCollectingReceiver(context.secret, changes);
  try {
    return await scenario({ db, receiver, bodies });
  } finally {
    await receiver.close();
    await db.drop();
  }
}

/** Measures `walhook` with `measure`, stopping it whatever happens. */
export async function measureThenStop<T>(walhook: RunningWalhook, measure: () => Promise<T>): Promise<T> {
  try {
    return await measure();
  } finally {
    await walhook.stop();
  }
}

/** `summary`, if the baseline client's requests all succeeded: any failure voids the comparison. */
export function withoutFailures(summary: RawPostSummary): RawPostSummary {
  if (summary.failures > 0) throw new Error(`the baseline client had ${summary.failures} failed requests`);
  return summary;
}

/** The bare undici client POSTing the bodies walhook delivered, as many in flight as walhook had. */
export async function bareClientBaseline(context: BenchContext, { receiver, bodies }: OneEndpoint, concurrency: number): Promise<RawPostSummary> {
  return withoutFailures(await postInChildProcess({ url: receiver.url, secret: context.secret, concurrency, deliveries: bodies }));
}
