/**
 * The baseline of end-to-end throughput and of CPU per delivery: a bare
 * undici client that signs and POSTs given bodies, with as many requests in
 * flight as walhook allows per endpoint. It runs in a process of its own, as
 * walhook does, so neither shares an event loop (or a CPU account) with the
 * receiver it is measured against.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { SIGNATURE_SCHEMES } from '../../src/common/verify.js';
import { signRequest } from '../../src/delivery/signing.js';

export interface RawPostJob {
  url: string;
  secret: string;
  concurrency: number;
  deliveries: { id: string; body: string }[];
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

export async function postSignedBodies({ url, secret, concurrency, deliveries }: RawPostJob): Promise<RawPostSummary> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 4_000 });
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
  await agent.close();
  return { seconds, sent: deliveries.length, failures, cpuMicroseconds: cpu.user + cpu.system };
}

const SCRIPT = fileURLToPath(import.meta.url);

/** Runs `postSignedBodies` in a child process (node with the tsx loader) and returns its summary. */
export async function postInChildProcess(job: RawPostJob): Promise<RawPostSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'walhook-bench-'));
  const file = join(dir, 'job.json');
  try {
    writeFileSync(file, JSON.stringify(job));
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`raw poster exited with ${code}: ${stdout}`);
    return JSON.parse(stdout) as RawPostSummary;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SCRIPT) {
  const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RawPostJob;
  process.stdout.write(JSON.stringify(await postSignedBodies(job)));
}
