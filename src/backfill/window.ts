/**
 * The watermark window of one backfill chunk (DBLog's method, as Debezium's
 * incremental snapshots use it): a low watermark is written into the WAL,
 * the chunk is selected, a high watermark is written. While the stream is
 * between the two, every live change of the chunk's table names its key;
 * when the stream reaches the high watermark the chunk's rows are emitted
 * there, in the stream, minus the rows whose key a live change named. Such a
 * row's live event is at least as new as the selected row (the select ran
 * somewhere between the watermarks), so the receiver's last event per record
 * is never older than the table.
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
  /** No chunk in progress. */
  | { mode: 'idle' }
  /** The low watermark is written; the stream has not reached it. Changes now are older than the window. */
  | { mode: 'opening'; chunk: ChunkRef; rows: ChunkRow<Row>[] | null }
  /** The stream is between the watermarks: changes of the chunk's table are collected. */
  | { mode: 'open'; chunk: ChunkRef; rows: ChunkRow<Row>[] | null; changed: Set<string> };

export type WindowInput<Row> =
  | { kind: 'lowWritten'; chunk: ChunkRef }
  | { kind: 'rowsRead'; token: string; rows: ChunkRow<Row>[] }
  | { kind: 'watermark'; token: string; mark: 'low' | 'high' }
  /** A live change of `table`, with the keys it touched (old and new key of an update that changed it). */
  | { kind: 'change'; table: string; keys: readonly string[] }
  /** The stream lost its connection: what it streams next may repeat or skip what this window saw. */
  | { kind: 'disconnected' };

export type WindowOutput<Row> =
  | { kind: 'none' }
  /** The high watermark was reached: deliver `rows` now, in the stream. `dropped` rows were changed live in the window. */
  | { kind: 'emit'; token: string; rows: ChunkRow<Row>[]; dropped: number }
  /** The attempt cannot finish (see reason): the chunk must be tried again with new watermarks. */
  | { kind: 'abort'; token: string; reason: string };

export const IDLE: ChunkWindow<never> = { mode: 'idle' };

const NONE = { kind: 'none' } as const;

export function step<Row>(window: ChunkWindow<Row>, input: WindowInput<Row>): { window: ChunkWindow<Row>; output: WindowOutput<Row> } {
  switch (input.kind) {
    case 'lowWritten':
      if (window.mode !== 'idle') throw new Error(`a chunk window is already ${window.mode}`);
      return { window: { mode: 'opening', chunk: input.chunk, rows: null }, output: NONE };
    case 'rowsRead':
      if (window.mode === 'idle' || window.chunk.token !== input.token) return { window, output: NONE };
      return { window: { ...window, rows: input.rows }, output: NONE };
    case 'change':
      // The set is the window's own and grows in place: a copy per live change would cost the hot path.
      if (window.mode === 'open' && window.chunk.table === input.table) for (const key of input.keys) window.changed.add(key);
      return { window, output: NONE };
    case 'watermark':
      return onWatermark(window, input.token, input.mark);
    case 'disconnected':
      if (window.mode === 'idle') return { window, output: NONE };
      return { window: IDLE, output: { kind: 'abort', token: window.chunk.token, reason: 'the replication connection was lost inside the window' } };
  }
}

function onWatermark<Row>(window: ChunkWindow<Row>, token: string, mark: 'low' | 'high'): { window: ChunkWindow<Row>; output: WindowOutput<Row> } {
  // Watermarks of another attempt (abandoned, or streamed again after a restart) mean nothing now.
  if (window.mode === 'idle' || window.chunk.token !== token) return { window, output: NONE };
  if (mark === 'low') {
    if (window.mode === 'open') return { window, output: NONE };
    return { window: { mode: 'open', chunk: window.chunk, rows: window.rows, changed: new Set() }, output: NONE };
  }
  if (window.mode === 'opening') return { window: IDLE, output: { kind: 'abort', token, reason: 'the high watermark came before the low one' } };
  if (window.rows === null) return { window: IDLE, output: { kind: 'abort', token, reason: 'the high watermark came before the chunk was read' } };
  const rows = window.rows.filter((row) => !window.changed.has(row.key));
  return { window: IDLE, output: { kind: 'emit', token, rows, dropped: window.rows.length - rows.length } };
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
