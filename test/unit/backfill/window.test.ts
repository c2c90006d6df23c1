import { describe, expect, it } from 'vitest';
import { IDLE, rowKey, step, type ChunkRow, type ChunkWindows, type WindowInput, type WindowOutput } from '../../../src/backfill/window.js';
import { statusAfter } from '../../../src/state/backfills.js';

type Row = { id: string; name: string };
const TABLE = 'ws.person';
const chunk = { token: 't1', table: TABLE };
const rows: ChunkRow<Row>[] = ['1', '2', '3'].map((id) => ({ key: JSON.stringify([id]), row: { id, name: `n${id}` } }));

/** Runs inputs from idle; returns the last window and every output that was not `none`. */
function run(inputs: WindowInput<Row>[], from: ChunkWindows<Row> = IDLE): { windows: ChunkWindows<Row>; outputs: WindowOutput<Row>[] } {
  let windows = from;
  const outputs: WindowOutput<Row>[] = [];
  for (const input of inputs) {
    const next = step(windows, input);
    windows = next.windows;
    if (next.output.kind !== 'none') outputs.push(next.output);
  }
  return { windows, outputs };
}

const modes = (windows: ChunkWindows<Row>) => windows.map((window) => window.mode);

const open: WindowInput<Row>[] = [
  { kind: 'lowWritten', chunk },
  { kind: 'watermark', token: 't1', mark: 'low' },
  { kind: 'rowsRead', token: 't1', rows },
];

describe('the watermark window of a backfill chunk', () => {
  it('emits the whole chunk at the high watermark when nothing changed in between', () => {
    const { windows, outputs } = run([...open, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(windows).toEqual([]);
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
    const { windows, outputs } = run([
      ...open,
      { kind: 'watermark', token: 'old', mark: 'high' },
      { kind: 'watermark', token: 'old', mark: 'low' },
    ]);
    expect(outputs).toEqual([]);
    expect(modes(windows)).toEqual(['open']);
  });

  it('abandons the attempt when the connection drops inside the window', () => {
    const { windows, outputs } = run([...open, { kind: 'disconnected' }, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(windows).toEqual([]);
    expect(outputs).toEqual([{ kind: 'abort', tokens: ['t1'], reason: expect.stringContaining('connection') }]);
  });

  it('abandons the attempt when the high watermark comes without the low one', () => {
    const { outputs } = run([{ kind: 'lowWritten', chunk }, { kind: 'rowsRead', token: 't1', rows }, { kind: 'watermark', token: 't1', mark: 'high' }]);
    expect(outputs).toEqual([{ kind: 'abort', tokens: ['t1'], reason: expect.stringContaining('before the low') }]);
  });

  it('refuses a second window for the same attempt', () => {
    const { windows } = run(open);
    expect(() => step(windows, { kind: 'lowWritten', chunk })).toThrow(/already in progress/);
  });
});

describe('chunks written before the stream placed the previous one', () => {
  const second = { token: 't2', table: TABLE };
  const secondRows: ChunkRow<Row>[] = ['4', '5'].map((id) => ({ key: JSON.stringify([id]), row: { id, name: `n${id}` } }));
  const bothWritten: WindowInput<Row>[] = [
    { kind: 'lowWritten', chunk },
    { kind: 'rowsRead', token: 't1', rows },
    { kind: 'lowWritten', chunk: second },
    { kind: 'rowsRead', token: 't2', rows: secondRows },
  ];

  it('wait in order, only the first open, and each is emitted at its own high watermark with the changes of its own window', () => {
    const { windows, outputs } = run([
      ...bothWritten,
      { kind: 'watermark', token: 't1', mark: 'low' },
      // In the first window: drops row 2 of the first chunk; key 4 is not the second chunk's concern yet.
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['2']), JSON.stringify(['4'])] },
      { kind: 'watermark', token: 't1', mark: 'high' },
      // Between the windows: older than the second select.
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['5'])] },
      { kind: 'watermark', token: 't2', mark: 'low' },
      { kind: 'change', table: TABLE, keys: [JSON.stringify(['4'])] },
    ]);
    expect(outputs).toEqual([{ kind: 'emit', token: 't1', rows: [rows[0], rows[2]], dropped: 1 }]);
    expect(modes(windows)).toEqual(['open']);
    const last = step(windows, { kind: 'watermark', token: 't2', mark: 'high' });
    expect(last.output).toEqual({ kind: 'emit', token: 't2', rows: [secondRows[1]], dropped: 1 });
    expect(last.windows).toEqual([]);
  });

  it('keeps the later window opening while the earlier one is open', () => {
    const { windows } = run([...bothWritten, { kind: 'watermark', token: 't1', mark: 'low' }]);
    expect(modes(windows)).toEqual(['open', 'opening']);
  });

  it("abandons them all when a later chunk's watermark comes before the earlier one's high watermark", () => {
    const { windows, outputs } = run([...bothWritten, { kind: 'watermark', token: 't1', mark: 'low' }, { kind: 'watermark', token: 't2', mark: 'low' }]);
    expect(windows).toEqual([]);
    expect(outputs).toEqual([{ kind: 'abort', tokens: ['t1', 't2'], reason: expect.stringContaining('later chunk') }]);
  });

  it('abandons them all, in order, when the connection drops or the runner gives up', () => {
    expect(run([...bothWritten, { kind: 'disconnected' }]).outputs).toEqual([{ kind: 'abort', tokens: ['t1', 't2'], reason: expect.stringContaining('connection') }]);
    expect(run([...bothWritten, { kind: 'abandoned', reason: 'walhook is stopping' }]).outputs).toEqual([{ kind: 'abort', tokens: ['t1', 't2'], reason: 'walhook is stopping' }]);
    expect(run([{ kind: 'abandoned', reason: 'nothing in progress' }]).outputs).toEqual([]);
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
