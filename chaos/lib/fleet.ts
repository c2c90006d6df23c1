/**
 * walhook replicas kept running the way an orchestrator keeps pods running:
 * whatever exits (killed by a scenario or crashed on its own) is replaced
 * after a short delay, until the fleet is stopped. Kills made by the
 * scenario are counted apart from exits nobody asked for (crashes), which
 * are findings in themselves.
 */
import { startDaemon, type DaemonProcess } from '../../test/harness/daemon.js';
import { waitFor } from '../../test/harness/receiver.js';
import { streamingStarts, type WalhookSetup } from '../../bench/lib/walhook.js';

/** How long the "orchestrator" waits before replacing an exited replica. */
const RESTART_DELAY_MS = 300;

export interface CrashReport {
  exitCode: number | null;
  /** The last lines it printed. */
  tail: string;
}

export class WalhookFleet {
  private readonly alive = new Set<DaemonProcess>();
  private readonly killedOnPurpose = new WeakSet<DaemonProcess>();
  private stopped = false;
  private restarting = 0;
  kills = 0;
  readonly crashes: CrashReport[] = [];

  constructor(
    private readonly setup: WalhookSetup,
    private readonly replicas = 1,
  ) {}

  /** Starts the replicas and waits until one of them streams. */
  async start(): Promise<void> {
    for (let index = 0; index < this.replicas; index++) this.spawn();
    await this.waitForLeader(0);
  }

  private spawn(): void {
    const daemon = startDaemon(this.setup.file);
    this.alive.add(daemon);
    void daemon.exited.then((exitCode) => {
      this.alive.delete(daemon);
      if (!this.killedOnPurpose.has(daemon) && !this.stopped) {
        this.crashes.push({ exitCode, tail: daemon.output().split('\n').slice(-15).join('\n') });
      }
      if (this.stopped) return;
      this.restarting++;
      setTimeout(() => {
        this.restarting--;
        if (!this.stopped) this.spawn();
      }, RESTART_DELAY_MS);
    });
  }

  /** The replica streaming the slot: of those alive, the one that last logged it started streaming. */
  leader(): DaemonProcess | undefined {
    let leader: DaemonProcess | undefined;
    let latest = -1;
    for (const daemon of this.alive) {
      const since = lastStreamingAt(daemon);
      if (since !== null && since > latest) {
        latest = since;
        leader = daemon;
      }
    }
    return leader;
  }

  /** Waits until a replica alive has started streaming at or after `sinceMs` (epoch ms). */
  async waitForLeader(sinceMs: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => [...this.alive].some((daemon) => (lastStreamingAt(daemon) ?? -1) >= sinceMs),
      'a walhook replica to stream the slot',
      timeoutMs,
    );
  }

  /** kill -9 of `daemon` (default: the leader, else any replica); the fleet replaces it. */
  async kill9(daemon = this.leader() ?? [...this.alive][0]): Promise<void> {
    if (!daemon) return;
    this.killedOnPurpose.add(daemon);
    this.kills++;
    await daemon.kill9();
  }

  /** Waits until every replica that should run is up again (replacements included). */
  async waitForReplicas(timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.restarting === 0 && this.alive.size >= this.replicas, 'the walhook replicas to be replaced', timeoutMs);
  }

  /** The last warnings and errors the replicas alive logged, as one line each: why a fault was not overcome. */
  recentProblems(limit = 3): string[] {
    return [...this.alive]
      .flatMap((daemon) => daemon.logs.filter((line) => line.level === 'error' || line.level === 'warn'))
      .slice(-limit)
      .map((line) => {
        const error = (line.err as { message?: string } | undefined)?.message;
        return `walhook logged (${String(line.component ?? 'main')}): ${String(line.msg)}${error ? `: ${error}` : ''}`;
      });
  }

  /** Stops replacing, and SIGTERMs every replica. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.alive].map((daemon) => daemon.stop()));
  }
}

function lastStreamingAt(daemon: DaemonProcess): number | null {
  return streamingStarts(daemon).at(-1) ?? null;
}
