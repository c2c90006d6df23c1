/**
 * Optional machine capabilities (wal2json, Chromium). Without one, its tests
 * are skipped *loudly*: a banner at the end of the run names them and why.
 * With WALHOOK_REQUIRE=wal2json,chromium (set by .ci/run) a missing capability
 * fails the run instead, so CI always runs those tests. WALHOOK_UNAVAILABLE
 * (`capability=why`, set per vitest project) names a capability a project's
 * PostgreSQL cannot have, and why: that reason is reported instead.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SKIP_LOG = join(tmpdir(), `walhook-test-skips-${process.ppid}.log`);

export function required(capability: string): boolean {
  return (process.env.WALHOOK_REQUIRE ?? '')
    .split(',')
    .map((s) => s.trim())
    .includes(capability);
}

/**
 * Returns a reason when the capability is missing (and records it for the
 * end-of-run banner), or null when it is there. Throws when CI requires it.
 */
export function missingCapability(capability: string, present: boolean, why: string, suite: string): string | null {
  if (present) return null;
  const reason = `${suite}: not run, ${capability} missing (${unavailableReason(capability) ?? why})`;
  if (required(capability)) throw new Error(`${reason}; WALHOOK_REQUIRE demands it`);
  console.warn(`\n!!! ${reason}\n`);
  appendFileSync(SKIP_LOG, `${reason}\n`);
  return reason;
}

function unavailableReason(capability: string): string | null {
  const [name, ...why] = (process.env.WALHOOK_UNAVAILABLE ?? '').split('=');
  return name === capability ? why.join('=') : null;
}

export function reportSkippedCapabilities(): void {
  if (!existsSync(SKIP_LOG)) return;
  const lines = [...new Set(readFileSync(SKIP_LOG, 'utf8').trim().split('\n'))];
  rmSync(SKIP_LOG);
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\nSOME TESTS DID NOT RUN:\n${lines.map((l) => `  - ${l}`).join('\n')}\n${bar}\n`);
}

/** wal2json's shared library next to the server's other modules. */
export function wal2jsonInstalled(binDir: string): boolean {
  if (!binDir) return false;
  return existsSync(join(binDir, '..', 'lib', 'wal2json.so'));
}
