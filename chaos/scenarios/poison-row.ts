/**
 * Rows no webhook body can be built for (jsonb nested 8,000 deep, which
 * PostgreSQL accepts and JSON.stringify cannot serialise) written in the
 * middle of the stream. They must be set aside with their reason, the stream
 * must not restart over them, and every other change must arrive.
 */
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import { waitFor } from '../../test/harness/receiver.js';
import { streamingStarts } from '../../bench/lib/walhook.js';
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

const DEPTH = 8_000;

export const poisonRow: ChaosScenario = {
  name: 'poison-row',
  async run(env) {
    const poisonRows = env.scale === 'ci' ? 2 : 5;
    const db = await env.crmDatabase('chaos_poison');
    const bed = await openBed(env, db);
    const problems: string[] = [];
    const notes: string[] = [];
    try {
      return await runCourse(bed, {
        scenario: 'poison rows',
        fault: `${poisonRows} companies with a jsonb address nested ${DEPTH} deep`,
        ratePerSecond: env.scale === 'ci' ? 100 : 200,
        problems,
        notes,
        async inject() {
          for (let row = 1; row <= poisonRows; row++) {
            await sleep(1_000);
            env.progress(`poison row #${row}`);
            await db.sql(
              `INSERT INTO ${WORKSPACE_SCHEMA}.company (name, address) VALUES ('poison ${row}', (repeat('[', ${DEPTH}) || repeat(']', ${DEPTH}))::jsonb)`,
            );
          }
          await sleep(1_000);
        },
        async afterStream({ fleet, setup }) {
          // The writer has stopped, not walhook: on a loaded machine the last poison row may still be on its way.
          let setAside = 0;
          const countSetAside = async () => {
            const [row] = await db.sql<{ count: number }>(
              `SELECT count(*)::int AS count FROM ${setup.stateSchema}.set_aside_changes WHERE reason = 'nested_too_deep' AND table_name = 'company'`,
            );
            setAside = row?.count ?? 0;
            return setAside >= poisonRows;
          };
          await waitFor(countSetAside, `${poisonRows} poison rows set aside`, 60_000, 250).catch(() => undefined);
          notes.push(`${setAside} change(s) set aside as nested_too_deep`);
          if (setAside !== poisonRows) problems.push(`${setAside} of ${poisonRows} poison rows were set aside`);
          const leader = fleet.leader();
          const starts = leader ? streamingStarts(leader).length : 0;
          if (starts !== 1) problems.push(`the stream started ${starts} times: the poison rows restarted it`);
        },
      });
    } finally {
      await closeBed(bed);
    }
  },
};
