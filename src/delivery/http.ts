/**
 * Sends one webhook POST and says how it went. Delivery failures are results,
 * not exceptions: the caller decides between retry, dead letter and disabling.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { createAddressPolicy, InvalidTargetUrlError, SsrfRefusedError, validateTargetUrl, type AddressPolicyOptions } from './ssrf.js';

export interface HttpSenderOptions {
  /**
   * Connecting, then the response headers, each within this; a response
   * body is read for at most this long after its headers (and no wait for
   * more of it may take longer).
   */
  timeoutMs?: number;
  maxUrlLength?: number;
  /** Sockets per origin; requests beyond it wait for a free one. */
  connectionsPerOrigin?: number;
  ssrf: AddressPolicyOptions;
}

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  /** Bytes are sent as they are; a string is encoded as UTF-8 first. */
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
/** Parsed targets kept: one per webhook URL in use; emptied when it grows past this. */
const MAX_PARSED_TARGETS = 10_000;

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

/** A response as `ResponseReader` read it: the start of the body is kept only when it is not a 2xx. */
interface ReadResponse {
  status: number;
  headers: IncomingHttpHeaders;
  excerpt: string;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * Reads one response as undici hands it over, with no stream in between
 * (one per request otherwise, for a body a 2xx rarely has). A body is read
 * to the end so the connection can be reused; one larger than the drain
 * limit is abandoned, which closes that one connection. A 2xx body is
 * dropped as it arrives; of any other the first `RESPONSE_EXCERPT_BYTES`
 * are kept as text, and it is abandoned too when still arriving `timeoutMs`
 * after its headers. Once the status is known the response settles: a body
 * that breaks off only costs its connection.
 */
class ResponseReader implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private readBytes = 0;
  /** performance.now() after which a non-2xx body is abandoned. */
  private deadline = Infinity;
  private settled = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly resolve: (response: ReadResponse) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  // Defined, if empty, so that undici takes this for a handler of its current API.
  onRequestStart(): void {}

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // An informational (1xx) response: the real one follows.
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    if (!isSuccess(statusCode)) this.deadline = performance.now() + this.timeoutMs;
    else if (Number(headers['content-length']) > DRAIN_LIMIT_BYTES) this.abandon(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (!isSuccess(this.status) && this.keptBytes < RESPONSE_EXCERPT_BYTES) {
      const part = chunk.subarray(0, RESPONSE_EXCERPT_BYTES - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    this.readBytes += chunk.length;
    if (this.readBytes > DRAIN_LIMIT_BYTES || performance.now() > this.deadline) this.abandon(controller);
  }

  onResponseEnd(): void {
    this.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.status !== 0) {
      this.settle();
    } else if (!this.settled) {
      this.settled = true;
      this.reject(error);
    }
  }

  private abandon(controller: Dispatcher.DispatchController): void {
    this.settle();
    controller.abort(new Error('response body abandoned'));
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    const excerpt = this.kept.length === 0 ? '' : Buffer.concat(this.kept).toString('utf8').trim();
    this.resolve({ status: this.status, headers: this.headers, excerpt });
  }
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

/** Whole milliseconds since `startedAt` (performance.now()). */
function msSince(startedAt: number): number {
  return Math.round(performance.now() - startedAt);
}

/** A request refused before any connection: retrying cannot help. */
function refused(error: string, startedAt: number): SendResult {
  return { outcome: 'failure', error, refused: true, durationMs: msSince(startedAt) };
}

/** Where a target URL sends requests, as the agent takes them; or why it may not be called. */
type Target = { origin: string; path: string } | { refusal: string };

export class HttpSender {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxUrlLength: number;
  /** URL → its target: parsed and checked once per webhook URL, not once per attempt. */
  private readonly targets = new Map<string, Target>();

  constructor(options: HttpSenderOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxUrlLength = options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH;
    const policy = createAddressPolicy(options.ssrf);
    const connectSocket = buildConnector({ timeout: this.timeoutMs, lookup: policy.lookup });
    // One Agent keeps a keep-alive pool per origin.
    this.agent = new Agent({
      connections: options.connectionsPerOrigin ?? 16,
      // Below the 5 s idle timeout of Node and many proxies, so a socket the server is closing is not reused.
      keepAliveTimeout: 4_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      // The address check runs once per new connection, not per request: a host name's in `lookup`, where the
      // socket goes to the address just approved; an IP literal's here, since Node connects to it without `lookup`.
      connect: (connectOptions, callback) => {
        const refusal = policy.literalRefusal(connectOptions.hostname);
        if (refusal !== undefined) callback(refusal, null);
        else connectSocket(connectOptions, callback);
      },
    });
  }

  private targetOf(url: string): Target {
    let target = this.targets.get(url);
    if (target === undefined) {
      try {
        const parsed = validateTargetUrl(url, this.maxUrlLength);
        target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      } catch (error) {
        if (!(error instanceof InvalidTargetUrlError)) throw error;
        target = { refusal: error.message };
      }
      if (this.targets.size >= MAX_PARSED_TARGETS) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  async send({ url, headers, body }: SendRequest): Promise<SendResult> {
    const startedAt = performance.now();
    const target = this.targetOf(url);
    if ('refusal' in target) return refused(target.refusal, startedAt);

    try {
      const { status, headers: responseHeaders, excerpt } = await this.post(target.origin, target.path, headers, body);
      if (isSuccess(status)) return { outcome: 'success', status, durationMs: msSince(startedAt) };
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(responseHeaders['retry-after'], Date.now()) : undefined;
      return {
        outcome: 'failure',
        status,
        error: describeStatus(status),
        ...(excerpt !== '' && { responseExcerpt: excerpt }),
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        ...(status === 410 && { gone: true as const }),
        durationMs: msSince(startedAt),
      };
    } catch (error) {
      if (error instanceof SsrfRefusedError) return refused(error.message, startedAt);
      return { outcome: 'failure', error: describeNetworkError(error, this.timeoutMs), durationMs: msSince(startedAt) };
    }
  }

  private post(origin: string, path: string, headers: Record<string, string>, body: string | Uint8Array): Promise<ReadResponse> {
    return new Promise((resolve, reject) => {
      this.agent.dispatch({ origin, path, method: 'POST', headers, body }, new ResponseReader(this.timeoutMs, resolve, reject));
    });
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
