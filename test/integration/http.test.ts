import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpSender, parseRetryAfter, type HttpSenderOptions } from '../../src/delivery/http.js';

interface ReceivedRequest {
  method: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface TestServer {
  port: number;
  url: string;
  received: ReceivedRequest[];
  /** TCP connections the server accepted. */
  connections: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const senders: HttpSender[] = [];

/** A real HTTP server on 127.0.0.1; `respond` answers (or not) once the request body has arrived. */
async function startServer(respond: (request: ReceivedRequest, response: http.ServerResponse) => void): Promise<TestServer> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received = { method: request.method, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      testServer.received.push(received);
      respond(received, response);
    });
  });
  server.on('connection', () => {
    testServer.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const testServer: TestServer = {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    received: [],
    connections: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(testServer);
  return testServer;
}

function answer(status: number, headers: Record<string, string> = {}, body = ''): (request: ReceivedRequest, response: http.ServerResponse) => void {
  return (_request, response) => {
    response.writeHead(status, headers);
    response.end(body);
  };
}

function sender(options: Partial<HttpSenderOptions> = {}): HttpSender {
  const created = new HttpSender({ ssrf: { enabled: true, allowList: ['127.0.0.1/32'] }, ...options });
  senders.push(created);
  return created;
}

const payload = { headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body: '{"event":"person.created"}' };

afterEach(async () => {
  await Promise.all(senders.splice(0).map((created) => created.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('HttpSender: statuses', () => {
  it.each([200, 204, 299])('counts %i as success and POSTs the headers and body it was given', async (status) => {
    const server = await startServer(answer(status));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toMatchObject({ outcome: 'success', status });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]).toMatchObject({ method: 'POST', body: payload.body, headers: { 'x-test': 'yes', 'content-type': 'application/json' } });
  });

  it.each([
    [500, 'HTTP 500'],
    [404, 'HTTP 404'],
  ])('counts %i as failure with its status and the start of the body', async (status, error) => {
    const server = await startServer(answer(status, {}, `  oops ${status}\n`));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toEqual({ outcome: 'failure', status, error, responseExcerpt: `oops ${status}`, durationMs: expect.any(Number) });
  });

  it('keeps only the first kilobyte of a long error body', async () => {
    const server = await startServer(answer(500, {}, 'x'.repeat(10_000)));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result.outcome === 'failure' && result.responseExcerpt).toBe('x'.repeat(1024));
  });

  it('does not follow a redirect: a 302 is a failure and its target receives nothing', async () => {
    const target = await startServer(answer(200));
    const redirecting = await startServer(answer(302, { location: target.url }));
    const result = await sender().send({ url: redirecting.url, ...payload });
    expect(result).toMatchObject({ outcome: 'failure', status: 302, error: 'redirect (302) not followed' });
    expect(target.received).toHaveLength(0);
    expect(target.connections).toBe(0);
  });

  it('reads Retry-After in seconds on 429', async () => {
    const server = await startServer(answer(429, { 'retry-after': '7' }));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toMatchObject({ outcome: 'failure', status: 429, error: 'HTTP 429', retryAfterMs: 7000 });
  });

  it('reads Retry-After as an HTTP date on 503', async () => {
    const server = await startServer(answer(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() }));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toMatchObject({ outcome: 'failure', status: 503 });
    const retryAfterMs = result.outcome === 'failure' ? result.retryAfterMs : undefined;
    // The date has whole seconds, so up to one second is lost.
    expect(retryAfterMs).toBeGreaterThan(118_000);
    expect(retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('ignores Retry-After on other statuses', async () => {
    const server = await startServer(answer(500, { 'retry-after': '7' }));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it('marks 410 Gone', async () => {
    const server = await startServer(answer(410));
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toMatchObject({ outcome: 'failure', status: 410, error: 'HTTP 410 Gone', gone: true });
  });
});

describe('HttpSender: network failures', () => {
  it('gives up on a server that never answers after the timeout', async () => {
    const server = await startServer(() => {});
    const result = await sender({ timeoutMs: 300 }).send({ url: server.url, ...payload });
    expect(result).toEqual({ outcome: 'failure', error: 'timeout after 300 ms', durationMs: expect.any(Number) });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    expect(result.durationMs).toBeLessThan(5_000);
  });

  it('reports a closed port as connection refused', async () => {
    const server = await startServer(answer(200));
    await server.close();
    const result = await sender().send({ url: server.url, ...payload });
    expect(result).toEqual({ outcome: 'failure', error: 'connection refused', durationMs: expect.any(Number) });
  });

  // undici's pool marks a connection free a tick after its response ends, so a
  // strictly sequential caller may alternate between two sockets. Without
  // keep-alive every request would open its own, and so would an unread body
  // larger than undici's buffer (64 KB), hence the 150 kB bodies.
  it.each([
    ['success', 200],
    ['failure with a body', 500],
  ])('reuses keep-alive connections for sequential requests (%s)', async (_label, status) => {
    const server = await startServer(answer(status, {}, 'y'.repeat(150_000)));
    const httpSender = sender();
    const statuses: (number | undefined)[] = [];
    for (let attempt = 0; attempt < 10; attempt += 1) statuses.push((await httpSender.send({ url: server.url, ...payload })).status);
    expect(statuses).toEqual(new Array(10).fill(status));
    expect(server.received).toHaveLength(10);
    expect(server.connections).toBeLessThanOrEqual(2);
  });

  // Past the drain limit (256 kB) a body is not read on: its connection is closed, so each request opens another.
  it.each([
    ['success', 200, undefined],
    ['failure', 500, 'z'.repeat(1024)],
  ])('abandons a body past the drain limit (%s): the answer stands and that connection is closed', async (_label, status, responseExcerpt) => {
    const server = await startServer(answer(status, {}, 'z'.repeat(400_000)));
    const httpSender = sender();
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const result = await httpSender.send({ url: server.url, ...payload });
      expect(result).toMatchObject({ status, outcome: status === 200 ? 'success' : 'failure' });
      expect(result.outcome === 'failure' ? result.responseExcerpt : undefined).toBe(responseExcerpt);
    }
    // Reused, four requests would take at most two (see above).
    expect(server.connections).toBeGreaterThanOrEqual(4);
  });

  it('keeps what arrived of an error body that stops arriving, once the timeout has passed', async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(500);
      response.write('partial ');
    });
    const result = await sender({ timeoutMs: 300 }).send({ url: server.url, ...payload });
    expect(result).toEqual({ outcome: 'failure', status: 500, error: 'HTTP 500', responseExcerpt: 'partial', durationMs: expect.any(Number) });
    expect(result.durationMs).toBeLessThan(5_000);
  });
});

describe('HttpSender: SSRF guard and URL checks', () => {
  const guarded = () => sender({ ssrf: { enabled: true, allowList: [] } });

  it.each([
    ['an IPv4 literal', (port: number) => `http://127.0.0.1:${port}/hook`, 'SSRF guard: 127.0.0.1 is a loopback address'],
    ['an IPv4-mapped IPv6 literal', (port: number) => `http://[::ffff:127.0.0.1]:${port}/hook`, 'SSRF guard: ::ffff:7f00:1 is a form of 127.0.0.1, a loopback address'],
    ['a name resolving to loopback', (port: number) => `http://localhost:${port}/hook`, 'SSRF guard: localhost resolves only to addresses that may not be called (a loopback address)'],
  ])('refuses %s without connecting', async (_label, urlFor, error) => {
    const server = await startServer(answer(200));
    const result = await guarded().send({ url: urlFor(server.port), ...payload });
    expect(result).toMatchObject({ outcome: 'failure', refused: true });
    expect(result.outcome === 'failure' && result.error).toContain(error);
    expect(result).not.toHaveProperty('status');
    expect(server.connections).toBe(0);
  });

  it('lets an allow-listed CIDR through', async () => {
    const server = await startServer(answer(200));
    const result = await sender({ ssrf: { enabled: true, allowList: ['127.0.0.1/32'] } }).send({ url: `http://127.0.0.1:${server.port}/`, ...payload });
    expect(result).toMatchObject({ outcome: 'success', status: 200 });
  });

  it('lets an allow-listed host name through', async () => {
    const server = await startServer(answer(200));
    const result = await sender({ ssrf: { enabled: true, allowList: ['localhost'] } }).send({ url: `http://localhost:${server.port}/`, ...payload });
    expect(result).toMatchObject({ outcome: 'success', status: 200 });
    expect(server.received).toHaveLength(1);
  });

  it('does not let an allow-listed host name open other names', async () => {
    const server = await startServer(answer(200));
    const result = await sender({ ssrf: { enabled: true, allowList: ['hooks.internal'] } }).send({ url: `http://localhost:${server.port}/`, ...payload });
    expect(result).toMatchObject({ outcome: 'failure', refused: true });
    expect(server.connections).toBe(0);
  });

  it.each([
    ['another scheme', 'ftp://127.0.0.1/hook', 'invalid target URL: scheme ftp is not http or https'],
    ['2049 characters', `http://127.0.0.1/${'a'.repeat(2049 - 'http://127.0.0.1/'.length)}`, 'invalid target URL: longer than 2048 characters (2049)'],
    ['credentials', 'http://user:pass@127.0.0.1/', 'invalid target URL: credentials in the URL are not allowed'],
  ])('refuses a URL with %s', async (_label, url, error) => {
    const result = await sender().send({ url, ...payload });
    expect(result).toEqual({ outcome: 'failure', error, refused: true, durationMs: expect.any(Number) });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it.each([
    ['7', 7_000],
    ['0', 0],
    [['12', '99'], 12_000],
    ['Wed, 01 Jan 2025 00:01:30 GMT', 90_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['999999', 6 * 60 * 60 * 1000],
  ])('reads %j as %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });

  it.each([undefined, '', '-5', '1.5', 'soon'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});
