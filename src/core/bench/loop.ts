/**
 * Bench's one load loop: setup, the common start, the closed- and open-loop
 * schedulers, the per-second ticks and the end of the run, over the per-slot
 * bookkeeping of slots.ts and a Transport (transport.ts) that only moves bytes.
 * Both engines run this loop; an engine is the transport it is given.
 */
import { performance } from 'node:perf_hooks';
import { OpenLoopSchedule } from './schedule.js';
import { DONE, FREE, OPEN, SlotBook } from './slots.js';
import { ABORT, CTL_CLAIMED, CTL_STOP, RUN, type WorkerConfig, type WorkerMessage } from './worker-stats.js';

/** The longest single wait, so the stop word is seen. */
const MAX_WAIT_MS = 100;

export interface LoopIo {
  post(msg: WorkerMessage): void;
  /** Resolves with the local performance.now() time at which load starts. */
  waitGo(): Promise<number>;
}

export class LoadLoop extends SlotBook {
  private tStart = Infinity;
  private tEnd = Infinity;
  private cursor = 0;
  private nextTick = Infinity;
  private second = 0;

  constructor(
    cfg: WorkerConfig,
    private readonly io: LoopIo,
  ) {
    super(cfg);
  }

  /**
   * After the transport's wait: the clock, and a scan when one is due. (The wait itself is
   * `const p = this.t.poll(ms); if (p) await p;` at each call site: a synchronous transport
   * costs no promise per wait.)
   */
  private afterPoll(): void {
    // The transport set `now` when its wait ended.
    if (this.now >= this.nextScan || this.now >= this.nextWake) this.scan();
  }

  // ---------------------------------------------------------------- the run

  /** One more measured request may start (the --requests budget is shared by the workers). */
  private claim(): boolean {
    const limit = this.cfg.requests;
    if (limit === null || !this.measuring) return true;
    if (Atomics.add(this.ctl, CTL_CLAIMED, 1) < limit) return true;
    this.stopping = true;
    return false;
  }

  /** Persistent: open the connections before the clock starts. False: it failed (reported as fatal). */
  async setup(): Promise<boolean> {
    if (!this.persistent) return true;
    const S = this.S;
    for (let i = 0; i < S && !this.fatal; i++) this.startConnect(i);
    const setupEnd = performance.now() + this.connectTimeoutMs + 1_000;
    for (;;) {
      let open = 0;
      for (let i = 0; i < S; i++) if (this.st[i] === OPEN) open++;
      if (open === S || this.fatal) break;
      if (Atomics.load(this.ctl, CTL_STOP) === ABORT || this.now > setupEnd) {
        this.fatal ??= {
          code: 'CONNECT_TIMEOUT',
          message: `${this.cfg.target.display}: could not open ${S - open} of ${S} connections within ${this.connectTimeoutMs}ms`,
        };
        break;
      }
      const p = this.t.poll(Math.max(0, Math.min(MAX_WAIT_MS, this.nextWake - this.now, this.nextScan - this.now)));
      if (p !== undefined) await p;
      this.afterPoll();
    }
    return this.fatal === null;
  }

  private beginMeasuring(): void {
    this.measuring = true;
    this.stats.begin();
    this.nextTick = this.tMeasure + 1000;
  }

  /** Closed loop: start the requests of the slots queued since the last pass. */
  private startReady(): void {
    // (A start that fails at once backs off instead of queueing again; were one to queue, the loop takes it too.)
    const n = this.readyN;
    for (let k = 0; k < n; k++) {
      const i = this.readyQ[k];
      this.queued[i] = 0;
      let m = this.owed[i];
      this.owed[i] = 0;
      if (this.persistent) {
        if (this.st[i] !== OPEN) continue; // lost meanwhile: its reconnect queues it again
        m = Math.min(m, this.K - this.inflight[i]);
        let c = 0;
        while (c < m && !this.stopping && this.claim()) c++;
        if (c > 0) {
          this.now = performance.now(); // each request's clock starts at its own send
          this.sendBatch(i, c, this.now);
        }
      } else if (this.st[i] === FREE) {
        if (!this.stopping && this.claim()) this.startOneshot(i, performance.now());
        else this.st[i] = DONE;
      }
    }
    // Slots queued while starting these (none today) would be past n: keep them.
    if (this.readyN > n) this.readyQ.copyWithin(0, n, this.readyN);
    this.readyN -= n;
  }

  /** Open loop: count the requests now due and start as many as free slots allow. */
  private startDue(sch: OpenLoopSchedule): void {
    const now = this.now;
    for (;;) {
      const at = sch.nextAt();
      if (at > now) break;
      if (at >= this.tEnd) {
        this.stopping = true;
        break;
      }
      if (at >= this.tMeasure) {
        if (!this.claim()) break;
        this.stats.scheduled++;
      }
      sch.due++;
    }
    while (sch.started < sch.due && this.freeUnits > 0) {
      const i = this.findFree();
      if (i < 0) {
        this.freeUnits = 0; // the count drifted; recounted as slots free up
        break;
      }
      const t0 = sch.at(sch.started++);
      if (t0 >= this.tMeasure && now - t0 > 1) this.stats.late++;
      this.freeUnits--;
      if (this.persistent) this.sendBatch(i, 1, t0);
      else this.startOneshot(i, t0);
    }
  }

  /** Open loop: the next slot, round robin, that can take a request now; -1: none. */
  private findFree(): number {
    const S = this.S;
    let i = this.cursor;
    for (let n = 0; n < S; n++) {
      i = i + 1 === S ? 0 : i + 1;
      if (this.persistent ? this.st[i] === OPEN && this.inflight[i] < this.K : this.st[i] === FREE) {
        this.cursor = i;
        return i;
      }
    }
    return -1;
  }

  /** Run the load: after setup, from the common start to the end of the last request. */
  async run(): Promise<void> {
    if (!(await this.setup())) {
      this.dispose();
      this.io.post({ type: 'fatal', code: this.fatal!.code, message: this.fatal!.message });
      return;
    }
    const cfg = this.cfg;
    const S = this.S;
    this.io.post({ type: 'ready' });
    this.tStart = await this.io.waitGo();
    this.started = true;
    this.tMeasure = this.tStart + cfg.warmupMs;
    this.tEnd = cfg.durationMs === null ? Infinity : this.tMeasure + cfg.durationMs;
    const sch = this.openLoop ? new OpenLoopSchedule(this.tStart + cfg.phaseMs, cfg.rate) : null;

    // Wait for the common start, so all workers begin together.
    while ((this.now = performance.now()) < this.tStart) {
      const p = this.t.poll(Math.min(MAX_WAIT_MS, this.tStart - this.now));
      if (p !== undefined) await p;
      this.afterPoll();
    }
    if (this.now >= this.tMeasure) this.beginMeasuring();
    if (!this.openLoop) {
      for (let i = 0; i < S; i++) this.enqueue(i, this.persistent ? this.K : 1);
    } else if (this.persistent) {
      for (let i = 0; i < S; i++) if (this.st[i] === OPEN) this.freeUnits += this.K;
    } else {
      this.freeUnits = S;
    }

    for (;;) {
      this.now = performance.now();
      if (!this.measuring && this.now >= this.tMeasure) this.beginMeasuring();
      const stop = Atomics.load(this.ctl, CTL_STOP);
      if (stop === ABORT) {
        if (this.measuring) this.stats.abandoned += this.pending;
        if (this.tStop === Infinity) this.endWindow();
        break;
      }
      if (!this.stopping && (stop !== RUN || this.now >= this.tEnd)) this.stopping = true;
      if (this.readyN > 0) this.startReady();
      if (sch && !this.stopping) this.startDue(sch);
      if (this.stopping) {
        if (this.tStop === Infinity) this.endWindow();
        // Never started: counted, not sent, and not given made-up latencies.
        if (sch) this.stats.unsent += sch.dropUnstarted(this.tMeasure);
        if (this.pending === 0) break;
      }
      if (this.measuring && this.tStop === Infinity && this.now >= this.nextTick) {
        this.io.post(this.stats.tick(this.second++, 1000));
        this.nextTick += 1000;
        continue;
      }
      let until = Math.min(this.nextScan, this.nextWake, this.nextTick, this.now + MAX_WAIT_MS);
      if (!this.stopping) {
        until = Math.min(until, this.tEnd);
        if (sch) until = Math.min(until, sch.nextAt());
      }
      if (!this.measuring) until = Math.min(until, this.tMeasure);
      const p = this.t.poll(Math.max(0, until - this.now));
      if (p !== undefined) await p;
      this.afterPoll();
    }

    this.now = performance.now();
    const end = Math.max(this.now, this.tMeasure);
    this.dispose();
    this.io.post(this.stats.done(this.measuring ? end - this.tMeasure : 0));
  }

  /**
   * No more requests start: the measured window ends here. Its last (partial) second is the
   * timeline's last; what ends after it (the requests in flight, within one --timeout) is the drain.
   */
  private endWindow(): void {
    this.now = performance.now();
    this.tStop = this.now;
    this.nextTick = Infinity;
    this.wake(this.now + this.cfg.timeoutMs);
    if (!this.measuring) return;
    const end = Math.max(this.now, this.tMeasure);
    const tickStart = this.tMeasure + this.second * 1000;
    if (end > tickStart) this.io.post(this.stats.tick(this.second, end - tickStart));
    this.stats.endWindow(end - this.tMeasure, this.pending);
  }

  private dispose(): void {
    for (let i = 0; i < this.S; i++) this.t.close(i);
    this.t.dispose();
  }
}
