/**
 * A real webhook receiver on 127.0.0.1 for tests: records every request,
 * verifies its signatures with walhook/verify, and answers with whatever the
 * test's `respond` says (200 by default).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WebhookVerificationError } from '../../src/common/verify.js';

export interface ReceivedRequest {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Parsed body. */
  json: Record<string, unknown>;
  /** null when the signature verified, else the failure reason. */
  verificationError: string | null;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (after `heldUntil`, if both are given). */
  delayMs?: number;
  /** Answer only once this settles: a receiver that is slow until the test says otherwise, whatever the clock. */
  heldUntil?: Promise<void>;
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Requests whose signature verified. */
  verified(): ReceivedRequest[];
  respond: (request: ReceivedRequest, index: number) => Reply;
  close(): Promise<void>;
}

export async function startReceiver(options: { secret?: string | string[]; respond?: Receiver['respond'] } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    verified: () => requests.filter((r) => r.verificationError === null),
    respond: options.respond ?? (() => ({ status: 200 })),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verificationError: string | null = null;
      if (options.secret !== undefined) {
        try {
          verifyWebhook({ body, headers: req.headers, secret: options.secret });
        } catch (error) {
          verificationError = error instanceof WebhookVerificationError ? error.reason : String(error);
        }
      }
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        verificationError ??= 'body is not JSON';
      }
      const request: ReceivedRequest = { at: Date.now(), path: req.url ?? '/', headers: req.headers, body, json, verificationError };
      const index = requests.push(request) - 1;
      const reply = receiver.respond(request, index);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
      };
      const answer = () => (reply.delayMs ? setTimeout(send, reply.delayMs) : send());
      if (reply.heldUntil) void reply.heldUntil.then(answer);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
  // Lets close() finish while clients still hold keep-alive sockets.
  const closeAll = server.close.bind(server);
  receiver.close = () =>
    new Promise((resolve) => {
      closeAll(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

/**
 * Polls `check` until it returns true or the time is up, then throws with `what`
 * (a function is asked at that moment, so the message can say what was seen).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string | Promise<string>),
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
}
