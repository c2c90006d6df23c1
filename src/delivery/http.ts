/**
 * Sends one webhook POST and says how it went. Delivery failures are results,
 * not exceptions: the caller decides between retry, dead letter and disabling.
 */
import { Agent, request } from 'undici';
import type { Readable } from 'node:stream';
import {
  createAddressPolicy,
  InvalidTargetUrlError,
  SsrfRefusedError,
  validateTargetUrl,
  type AddressPolicy,
  type AddressPolicyOptions,
} from './ssrf.js';

export interface HttpSenderOptions {
  /** Whole attempt, from connect to the end of the response body. */
  timeoutMs?: number;
  maxUrlLength?: number;
  /** Sockets per origin; requests beyond it wait for a free one. */
  connectionsPerOrigin?: number;
  ssrf: AddressPolicyOptions;
}

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export type SendResult =
  | { outcome: 'success'; status: number; durationMs: number }
  | {
      outcome: 'failure';
      /** Absent when no response arrived (network error, timeout, refusal). */
      status?: number;
      /** Short, for humans: `HTTP 500`, `timeout after 30000 ms`, `connection refused`. */
      error: string;
      /** Start of the response body (non-2xx only), for the attempt history. */
      responseExcerpt?: string;
      /** From `Retry-After` on 429/503: wait at least this long before the next attempt. */
      retryAfterMs?: number;
      /** 410 Gone: the receiver asks for the webhook to be disabled. */
      gone?: true;
      /** Refused before any connection (SSRF guard, invalid URL): retrying cannot help. */
      refused?: true;
      durationMs: number;
    };

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_URL_LENGTH = 2048;
/** A longer `Retry-After` is cut to the longest step of the retry schedule. */
export const MAX_RETRY_AFTER_MS = 6 * 60 * 60 * 1000;
const RESPONSE_EXCERPT_BYTES = 1024;
/** Bodies up to this size are read to the end so the connection can be reused; larger ones close it. */
const DRAIN_LIMIT_BYTES = 256 * 1024;

/** `Retry-After` as milliseconds from `now` (delay in seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | string[] | undefined, now: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  let delayMs: number;
  if (/^\d+$/.test(value)) {
    delayMs = Number(value) * 1000;
  } else {
    // Date.parse also reads bare numbers such as "-5" as years; a real HTTP date always has a month name.
    const date = /[a-z]/i.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(date)) return undefined;
    delayMs = Math.max(0, date - now);
  }
  return Math.min(delayMs, MAX_RETRY_AFTER_MS);
}

/**
 * Reads a response body to the end (so the socket returns to the pool) and
 * keeps its first `keepBytes` as text. A body larger than the drain limit is
 * abandoned, which closes that one connection. Never rejects: the status is
 * already known, and a body that breaks off only costs its connection.
 */
async function drainBody(body: Readable, keepBytes: number): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let readBytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (keptBytes < keepBytes) {
        const part = chunk.subarray(0, keepBytes - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
      readBytes += chunk.length;
      if (readBytes > DRAIN_LIMIT_BYTES) break;
    }
  } catch {
    // Keep what arrived before the break-off.
  }
  return Buffer.concat(kept).toString('utf8').trim();
}

function describeStatus(status: number): string {
  if (status >= 300 && status < 400) return `redirect (${status}) not followed`;
  if (status === 410) return 'HTTP 410 Gone';
  return `HTTP ${status}`;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  UND_ERR_SOCKET: 'connection closed by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** Node reports a failure on every address of a host as an AggregateError whose parts carry the codes. */
function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined;
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  const code = errorCode(error);
  const name = error instanceof Error ? error.name : undefined;
  if ((code !== undefined && TIMEOUT_CODES.has(code)) || name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  const known = code === undefined ? undefined : NETWORK_ERRORS[code];
  if (known !== undefined) return known;
  return error instanceof Error ? error.message : String(error);
}

export class HttpSender {
  private readonly agent: Agent;
  private readonly policy: AddressPolicy;
  private readonly timeoutMs: number;
  private readonly maxUrlLength: number;

  constructor(options: HttpSenderOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxUrlLength = options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH;
    this.policy = createAddressPolicy(options.ssrf);
    // One Agent keeps a keep-alive pool per origin.
    this.agent = new Agent({
      connections: options.connectionsPerOrigin ?? 16,
      // Below the 5 s idle timeout of Node and many proxies, so a socket the server is closing is not reused.
      keepAliveTimeout: 4_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: { timeout: this.timeoutMs, lookup: this.policy.lookup },
    });
  }

  async send({ url, headers, body }: SendRequest): Promise<SendResult> {
    const startedAt = performance.now();
    const elapsed = () => Math.round(performance.now() - startedAt);
    const refuse = (error: string): SendResult => ({ outcome: 'failure', error, refused: true, durationMs: elapsed() });

    let target: URL;
    try {
      target = validateTargetUrl(url, this.maxUrlLength);
    } catch (error) {
      if (error instanceof InvalidTargetUrlError) return refuse(error.message);
      throw error;
    }
    // Node connects to IP literals without calling `lookup`, so they are checked here.
    const literalRefusal = this.policy.literalRefusal(target.hostname);
    if (literalRefusal !== undefined) return refuse(literalRefusal.message);

    try {
      const response = await request(target, {
        dispatcher: this.agent,
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await drainBody(response.body, 0);
        return { outcome: 'success', status, durationMs: elapsed() };
      }
      const responseExcerpt = await drainBody(response.body, RESPONSE_EXCERPT_BYTES);
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after'], Date.now()) : undefined;
      return {
        outcome: 'failure',
        status,
        error: describeStatus(status),
        ...(responseExcerpt !== '' && { responseExcerpt }),
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        ...(status === 410 && { gone: true as const }),
        durationMs: elapsed(),
      };
    } catch (error) {
      if (error instanceof SsrfRefusedError) return refuse(error.message);
      return { outcome: 'failure', error: describeNetworkError(error, this.timeoutMs), durationMs: elapsed() };
    }
  }

  /** Waits for requests in flight, then closes every pooled connection. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Aborts requests in flight and closes every connection: for a shutdown whose deadline has passed. */
  async destroy(): Promise<void> {
    await this.agent.destroy();
  }
}
