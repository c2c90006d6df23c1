/**
 * Prometheus metrics (prom-client), named by its conventions. Labels stay
 * bounded: object/action, webhook id, outcome, state — never event or record
 * ids. The counters are fed by the pipeline's and the dispatcher's observer
 * hooks; gauges are read from their sources at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackfillObserver, BackfillProgress } from '../state/backfills.js';
import type { DeliveryObserver } from '../delivery/dispatcher.js';
import type { Webhook } from '../delivery/registry.js';
import type { SendResult } from '../delivery/http.js';
import { modeValue, type EndpointMode } from '../delivery/endpoint-health.js';
import type { PipelineObserver } from '../events/pipeline.js';
import type { Action } from '../common/operations.js';
import type { TableShape } from '../source/types.js';
import type { LeaseView } from '../state/leases.js';

/** What the gauges are read from when Prometheus scrapes. */
export interface MetricSources {
  queueDepths(): Map<string, number>;
  /** Each endpoint's circuit breaker mode (delivery/endpoint-health.ts), per webhook. */
  endpointModes(): Map<string, EndpointMode>;
  retryBacklog(): Promise<{ webhookId: string; state: string; count: number }[]>;
  slot(): { lagBytes: number | null; retainedWalBytes: number | null; walStatus: string | null };
  replicationConnected(): boolean;
  leader(): boolean;
  /** Flow control paused reading the slot (deliveries held at a budget). */
  streamPaused(): boolean;
  /** The stall watchdog finds the stream stalled. */
  streamStalled(): boolean;
  /** What this instance knows of the slot's leadership lease (with several partitions: the one longest without renewal). */
  lease(): LeaseView | null;
  /** Each streaming partition, with source.partitions above 1; null with one (the unlabelled gauges tell it all). */
  partitions?: (() => PartitionMetrics[]) | null;
}

/** One streaming partition as this instance sees it. */
export interface PartitionMetrics {
  partition: number;
  slot: string;
  /** This instance streams it. */
  leading: boolean;
  lease: LeaseView;
  lagBytes: number | null;
  retainedWalBytes: number | null;
  /** Changes this instance streamed from it since start. */
  changes: number;
}

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost', 'missing'] as const;

const DELIVERY_OUTCOMES = ['success', 'failure', 'dead'] as const;
type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export class Metrics implements DeliveryObserver, PipelineObserver, BackfillObserver {
  readonly registry = new Registry();
  private sources: MetricSources | null = null;

  /**
   * The two per-change and per-delivery counters are kept as plain numbers and
   * handed to prom-client when scraped: a labelled `inc()` hashes its label
   * values on every call, and these are called for every change and attempt.
   */
  private readonly changeCounts = new Map<string, Map<Action, number>>();
  private readonly deliveryCounts = new Map<string, Record<DeliveryOutcome, number>>();
  /** Per webhook: events its changedFields or filter kept out, and those its filter failed on. Plain numbers, as above. */
  private readonly filterCounts = new Map<string, { filtered: number; failed: number }>();

  private readonly backfillRows = new Gauge({
    name: 'walhook_backfill_rows',
    help: 'Rows of a running backfill: read so far, sent, superseded (changed live while read: the live event stands) and total.',
    labelNames: ['backfill_id', 'object', 'kind'] as const,
    registers: [this.registry],
  });

  private readonly backfillEta = new Gauge({
    name: 'walhook_backfill_eta_seconds',
    help: "Seconds a running backfill needs for its remaining rows at this run's rate so far.",
    labelNames: ['backfill_id', 'object'] as const,
    registers: [this.registry],
  });

  private readonly truncates = new Counter({
    name: 'walhook_truncates_total',
    help: 'TRUNCATE statements seen on streamed tables (not turned into row events).',
    registers: [this.registry],
  });


  private readonly setAsideChanges = new Counter({
    name: 'walhook_changes_set_aside_total',
    help: 'Changes no webhook body could be built for (reason: nested_too_deep, too_large), recorded in set_aside_changes instead of delivered.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly autoDisabledWebhooks = new Counter({
    name: 'walhook_webhooks_auto_disabled_total',
    help: 'Webhooks disabled because they failed for delivery.disableAfter without a success.',
    registers: [this.registry],
  });

  private readonly streamRecoveries = new Counter({
    name: 'walhook_stream_recoveries_total',
    help: 'Remedies the stall watchdog applied to a stalled stream, by action: resume (reading again), reconnect.',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  private readonly deliveryDuration = new Histogram({
    name: 'walhook_delivery_duration_seconds',
    help: 'HTTP round trip of a delivery attempt.',
    labelNames: ['webhook_id'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly eventLatency = new Histogram({
    name: 'walhook_event_latency_seconds',
    help: 'From the commit of a change to the 2xx of its delivery.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [this.registry],
  });

  private readonly batchEvents = new Histogram({
    name: 'walhook_batch_events',
    help: 'Events per batched request (webhooks with batch), by webhook.',
    labelNames: ['webhook_id'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'walhook_' });
    // prom-client's three `nodejs_active_*_total` are gauges, and a gauge named `_total` fails
    // `promtool check metrics`; their per-type twins (walhook_nodejs_active_handles{type}…) stay, and sum to them.
    for (const kind of ['handles', 'requests', 'resources']) this.registry.removeSingleMetric(`walhook_nodejs_active_${kind}_total`);
    const sourcesOf = () => this.sources;
    const { changeCounts, deliveryCounts, filterCounts } = this;
    new Counter({
      name: 'walhook_changes_total',
      help: 'Row changes turned into events, by object and action.',
      labelNames: ['object', 'action'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [object, byAction] of changeCounts) for (const [action, count] of byAction) this.inc({ object, action }, count);
      },
    });
    new Counter({
      name: 'walhook_deliveries_total',
      help: 'Delivery attempts by outcome: success (2xx), failure (will be retried), dead (dead-lettered).',
      labelNames: ['webhook_id', 'outcome'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [webhookId, counts] of deliveryCounts) {
          for (const outcome of DELIVERY_OUTCOMES) if (counts[outcome] > 0) this.inc({ webhook_id: webhookId, outcome }, counts[outcome]);
        }
      },
    });
    /** What every metric labelled by webhook alone shares. */
    const byWebhook = { labelNames: ['webhook_id'] as const, registers: [this.registry] };
    const filterCounter = (name: string, help: string, pick: (counts: { filtered: number; failed: number }) => number) =>
      new Counter({
        name,
        help,
        ...byWebhook,
        collect() {
          this.reset();
          for (const [webhookId, counts] of filterCounts) if (pick(counts) > 0) this.inc({ webhook_id: webhookId }, pick(counts));
        },
      });
    filterCounter('walhook_filtered_total', "Events a webhook's changedFields or filter kept out (not sent, settled at once).", (counts) => counts.filtered);
    filterCounter(
      'walhook_filter_errors_total',
      "Events a webhook's filter failed on (logged with webhookId and eventId; not sent to that webhook).",
      (counts) => counts.failed,
    );
    const perWebhookGauge = (name: string, help: string, read: (sources: MetricSources) => Iterable<[string, number]>) =>
      new Gauge({
        name,
        help,
        ...byWebhook,
        collect() {
          this.reset();
          const sources = sourcesOf();
          if (sources) for (const [webhookId, value] of read(sources)) this.set({ webhook_id: webhookId }, value);
        },
      });
    perWebhookGauge('walhook_queue_depth', 'Deliveries waiting or in flight in memory, per endpoint.', (sources) => sources.queueDepths());
    perWebhookGauge(
      'walhook_endpoint_mode',
      "Each endpoint's circuit breaker, as this instance sees it: 0 closed (sending), 1 open (only a probe now and then), 2 probing (the probe in flight).",
      (sources) => [...sources.endpointModes()].map(([webhookId, mode]) => [webhookId, modeValue(mode)]),
    );
    new Gauge({
      name: 'walhook_retry_backlog',
      help: 'Deliveries in the state table by state: pending and retrying are waiting, dead are dead letters.',
      labelNames: ['webhook_id', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of (await sourcesOf()?.retryBacklog()) ?? []) this.set({ webhook_id: row.webhookId, state: row.state }, row.count);
      },
    });
    const slotBytesGauge = (name: string, help: string, pick: (slot: ReturnType<MetricSources['slot']>) => number | null) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const slot = sourcesOf()?.slot();
          const bytes = slot ? pick(slot) : null;
          if (bytes !== null) this.set(bytes);
        },
      });
    slotBytesGauge('walhook_slot_lag_bytes', "WAL between the server's current position and the slot's confirmed position.", (slot) => slot.lagBytes);
    slotBytesGauge(
      'walhook_slot_retained_wal_bytes',
      "WAL the server keeps for the slot (current position − the slot's restart position).",
      (slot) => slot.retainedWalBytes,
    );
    new Gauge({
      name: 'walhook_slot_wal_status',
      help: "The slot's wal_status (1 for the current one): reserved, extended, unreserved, lost, or missing when the slot does not exist.",
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        const current = sourcesOf()?.slot().walStatus;
        for (const status of WAL_STATUSES) this.set({ status }, status === current ? 1 : 0);
      },
    });
    new Gauge({
      name: 'walhook_replication_connected',
      help: '1 while this instance streams the slot.',
      registers: [this.registry],
      collect() {
        this.set(sourcesOf()?.replicationConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'walhook_stream_paused',
      help: '1 while reading the slot is paused because the deliveries held in memory are at a budget (the slot is the queue).',
      registers: [this.registry],
      collect() {
        this.set(sourcesOf()?.streamPaused() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'walhook_stream_stalled',
      help: '1 while changes wait in the slot, no delivery is in flight and nothing moved for source.stallTimeout.',
      registers: [this.registry],
      collect() {
        this.set(sourcesOf()?.streamStalled() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'walhook_leader',
      help: "1 while this instance holds the slot's leadership lease.",
      registers: [this.registry],
      collect() {
        this.set(sourcesOf()?.leader() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'walhook_leader_lease_seconds_since_renewal',
      help: "Seconds since any instance last renewed the slot's leadership lease (server clock, as this instance last read it); grows while nobody leads.",
      registers: [this.registry],
      collect() {
        const lease = sourcesOf()?.lease();
        if (lease) this.set(lease.secondsSinceRenewal);
      },
    });
    new Gauge({
      name: 'walhook_leader_lease_expired',
      help: "1 while the slot's leadership lease has no live holder (expired, released or never taken): nobody streams the slot.",
      registers: [this.registry],
      collect() {
        this.set(sourcesOf()?.lease()?.expired === false ? 0 : 1);
      },
    });
    new Gauge({
      name: 'walhook_leader_lease_holder',
      help: "1 for the instance (host/pid/random) that held the slot's leadership lease when this instance last read it.",
      labelNames: ['holder'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const holder = sourcesOf()?.lease()?.holder;
        if (holder) this.set({ holder }, 1);
      },
    });
    this.partitionGauges();
  }

  /** One labelled series per partition (source.partitions above 1), set from `pick`; none when it gives null. */
  private partitionGauge(name: string, help: string, pick: (partition: PartitionMetrics) => number | null, labels: 'partition' | 'holder' = 'partition'): void {
    const sourcesOf = () => this.sources;
    new Gauge({
      name,
      help,
      labelNames: labels === 'holder' ? (['partition', 'holder'] as const) : (['partition', 'slot'] as const),
      registers: [this.registry],
      collect() {
        this.reset();
        for (const partition of sourcesOf()?.partitions?.() ?? []) {
          const value = pick(partition);
          if (value === null) continue;
          const holder = partition.lease.holder;
          if (labels === 'holder') {
            if (holder !== null) this.set({ partition: String(partition.partition), holder }, value);
          } else {
            this.set({ partition: String(partition.partition), slot: partition.slot }, value);
          }
        }
      },
    });
  }

  private partitionGauges(): void {
    const sourcesOf = () => this.sources;
    new Counter({
      name: 'walhook_partition_changes_total',
      help: 'Row changes this instance streamed from the partition (rate() gives its throughput).',
      labelNames: ['partition', 'slot'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of sourcesOf()?.partitions?.() ?? []) this.inc({ partition: String(p.partition), slot: p.slot }, p.changes);
      },
    });
    const gauge = (name: string, help: string, pick: (partition: PartitionMetrics) => number | null) => this.partitionGauge(name, help, pick);
    gauge('walhook_partition_leader', '1 while this instance streams the partition (source.partitions above 1).', (p) => (p.leading ? 1 : 0));
    gauge(
      'walhook_partition_lease_seconds_since_renewal',
      "Seconds since any instance last renewed the partition's lease (server clock, as this instance last read it); grows while the partition has no streamer.",
      (p) => p.lease.secondsSinceRenewal,
    );
    gauge('walhook_partition_lease_expired', "1 while the partition's lease has no live holder: nobody streams the partition.", (p) => (p.lease.expired ? 1 : 0));
    gauge('walhook_partition_lag_bytes', "WAL between the server's current position and the partition slot's confirmed position.", (p) => p.lagBytes);
    gauge('walhook_partition_retained_wal_bytes', 'WAL the server keeps for the partition slot.', (p) => p.retainedWalBytes);
    this.partitionGauge(
      'walhook_partition_lease_holder',
      "1 for the instance (host/pid/random) that held the partition's lease when this instance last read it.",
      () => 1,
      'holder',
    );
  }

  /** Connects the scrape-time gauges to the running daemon. */
  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  change(object: string, action: Action): void {
    let byAction = this.changeCounts.get(object);
    if (!byAction) {
      byAction = new Map();
      this.changeCounts.set(object, byAction);
    }
    byAction.set(action, (byAction.get(action) ?? 0) + 1);
  }

  private countDelivery(webhookId: string, outcome: DeliveryOutcome): void {
    let counts = this.deliveryCounts.get(webhookId);
    if (!counts) {
      counts = { success: 0, failure: 0, dead: 0 };
      this.deliveryCounts.set(webhookId, counts);
    }
    counts[outcome]++;
  }

  truncate(_table: TableShape): void {
    this.truncates.inc();
  }

  /** Backfill id → object of the backfills with series, to remove exactly those. */
  private readonly backfillObjects = new Map<string, string>();

  backfillProgress(progress: BackfillProgress): void {
    this.backfillObjects.set(progress.id, progress.object);
    const labels = { backfill_id: progress.id, object: progress.object };
    this.backfillRows.set({ ...labels, kind: 'read' }, progress.rowsRead);
    this.backfillRows.set({ ...labels, kind: 'sent' }, progress.rowsSent);
    this.backfillRows.set({ ...labels, kind: 'superseded' }, progress.rowsSuperseded);
    this.backfillRows.set({ ...labels, kind: 'total' }, progress.rowsTotal);
    if (progress.etaSeconds !== null) this.backfillEta.set(labels, progress.etaSeconds);
  }

  /** A backfill stopped running here (done, paused, cancelled, failed): its series go, so labels stay bounded. */
  backfillEnded(id: string): void {
    const object = this.backfillObjects.get(id);
    if (object === undefined) return;
    this.backfillObjects.delete(id);
    const labels = { backfill_id: id, object };
    for (const kind of ['read', 'sent', 'superseded', 'total']) this.backfillRows.remove({ ...labels, kind });
    this.backfillEta.remove(labels);
  }

  attempted(webhook: Webhook, result: SendResult, committedAtMs: number): void {
    this.deliveryDuration.observe({ webhook_id: webhook.id }, result.durationMs / 1000);
    if (result.outcome === 'success') {
      this.countDelivery(webhook.id, 'success');
      this.eventLatency.observe(Math.max(0, Date.now() - committedAtMs) / 1000);
    } else {
      this.countDelivery(webhook.id, 'failure');
    }
  }

  batched(webhook: Webhook, events: number): void {
    this.batchEvents.observe({ webhook_id: webhook.id }, events);
  }

  deadLettered(webhook: Webhook, _reason: string): void {
    this.countDelivery(webhook.id, 'dead');
  }

  autoDisabled(): void {
    this.autoDisabledWebhooks.inc();
  }

  setAside(reason: string): void {
    this.setAsideChanges.inc({ reason });
  }

  filtered(webhook: Webhook, failed: boolean): void {
    let counts = this.filterCounts.get(webhook.id);
    if (!counts) this.filterCounts.set(webhook.id, (counts = { filtered: 0, failed: 0 }));
    if (failed) counts.failed++;
    else counts.filtered++;
  }

  streamRecovered(action: 'resume' | 'reconnect'): void {
    this.streamRecoveries.inc({ action });
  }

  /** Forgets the series of a deleted webhook, so labels stay bounded. */
  forgetWebhook(webhookId: string): void {
    this.deliveryCounts.delete(webhookId);
    this.filterCounts.delete(webhookId);
    this.deliveryDuration.remove({ webhook_id: webhookId });
    this.batchEvents.remove({ webhook_id: webhookId });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
