/** Every chaos scenario, in the order `npm run chaos` runs them. */
import type { ChaosScenario } from '../lib/bed.js';
import { failOverLeader } from './ha-failover.js';
import { partitionLeader } from './ha-partition.js';
import { hostileRows } from './hostile-rows.js';
import { killWalhook } from './kill9.js';
import { poisonRow } from './poison-row.js';
import { restartPostgres } from './pg-restart.js';
import { partitionsOverReplicas } from './partitions.js';
import { receiverDown } from './receiver-down.js';
import { receiverRecoveryBurst } from './receiver-recovery.js';
import { stateDatabaseOutage } from './state-db-outage.js';
import { terminateWalsender } from './walsender.js';

export {
  failOverLeader,
  hostileRows,
  killWalhook,
  partitionLeader,
  partitionsOverReplicas,
  poisonRow,
  receiverDown,
  receiverRecoveryBurst,
  restartPostgres,
  stateDatabaseOutage,
  terminateWalsender,
};

export const CHAOS_SCENARIOS: ChaosScenario[] = [
  killWalhook,
  restartPostgres,
  terminateWalsender,
  stateDatabaseOutage,
  receiverDown,
  receiverRecoveryBurst,
  hostileRows,
  poisonRow,
  failOverLeader,
  partitionLeader,
  partitionsOverReplicas,
];
