/**
 * The daemon's HTTP server (`api.listen`): a fixed table of routes by path,
 * each answering its own methods. The GraphQL API and /healthz are routes;
 * /metrics and /readyz are added the same way.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from '../common/log.js';

export interface Route {
  path: string;
  /** Methods served; any other gets 405. */
  methods: readonly string[];
  handle(request: IncomingMessage, response: ServerResponse): void | Promise<void>;
}

export interface ApiServer {
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';

  constructor(readonly limitBytes: number) {
    super(`request body larger than ${limitBytes} bytes`);
  }
}

/** A body is announced and not all of it has been read. */
function bodyUnread(request: IncomingMessage): boolean {
  const announced = request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] ?? '0') !== '0';
  return announced && !request.complete;
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // Answered before the body was read (401, 403, 413…): Node then closes the socket instead of reading the rest of a slow body.
  const closing: Record<string, string> = bodyUnread(response.req) ? { connection: 'close' } : {};
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...closing, ...headers });
  response.end(text);
}

/** The whole body, refused beyond `limitBytes`. */
export async function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new PayloadTooLargeError(limitBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Liveness: the process serves HTTP. No auth, no dependency checked. */
export function healthRoute(): Route {
  return { path: '/healthz', methods: ['GET', 'HEAD'], handle: (_request, response) => sendJson(response, 200, { status: 'ok' }) };
}

/**
 * What one client may hold. A request (headers and body) must arrive within
 * `requestTimeoutMs` (then 408 and the socket is closed), its headers within
 * `headersTimeoutMs`; an idle keep-alive socket is closed after
 * `keepAliveTimeoutMs`; beyond `maxConnections` new sockets are refused.
 * Node checks the first two every `checkIntervalMs`.
 */
export interface ServerLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  checkIntervalMs: number;
}

/** The API's bodies are at most 1 MB, sent at once by scripts and the console: 30 s is generous for them. */
/** How long close() waits for requests still being answered before it ends their connections. */
const CLOSE_BOUND_MS = 3_000;

export const SERVER_LIMITS: ServerLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  checkIntervalMs: 5_000,
};

export interface ApiServerOptions {
  routes: readonly Route[];
  logger: Logger;
  limits?: ServerLimits;
  /** Host names answered besides IP literals and localhost (api.allowedHosts); `*.` matches subdomains. */
  allowedHosts?: readonly string[];
}

/**
 * Whether a request's Host header is one this server answers. A page on an
 * attacker's domain that rebinds its name to this address still sends its
 * own name as Host, so only names the operator listed, single-label names
 * such as localhost and IP literals (none of which a rebinding page can
 * send) are answered.
 */
export function hostAllowed(host: string | undefined, allowedHosts: readonly string[]): boolean {
  if (host === undefined) return false;
  const name = hostName(host);
  if (name === undefined) return false;
  // A single-label name (a Compose service, a Kubernetes short name) is not in public DNS, so a rebinding page cannot own it.
  if (isIP(name) !== 0 || !name.includes('.') || name.endsWith('.localhost')) return true;
  return allowedHosts.some((allowed) => {
    const pattern = allowed.toLowerCase().replace(/\.$/, '');
    return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1 : name === pattern;
  });
}

/** The name of a Host header (`[::1]:8080` → `::1`, `Example.COM.:80` → `example.com`), or undefined when it is not one. */
function hostName(host: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9_.-]+))(?::\d{1,5})?$/i.exec(host.trim());
  const name = match?.[1] ?? match?.[2];
  return name?.toLowerCase().replace(/\.$/, '');
}

export function createApiServer({ routes, logger, limits = SERVER_LIMITS, allowedHosts = [] }: ApiServerOptions): ApiServer {
  const byPath = new Map(routes.map((route) => [route.path, route]));
  const server = createServer({
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  }, (request, response) => {
    // Answered before its body was read (401, 404, 413): drop the socket rather than wait for the rest of a slow body.
    if (!hostAllowed(request.headers.host, allowedHosts)) {
      sendJson(response, 403, { error: 'this Host is not served: add it to api.allowedHosts' });
      return;
    }
    // `/console/` is `/console`: paths are matched without a trailing slash.
    const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/(.)\/$/, '$1');
    const route = byPath.get(path);
    if (!route) {
      sendJson(response, 404, { error: `no route ${path}` });
      return;
    }
    if (!route.methods.includes(request.method ?? '')) {
      sendJson(response, 405, { error: `${request.method} is not served on ${path}` }, { allow: route.methods.join(', ') });
      return;
    }
    Promise.resolve()
      .then(() => route.handle(request, response))
      .catch((error: unknown) => {
        logger.error({ err: error, path }, 'HTTP handler failed');
        if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
        else response.destroy();
      });
  });
  server.maxConnections = limits.maxConnections;
  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        // A request still being answered after the bound (a /readyz check waiting on an unreachable database) must not hold the shutdown.
        const bound = setTimeout(() => server.closeAllConnections(), CLOSE_BOUND_MS);
        server.close(() => {
          clearTimeout(bound);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
