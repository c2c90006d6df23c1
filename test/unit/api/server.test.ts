import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { graphqlRoute } from '../../../src/api/graphql.js';
import type { Management } from '../../../src/api/management.js';
import { startApi } from '../../../src/api/index.js';
import { createApiServer, hostAllowed, readBody, sendJson, SERVER_LIMITS, type ApiServer, type Route, type ServerLimits } from '../../../src/api/server.js';
import { resolveConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/common/log.js';

const logger = createLogger('silent');
const TOKEN = 'a-token-of-more-than-16-characters';
/** Generous: the limits under test are a second or less, the defaults Node had before were minutes. */
const CLOSE_BOUND_MS = 20_000;

const echoRoute: Route = {
  path: '/echo',
  methods: ['POST'],
  async handle(request, response) {
    sendJson(response, 200, { bytes: (await readBody(request, 1024 * 1024)).length });
  },
};

let servers: ApiServer[] = [];
let sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
  sockets = [];
});

async function serve(routes: Route[], limits?: ServerLimits, allowedHosts?: string[]): Promise<number> {
  const server = createApiServer({ routes, logger, ...(limits && { limits }), ...(allowedHosts && { allowedHosts }) });
  servers.push(server);
  return (await server.listen('127.0.0.1', 0)).port;
}

/** A client that sends the headers and the start of a body that never completes; resolves with what it got once the server closes it. */
function slowBody(port: number, headers: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /${headers}\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"query":`);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      const closed = new Promise<string>((done, fail) => {
        const bound = setTimeout(() => fail(new Error(`the server kept the socket open ${CLOSE_BOUND_MS} ms; received so far: ${JSON.stringify(received)}`)), CLOSE_BOUND_MS);
        socket.on('close', () => {
          clearTimeout(bound);
          done(received);
        });
      });
      resolve({ socket, closed });
    });
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

describe('the API server', () => {
  it('closes the socket of a slow body it refused without a token, instead of reading the rest', async () => {
    // Timeouts far beyond the bound, so that only the early close can end the socket in time.
    const patient = { ...SERVER_LIMITS, requestTimeoutMs: 600_000, headersTimeoutMs: 600_000, keepAliveTimeoutMs: 600_000 };
    const port = await serve([graphqlRoute({ management: {} as Management, token: TOKEN, logger })], patient);
    const { closed } = await slowBody(port, 'graphql HTTP/1.1');
    expect(await closed).toMatch(/^HTTP\/1\.1 401/);
  });

  it('answers 408 and closes a request whose body does not arrive within requestTimeout', async () => {
    const limits = { ...SERVER_LIMITS, requestTimeoutMs: 1_000, headersTimeoutMs: 1_000, checkIntervalMs: 200 };
    const port = await serve([echoRoute], limits);
    const { closed } = await slowBody(port, 'echo HTTP/1.1');
    expect(await closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it('refuses connections beyond maxConnections', async () => {
    const port = await serve([echoRoute], { ...SERVER_LIMITS, maxConnections: 2 });
    await slowBody(port, 'echo HTTP/1.1');
    await slowBody(port, 'echo HTTP/1.1');
    const third = await slowBody(port, 'echo HTTP/1.1');
    expect(await third.closed).toBe('');
  });

  it('closes with a request still being answered, ending its connection (shutdown is not held by a hung /readyz)', async () => {
    let answering!: () => void;
    const started = new Promise<void>((resolve) => (answering = resolve));
    const hangs: Route = { path: '/hangs', methods: ['GET'], handle: () => new Promise<void>(() => answering()) };
    const server = createApiServer({ routes: [hangs], logger });
    const { port } = await server.listen('127.0.0.1', 0);
    const response = new Promise<string>((resolve) => {
      const request = httpRequest({ host: '127.0.0.1', port, path: '/hangs' }, () => resolve('answered'));
      request.on('error', (error) => resolve(error.message));
      request.end();
    });
    await started;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still closing'), CLOSE_BOUND_MS)));
    expect(await Promise.race([server.close().then(() => 'closed'), bound])).toBe('closed');
    clearTimeout(timer);
    expect(await response).toBe('socket hang up');
  });

  it('has default limits of seconds, not minutes', () => {
    expect(SERVER_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(SERVER_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(SERVER_LIMITS.requestTimeoutMs);
    expect(SERVER_LIMITS.maxConnections).toBeGreaterThan(0);
  });
});

describe('the Host check (DNS rebinding)', () => {
  it('answers IP literals, localhost and the listed names only', () => {
    for (const host of ['127.0.0.1:8080', '[::1]:8080', '10.1.2.3', 'localhost:8080', 'LOCALHOST', 'app.localhost', 'walhook:8080', 'walhook.crm.svc:8080', 'walhook.crm.svc.', 'a.hooks.example.com']) {
      expect(hostAllowed(host, ['walhook.crm.svc', '*.hooks.example.com']), host).toBe(true);
    }
    for (const host of [undefined, '', 'attacker.example', 'walhook.crm.svc.attacker.example', 'hooks.example.com', 'localhost.attacker.example', '127.0.0.1.nip.io', 'a b', '[::1']) {
      expect(hostAllowed(host, ['walhook.crm.svc', '*.hooks.example.com']), String(host)).toBe(false);
    }
  });

  it('refuses a request whose Host is a rebound name with 403, before any route runs', async () => {
    let handled = 0;
    const counted: Route = { path: '/graphql', methods: ['POST'], handle: (_request, response) => void (handled++, sendJson(response, 200, {})) };
    const port = await serve([counted], undefined, ['walhook.internal']);
    // fetch cannot set Host; node:http sends the given one.
    const post = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const sent = httpRequest({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers: { host } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        sent.on('error', reject);
        sent.end('{}');
      });
    expect(await post('attacker.example')).toBe(403);
    expect(handled).toBe(0);
    expect(await post('walhook.internal:8080')).toBe(200);
    expect(await post(`127.0.0.1:${port}`)).toBe(200);
  });
});

describe('api.opsListen', () => {
  const config = (api: Record<string, unknown>) =>
    resolveConfig({ api: { listen: '127.0.0.1:0', ...api } }, { WALHOOK_DATABASE_URL: 'postgres://walhook@127.0.0.1/crm' });
  const fakeMetrics: Route = { path: '/metrics', methods: ['GET'], handle: (_request, response) => void response.end('walhook_up 1\n') };
  const management = {} as Management;

  it('serves /metrics and /readyz on its own address, and no longer on api.listen', async () => {
    const started = await startApi({ config: config({ opsListen: '127.0.0.1:0' }), management, logger, extraRoutes: [fakeMetrics] });
    servers.push(started.server);
    const api = `http://127.0.0.1:${started.address.port}`;
    const ops = `http://127.0.0.1:${started.opsAddress?.port}`;
    expect((await fetch(`${api}/metrics`)).status).toBe(404);
    expect(await (await fetch(`${ops}/metrics`)).text()).toBe('walhook_up 1\n');
    expect((await fetch(`${ops}/healthz`)).status).toBe(200);
    expect((await fetch(`${ops}/graphql`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${api}/graphql`, { method: 'POST', body: '{}' })).status).toBe(401);
  });

  it('without it, everything is served on api.listen as before', async () => {
    const started = await startApi({ config: config({}), management, logger, extraRoutes: [fakeMetrics] });
    servers.push(started.server);
    expect(started.opsAddress).toBeNull();
    expect((await fetch(`http://127.0.0.1:${started.address.port}/metrics`)).status).toBe(200);
  });
});
