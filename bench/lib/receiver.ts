/**
 * A webhook receiver on 127.0.0.1 built for volume: it verifies every
 * request's signature with walhook/verify and keeps a tally per change (the
 * row a body is about) instead of every request, so a million deliveries fit
 * in memory. The test harness's receiver (test/harness/receiver.ts) keeps
 * whole requests; this one is for the bench and chaos suites. A batch
 * (`{batchId, events: [{id, body}]}`, webhooks with `batch`) is one request
 * and as many deliveries as it holds events.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../src/common/verify.js';

/** One verified delivery (a request, or an event of a batch), as `reply` and `onDelivery` see it. */
export interface VerifiedDelivery {
  changeId: string;
  /** The body's `id`: the delivery id, the same on every attempt. */
  eventId: string;
  body: Record<string, unknown>;
  rawBody: string;
  /** Epoch milliseconds with sub-millisecond precision. */
  receivedAt: number;
}

export interface Reply {
  status: number;
  delayMs?: number;
}

export interface TallyOptions {
  secret: string;
  /** Which change a body is about; default: `record.id`. */
  changeIdOf?: (body: Record<string, unknown>) => string;
  /** The answer to a verified request; default 200 at once. Only 2xx answers count as received. */
  reply?: (delivery: VerifiedDelivery) => Reply;
  /** Called for every verified delivery answered 2xx (each event of a batch). */
  onDelivery?: (delivery: VerifiedDelivery) => void;
}

export interface TallyReceiver {
  url: string;
  port: number;
  /** Verified requests answered 2xx (a batch is one), retries and duplicates included. */
  readonly verified: number;
  /** Requests whose signature did not verify (answered 401). */
  readonly rejected: number;
  /** Verified requests `reply` answered with something other than 2xx: not received, as far as the sender knows. */
  readonly refused: number;
  /** Change id → the body id it first arrived with. */
  readonly eventIdByChange: ReadonlyMap<string, string>;
  /** Changes that arrived again with a different body id. */
  readonly unstableChanges: ReadonlySet<string>;
  /** Epoch ms of the last verified request. */
  readonly lastAt: number;
  /** Stops listening and drops open connections: the endpoint is down (clients get ECONNREFUSED). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/** The id of the row a `record`-format body is about. */
export function recordIdOf(body: Record<string, unknown>): string {
  const record = body.record as { id?: unknown } | null | undefined;
  return String(record?.id);
}

const now = () => performance.timeOrigin + performance.now();

/** The deliveries a body carries: each event of a batch, else the body itself. */
function deliveriesIn(body: Record<string, unknown>): { id: string; body: Record<string, unknown> }[] {
  if (typeof body.batchId === 'string' && Array.isArray(body.events)) {
    return (body.events as { id: string; body: Record<string, unknown> }[]).map(({ id, body: eventBody }) => ({ id, body: eventBody }));
  }
  return [{ id: String(body.id), body }];
}

export async function startTallyReceiver(options: TallyOptions): Promise<TallyReceiver> {
  const changeIdOf = options.changeIdOf ?? recordIdOf;
  const eventIdByChange = new Map<string, string>();
  const unstableChanges = new Set<string>();
  let verified = 0;
  let rejected = 0;
  let refused = 0;
  let lastAt = 0;
  const tally = (delivery: VerifiedDelivery) => {
    lastAt = delivery.receivedAt;
    const first = eventIdByChange.get(delivery.changeId);
    if (first === undefined) eventIdByChange.set(delivery.changeId, delivery.eventId);
    else if (first !== delivery.eventId) unstableChanges.add(delivery.changeId);
    options.onDelivery?.(delivery);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown>;
      try {
        verifyWebhook({ body: rawBody, headers: req.headers, secret: options.secret });
        body = JSON.parse(rawBody) as Record<string, unknown>;
      } catch {
        rejected++;
        res.writeHead(401).end();
        return;
      }
      const receivedAt = now();
      const deliveries = deliveriesIn(body).map(({ id, body: eventBody }): VerifiedDelivery => ({ changeId: changeIdOf(eventBody), eventId: id, body: eventBody, rawBody, receivedAt }));
      const reply = options.reply?.(deliveries[0]!) ?? { status: 200 };
      if (reply.status >= 200 && reply.status < 300) {
        verified++;
        deliveries.forEach(tally);
      } else {
        refused++;
      }
      const send = () => {
        if (!res.destroyed) res.writeHead(reply.status).end();
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 60_000;
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    get verified() {
      return verified;
    },
    get rejected() {
      return rejected;
    },
    get refused() {
      return refused;
    },
    eventIdByChange,
    unstableChanges,
    get lastAt() {
      return lastAt;
    },
    down: stopListening,
    up: () => listen(port),
    close: async () => {
      if (server.listening) await stopListening();
    },
  };
}

/** A body as received, to be POSTed again by a baseline client. */
export interface ReceivedBody {
  id: string;
  body: string;
}

/**
 * A tally receiver that also keeps the first body of each delivery id it
 * verified, up to `count` of them, so that a baseline can send the very same
 * bodies to it: a retry or duplicate, or the baseline's own requests, add none.
 */
export async function startCollectingReceiver(secret: string, count: number): Promise<{ receiver: TallyReceiver; bodies: ReceivedBody[] }> {
  const bodies: ReceivedBody[] = [];
  const seen = new Set<string>();
  const receiver = await startTallyReceiver({
    secret,
    onDelivery: ({ eventId, rawBody }) => {
      if (bodies.length >= count || seen.has(eventId)) return;
      seen.add(eventId);
      bodies.push({ id: eventId, body: rawBody });
    },
  });
  return { receiver, bodies };
}
