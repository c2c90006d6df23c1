/**
 * Runs `walhook start` as a real child process (node dist/cli.js), so tests
 * can kill -9 it and start it again. Config comes as a YAML file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');

/** How long a SIGTERM'd walhook may take to exit: its delivery deadline (10 s by default) and more, far less than a test's timeout. */
const STOP_BOUND_MS = 60_000;

export interface DaemonProcess {
  child: ChildProcess;
  /** Every log line so far (pino JSON, parsed when possible). */
  logs: Record<string, unknown>[];
  output(): string;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, then wait; resolves with the exit code. A process still running after STOP_BOUND_MS is killed and the call fails with its last log lines. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export function writeConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'walhook-config-'));
  const file = join(dir, 'walhook.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

export function startDaemon(configFile: string, env: Record<string, string> = {}, command = 'start'): DaemonProcess {
  const child = spawn(process.execPath, [CLI, command, '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let partial = '';
  const collect = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    child,
    logs,
    output: () => text,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      let bound: NodeJS.Timeout | undefined;
      const overdue = new Promise<'overdue'>((resolve) => (bound = setTimeout(() => resolve('overdue'), STOP_BOUND_MS)));
      const outcome = await Promise.race([exited, overdue]);
      clearTimeout(bound);
      if (outcome !== 'overdue') return outcome;
      const lastLines = text.trimEnd().split('\n').slice(-30).join('\n');
      child.kill('SIGKILL');
      await exited;
      throw new Error(`walhook did not exit within ${STOP_BOUND_MS / 1000} s of SIGTERM (killed); its last log lines:\n${lastLines}`);
    },
  };
}
