/**
 * walhook replicas kept running the way an orchestrator keeps pods running:
 * whatever exits (killed by a scenario or crashed on its own) is replaced
 * after a short delay, until the fleet is stopped. Kills made by the
 * scenario are counted apart from exits nobody asked for (crashes), which
 * are findings in themselves. A scenario may hold a killed replica's
 * replacement back (a node that stays down for a while) and let it come later.
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
  /** Killed replicas whose replacement waits for `replaceHeld`. */
  private readonly holdReplacement = new WeakSet<DaemonProcess>();
  private held = 0;
  private stopped = false;
  private restarting = 0;
  kills = 0;
  readonly crashes: CrashReport[] = [];

  constructor(
    private readonly setup: WalhookSetup,
    private readonly replicas = 1,
    /** source.partitions of the setup: start() waits until each of them streams. */
    private readonly partitions = 1,
  ) {}

  /**
   * Starts the replicas and waits until every partition (the slot, with one)
   * streams: a row committed before its partition's slot exists is never streamed.
   */
  async start(): Promise<void> {
    for (let index = 0; index < this.replicas; index++) this.spawn();
    await waitFor(() => this.streamedPartitions().size >= this.partitions, `every partition (${this.partitions}) to be streamed`, 60_000);
  }

  /** The replicas running now. */
  replicasAlive(): DaemonProcess[] {
    return [...this.alive];
  }

  /** Partitions some replica alive has logged streaming (0 for the one slot without partitions). */
  private streamedPartitions(): Set<number> {
    const partitions = new Set<number>();
    for (const daemon of this.alive) {
      for (const line of daemon.logs) if (line.msg === 'replication streaming') partitions.add(typeof line.partition === 'number' ? line.partition : 0);
    }
    return partitions;
  }

  private spawn(): DaemonProcess {
    const daemon = startDaemon(this.setup.file);
    this.alive.add(daemon);
    void daemon.exited.then((exitCode) => {
      this.alive.delete(daemon);
      if (!this.killedOnPurpose.has(daemon) && !this.stopped) {
        this.crashes.push({ exitCode, tail: daemon.output().split('\n').slice(-15).join('\n') });
      }
      if (this.stopped) return;
      if (this.holdReplacement.has(daemon)) {
        this.held++;
        return;
      }
      this.restarting++;
      setTimeout(() => {
        this.restarting--;
        if (!this.stopped) this.spawn();
      }, RESTART_DELAY_MS);
    });
    return daemon;
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

  /**
   * kill -9 of `daemon` (default: the leader, else any replica); the fleet
   * replaces it, at once or, with `holdReplacement`, when `replaceHeld` is called.
   */
  async kill9(daemon = this.leader() ?? [...this.alive][0], { holdReplacement = false } = {}): Promise<void> {
    if (!daemon) return;
    this.killedOnPurpose.add(daemon);
    if (holdReplacement) this.holdReplacement.add(daemon);
    this.kills++;
    await daemon.kill9();
  }

  /** Starts the replacements `kill9` held back, and returns them. */
  replaceHeld(): DaemonProcess[] {
    const replacements: DaemonProcess[] = [];
    for (; this.held > 0 && !this.stopped; this.held--) replacements.push(this.spawn());
    return replacements;
  }

  /** Waits until every replica that should run is up again (replacements included; held ones never are). */
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
