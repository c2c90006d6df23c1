/**
 * Batching (webhooks with `batch`): a webhook's deliveries are gathered in
 * commit order (batcher.ts decides when a batch is complete) and each batch
 * is handed on as one delivery, with its own name-based id and one body, to
 * be sent, retried and dead-lettered whole; settling it settles every event
 * in it. A batch left gathering is sent when its linger ends, when its
 * webhook's policy changes or goes, and at once from shutdown on.
 */
import type { BatchPolicy } from '../common/webhook.js';
import { accumulatorLimits, BatchAccumulator, batchBody, batchIdOf, MEMBER_OVERHEAD_BYTES, type AccumulatorLimits } from './batcher.js';
import type { DeliveryJob } from './fan-out.js';
import { payloadBytes } from './payload.js';
import type { Webhook } from './registry.js';

/** A delivery gathered into its webhook's next batch, with the callback that settles it. */
interface BatchedDelivery {
  job: DeliveryJob;
  settle: () => void;
}

/** The batch a webhook is gathering, and the timer that sends it when its linger ends. */
interface Gathering {
  /** The definition the last delivery was routed with: the batch is sent with it. */
  webhook: Webhook;
  accumulator: BatchAccumulator<BatchedDelivery>;
  timer: NodeJS.Timeout | null;
}

/** The operation of a batch's row in the deliveries table (its events' own operations are in its body). */
const BATCH_OPERATION = 'batch';

function sameLimits(a: AccumulatorLimits, b: AccumulatorLimits): boolean {
  return a.maxEvents === b.maxEvents && a.budgetBytes === b.budgetBytes && a.lingerMs === b.lingerMs;
}

export class BatchGathering {
  /** Per webhook with `batch`: the batch it is gathering. */
  private readonly gathering = new Map<string, Gathering>();
  /** Set by `drain()` at shutdown: batches are sent at once instead of lingering. */
  private draining = false;

  constructor(
    private readonly maxPayloadBytes: number,
    /** Where a batch goes once complete: the dispatcher routes it as one delivery. */
    private readonly send: (webhook: Webhook, job: DeliveryJob, settle: () => void) => void,
    private readonly batched: (webhook: Webhook, events: number) => void,
  ) {}

  /**
   * Adds the delivery to its webhook's batch, sends the batches it completes,
   * and keeps a timer for the linger of the batch left gathering. A changed
   * policy sends what was gathered under the old one first.
   */
  add(webhook: Webhook, policy: BatchPolicy, job: DeliveryJob, settle: () => void): void {
    const limits = accumulatorLimits(policy, this.maxPayloadBytes);
    let gathering = this.gathering.get(webhook.id);
    if (gathering && !sameLimits(gathering.accumulator.limits, limits)) {
      this.flush(webhook.id);
      gathering = undefined;
    }
    if (!gathering) {
      gathering = { webhook, accumulator: new BatchAccumulator<BatchedDelivery>(limits), timer: null };
      this.gathering.set(webhook.id, gathering);
    }
    gathering.webhook = webhook;
    const sizeBefore = gathering.accumulator.size;
    const complete = gathering.accumulator.add({ job, settle }, job.bytes + MEMBER_OVERHEAD_BYTES);
    for (const members of complete) this.sendBatch(webhook, members);
    // Shutting down: nothing waits for a linger any more.
    if (this.draining) {
      this.flush(webhook.id);
      return;
    }
    // The timer runs from the first delivery of the batch now gathering: a new batch (empty before, or one just sent) starts it again.
    if (complete.length > 0 || sizeBefore === 0) this.restartLinger(gathering);
  }

  private restartLinger(gathering: Gathering): void {
    if (gathering.timer) clearTimeout(gathering.timer);
    gathering.timer = null;
    const dueAt = gathering.accumulator.dueAt();
    if (dueAt === null) return;
    gathering.timer = setTimeout(() => {
      gathering.timer = null;
      const due = gathering.accumulator.takeDue();
      if (due) this.sendBatch(gathering.webhook, due);
      this.restartLinger(gathering);
    }, Math.max(0, dueAt - Date.now()));
  }

  /** Sends what the webhook has gathered now, whatever its linger. */
  flush(webhookId: string): void {
    const gathering = this.gathering.get(webhookId);
    if (!gathering) return;
    if (gathering.timer) clearTimeout(gathering.timer);
    this.gathering.delete(webhookId);
    const members = gathering.accumulator.take();
    if (members.length > 0) this.sendBatch(gathering.webhook, members);
  }

  /**
   * One request for `members`, in the order gathered: from here it is one
   * delivery (one row when it fails, retried and dead-lettered whole), whose
   * settling settles every member.
   */
  private sendBatch(webhook: Webhook, members: readonly BatchedDelivery[]): void {
    const jobs = members.map((member) => member.job);
    const id = batchIdOf(jobs.map((job) => job.id));
    const body = batchBody(id, webhook.id, jobs);
    const first = jobs[0]!;
    this.batched(webhook, jobs.length);
    const job: DeliveryJob = { ...first, id, operation: BATCH_OPERATION, body, bytes: payloadBytes(body), recordKey: null };
    // Only the callbacks are kept: the members' bodies are in the batch's, and need not stay in memory twice.
    const settles = members.map((member) => member.settle);
    this.send(webhook, job, () => settles.forEach((settle) => settle()));
  }

  /** At shutdown: sends every batch being gathered, and from now on sends batches without lingering. */
  drain(): void {
    this.draining = true;
    for (const webhookId of [...this.gathering.keys()]) this.flush(webhookId);
  }
}
