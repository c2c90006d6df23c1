/**
 * The demo's webhook receiver on 127.0.0.1: one path per webhook
 * (`/<name>`), every signature of every request checked with walhook/verify
 * (as a real receiver would check them), and on demand a stretch of 503s so
 * that walhook's retries show.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SIGNATURE_HEADERS,
  SIGNATURE_SCHEMES,
  verifyWebhook,
  WEBHOOK_ID_HEADER,
  WebhookVerificationError,
  type SignatureScheme,
  type VerificationFailure,
} from '../common/verify.js';

export type Verification =
  | { ok: true; schemes: SignatureScheme[] }
  | { ok: false; scheme: SignatureScheme | null; reason: VerificationFailure };

/** What a delivery's body says, whatever its format (record, event or twenty). */
export interface EventSummary {
  operation: string | null;
  recordId: string | null;
  /** Columns changed by an update; null for other actions. */
  updatedFields: string[] | null;
  /** Commit time of the change. */
  committedAt: Date | null;
}

export interface ReceivedDelivery extends EventSummary {
  receivedAt: Date;
  /** Short name of the webhook, from the request path. */
  webhook: string;
  /** The `webhook-id` header: the same on every attempt of one delivery. */
  deliveryId: string | null;
  /** How many times this delivery has arrived, this time included. */
  attempt: number;
  verification: Verification;
  /** What the receiver answered: 200, 503 while it is down, 401 for a bad signature. */
  status: number;
}

export interface ReceiverListener {
  delivery(delivery: ReceivedDelivery): void;
  /** The receiver stopped answering 2xx (for `downForMs`) or started again. */
  availability(up: boolean, downForMs: number): void;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const textOf = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function describeEvent(body: unknown): EventSummary {
  const event = isObject(body) ? body : {};
  const record = [event.record, event.data].find(isObject) ?? {};
  const time = textOf(event.timestamp) ?? textOf(event.eventDate);
  return {
    operation: textOf(event.operation) ?? textOf(event.eventName) ?? textOf(event.event),
    recordId: textOf(record.id),
    updatedFields: Array.isArray(event.updatedFields) ? event.updatedFields.filter((field) => typeof field === 'string') : null,
    committedAt: time === null ? null : new Date(time),
  };
}

/**
 * Checks each signature the request carries, not only the first valid one
 * (which is all `verifyWebhook` needs to accept a request): the demo shows
 * that every scheme walhook sends verifies.
 */
export function verifyEverySignature(body: Buffer, headers: IncomingHttpHeaders, secret: string): { verification: Verification; event: unknown } {
  const present = SIGNATURE_SCHEMES.filter((scheme) => headers[SIGNATURE_HEADERS[scheme].signature] !== undefined);
  try {
    if (present.length === 0) throw new WebhookVerificationError('missing_signature', null, 'no signature header');
    const [first] = present.map((scheme) => verifyWebhook({ body, headers, secret, schemes: [scheme] }));
    return { verification: { ok: true, schemes: present }, event: first?.event };
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    return { verification: { ok: false, scheme: error.scheme, reason: error.reason }, event: parseOrNull(body) };
  }
}

function parseOrNull(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export class DemoReceiver {
  private readonly secrets = new Map<string, string>();
  private readonly attempts = new Map<string, number>();
  private upAgainTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly server: Server,
    private readonly baseUrl: string,
    private readonly listener: ReceiverListener,
  ) {}

  static async start(listener: ReceiverListener): Promise<DemoReceiver> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    const receiver = new DemoReceiver(server, `http://127.0.0.1:${port}`, listener);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      // A request aborted mid-body is walhook's to retry; here there is nothing left to answer.
      receiver.handle(request, response).catch(() => response.destroy());
    });
    return receiver;
  }

  /** The target URL for webhook `name`. */
  urlFor(name: string): string {
    return `${this.baseUrl}/${name}`;
  }

  /** Requests to `urlFor(name)` are checked against `secret`. */
  trust(name: string, secret: string): void {
    this.secrets.set(name, secret);
  }

  get isDown(): boolean {
    return this.upAgainTimer !== null;
  }

  /** Answers 503 to everything for `ms`, then recovers. */
  failFor(ms: number): void {
    if (this.upAgainTimer) clearTimeout(this.upAgainTimer);
    this.upAgainTimer = setTimeout(() => {
      this.upAgainTimer = null;
      this.listener.availability(true, 0);
    }, ms);
    this.listener.availability(false, ms);
  }

  async close(): Promise<void> {
    if (this.upAgainTimer) clearTimeout(this.upAgainTimer);
    this.upAgainTimer = null;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const webhook = (request.url ?? '/').slice(1);
    const secret = this.secrets.get(webhook);
    if (request.method !== 'POST' || secret === undefined) {
      response.writeHead(404).end();
      return;
    }
    const { verification, event } = verifyEverySignature(body, request.headers, secret);
    const deliveryId = textOf(request.headers[WEBHOOK_ID_HEADER]);
    const attempt = (deliveryId === null ? 0 : (this.attempts.get(deliveryId) ?? 0)) + 1;
    if (deliveryId !== null) this.attempts.set(deliveryId, attempt);
    const status = !verification.ok ? 401 : this.isDown ? 503 : 200;
    response.writeHead(status).end();
    this.listener.delivery({ ...describeEvent(event), receivedAt: new Date(), webhook, deliveryId, attempt, verification, status });
  }
}
