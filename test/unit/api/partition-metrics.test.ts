import { describe, expect, it } from 'vitest';
import { Metrics, type MetricSources, type PartitionMetrics } from '../../../src/api/metrics.js';

const lease = (holder: string | null, secondsSinceRenewal: number, expired: boolean) => ({ held: false, holder, secondsSinceRenewal, expired, error: null });

function sources(partitions: (() => PartitionMetrics[]) | null): MetricSources {
  return {
    queueDepths: () => new Map(),
    endpointModes: () => new Map(),
    retryBacklog: async () => [],
    slot: () => ({ lagBytes: 0, retainedWalBytes: 0, walStatus: 'reserved' }),
    replicationConnected: () => true,
    leader: () => true,
    streamPaused: () => false,
    streamStalled: () => false,
    lease: () => lease('me', 0, false),
    partitions,
  };
}

/** The sample lines of `/metrics` whose metric name starts with walhook_partition_. */
async function partitionLines(metrics: Metrics): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('walhook_partition_'));
}

describe('per-partition metrics', () => {
  it('label every partition: who streams it, its lease, lag, retained WAL and changes', async () => {
    const metrics = new Metrics();
    metrics.attach(
      sources(() => [
        { partition: 0, slot: 's_p0', leading: true, lease: { ...lease('me', 0.5, false), held: true }, lagBytes: 100, retainedWalBytes: 200, changes: 7 },
        { partition: 1, slot: 's_p1', leading: false, lease: lease(null, 42, true), lagBytes: null, retainedWalBytes: null, changes: 0 },
      ]),
    );
    const lines = await partitionLines(metrics);
    expect(lines).toEqual(
      expect.arrayContaining([
        'walhook_partition_leader{partition="0",slot="s_p0"} 1',
        'walhook_partition_leader{partition="1",slot="s_p1"} 0',
        'walhook_partition_lease_seconds_since_renewal{partition="1",slot="s_p1"} 42',
        'walhook_partition_lease_expired{partition="1",slot="s_p1"} 1',
        'walhook_partition_lag_bytes{partition="0",slot="s_p0"} 100',
        'walhook_partition_retained_wal_bytes{partition="0",slot="s_p0"} 200',
        'walhook_partition_changes_total{partition="0",slot="s_p0"} 7',
        'walhook_partition_lease_holder{partition="0",holder="me"} 1',
      ]),
    );
    // A partition whose lag is unknown or whose lease nobody ever took has no such series.
    expect(lines.filter((line) => line.startsWith('walhook_partition_lag_bytes{partition="1"'))).toEqual([]);
    expect(lines.filter((line) => line.startsWith('walhook_partition_lease_holder{partition="1"'))).toEqual([]);
  });

  it('has no series with one partition', async () => {
    const metrics = new Metrics();
    metrics.attach(sources(null));
    expect(await partitionLines(metrics)).toEqual([]);
  });
});
