/**
 * The open-loop (--rate) schedule of one worker: request k is due at
 * origin + k / rate, whatever the server does. The loop counts requests due
 * (`due`) and started (`started`); those due and never started when the run
 * stops are unsent, not given made-up latencies.
 */
export class OpenLoopSchedule {
  /** Requests whose scheduled time has come. */
  due = 0;
  /** Of those, started. */
  started = 0;
  private readonly interval: number;

  constructor(
    private readonly origin: number,
    rate: number,
  ) {
    this.interval = 1000 / rate;
  }

  /** The scheduled start of request k (performance.now() time). */
  at(k: number): number {
    return this.origin + k * this.interval;
  }

  /** The scheduled start of the next request not yet due. */
  nextAt(): number {
    return this.at(this.due);
  }

  /** The run stops: how many due requests never started at or after `from` (measured ones); they are dropped. */
  dropUnstarted(from: number): number {
    let n = 0;
    for (let k = this.started; k < this.due; k++) if (this.at(k) >= from) n++;
    this.started = this.due;
    return n;
  }
}
