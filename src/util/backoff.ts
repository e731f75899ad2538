// The one retry backoff: exponential from `baseMs`, capped at `maxMs`, with "equal jitter" (half fixed, half random)
// so that many clients failing together do not retry in lockstep.
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the one after it, up to the cap. */
  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return d / 2 + this.random() * (d / 2);
  }

  /** Failures in a row so far. */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
