/**
 * `walhook demo --rate N`: a load generator. People are created and their
 * job titles changed at N committed changes per second, each in a
 * transaction of its own as a CRM's users make them, while a line per second
 * shows how many changes and deliveries went through and how long a change
 * took from its commit to the receiver.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { DemoOutput } from './output.js';
import { pause } from './pause.js';
import { qualified } from './schema.js';
import type { DeliveryTally } from './tally.js';

export interface LoadOptions {
  pool: pg.Pool;
  schema: string;
  /** Changes per second. */
  rate: number;
  durationMs: number;
  tally: DeliveryTally;
  output: DemoOutput;
  signal: AbortSignal;
}

/** The pool queues what exceeds its connections; beyond this many queued changes the generator waits. */
const MAX_IN_FLIGHT = 64;
const TICK_MS = 20;

/** Runs the load; resolves with how many changes of each operation were committed. */
export async function runLoad({ pool, schema, rate, durationMs, tally, output, signal }: LoadOptions): Promise<Map<string, number>> {
  const committed = new Map<string, number>([
    ['person.created', 0],
    ['person.updated', 0],
  ]);
  const people: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const table = qualified(schema, 'person');
  let launched = 0;
  let committedThisSecond = 0;
  let failure: Error | null = null;

  const count = (operation: string) => {
    committed.set(operation, (committed.get(operation) ?? 0) + 1);
    committedThisSecond += 1;
  };
  // Every other change creates a person, the rest change a random person's job title.
  const change = async (index: number) => {
    const person = people[Math.floor(Math.random() * people.length)];
    if (index % 2 === 0 || person === undefined) {
      const id = randomUUID();
      await pool.query(
        `INSERT INTO ${table} (id, "nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", position) VALUES ($1, 'Load', $2, $3, 'Tester', $4)`,
        [id, `#${index}`, `load-${index}@example.com`, index],
      );
      people.push(id);
      count('person.created');
    } else {
      await pool.query(`UPDATE ${table} SET "jobTitle" = $2, "updatedAt" = now() WHERE id = $1`, [person, `Tester level ${index}`]);
      count('person.updated');
    }
  };

  const startedAt = Date.now();
  let second = 0;
  const report = setInterval(() => {
    second += 1;
    output.throughput({ second, changes: committedThisSecond, ...tally.takeWindow() });
    committedThisSecond = 0;
  }, 1000);
  try {
    while (!signal.aborted && failure === null && Date.now() - startedAt < durationMs) {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * rate) - launched;
      for (let i = 0; i < due && inFlight.size < MAX_IN_FLIGHT; i++) {
        const pending: Promise<void> = change(launched++)
          .catch((error: unknown) => {
            failure ??= error as Error;
          })
          .finally(() => inFlight.delete(pending));
        inFlight.add(pending);
      }
      await pause(TICK_MS, signal);
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(report);
  }
  if (failure) throw failure;
  return committed;
}
