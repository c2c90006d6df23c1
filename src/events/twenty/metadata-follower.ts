/**
 * Reads Twenty's metadata from the CRM database and follows it: a cheap
 * fingerprint of the metadata tables is checked every interval, and the
 * metadata is read again when it changed, so a custom field or object added
 * in Twenty's settings shows in events within seconds, without a restart.
 * Workspace members (for `userId`) are read again at every check, since they
 * change without touching the metadata.
 */
import type pg from 'pg';
import { TwentyMetadata, type TwentyFieldRow, type TwentyMetadataRows, type TwentyObjectRow } from './metadata.js';
import type { EventShape } from '../../config/schema.js';
import type { Logger } from '../../common/log.js';
import { EXIT_STATUS, OperatorError } from '../../common/operator-error.js';

/** Whether the database is a Twenty one: its metadata tables exist. */
export async function isTwentyDatabase(client: Pick<pg.ClientBase, 'query'>): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean }>(
    `SELECT to_regclass('core."objectMetadata"') IS NOT NULL AND to_regclass('core."fieldMetadata"') IS NOT NULL AS found`,
  );
  return rows[0]?.found === true;
}

const FINGERPRINT = `
  SELECT concat_ws('/',
    (SELECT count(*) || ':' || coalesce(max("updatedAt")::text, '') FROM core."objectMetadata"),
    (SELECT count(*) || ':' || coalesce(max("updatedAt")::text, '') FROM core."fieldMetadata"),
    CASE WHEN to_regclass('core."dataSource"') IS NULL THEN '' ELSE (SELECT count(*)::text FROM core."dataSource") END
  ) AS fingerprint`;

async function fingerprint(client: Pick<pg.ClientBase, 'query'>): Promise<string> {
  const { rows } = await client.query<{ fingerprint: string }>(FINGERPRINT);
  return rows[0]?.fingerprint ?? '';
}

async function readMetadataRows(client: Pick<pg.ClientBase, 'query'>): Promise<Omit<TwentyMetadataRows, 'members'>> {
  const objects = await client.query<TwentyObjectRow>(
    `SELECT id, "nameSingular", "isCustom", "workspaceId" FROM core."objectMetadata" WHERE "isActive" ORDER BY "workspaceId", "nameSingular"`,
  );
  const fields = await client.query<TwentyFieldRow>(
    `SELECT "objectMetadataId", name, type, settings FROM core."fieldMetadata" WHERE "isActive" ORDER BY "createdAt", name`,
  );
  const hasDataSource = await client.query<{ found: boolean }>(`SELECT to_regclass('core."dataSource"') IS NOT NULL AS found`);
  const dataSources = hasDataSource.rows[0]?.found
    ? (await client.query<{ schema: string; workspaceId: string }>('SELECT schema, "workspaceId" FROM core."dataSource"')).rows
    : [];
  return { objects: objects.rows, fields: fields.rows, dataSources };
}

/** Members of every workspace schema that has a workspaceMember table. */
async function readMembers(client: Pick<pg.ClientBase, 'query'>, dataSources: TwentyMetadataRows['dataSources']): Promise<TwentyMetadataRows['members']> {
  if (dataSources.length === 0) return [];
  const { rows: tables } = await client.query<{ schema: string }>(
    `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'workspaceMember' AND table_schema = ANY ($1::text[])`,
    [dataSources.map((source) => source.schema)],
  );
  if (tables.length === 0) return [];
  const workspaceOf = new Map(dataSources.map((source) => [source.schema, source.workspaceId]));
  const union = tables
    .map(({ schema }, index) => `SELECT $${index + 1}::uuid AS "workspaceId", id, "userId" FROM "${schema.replaceAll('"', '""')}"."workspaceMember"`)
    .join(' UNION ALL ');
  const { rows } = await client.query<{ workspaceId: string; id: string; userId: string | null }>(
    union,
    tables.map(({ schema }) => workspaceOf.get(schema)),
  );
  return rows;
}

export interface TwentyMetadataSource {
  /** The metadata as last read; null until the first read. */
  readonly current: TwentyMetadata | null;
}

/** Loads the metadata at start and keeps it current. */
export class TwentyMetadataFollower implements TwentyMetadataSource {
  current: TwentyMetadata | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastFingerprint: string | null = null;
  private rows: Omit<TwentyMetadataRows, 'members'> | null = null;
  private checking = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** The first read must succeed: without it records cannot be shaped. */
  async start(): Promise<void> {
    await this.check(true);
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the metadata again if it changed, and the members in any case; a failure keeps the metadata as it was. */
  async check(failLoudly = false): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const print = await fingerprint(this.pool);
      const changed = print !== this.lastFingerprint || this.rows === null;
      if (changed) this.rows = await readMetadataRows(this.pool);
      const rows = this.rows!;
      const members = await readMembers(this.pool, rows.dataSources);
      this.current = new TwentyMetadata({ ...rows, members });
      if (changed) {
        this.logger.info(
          { objects: this.current.objectCount, workspaces: this.current.workspaceCount, first: this.lastFingerprint === null },
          this.lastFingerprint === null ? "Twenty metadata loaded: records are shaped as Twenty's server shapes them" : 'Twenty metadata changed; reloaded',
        );
      }
      this.lastFingerprint = print;
    } catch (error) {
      if (failLoudly) throw error;
      this.logger.warn({ err: error }, 'could not read Twenty metadata; keeping the last known');
    } finally {
      this.checking = false;
    }
  }
}

/** `events.shape: twenty` on a database without Twenty's metadata. */
export class TwentyShapeError extends OperatorError {
  override readonly name = 'TwentyShapeError';
  readonly code = 'EVENTS_SHAPE';
  override readonly exitStatus = EXIT_STATUS.config;
}

/** `auto` resolved against the database: `twenty` where Twenty's metadata tables exist. */
export async function resolveShape(client: Pick<pg.ClientBase, 'query'>, shape: EventShape): Promise<'twenty' | 'columns'> {
  if (shape === 'columns') return 'columns';
  const twenty = await isTwentyDatabase(client);
  if (shape === 'twenty' && !twenty) {
    throw new TwentyShapeError(
      'events.shape is twenty, but the database has no Twenty metadata (core."objectMetadata", core."fieldMetadata")',
      'point database.url at the Twenty database, or set events.shape to auto or columns',
    );
  }
  return twenty ? 'twenty' : 'columns';
}
