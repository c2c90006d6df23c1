/**
 * The built `walhook` command as an operator meets it: mistakes named with
 * the nearest right spelling, help for every command, and no stack trace for
 * a failure the operator can fix.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, writeConfig } from '../harness/daemon.js';

/** Nothing listens on port 1 of the loopback address. */
const UNREACHABLE_DATABASE = 'postgres://walhook:secret-password@127.0.0.1:1/crm';

function walhook(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** What a Node stack trace has and a message for people does not. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

describe('walhook on a command line with a mistake', () => {
  it.each([
    [['strat'], 'walhook: unknown command "strat"; did you mean start?'],
    [['migarte'], 'walhook: unknown command "migarte"; did you mean migrate?'],
    [['start', '--bogus'], 'walhook start: unknown option --bogus'],
    [['tail', '--conifg', 'walhook.yaml'], 'walhook tail: unknown option --conifg; did you mean --config?'],
    [['migrate', '--resumable'], 'walhook migrate: unknown option --resumable'],
    [['webhooks', 'lst'], 'walhook webhooks: unknown command "webhooks lst"; did you mean webhooks list?'],
    [['deliveries', 'list', '--stauts', 'dead'], 'walhook deliveries: unknown option --stauts; did you mean --status?'],
    [['demo', '--rat', '5'], 'walhook demo: unknown option --rat; did you mean --rate?'],
    [['repartition', '--partition', '4'], 'walhook repartition: unknown option --partition; did you mean --partitions?'],
    [['repartiton'], 'walhook: unknown command "repartiton"; did you mean repartition?'],
  ])('%j names it, exits 2 and prints no stack trace', (args, message) => {
    const { code, stderr } = walhook(args);
    expect(stderr.split('\n')[0]).toBe(message);
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(code).toBe(2);
  });
});

describe('walhook <command> --help', () => {
  it.each([
    ['start', 'Usage: walhook start'],
    ['tail', '--resumable'],
    ['migrate', 'Usage: walhook migrate'],
    ['webhooks', 'webhooks rotate-secret --id ID'],
    ['deliveries', 'deliveries redeliver'],
    ['demo', '--rate N'],
    ['repartition', '--partitions N'],
  ])('%s prints its own help and exits 0', (command, expected) => {
    const { code, stdout } = walhook([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(expected);
    expect(stdout).not.toContain('Commands:');
    expect(walhook(['help', command]).stdout).toBe(stdout);
  });

  it("describes tail's slot and every field of its lines", () => {
    const { stdout } = walhook(['tail', '--help']);
    for (const text of ['TEMPORARY', 'kill -9', 'operation', 'previousRecord', 'commitLsn', 'stdout']) expect(stdout).toContain(text);
  });

  it('lists every command in the global help', () => {
    const { code, stdout } = walhook(['--help']);
    expect(code).toBe(0);
    for (const command of ['start', 'tail', 'migrate', 'webhooks', 'deliveries', 'demo']) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });
});

describe('failures the operator can fix', () => {
  it.each([['migrate'], ['start'], ['webhooks', 'list']])(
    '%j with an unreachable database says what to check, exits 1, and hides the password',
    (...args) => {
      const { code, stdout, stderr } = walhook(args, { WALHOOK_DATABASE_URL: UNREACHABLE_DATABASE });
      expect(stderr).toMatch(/cannot connect to PostgreSQL: connect ECONNREFUSED 127\.0\.0\.1:1\n {2}To fix: nothing listens there: check the host and port in database\.url/);
      expect(stderr + stdout).not.toMatch(STACK_FRAME);
      expect(stderr + stdout).not.toContain('secret-password');
      expect(code).toBe(1);
    },
  );

  it('an invalid configuration exits 78 with the key', () => {
    const { code, stderr } = walhook(['start'], { WALHOOK_DATABASE_URL: UNREACHABLE_DATABASE, WALHOOK_DELIVERY_TIMEOUT: 'soon' });
    expect(stderr).toContain('delivery.timeout: got "soon"');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(code).toBe(78);
  });

  it('a config-file webhook on an address the SSRF guard refuses is warned about at start, naming delivery.allowList', () => {
    const configFile = writeConfig({
      webhooks: [{ targetUrl: 'http://127.0.0.1:9/hook', operations: ['person.*'], secret: 'a-secret-of-24-characters' }],
    });
    const { stdout } = walhook(['start', '--config', configFile], { WALHOOK_DATABASE_URL: UNREACHABLE_DATABASE });
    expect(stdout).toContain(
      // Only the origin is logged: a target's path may carry a token.
      'webhook http://127.0.0.1:9/… will not be called: SSRF guard: 127.0.0.1 is a loopback address (to send there, add it to delivery.allowList)',
    );
    const allowed = walhook(['start', '--config', configFile], { WALHOOK_DATABASE_URL: UNREACHABLE_DATABASE, WALHOOK_DELIVERY_ALLOW_LIST: '[127.0.0.1/32]' });
    expect(allowed.stdout).not.toContain('will not be called');
  });

  it('a misspelt WALHOOK_ variable is warned about, with the one it most likely meant', () => {
    const { stdout, stderr } = walhook(['migrate'], { WALHOOK_DATABASE_URL: UNREACHABLE_DATABASE, WALHOOK_DELIVERY_TIMOUT: '5s' });
    const warning = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.variable === 'WALHOOK_DELIVERY_TIMOUT');
    expect(warning, stdout + stderr).toMatchObject({
      level: 'warn',
      didYouMean: 'WALHOOK_DELIVERY_TIMEOUT',
      msg: 'WALHOOK_DELIVERY_TIMOUT is not a walhook setting and is ignored; did you mean WALHOOK_DELIVERY_TIMEOUT?',
    });
  });
});
