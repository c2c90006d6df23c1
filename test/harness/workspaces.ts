/**
 * Workspaces spread over partitions (source.partitions): schema names
 * chosen by the documented hash so each partition gets its share of the
 * traffic, each with a `person` table (REPLICA IDENTITY FULL).
 */
import { partitionOfSchema } from '../../src/common/partitions.js';
import type { TestDatabase } from './database.js';

/** `perPartition` schema names `<prefix><n>` for each of `partitions`, partition by partition. */
export function workspacesPerPartition(prefix: string, partitions: number, perPartition = 2): string[] {
  const chosen: string[][] = Array.from({ length: partitions }, () => []);
  for (let n = 0; chosen.some((schemas) => schemas.length < perPartition); n++) {
    const schema = `${prefix}${n}`;
    const partition = chosen[partitionOfSchema(schema, partitions)]!;
    if (partition.length < perPartition) partition.push(schema);
  }
  return chosen.flat();
}

/** Each schema with a `person` table. */
export async function createPersonWorkspaces(db: TestDatabase, schemas: string[]): Promise<void> {
  for (const schema of schemas) {
    await db.sql(`CREATE SCHEMA ${schema}`);
    await db.sql(`CREATE TABLE ${schema}.person (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "nameFirstName" text, position int, "deletedAt" timestamptz)`);
    await db.sql(`ALTER TABLE ${schema}.person REPLICA IDENTITY FULL`);
  }
}
