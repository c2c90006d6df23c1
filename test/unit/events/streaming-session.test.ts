import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { resolveConfig } from '../../../src/config/index.js';
import { nextSessionMode, StreamingSession, type SessionInput, type SessionMode } from '../../../src/events/streaming-session.js';
import { typeCatalogFromRows } from '../../../src/events/values.js';

/** Feeds `inputs` in order from `mode`; the modes after each (an ignored input leaves the mode). */
function run(inputs: SessionInput[], mode: SessionMode = 'idle'): SessionMode[] {
  return inputs.map((input) => (mode = nextSessionMode(mode, input) ?? mode));
}

describe('nextSessionMode', () => {
  it('prepares, streams and stops in that order', () => {
    expect(run(['prepare', 'prepared', 'stream', 'stop', 'stopped'])).toEqual(['preparing', 'prepared', 'streaming', 'stopping', 'stopped']);
  });

  it('goes back to idle when preparing fails, and may prepare again', () => {
    expect(run(['prepare', 'failed', 'prepare', 'prepared'])).toEqual(['preparing', 'idle', 'preparing', 'prepared']);
  });

  it('never streams once stopped before streaming, whenever the preparation ends', () => {
    expect(run(['prepare', 'stop', 'prepared', 'stream'])).toEqual(['preparing', 'stopped', 'stopped', 'stopped']);
    expect(run(['prepare', 'prepared', 'stop', 'stream'])).toEqual(['preparing', 'prepared', 'stopped', 'stopped']);
    expect(run(['stop', 'prepare', 'stream'])).toEqual(['stopped', 'stopped', 'stopped']);
  });

  it('refuses what its mode does not allow', () => {
    expect(nextSessionMode('idle', 'stream')).toBeNull();
    expect(nextSessionMode('preparing', 'prepare')).toBeNull();
    expect(nextSessionMode('streaming', 'prepare')).toBeNull();
    expect(nextSessionMode('streaming', 'stream')).toBeNull();
    expect(nextSessionMode('stopping', 'stop')).toBeNull();
    expect(nextSessionMode('stopped', 'prepare')).toBeNull();
  });
});

describe('StreamingSession', () => {
  const config = resolveConfig({ database: { url: 'postgres://walhook@127.0.0.1:1/crm' } }, {});
  const logger = pino({ level: 'silent' });

  /** A session whose CRM work waits for the test to settle it with the prepared scope, or with an error. */
  function gatedSession() {
    let settle: (outcome: Error | null) => void = () => undefined;
    const gate = new Promise<Error | null>((resolve) => (settle = resolve));
    const session = new StreamingSession({
      config,
      withClient: async <T>() => {
        const error = await gate;
        if (error) throw error;
        return { prepared: { tables: [], publicationProblem: 'publication differs' }, catalog: typeCatalogFromRows([]) } as T;
      },
      sink: { dispatch: () => undefined },
      logFor: () => logger,
    });
    return { session, settle };
  }

  it('does not start streaming when stopped while it prepared', async () => {
    const { session, settle } = gatedSession();
    const preparing = session.prepare();
    expect(session.mode).toBe('preparing');
    await session.stop();
    settle(null);
    await preparing;
    expect(session.start()).toBe(false);
    expect(session.mode).toBe('stopped');
    expect(session.stream).toBeNull();
  });

  it('keeps what preparing found, and is idle again after a failed preparation', async () => {
    const failing = gatedSession();
    const attempt = failing.session.prepare();
    failing.settle(new Error('database down'));
    await expect(attempt).rejects.toThrow('database down');
    expect(failing.session.mode).toBe('idle');

    const { session, settle } = gatedSession();
    const preparing = session.prepare();
    settle(null);
    await preparing;
    expect(session.mode).toBe('prepared');
    expect(session.publicationProblem).toBe('publication differs');
    await expect(session.prepare()).rejects.toThrow('cannot prepare while prepared');
  });
});
