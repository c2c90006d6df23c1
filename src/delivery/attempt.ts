/**
 * The attempt: one delivery signed and POSTed, and what it gave observed
 * (metrics, the recent-attempts log) and logged. What follows from the
 * answer (the breaker, retries, disabling) is the dispatcher's to decide.
 */
import type { Logger } from 'pino';
import type { DeliveryObserver } from './dispatcher.js';
import type { DeliveryJob } from './fan-out.js';
import type { HttpSender, SendResult } from './http.js';
import type { Webhook } from './registry.js';
import { signRequest } from './signing.js';

/** What an attempt needs of a delivery. */
export type AttemptJob = Pick<DeliveryJob, 'id' | 'body' | 'eventId' | 'commitTime' | 'commitTimeMs' | 'commitLsn'>;

export interface AttemptSettings {
  maxPayloadBytes: number;
  userAgent: string;
}

export class Attempts {
  constructor(
    private readonly sender: HttpSender,
    private readonly settings: AttemptSettings,
    private readonly observer: Pick<DeliveryObserver, 'attempted'>,
    private readonly logger: Logger,
  ) {}

  /** One signed POST; the signature's timestamp is this attempt's. */
  async send(webhook: Webhook, job: AttemptJob): Promise<SendResult> {
    // Encoded once: the signatures are computed over, and the request sends, these bytes.
    const body = Buffer.from(job.body, 'utf8');
    if (body.length > this.settings.maxPayloadBytes) {
      // A stored body (redelivered by hand) is held to the limit too.
      return { outcome: 'failure', error: `payload of ${body.length} bytes exceeds delivery.maxPayloadBytes`, refused: true, durationMs: 0 };
    }
    const headers = signRequest({ body, deliveryId: job.id, secrets: webhook.secrets, schemes: webhook.signatures, now: new Date() });
    headers['user-agent'] = this.settings.userAgent;
    const result = await this.sender.send({ url: webhook.targetUrl, headers, body });
    this.observer.attempted(webhook, result, job.commitTimeMs, job.id);
    // The fields are built only for a line that is written: at the default level a success writes none.
    if (result.outcome !== 'success') this.logger.info({ ...logFields(webhook, job, result), status: result.status, error: result.error }, 'delivery attempt failed');
    else if (this.logger.isLevelEnabled('debug')) this.logger.debug({ ...logFields(webhook, job, result), status: result.status }, 'delivered');
    return result;
  }
}

function logFields(webhook: Webhook, job: AttemptJob, result: SendResult) {
  return { webhookId: webhook.id, deliveryId: job.id, eventId: job.eventId, commitLsn: job.commitLsn, durationMs: result.durationMs };
}
