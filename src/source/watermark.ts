/**
 * The slot's low watermark. A transaction is settled when every delivery it
 * produced is settled (2xx, or committed to the state table, or nothing
 * matched). The confirmed position only moves to the end of a settled
 * transaction that no unsettled one precedes, so a crash at any moment
 * re-streams every change that was not yet settled.
 *
 * Transactions are kept ordered by commit LSN. They normally arrive in that
 * order; after a reconnect the server re-sends unconfirmed ones, which may
 * sort before transactions still in flight.
 */
import type { Lsn } from './lsn.js';

export interface TrackedTransaction {
  readonly commitLsn: Lsn;
  /** Known once the commit message arrived. */
  endLsn: Lsn | null;
  /** Deliveries not yet settled. */
  pending: number;
  /** When the transaction committed (ISO), if known. */
  readonly commitTime: string | null;
}

export class Watermark {
  private readonly transactions: TrackedTransaction[] = [];
  private confirmed: Lsn;
  private held = 0;

  /**
   * `onAdvance` receives each new confirmable position (the end LSN of a settled transaction, or a keepalive's)
   * and, when it is a transaction's end, that transaction's commit time: every change committed before it is settled.
   */
  constructor(
    private readonly onAdvance: (lsn: Lsn, settledCommitTime: string | null) => void,
    initial: Lsn = 0n,
  ) {
    this.confirmed = initial;
  }

  get position(): Lsn {
    return this.confirmed;
  }

  /** Transactions begun but not yet confirmable. */
  get inFlight(): number {
    return this.transactions.length;
  }

  /**
   * Deliveries held and not yet settled, abandoned transactions' included: they are still being
   * delivered. The stall watchdog's sign that this stream (not another partition's) waits on delivery.
   */
  get unsettledDeliveries(): number {
    return this.held;
  }

  begin(commitLsn: Lsn, commitTime: string | null = null): TrackedTransaction {
    const transaction: TrackedTransaction = { commitLsn, endLsn: null, pending: 0, commitTime };
    let index = this.transactions.length;
    while (index > 0 && this.transactions[index - 1]!.commitLsn > commitLsn) index--;
    this.transactions.splice(index, 0, transaction);
    return transaction;
  }

  /** One more delivery to wait for; returns the function that settles it (idempotent). */
  hold(transaction: TrackedTransaction): () => void {
    transaction.pending++;
    this.held++;
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      this.held--;
      transaction.pending--;
      if (transaction.pending === 0 && transaction.endLsn !== null) this.advance();
    };
  }

  commit(transaction: TrackedTransaction, endLsn: Lsn): void {
    transaction.endLsn = endLsn;
    if (transaction.pending === 0) this.advance();
  }

  /**
   * Forgets transactions whose commit never arrived (the connection dropped
   * mid-transaction): the server streams them again from the start.
   */
  abandonOpen(): void {
    for (let i = this.transactions.length - 1; i >= 0; i--) {
      if (this.transactions[i]!.endLsn === null) this.transactions.splice(i, 1);
    }
    this.advance();
  }

  /**
   * A keepalive says everything before `walEnd` was sent. With nothing in
   * flight, that position is safe to confirm, so an idle slot (or one whose
   * changes all touch unpublished tables) never pins WAL.
   */
  keepalive(walEnd: Lsn): void {
    if (this.transactions.length === 0) this.moveTo(walEnd, null);
  }

  private advance(): void {
    let reached: TrackedTransaction | null = null;
    while (this.transactions.length > 0) {
      const head = this.transactions[0]!;
      if (head.endLsn === null || head.pending > 0) break;
      this.transactions.shift();
      reached = head;
    }
    if (reached !== null) this.moveTo(reached.endLsn!, reached.commitTime);
  }

  private moveTo(lsn: Lsn, commitTime: string | null): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.onAdvance(lsn, commitTime);
  }
}
