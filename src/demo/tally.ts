/** Counts what the demo receiver saw, for the summary and the per-second figures of `--rate`. */
import type { ReceivedDelivery } from './receiver.js';

export interface Latency {
  /** Milliseconds from the change's commit to its delivery's 2xx receipt; null without deliveries. */
  p50: number | null;
  p99: number | null;
}

export interface TallyWindow extends Latency {
  /** Deliveries accepted (2xx) in the window. */
  delivered: number;
}

/** Nearest-rank percentile of ascending `sorted` values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

/** How long after its commit a delivery arrived; null when the body carries no commit time. */
export function commitToReceiptMs(delivery: ReceivedDelivery): number | null {
  return delivery.committedAt === null ? null : delivery.receivedAt.getTime() - delivery.committedAt.getTime();
}

function latencyStats(values: number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

export class DeliveryTally {
  /** Requests received, every attempt counted. */
  requests = 0;
  /** Requests whose every signature verified. */
  verified = 0;
  signatureFailures = 0;
  /** Requests that were a second or later attempt of their delivery. */
  retries = 0;
  /** Requests answered with something else than 2xx. */
  failedAttempts = 0;
  /** Requests that were a delivery's first attempt, whatever the answer. */
  firstAttempts = 0;
  firstReceivedAt: Date | null = null;
  /** Delivery ids answered 2xx: a redelivery after a success counts once. */
  private readonly deliveredIds = new Set<string>();
  private readonly latencies: number[] = [];
  private window: number[] = [];
  private windowDelivered = 0;

  record(delivery: ReceivedDelivery): void {
    this.requests += 1;
    this.firstReceivedAt ??= delivery.receivedAt;
    if (delivery.verification.ok) this.verified += 1;
    else this.signatureFailures += 1;
    if (delivery.attempt > 1) this.retries += 1;
    else this.firstAttempts += 1;
    if (delivery.status >= 300) {
      this.failedAttempts += 1;
      return;
    }
    if (delivery.deliveryId !== null) this.deliveredIds.add(delivery.deliveryId);
    this.windowDelivered += 1;
    const latency = commitToReceiptMs(delivery);
    if (latency !== null) {
      this.latencies.push(latency);
      this.window.push(latency);
    }
  }

  /** Distinct deliveries accepted so far. */
  get delivered(): number {
    return this.deliveredIds.size;
  }

  latency(): Latency {
    return latencyStats(this.latencies);
  }

  /** What was delivered since the previous call. */
  takeWindow(): TallyWindow {
    const window = { delivered: this.windowDelivered, ...latencyStats(this.window) };
    this.window = [];
    this.windowDelivered = 0;
    return window;
  }
}
