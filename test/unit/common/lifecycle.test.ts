import { describe, expect, it, vi } from 'vitest';
import { Lifecycle, type Stage } from '../../../src/common/lifecycle.js';

/** Stages that write what they do to `log`; `hold` names one whose start waits until released. */
function recorded(names: string[], hold?: string) {
  const log: string[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let reached: () => void = () => undefined;
  const holding = new Promise<void>((resolve) => (reached = resolve));
  const stages: Stage<string>[] = names.map((name) => ({
    name,
    start: async () => {
      log.push(`start ${name}`);
      if (name !== hold) return;
      reached();
      await held;
    },
    stop: (why) => void log.push(`stop ${name} (${why})`),
  }));
  return { log, stages, release, holding };
}

describe('Lifecycle', () => {
  it('starts the stages in the listed order and stops them in reverse', async () => {
    const { log, stages } = recorded(['a', 'b', 'c']);
    const lifecycle = new Lifecycle(stages);
    await lifecycle.start();
    await lifecycle.stop('SIGTERM');
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c (SIGTERM)', 'stop b (SIGTERM)', 'stop a (SIGTERM)']);
  });

  it('stops only the stages whose start began, and starts none after stop()', async () => {
    const { log, stages, release, holding } = recorded(['a', 'b', 'c'], 'b');
    const lifecycle = new Lifecycle(stages);
    const starting = lifecycle.start();
    await holding;
    await lifecycle.stop('SIGTERM');
    release();
    await starting;
    expect(log).toEqual(['start a', 'start b', 'stop b (SIGTERM)', 'stop a (SIGTERM)']);
  });

  it('stops nothing when nothing started, and skips what a stage does not do', async () => {
    const { log, stages } = recorded(['a']);
    await new Lifecycle(stages).stop('early');
    const onlyStops = new Lifecycle<string>([{ name: 'x', stop: () => void log.push('stop x') }, { name: 'y', start: () => void log.push('start y') }]);
    await onlyStops.start();
    await onlyStops.stop('late');
    expect(log).toEqual(['start y', 'stop x']);
  });

  it('stops the stage whose start threw and those before it, not those after', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle<string>([
      { name: 'a', start: () => void log.push('start a'), stop: () => void log.push('stop a') },
      { name: 'b', start: () => Promise.reject(new Error('migration failed')), stop: () => void log.push('stop b') },
      { name: 'c', start: () => void log.push('start c'), stop: () => void log.push('stop c') },
    ]);
    await expect(lifecycle.start()).rejects.toThrow('migration failed');
    await lifecycle.stop('failed start');
    expect(log).toEqual(['start a', 'stop b', 'stop a']);
  });

  it('stops every stage when one stop fails, then reports the failures by stage', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle<string>([
      { name: 'pool', start: () => undefined, stop: () => void log.push('stop pool') },
      { name: 'lease', start: () => undefined, stop: () => Promise.reject(new Error('connection terminated')) },
      { name: 'api', start: () => undefined, stop: () => void log.push('stop api') },
    ]);
    await lifecycle.start();
    await expect(lifecycle.stop('SIGTERM')).rejects.toThrow('stopping lease: connection terminated');
    expect(log).toEqual(['stop api', 'stop pool']);
  });

  it('names every stage whose stop failed', async () => {
    const failing = (name: string): Stage<string> => ({ name, start: () => undefined, stop: () => Promise.reject(new Error(`${name} broke`)) });
    const lifecycle = new Lifecycle<string>([failing('a'), failing('b')]);
    await lifecycle.start();
    await expect(lifecycle.stop('SIGTERM')).rejects.toThrow('stopping b: b broke; stopping a: a broke');
  });

  it('names a stage whose stop is still running after the watch time, once, and none that stop in time', async () => {
    vi.useFakeTimers();
    try {
      const reports: string[] = [];
      let finish: () => void = () => undefined;
      const slow = new Promise<void>((resolve) => (finish = resolve));
      const lifecycle = new Lifecycle<string>(
        [
          { name: 'quick', stop: () => undefined },
          { name: 'hanging', stop: () => slow },
        ],
        { afterMs: 5_000, report: (stage, elapsedMs) => reports.push(`${stage} ${elapsedMs >= 5_000 ? 'late' : 'early'}`) },
      );
      await lifecycle.start();
      const stopping = lifecycle.stop('SIGTERM');
      await vi.advanceTimersByTimeAsync(4_999);
      expect(reports).toEqual([]);
      await vi.advanceTimersByTimeAsync(20_000);
      expect(reports).toEqual(['hanging late']);
      finish();
      await stopping;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(reports, 'the quick stage, stopped after the hanging one, is never reported').toEqual(['hanging late']);
    } finally {
      vi.useRealTimers();
    }
  });
});
