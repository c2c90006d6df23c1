/**
 * Primary overhead: pgbench TPS on a CRM-like table (half inserts of a
 * person, half updates of one, REPLICA IDENTITY FULL as Twenty's tables),
 * measured with nothing attached, with pg_recvlogical as the minimal logical
 * consumer, with walhook (delivery off, and delivering to a receiver), and
 * with a trigger-based outbox (a row trigger writing the change to an outbox
 * table and sending NOTIFY, the way trigger-based event systems capture).
 *
 * Modes run in rounds, each round in a rotated order, and each mode's figure
 * is its median over the rounds: the machine is shared and noisy. Every
 * consumer gets a fresh slot per run, dropped afterwards, so none starts
 * with a backlog of the other modes' changes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { crmDatabase, type BenchContext, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver, type TallyReceiver } from '../lib/receiver.js';
import { decodingLagBytes, dropSlotWhenFree, INSERT_SCRIPT, PGBENCH_CLIENTS, PGBENCH_THREADS, runPgbench, startRecvlogical } from '../lib/primary-load.js';
import { MB, median, result } from '../lib/results.js';
import { startWalhook, walhookSetup, type RunningWalhook, type WebhookSpec } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

const SEEDED_PERSONS = 10_000;
const UPDATE_SCRIPT = `\\set p random(1, ${SEEDED_PERSONS})
UPDATE ${WORKSPACE_SCHEMA}.person SET city = 'Lyon', "updatedAt" = now() WHERE position = :p;
`;

const OUTBOX_SETUP = `
  CREATE TABLE public.outbox (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE FUNCTION public.outbox_capture() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE outbox_id bigint;
  BEGIN
    INSERT INTO public.outbox (topic, payload)
      VALUES (TG_TABLE_NAME || '.' || lower(TG_OP),
              jsonb_build_object('record', to_jsonb(NEW), 'previousRecord', CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END))
      RETURNING id INTO outbox_id;
    PERFORM pg_notify('outbox', outbox_id::text);
    RETURN NULL;
  END $$;`;

/** A way of consuming changes during a pgbench run: attached before it, detached after. */
interface Mode {
  name: string;
  attach(): Promise<Attached>;
}

interface Attached {
  /** The slot a logical consumer reads, or null for modes without one. */
  slot: string | null;
  detach(): Promise<void>;
}

function pgRecvlogicalMode(context: BenchContext, db: TestDatabase, publication: string): Mode {
  let run = 0;
  return {
    name: 'pg_recvlogical',
    async attach() {
      const consumer = await startRecvlogical(context, db, `bench_recvlogical_${++run}`, publication);
      return { slot: consumer.slot, detach: () => consumer.stop() };
    },
  };
}

function walhookMode(name: string, db: TestDatabase, webhooks: WebhookSpec[]): Mode {
  return {
    name,
    async attach() {
      const setup = walhookSetup(db, { webhooks });
      const walhook: RunningWalhook = await startWalhook(setup);
      return {
        slot: setup.slot,
        async detach() {
          await walhook.stop();
          await dropSlotWhenFree(db, setup.slot);
        },
      };
    },
  };
}

function outboxMode(db: TestDatabase): Mode {
  return {
    name: 'trigger outbox',
    async attach() {
      await db.sql(`CREATE TRIGGER outbox_capture AFTER INSERT OR UPDATE ON ${WORKSPACE_SCHEMA}.person FOR EACH ROW EXECUTE FUNCTION public.outbox_capture()`);
      return {
        slot: null,
        detach: async () => {
          await db.sql(`DROP TRIGGER outbox_capture ON ${WORKSPACE_SCHEMA}.person`);
        },
      };
    },
  };
}

export const overhead: BenchScenario = {
  name: 'overhead',
  async run(context) {
    const rounds = context.quick ? 1 : 3;
    const seconds = context.quick ? 1 : 15;
    const db = await crmDatabase(context, 'bench_overhead');
    let receiver: TallyReceiver | undefined;
    const scriptDir = mkdtempSync(join(tmpdir(), 'walhook-pgbench-'));
    try {
      await writePersons(db, { count: SEEDED_PERSONS, perTransaction: SEEDED_PERSONS });
      await db.sql(`CREATE INDEX ON ${WORKSPACE_SCHEMA}.person (position); ${OUTBOX_SETUP}`);
      const publication = 'bench_recvlogical';
      await db.sql(`CREATE PUBLICATION ${publication} FOR TABLES IN SCHEMA ${WORKSPACE_SCHEMA}`);
      receiver = await startTallyReceiver({ secret: context.secret });
      const scripts = [join(scriptDir, 'insert.sql'), join(scriptDir, 'update.sql')];
      writeFileSync(scripts[0]!, INSERT_SCRIPT);
      writeFileSync(scripts[1]!, UPDATE_SCRIPT);

      const alone: Mode = { name: 'alone', attach: async () => ({ slot: null, detach: async () => undefined }) };
      const modes = [
        alone,
        pgRecvlogicalMode(context, db, publication),
        walhookMode('walhook', db, []),
        walhookMode('walhook delivering', db, [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.*'] }]),
        outboxMode(db),
      ];
      const tps = new Map<string, number[]>(modes.map((mode) => [mode.name, []]));
      const lagMb = new Map<string, number[]>();
      for (let round = 0; round < rounds; round++) {
        for (let index = 0; index < modes.length; index++) {
          const mode = modes[(index + round) % modes.length]!;
          context.progress(`overhead: round ${round + 1}/${rounds}, ${mode.name}`);
          const { slot, detach } = await mode.attach();
          try {
            tps.get(mode.name)!.push((await runPgbench(context, db, scripts, seconds)).tps);
            if (slot) lagMb.set(mode.name, [...(lagMb.get(mode.name) ?? []), (await decodingLagBytes(db, slot)) / MB]);
          } finally {
            await detach();
          }
        }
      }
      const figure = (name: string) => median(tps.get(name)!);
      const details = {
        tpsByMode: Object.fromEntries([...tps].map(([name, values]) => [name, { median: median(values), runs: values }])),
        decodingLagMbAtEnd: Object.fromEntries(lagMb),
        percentOfAlone: Object.fromEntries(modes.map(({ name }) => [name, Math.round((figure(name) / figure('alone')) * 1000) / 10])),
        workload: `pgbench --client ${PGBENCH_CLIENTS} --jobs ${PGBENCH_THREADS}, ${seconds} s per run, ${rounds} round(s); half single-row inserts, half single-row updates of person (REPLICA IDENTITY FULL)`,
        cores: `${availableParallelism()} cores shared by everything, nothing pinned: PostgreSQL (backends, walsender), pgbench, the consumer under test (and the receiver, in-process with the bench, for "walhook delivering")`,
      };
      return [
        result({
          scenario: 'primary TPS, walhook attached (delivery off)',
          unit: 'TPS',
          walhook: figure('walhook'),
          baseline: { name: 'pg_recvlogical attached', value: figure('pg_recvlogical') },
          target: { atLeastRatio: 0.95 },
          details,
        }),
        result({
          scenario: 'primary TPS, walhook delivering',
          unit: 'TPS',
          walhook: figure('walhook delivering'),
          baseline: { name: 'pg_recvlogical attached', value: figure('pg_recvlogical') },
          details: { delivered: receiver.verified },
        }),
        result({
          scenario: 'primary TPS, walhook vs trigger outbox',
          unit: 'TPS',
          walhook: figure('walhook'),
          baseline: { name: 'trigger outbox', value: figure('trigger outbox') },
          details: { alone: figure('alone') },
        }),
      ];
    } finally {
      await receiver?.close();
      rmSync(scriptDir, { recursive: true, force: true });
      await db.drop();
    }
  },
};
