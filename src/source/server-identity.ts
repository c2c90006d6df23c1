/**
 * Which WAL a change comes from. An LSN names a WAL record only within one
 * history: a cluster restored from a backup or a promoted standby continues
 * at positions that the old primary may already have used for other records.
 * PostgreSQL tells histories apart by the system identifier (set by initdb,
 * kept by base backups and standbys) and the timeline (a new one begins at
 * every promotion or point-in-time recovery, listed in the timeline history
 * with the position where it branched off). The pair (system identifier,
 * timeline the record was written on) plus the LSN names one WAL record for
 * good: the same on the old primary and on the promoted standby for records
 * from before the switch, different for records written after it.
 */
import pg from 'pg';
import { parseLsn, type Lsn } from './lsn.js';

/** A timeline in the server's history that ended where its child began. */
export interface TimelineSwitch {
  timeline: number;
  /** First position that belongs to the next timeline. */
  endLsn: Lsn;
}

export interface ServerIdentity {
  /** pg_control's system identifier, as decimal text (it is a 64-bit integer). */
  systemId: string;
  /** The server's current timeline. */
  timeline: number;
  /** Earlier timelines, oldest first (empty on timeline 1). */
  history: TimelineSwitch[];
}

/** The timeline the WAL record at `lsn` was written on. */
export function timelineOf(identity: ServerIdentity, lsn: Lsn): number {
  for (const ended of identity.history) {
    if (lsn < ended.endLsn) return ended.timeline;
  }
  return identity.timeline;
}

/**
 * A timeline history file (`00000002.history`): one line per ancestor,
 * `parentTLI <tab> switchpoint <tab> reason`, blank lines and `#` comments allowed.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [timeline, switchpoint] = trimmed.split(/\s+/);
    if (timeline === undefined || switchpoint === undefined || !/^\d+$/.test(timeline)) {
      throw new Error(`unexpected line in timeline history: ${JSON.stringify(line)}`);
    }
    switches.push({ timeline: Number(timeline), endLsn: parseLsn(switchpoint) });
  }
  return switches.sort((a, b) => a.timeline - b.timeline);
}

interface IdentifySystemRow {
  systemid: string;
  timeline: number | string;
}

interface TimelineHistoryRow {
  content: string | Buffer;
}

/**
 * IDENTIFY_SYSTEM and TIMELINE_HISTORY (what a replication role may always
 * run) on `client`, a replication connection.
 */
export async function identifyServer(client: Pick<pg.Client, 'query'>): Promise<ServerIdentity> {
  const { rows } = await client.query<IdentifySystemRow>('IDENTIFY_SYSTEM');
  const row = rows[0];
  if (!row) throw new Error('IDENTIFY_SYSTEM returned no row');
  const timeline = Number(row.timeline);
  let history: TimelineSwitch[] = [];
  if (timeline > 1) {
    const result = await client.query<TimelineHistoryRow>(`TIMELINE_HISTORY ${timeline}`);
    const content = result.rows[0]?.content ?? '';
    history = parseTimelineHistory(typeof content === 'string' ? content : content.toString('utf8'));
  }
  return { systemId: String(row.systemid), timeline, history };
}
