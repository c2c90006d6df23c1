/**
 * The baseline of end-to-end throughput and of CPU per delivery: a bare
 * undici client that signs and POSTs given bodies, with as many requests in
 * flight as walhook allows per endpoint. It runs in a process of its own, as
 * walhook does, so neither shares an event loop (or a CPU account) with the
 * receiver it is measured against. The process lives across posts, its
 * connections and JIT kept warm as walhook's are between deliveries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { SIGNATURE_SCHEMES } from '../../src/common/verify.js';
import { signRequest } from '../../src/delivery/signing.js';

export interface RawPosterOptions {
  url: string;
  secret: string;
  concurrency: number;
}

type RawDelivery = { id: string; body: string };

export interface RawPostJob extends RawPosterOptions {
  deliveries: RawDelivery[];
}

export interface RawPostSummary {
  /** From the first request sent to the last response read. */
  seconds: number;
  sent: number;
  /** Responses other than 2xx, and network errors. */
  failures: number;
  /** CPU time of the whole process (user + system, every thread) over the same span. */
  cpuMicroseconds: number;
}

async function postSignedBodies(agent: Agent, { url, secret, concurrency }: RawPosterOptions, deliveries: readonly RawDelivery[]): Promise<RawPostSummary> {
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < deliveries.length) {
      const { id, body } = deliveries[next++]!;
      const headers = signRequest({ body, deliveryId: id, secrets: [secret], schemes: SIGNATURE_SCHEMES, now: new Date() });
      try {
        const response = await request(url, { dispatcher: agent, method: 'POST', headers, body });
        await response.body.dump();
        if (response.statusCode < 200 || response.statusCode >= 300) failures++;
      } catch {
        failures++;
      }
    }
  };
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - startedAt) / 1000;
  return { seconds, sent: deliveries.length, failures, cpuMicroseconds: cpu.user + cpu.system };
}

const SCRIPT = fileURLToPath(import.meta.url);
/** How the child gets its options: not on its command line, where `ps` would show the secret. */
const OPTIONS_ENV = 'WALHOOK_BENCH_RAW_POSTER';

/**
 * `postSignedBodies` in a child process (node with the tsx loader), spawned
 * once and given one list of deliveries at a time over IPC.
 */
export class RawPoster {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #pending: { resolve: (summary: RawPostSummary) => void; reject: (error: Error) => void } | null = null;
  /** Set once the child is gone or failed: every post from then on rejects with it. */
  #failure: Error | null = null;

  constructor(options: RawPosterOptions) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, [OPTIONS_ENV]: JSON.stringify(options) },
    });
    this.#child.on('message', (summary) => {
      const pending = this.#pending;
      this.#pending = null;
      pending?.resolve(summary as RawPostSummary);
    });
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#fail(new Error(`the raw poster exited with ${signal ?? code}`));
        resolve();
      });
      this.#child.on('error', (error) => {
        this.#fail(new Error(`the raw poster failed: ${error.message}`, { cause: error }));
        // A child that never started emits no 'exit'.
        if (this.#child.pid === undefined) resolve();
      });
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(this.#failure);
  }

  /** POSTs `deliveries`, signed, to the url; one post at a time, the summary counting that post only. */
  post(deliveries: RawDelivery[]): Promise<RawPostSummary> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending) return Promise.reject(new Error('the raw poster is already posting'));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.send(deliveries, (error) => {
        if (error) this.#fail(new Error(`could not send the raw poster its deliveries: ${error.message}`, { cause: error }));
      });
    });
  }

  /** Ends the child (it closes its connections and exits once its IPC channel is gone) and waits until it has. */
  async close(): Promise<void> {
    if (this.#child.connected) this.#child.disconnect();
    await this.#exited;
  }
}

/** Runs one `postSignedBodies` in a child process of its own and returns its summary. */
export async function postInChildProcess({ deliveries, ...options }: RawPostJob): Promise<RawPostSummary> {
  const poster = new RawPoster(options);
  try {
    return await poster.post(deliveries);
  } finally {
    await poster.close();
  }
}

if (process.argv[1] === SCRIPT) {
  const options = JSON.parse(process.env[OPTIONS_ENV]!) as RawPosterOptions;
  // One Agent for every post, so its connections stay open between them.
  const agent = new Agent({ connections: options.concurrency, keepAliveTimeout: 4_000 });
  process.on('message', (deliveries) => {
    void postSignedBodies(agent, options, deliveries as RawDelivery[]).then((summary) => process.send!(summary));
  });
  process.on('disconnect', () => void agent.destroy());
}
