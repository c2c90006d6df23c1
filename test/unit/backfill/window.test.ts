import { describe, expect, it } from 'vitest';
import { IDLE, rowKey, step, type ChunkRow, type ChunkWindow, type WindowInput, type WindowOutput } from '../../../src/backfill/window.js';
import { statusAfter } from '../../../src/state/backfills.js';

type Row = { id: string; name: string };
const TABLE = 'ws.person';
const chunk = { token: 't1', table: TABLE };
const rows: ChunkRow<Row>[] = ['1', '2', '3'].map((id) => ({ key: JSON.stringify([id]), row: { id, name: `n${id}` } }));

/** Runs inputs from idle; returns the last window and every output that was not `none`. */
function run(inputs: WindowInput<Row>[], from: ChunkWindow<Row> = IDLE): { window: ChunkWindow<Row>; outputs: WindowOutput<Row>[] } {
  let window = from;
  const outputs: WindowOutput<Row>[] = [];
  for (const input of inputs) {
    const next = step(window, input);
    window = next.window;
    if (next.output.kind !== 'none') outputs.push(next.output);
  }
  return { window, outputs };
}

const open: WindowInput<Row>[] = [
  { kind: 'lowWritten', chunk },
  { kind: 'watermark', token: 't1', mark: 'low' },
  { kind: 'rowsRead', token: 't1', rows },
];

describe('the watermark window of a backfill chunk', () => {
  it('emits the whole chunk at the high watermark when nothing changed in between', () => {
    const { window, outputs } = run([...open, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(window.mode).toBe('idle');
    expect(outputs).toEqual([{ kind: 'emit', token: 't1', rows, dropped: 0 }]);
  });

  it('drops the rows whose key a live change named between the watermarks, and only those', () => {
    const { outputs } = run([
      ...open,
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['2'])] },
      { kind: 'change', table: 'ws.company', keys: [JSON.stringify(['3'])] },
      { kind: 'watermark', token: 't1', mark: 'high' },
    ]);
    expect(outputs).toEqual([{ kind: 'emit', token: 't1', rows: [rows[0], rows[2]], dropped: 1 }]);
  });

  it('ignores changes streamed before the low watermark (the select already sees them)', () => {
    const { outputs } = run([
      { kind: 'lowWritten', chunk },
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['1'])] },
      { kind: 'watermark', token: 't1', mark: 'low' },
      { kind: 'rowsRead', token: 't1', rows },
      { kind: 'watermark', token: 't1', mark: 'high' },
    ]);
    expect(outputs).toEqual([{ kind: 'emit', token: 't1', rows, dropped: 0 }]);
  });

  it('collects changes whether the chunk was read before or after the stream reached the low watermark', () => {
    const { outputs } = run([
      { kind: 'lowWritten', chunk },
      { kind: 'rowsRead', token: 't1', rows },
      { kind: 'watermark', token: 't1', mark: 'low' },
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['1']), JSON.stringify(['9'])] },
      { kind: 'watermark', token: 't1', mark: 'high' },
    ]);
    expect(outputs).toEqual([{ kind: 'emit', token: 't1', rows: rows.slice(1), dropped: 1 }]);
  });

  it("ignores another attempt's watermarks (abandoned, or streamed again after a restart)", () => {
    const { window, outputs } = run([
      ...open,
      { kind: 'watermark', token: 'old', mark: 'high' },
      { kind: 'watermark', token: 'old', mark: 'low' },
    ]);
    expect(outputs).toEqual([]);
    expect(window.mode).toBe('open');
  });

  it('abandons the attempt when the connection drops inside the window', () => {
    const { window, outputs } = run([...open, { kind: 'disconnected' }, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(window.mode).toBe('idle');
    expect(outputs).toEqual([{ kind: 'abort', token: 't1', reason: expect.stringContaining('connection') }]);
  });

  it('abandons the attempt when the high watermark comes without the low one', () => {
    const { outputs } = run([{ kind: 'lowWritten', chunk }, { kind: 'rowsRead', token: 't1', rows }, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(outputs).toEqual([{ kind: 'abort', token: 't1', reason: expect.stringContaining('before the low') }]);
  });

  it('refuses to open a second window over an open one', () => {
    const { window } = run(open);
    expect(() => step(window, { kind: 'lowWritten', chunk: { token: 't2', table: TABLE } })).toThrow(/already open/);
  });

  it('keys rows by the text of their primary-key columns, in key order, and not when one is missing', () => {
    expect(rowKey({ a: '1', b: 'x', c: 'ignored' }, ['b', 'a'])).toBe('["x","1"]');
    expect(rowKey({ a: '1' }, ['a', 'b'])).toBeNull();
    expect(rowKey({ a: '1', b: null }, ['a', 'b'])).toBeNull();
  });
});

describe('backfill status commands', () => {
  it('pauses, resumes and cancels what is not finished, and nothing else', () => {
    expect(statusAfter('running', 'pause')).toBe('paused');
    expect(statusAfter('paused', 'resume')).toBe('pending');
    expect(statusAfter('failed', 'resume')).toBe('pending');
    expect(statusAfter('running', 'cancel')).toBe('cancelled');
    expect(statusAfter('done', 'cancel')).toBeNull();
    expect(statusAfter('done', 'resume')).toBeNull();
    expect(statusAfter('cancelled', 'resume')).toBeNull();
    expect(statusAfter('cancelled', 'pause')).toBeNull();
  });
});
