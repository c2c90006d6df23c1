/**
 * A token bucket for a webhook's `maxPerSecond`: `ratePerSecond` tokens a
 * second, held up to `capacity` (a second's worth, at least one), so a burst
 * after a quiet spell is bounded and the long-run rate is exact. Pure: the
 * clock is passed in, so tests drive it by hand.
 *
 * `reserve` hands out slots in turn: each caller takes one token, going into
 * debt when none is left, and is told how long to wait for it. Callers
 * reserving at once (an endpoint's concurrent requests) therefore get
 * successive slots instead of all waking at the same moment.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  readonly capacity: number;

  constructor(
    readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError(`a token bucket needs a positive rate, got ${ratePerSecond}`);
    this.capacity = Math.max(1, ratePerSecond);
    this.tokens = this.capacity;
    this.updatedAt = now();
  }

  /** Takes one token; returns the milliseconds to wait before using it (0: now). */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }

  private refill(): void {
    const at = this.now();
    // A clock that steps back adds nothing rather than taking tokens away.
    const elapsedMs = Math.max(0, at - this.updatedAt);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsedMs / 1000) * this.ratePerSecond);
    this.updatedAt = at;
  }
}
