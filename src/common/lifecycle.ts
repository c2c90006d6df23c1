/**
 * The order a process's parts start and stop in: the listed order to start,
 * the reverse to stop, so each part stops while what it depends on still runs.
 */

/** One part of the daemon as its lifecycle sees it; a part may only start, or only stop. */
export interface Stage<Shutdown> {
  name: string;
  start?: () => Promise<void> | void;
  stop?: (shutdown: Shutdown) => Promise<void> | void;
}

/**
 * Told about a stage whose stop has taken longer than `afterMs` (once per
 * stage): a shutdown that hangs names the part it hangs in.
 */
export interface SlowStopWatch {
  afterMs: number;
  report: (stage: string, elapsedMs: number) => void;
}

export class Lifecycle<Shutdown> {
  /** How many stages, from the first, began to start: only those are stopped. */
  private begun = 0;
  private stopping = false;

  constructor(
    private readonly stages: readonly Stage<Shutdown>[],
    private readonly slowStop?: SlowStopWatch,
  ) {}

  /** Starts each stage in turn; once stop() was called, starts no further one. */
  async start(): Promise<void> {
    for (const stage of this.stages) {
      if (this.stopping) return;
      this.begun++;
      await stage.start?.();
    }
  }

  /**
   * Stops, in reverse, every stage whose start began (one still starting
   * included). A stage whose stop fails does not keep the earlier ones
   * running (the lease held, the pools open): every stage is stopped, then the
   * failures are thrown together, each named by its stage.
   */
  async stop(shutdown: Shutdown): Promise<void> {
    this.stopping = true;
    const failures: Error[] = [];
    for (const stage of this.stages.slice(0, this.begun).reverse()) {
      if (!stage.stop) continue;
      const startedAt = performance.now();
      const slowStop = this.slowStop;
      const watch = slowStop && setTimeout(() => slowStop.report(stage.name, Math.round(performance.now() - startedAt)), slowStop.afterMs);
      try {
        await stage.stop(shutdown);
      } catch (error) {
        failures.push(new Error(`stopping ${stage.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      } finally {
        clearTimeout(watch);
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, failures.map((failure) => failure.message).join('; '));
  }
}
