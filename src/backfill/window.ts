/**
 * The watermark windows of backfill chunks (DBLog's method, as Debezium's
 * incremental snapshots use it): a low watermark is written into the WAL,
 * the chunk is selected, a high watermark is written. While the stream is
 * between the two, every live change of the chunk's table names its key;
 * when the stream reaches the high watermark the chunk's rows are emitted
 * there, in the stream, minus the rows whose key a live change named. Such a
 * row's live event is at least as new as the selected row (the select ran
 * somewhere between the watermarks), so the receiver's last event per record
 * is never older than the table.
 *
 * The next chunk may be written before the stream reached the previous
 * one's high watermark: its low watermark is written after that high one,
 * so windows never overlap and the stream meets them in the order written.
 * They wait in a queue, and only its first can be open.
 *
 * Pure state machine: modes named, every transition in `step`.
 */
/** One selected row: its key (see `rowKey`) and whatever the caller needs to build its event. */
export interface ChunkRow<Row> {
  key: string;
  row: Row;
}

/** What identifies a chunk's watermarks in the WAL, and the table it reads. */
export interface ChunkRef {
  /** Unique per attempt: watermarks of an abandoned attempt or an earlier process are told apart by it. */
  token: string;
  /** `schema.table` */
  table: string;
}

export type ChunkWindow<Row> =
  /** The low watermark is written; the stream has not reached it. Changes now are older than the window. */
  | { mode: 'opening'; chunk: ChunkRef; rows: ChunkRow<Row>[] | null }
  /** The stream is between the watermarks: changes of the chunk's table are collected. */
  | { mode: 'open'; chunk: ChunkRef; rows: ChunkRow<Row>[] | null; changed: Set<string> };

/** The windows of the chunks written and not emitted yet, in WAL order. Empty: no chunk in progress. */
export type ChunkWindows<Row> = readonly ChunkWindow<Row>[];

export type WindowInput<Row> =
  | { kind: 'lowWritten'; chunk: ChunkRef }
  | { kind: 'rowsRead'; token: string; rows: ChunkRow<Row>[] }
  | { kind: 'watermark'; token: string; mark: 'low' | 'high' }
  /** A live change of `table`, with the keys it touched (old and new key of an update that changed it). */
  | { kind: 'change'; table: string; keys: readonly string[] }
  /** The stream lost its connection: what it streams next may repeat or skip what these windows saw. */
  | { kind: 'disconnected' }
  /** The runner gives up every chunk in progress (walhook stops, a read failed, an operator paused the backfill). */
  | { kind: 'abandoned'; reason: string };

export type WindowOutput<Row> =
  | { kind: 'none' }
  /** The high watermark was reached: deliver `rows` now, in the stream. `dropped` rows were changed live in the window. */
  | { kind: 'emit'; token: string; rows: ChunkRow<Row>[]; dropped: number }
  /** These attempts (every chunk in progress, in order) cannot finish (see reason): they must be tried again with new watermarks. */
  | { kind: 'abort'; tokens: string[]; reason: string };

export const IDLE: ChunkWindows<never> = [];

const NONE = { kind: 'none' } as const;

export function step<Row>(windows: ChunkWindows<Row>, input: WindowInput<Row>): { windows: ChunkWindows<Row>; output: WindowOutput<Row> } {
  switch (input.kind) {
    case 'lowWritten':
      if (windows.some((window) => window.chunk.token === input.chunk.token)) throw new Error(`chunk ${input.chunk.token} is already in progress`);
      return { windows: [...windows, { mode: 'opening', chunk: input.chunk, rows: null }], output: NONE };
    case 'rowsRead':
      return { windows: windows.map((window) => (window.chunk.token === input.token ? { ...window, rows: input.rows } : window)), output: NONE };
    case 'change': {
      // The set is the window's own and grows in place: a copy per live change would cost the hot path.
      const first = windows[0];
      if (first?.mode === 'open' && first.chunk.table === input.table) for (const key of input.keys) first.changed.add(key);
      return { windows, output: NONE };
    }
    case 'watermark':
      return onWatermark(windows, input.token, input.mark);
    case 'disconnected':
      return abortAll(windows, 'the replication connection was lost inside a window');
    case 'abandoned':
      return abortAll(windows, input.reason);
  }
}

function onWatermark<Row>(windows: ChunkWindows<Row>, token: string, mark: 'low' | 'high'): { windows: ChunkWindows<Row>; output: WindowOutput<Row> } {
  const index = windows.findIndex((window) => window.chunk.token === token);
  // Watermarks of another attempt (abandoned, or streamed again after a restart) mean nothing now.
  if (index === -1) return { windows, output: NONE };
  if (index > 0) return abortAll(windows, 'a later chunk\'s watermark came before an earlier chunk\'s high watermark');
  const [first, ...rest] = windows as [ChunkWindow<Row>, ...ChunkWindow<Row>[]];
  if (mark === 'low') {
    if (first.mode === 'open') return { windows, output: NONE };
    return { windows: [{ mode: 'open', chunk: first.chunk, rows: first.rows, changed: new Set() }, ...rest], output: NONE };
  }
  if (first.mode === 'opening') return abortAll(windows, 'the high watermark came before the low one');
  if (first.rows === null) return abortAll(windows, 'the high watermark came before the chunk was read');
  const rows = first.rows.filter((row) => !first.changed.has(row.key));
  return { windows: rest, output: { kind: 'emit', token, rows, dropped: first.rows.length - rows.length } };
}

/** Every chunk in progress is abandoned: a later one is read after an earlier one, so none can stand without those before it. */
function abortAll<Row>(windows: ChunkWindows<Row>, reason: string): { windows: ChunkWindows<Row>; output: WindowOutput<Row> } {
  if (windows.length === 0) return { windows, output: NONE };
  return { windows: IDLE, output: { kind: 'abort', tokens: windows.map((window) => window.chunk.token), reason } };
}

/**
 * A row's key as both sides can compute it: the primary-key columns' text
 * output, in key order. Null when a key column is missing from the image.
 */
export function rowKey(row: Readonly<Record<string, unknown>>, keyColumns: readonly string[]): string | null {
  const values: unknown[] = [];
  for (const column of keyColumns) {
    const value = row[column];
    if (value === undefined || value === null) return null;
    values.push(String(value));
  }
  return JSON.stringify(values);
}
