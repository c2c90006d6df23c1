/**
 * Streaming partitioned over replicas (source.partitions): every table in
 * scope belongs to one of N partitions by a stable hash of its schema (a
 * Twenty workspace), so one workspace — and so one record — always lives in
 * one partition, and a new workspace lands in its partition by the same
 * hash. Each partition has its own slot and publications, streamed by one
 * replica at a time.
 *
 * The hash is part of the on-disk contract (it decides which slot carries a
 * workspace's changes): the first 4 bytes of SHA-256 over the schema name's
 * UTF-8 bytes, read as an unsigned big-endian integer, modulo N. In SQL:
 * `('x' || left(encode(sha256(convert_to(schema, 'UTF8')), 'hex'), 8))::bit(32)::bigint % N`.
 */
import { createHash } from 'node:crypto';

/** Where one partition streams from. */
export interface PartitionTarget {
  /** 0 … count − 1. */
  index: number;
  count: number;
  slot: string;
  publication: string;
}

/** More partitions than this would mean as many slots, each decoding the whole WAL once more. */
export const MAX_PARTITIONS = 64;

/** The partition a schema's tables belong to, out of `count`. */
export function partitionOfSchema(schema: string, count: number): number {
  if (count <= 1) return 0;
  return createHash('sha256').update(schema, 'utf8').digest().readUInt32BE(0) % count;
}

/**
 * The name of partition `index`'s slot or publication, from the configured
 * `base`: with one partition the base itself (today's names), else
 * `<base>_p<index>` — partition 0 included, so a change of N never reuses a
 * slot that carried another set of workspaces.
 */
export function partitionName(base: string, index: number, count: number): string {
  return count <= 1 ? base : `${base}_p${index}`;
}

/** The longest suffix partitionName adds, for the length check of the configured names. */
export function partitionSuffixLength(count: number): number {
  return count <= 1 ? 0 : `_p${count - 1}`.length;
}

/** Every partition of the configured slot and publication. */
export function partitionTargets(source: { slot: string; publication: string; partitions: number }): PartitionTarget[] {
  const count = source.partitions;
  return Array.from({ length: count }, (_, index) => ({
    index,
    count,
    slot: partitionName(source.slot, index, count),
    publication: partitionName(source.publication, index, count),
  }));
}

/** The tables of `tables` that partition `target` streams. */
export function tablesOfPartition<T extends { schema: string }>(tables: T[], target: Pick<PartitionTarget, 'index' | 'count'>): T[] {
  if (target.count <= 1) return tables;
  return tables.filter((table) => partitionOfSchema(table.schema, target.count) === target.index);
}
