/**
 * Per-record ordering (webhook `ordering: record`): the deliveries of one
 * record to one webhook leave one at a time, in commit order.
 *
 * The order lives in two places. In the state table, a record's waiting rows
 * are attempted head first (earliest commit_lsn, change_lsn), and only once
 * every earlier change of the stream is settled (claimDueDeliveries): that
 * part needs no memory, so it survives kill -9, restarts and failover. In
 * memory, this gate keeps the fast path from overtaking.
 *
 * A record's mode, per webhook, and where its next change goes:
 * - free: nothing of it in memory, no row known to wait in the state table:
 *   the fast path;
 * - inMemory: a delivery routed and not yet settled (sending, or its row not
 *   yet committed): the change waits in memory behind it (unsettled, so the
 *   slot holds it), and is routed again once it settles — to the fast path
 *   after a 2xx, to the table if it was stored;
 * - waiting: rows of it wait in the state table (written by this process,
 *   or found there when streaming started): the change joins them. It becomes
 *   free again only once the table holds none and nothing was written for it
 *   since the check.
 */

export type RecordMode = 'free' | 'inMemory' | 'waiting';

/** Where a new change of a record goes: straight to HTTP, behind its delivery in memory, or behind its rows in the table. */
export function pathFor(mode: RecordMode): 'fast' | 'afterInMemory' | 'table' {
  if (mode === 'free') return 'fast';
  return mode === 'inMemory' ? 'afterInMemory' : 'table';
}

/** One record of one webhook. */
function slotOf(webhookId: string, recordKey: string): string {
  return `${webhookId} ${recordKey}`;
}

export class RecordGate {
  /** Deliveries routed and not yet settled, per record. */
  private readonly inMemory = new Map<string, number>();
  /** Records with rows waiting in the state table, with the write count when they were last written. */
  private readonly waiting = new Map<string, number>();
  private writes = 0;
  /** Changes routed while their record was inMemory, in commit order, to be routed again once it settles. */
  private readonly queued = new Map<string, (() => void)[]>();

  mode(webhookId: string, recordKey: string): RecordMode {
    const slot = slotOf(webhookId, recordKey);
    if (this.waiting.has(slot)) return 'waiting';
    return this.inMemory.has(slot) ? 'inMemory' : 'free';
  }

  /** Runs `route` (in order with the record's other such changes) once the record has nothing left in memory. */
  after(webhookId: string, recordKey: string, route: () => void): void {
    const slot = slotOf(webhookId, recordKey);
    const queue = this.queued.get(slot);
    if (queue) queue.push(route);
    else this.queued.set(slot, [route]);
  }

  /** Counts a delivery of the record as in memory until the returned callback (which calls `settle`) runs. */
  track(webhookId: string, recordKey: string, settle: () => void): () => void {
    const slot = slotOf(webhookId, recordKey);
    this.inMemory.set(slot, (this.inMemory.get(slot) ?? 0) + 1);
    return () => {
      const left = (this.inMemory.get(slot) ?? 1) - 1;
      if (left > 0) this.inMemory.set(slot, left);
      else this.inMemory.delete(slot);
      settle();
      if (left > 0) return;
      const queue = this.queued.get(slot);
      this.queued.delete(slot);
      // Routed again in order: the first takes the fast path (or the table) and the rest queue behind it anew.
      for (const route of queue ?? []) route();
    };
  }

  /** A row of the record is being written to the state table to wait there. */
  wrote(webhookId: string, recordKey: string): void {
    this.waiting.set(slotOf(webhookId, recordKey), ++this.writes);
  }

  /** Records found waiting in the state table (at the start of streaming). */
  found(records: readonly { webhookId: string; recordKey: string }[]): void {
    for (const { webhookId, recordKey } of records) this.wrote(webhookId, recordKey);
  }

  /**
   * A row of the record left the table's waiting set (delivered or dead):
   * asks `stillWaiting` whether others remain, and frees the record when none
   * does and none was written meanwhile (a row being written is not yet
   * visible to the question). Returns whether rows remain.
   */
  async settledOne(webhookId: string, recordKey: string, stillWaiting: () => Promise<boolean>): Promise<boolean> {
    const slot = slotOf(webhookId, recordKey);
    const before = this.waiting.get(slot);
    if (before === undefined) return stillWaiting();
    const remain = await stillWaiting();
    if (!remain && this.waiting.get(slot) === before) this.waiting.delete(slot);
    return remain;
  }

  /** How many records are not free, for tests and metrics. */
  get heldRecords(): number {
    return new Set([...this.inMemory.keys(), ...this.waiting.keys(), ...this.queued.keys()]).size;
  }
}
