/**
 * Bench's one load loop: per-slot request bookkeeping, the closed- and
 * open-loop schedulers, timeouts, error classes, retries and the clock, over a
 * Transport (transport.ts) that only moves bytes. Both engines run this loop;
 * an engine is the transport it is given.
 *
 * Slots: oneshot, a slot is one request in flight on its own connection;
 * persistent, a slot is a connection carrying up to `pipeline` requests.
 * Per-slot state lives in typed arrays indexed by slot, so a request records one
 * histogram value and allocates nothing.
 */
import { performance } from 'node:perf_hooks';
import { backlogDelay, reconnectDelay } from '../backoff.js';
import { decodeKeepingBytes } from '../escape.js';
import type { ErrorCode } from '../errors.js';
import { ContainsCheck, ReplyFramer } from './framer.js';
import { OpenLoopSchedule } from './schedule.js';
import type { Transport, TransportEvents } from './transport.js';
import { ABORT, CTL_CLAIMED, CTL_STOP, NO_REPLY, PARTIAL_REPLY, RUN, type WorkerConfig, type WorkerMessage, WorkerStats, describeError } from './worker-stats.js';

// Slot states.
export const FREE = 0; // oneshot: no request; persistent: no connection and none wanted
export const BACKOFF = 1; // waiting until retryAt to connect (again)
export const CONNECTING = 2;
export const OPEN = 3;
export const DONE = 4;

/** After an I/O error on an open connection, the slot waits this long before its next connect. */
export const ERROR_PAUSE_MS = 1;
/** The longest single wait, so the stop word is seen. */
const MAX_WAIT_MS = 100;
const SAMPLE = 80;

export interface LoopIo {
  post(msg: WorkerMessage): void;
  /** Resolves with the local performance.now() time at which load starts. */
  waitGo(): Promise<number>;
}

export class LoadLoop implements TransportEvents {
  now = performance.now();
  readonly stats: WorkerStats;
  private t!: Transport;
  private readonly ctl: Int32Array;
  private readonly S: number;
  private readonly K: number;
  private readonly persistent: boolean;
  private readonly openLoop: boolean;
  private readonly eofRule: boolean;
  private readonly idleRule: boolean;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly plen: number;

  // Per slot.
  readonly st: Uint8Array;
  private readonly hasReq: Uint8Array; // oneshot: a request owns the slot (connecting or in flight)
  readonly inflight: Int32Array;
  private readonly head: Int32Array;
  private readonly starts: Float64Array; // latency origin: scheduled start (open loop) or send time
  private readonly sentAt: Float64Array; // timeout origin
  private readonly connStart: Float64Array;
  private readonly connectedAt: Float64Array;
  readonly retryAt: Float64Array;
  private readonly backoff: Float64Array; // the last backlog wait of the current attempt (0: none)
  readonly failures: Int32Array; // connect attempts failed in a row
  private readonly got: Float64Array; // bytes of the reply being read
  private readonly idleAt: Float64Array;
  private readonly framer: ReplyFramer;
  private readonly check: ContainsCheck | null;
  private readonly sampleBuf: Buffer | null; // the first bytes of each reply, for the first MISMATCH's message
  private readonly sampleLen: Int32Array;
  // Closed loop: a slot whose request ended is queued, and its next request starts once the whole
  // batch of events is handled (as the C client does), so a new request's clock never runs while
  // this thread is busy with other connections' replies.
  private readonly readyQ: Int32Array;
  private readonly queued: Uint8Array;
  private readonly owed: Int32Array; // persistent: requests to send on the connection
  private readyN = 0;

  // The run.
  private tStart = Infinity;
  tMeasure = Infinity;
  private tEnd = Infinity;
  measuring = false;
  started = false; // past setup: connection losses are the run's, not fatal
  stopping = false;
  pending = 0; // requests started and not yet ended
  private freeUnits = 0; // open loop: requests that could start now without waiting
  private cursor = 0;
  private nextWake = Infinity; // earliest retryAt / idleAt / connect deadline set since the last scan
  private nextScan: number;
  private readonly scanEvery: number;
  private nextTick = Infinity;
  private second = 0;
  fatal: { code: ErrorCode; message: string } | null = null;

  constructor(
    private readonly cfg: WorkerConfig,
    private readonly io: LoopIo,
  ) {
    const S = (this.S = cfg.slots);
    const K = (this.K = cfg.pipeline);
    this.ctl = new Int32Array(cfg.control);
    this.stats = new WorkerStats(cfg);
    this.persistent = cfg.mode === 'persistent';
    this.openLoop = cfg.rate > 0;
    this.eofRule = cfg.until.kind === 'eof';
    this.idleRule = cfg.until.kind === 'idle';
    this.idleMs = cfg.until.kind === 'idle' ? cfg.until.ms : 0;
    this.timeoutMs = cfg.timeoutMs;
    this.connectTimeoutMs = cfg.connectTimeoutMs;
    this.plen = cfg.payload.length;
    this.st = new Uint8Array(S);
    this.hasReq = new Uint8Array(S);
    this.inflight = new Int32Array(S);
    this.head = new Int32Array(S);
    this.starts = new Float64Array(S * K);
    this.sentAt = new Float64Array(S * K);
    this.connStart = new Float64Array(S);
    this.connectedAt = new Float64Array(S);
    this.retryAt = new Float64Array(S);
    this.backoff = new Float64Array(S);
    this.failures = new Int32Array(S);
    this.got = new Float64Array(S);
    this.idleAt = new Float64Array(S);
    this.framer = new ReplyFramer(cfg.until, S);
    this.check = cfg.expect ? new ContainsCheck(cfg.expect, S) : null;
    this.sampleBuf = this.check ? Buffer.alloc(S * SAMPLE) : null;
    this.sampleLen = new Int32Array(this.check ? S : 0);
    this.readyQ = new Int32Array(2 * S);
    this.queued = new Uint8Array(S);
    this.owed = new Int32Array(S);
    this.scanEvery = Math.max(1, Math.min(50, cfg.timeoutMs / 20, cfg.connectTimeoutMs / 20));
    this.nextScan = this.now + this.scanEvery;
  }

  /** The transport this loop drives (created with this loop as its events sink). */
  attach(t: Transport): void {
    this.t = t;
  }

  // ---------------------------------------------------------------- bookkeeping

  private wake(t: number): void {
    if (t < this.nextWake) this.nextWake = t;
  }

  private enqueue(i: number, m: number): void {
    this.owed[i] += m;
    if (this.queued[i]) return;
    this.queued[i] = 1;
    this.readyQ[this.readyN++] = i;
  }

  /** One more measured request may start (the --requests budget is shared by the workers). */
  private claim(): boolean {
    const limit = this.cfg.requests;
    if (limit === 0 || !this.measuring) return true;
    if (Atomics.add(this.ctl, CTL_CLAIMED, 1) < limit) return true;
    this.stopping = true;
    return false;
  }

  /** Forget the reply being read on slot i. */
  private resetReply(i: number): void {
    this.got[i] = 0;
    if (this.check) {
      this.check.end(i);
      this.sampleLen[i] = 0;
    }
    this.framer.reset(i);
  }

  // ---------------------------------------------------------------- ending requests

  /** One request ended badly; measured by its start. */
  private failOne(t0: number, code: ErrorCode, errno: number, variant: number): void {
    this.pending--;
    if (t0 >= this.tMeasure) this.stats.fail(code, errno, variant);
    else this.stats.warmup++;
  }

  private failInflight(i: number, code: ErrorCode, errno: number, variant: number): void {
    const K = this.K;
    for (let n = this.inflight[i]; n > 0; n--) {
      this.failOne(this.starts[i * K + this.head[i]], code, errno, variant);
      this.head[i] = (this.head[i] + 1) % K;
    }
    this.inflight[i] = 0;
    this.head[i] = 0;
    this.resetReply(i);
  }

  /** Put a oneshot slot back: the next request (closed loop) or a free unit (open loop), after `pause` ms. */
  private release(i: number, pause: number): void {
    this.hasReq[i] = 0;
    if (pause > 0) {
      this.st[i] = BACKOFF;
      this.retryAt[i] = this.now + pause;
      this.wake(this.retryAt[i]);
      return;
    }
    if (this.stopping) this.st[i] = DONE;
    else {
      this.st[i] = FREE;
      if (this.openLoop) this.freeUnits++;
      else this.enqueue(i, 1);
    }
  }

  /** Slot i's connection failed or was lost: what it carried fails with `code`; the slot tries again after `pause` ms. */
  lose(i: number, code: ErrorCode, errno: number, variant: number, pause: number): void {
    if (this.persistent && this.st[i] === OPEN && this.openLoop) this.freeUnits -= this.K - this.inflight[i];
    this.t.close(i);
    if (!this.persistent) {
      if (this.hasReq[i]) this.failOne(this.starts[i * this.K], code, errno, variant);
      this.inflight[i] = 0;
      this.resetReply(i);
      return this.release(i, pause);
    }
    this.failInflight(i, code, errno, variant);
    if (!this.started) {
      this.fatal ??= { code, message: `opening the persistent connections: ${describeError(this.cfg, code, errno, variant)}` };
      this.st[i] = DONE;
      return;
    }
    if (this.stopping) {
      this.st[i] = DONE;
      return;
    }
    this.st[i] = BACKOFF;
    this.retryAt[i] = this.now + pause;
    this.wake(this.retryAt[i]);
  }

  private completeOne(i: number): void {
    const K = this.K;
    const t0 = this.starts[i * K + this.head[i]];
    this.head[i] = (this.head[i] + 1) % K;
    this.inflight[i]--;
    this.pending--;
    const check = this.check;
    const matched = check === null || check.end(i);
    if (check) {
      if (!matched && t0 >= this.tMeasure && this.stats.wantsMismatchSample) {
        this.stats.noteMismatch(decodeKeepingBytes(this.sampleBuf!, i * SAMPLE, i * SAMPLE + this.sampleLen[i]));
      }
      this.sampleLen[i] = 0;
    }
    const empty = this.got[i] === 0;
    this.got[i] = 0;
    if (t0 >= this.tMeasure) {
      if (!matched) this.stats.fail('MISMATCH');
      else if (empty) this.stats.fail('CLOSED_EARLY', 0, NO_REPLY);
      else {
        this.stats.success(this.now - t0);
        if (!this.persistent) this.stats.exchanged(this.now - this.connectedAt[i]);
      }
    } else this.stats.warmup++;
    if (!this.persistent) {
      this.t.close(i);
      this.release(i, 0);
    } else if (this.openLoop) this.freeUnits++;
  }

  // ---------------------------------------------------------------- starting requests

  /** Persistent: start `m` requests on connection i (scheduled at t0, or now). */
  private sendBatch(i: number, m: number, t0: number): void {
    const K = this.K;
    for (let j = 0; j < m; j++) {
      const idx = i * K + ((this.head[i] + this.inflight[i]) % K);
      this.starts[idx] = t0;
      this.sentAt[idx] = this.now;
      this.inflight[i]++;
    }
    this.pending += m;
    this.t.send(i, m * this.plen);
  }

  /** One connect attempt of slot i (a backlog retry continues the same attempt). */
  private tryConnect(i: number): void {
    this.st[i] = CONNECTING;
    this.wake(this.connStart[i] + this.connectTimeoutMs);
    this.t.connect(i);
  }

  private startOneshot(i: number, t0: number): void {
    this.hasReq[i] = 1;
    this.pending++;
    this.now = performance.now();
    this.starts[i * this.K] = this.openLoop ? t0 : this.now;
    this.connStart[i] = this.now;
    this.backoff[i] = 0;
    this.tryConnect(i);
  }

  /** Persistent: open (or reopen) connection i. */
  private startConnect(i: number): void {
    if (this.started) this.stats.reconnecting();
    this.now = performance.now();
    this.connStart[i] = this.now;
    this.backoff[i] = 0;
    this.tryConnect(i);
  }

  // ---------------------------------------------------------------- transport events

  connected(i: number): void {
    if (this.st[i] !== CONNECTING) return;
    this.st[i] = OPEN;
    this.connectedAt[i] = this.now;
    this.backoff[i] = 0;
    this.failures[i] = 0;
    this.resetReply(i);
    if (!this.persistent) {
      const K = this.K;
      if (this.starts[i * K] >= this.tMeasure) this.stats.connected(this.now - this.connStart[i]);
      this.inflight[i] = 1;
      this.head[i] = 0;
      this.sentAt[i * K] = this.now;
      if (this.plen > 0) this.t.send(i, this.plen);
      if (this.cfg.halfClose && this.st[i] === OPEN) this.t.endWrite(i);
      return;
    }
    this.stats.connected(this.now - this.connStart[i]);
    if (!this.started || this.stopping) return;
    if (this.openLoop) this.freeUnits += this.K;
    else this.enqueue(i, this.K);
  }

  connectFailed(i: number, code: ErrorCode, errno: number, message: string | null): void {
    if (this.st[i] !== CONNECTING) return;
    if (code === 'BACKLOG_FULL') {
      // A Unix socket's listen backlog is full: the same attempt, retried with back-off until the connect timeout.
      this.stats.connectRetries++;
      if (this.now - this.connStart[i] < this.connectTimeoutMs) {
        this.t.close(i);
        this.backoff[i] = backlogDelay(this.backoff[i]);
        this.st[i] = BACKOFF;
        this.retryAt[i] = this.now + this.backoff[i];
        this.wake(this.retryAt[i]);
        return;
      }
      errno = 0; // the message says the backlog stayed full, not that it was full once
      message = null;
    }
    if (message !== null && this.fatal === null) {
      this.stats.noteConnectMessage(code, message);
      if (this.persistent && !this.started) this.fatal = { code, message: `opening the persistent connections: ${message}` };
    }
    this.backoff[i] = 0;
    // A failed attempt backs off, oneshot and persistent alike; a failed reopen is also an error of the
    // run (the server is gone), while a oneshot request fails with it anyway.
    const failures = ++this.failures[i];
    const pause =
      this.persistent && this.started ? this.stats.reconnectFailed(this.measuring, failures, code, errno) : reconnectDelay(failures);
    this.lose(i, code, errno, NO_REPLY, pause);
  }

  data(i: number, buf: Buffer, from: number, n: number): void {
    if (this.measuring) this.stats.in(n - from);
    if (this.inflight[i] === 0) return; // nothing asked: not a reply
    const check = this.check;
    let pos = from;
    let done = 0;
    while (pos < n && this.inflight[i] > 0) {
      const end = this.framer.scan(i, buf, pos, n);
      const segEnd = end < 0 ? n : end;
      if (check) {
        check.feed(i, buf, pos, segEnd);
        const have = this.sampleLen[i];
        if (have < SAMPLE) this.sampleLen[i] += buf.copy(this.sampleBuf!, i * SAMPLE + have, pos, Math.min(segEnd, pos + SAMPLE - have));
      }
      this.got[i] += segEnd - pos;
      if (end < 0) break;
      this.completeOne(i);
      done++;
      if (!this.persistent) return;
      pos = end;
    }
    if (this.idleRule && this.inflight[i] > 0) {
      this.idleAt[i] = this.now + this.idleMs;
      this.wake(this.idleAt[i]);
    }
    if (this.persistent && done > 0 && !this.openLoop && !this.stopping) this.enqueue(i, done);
  }

  sent(_i: number, n: number): void {
    if (this.measuring) this.stats.out(n);
  }

  end(i: number): void {
    if (this.st[i] !== OPEN) return;
    if (!this.persistent) {
      if (!this.hasReq[i]) return this.t.close(i);
      if (this.eofRule || this.idleRule) return this.completeOne(i); // empty: CLOSED_EARLY there
    }
    // The server closed the connection before the reply ended (a persistent one: reconnect at once).
    this.lose(i, 'CLOSED_EARLY', 0, this.got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
  }

  failed(i: number, code: ErrorCode, errno: number): void {
    if (this.st[i] !== OPEN) return;
    this.lose(i, code, errno, this.got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, ERROR_PAUSE_MS);
  }

  // ---------------------------------------------------------------- timeouts, retries, idle ends

  /** A pass over the slots: reply and connect timeouts, idle ends, retries that are due. */
  scan(): void {
    const now = this.now;
    this.nextWake = Infinity;
    for (let i = 0; i < this.S; i++) {
      const s = this.st[i];
      if (s === OPEN) {
        if (this.inflight[i] === 0) continue;
        if (this.idleRule && this.got[i] > 0) {
          if (now >= this.idleAt[i]) {
            this.completeOne(i);
            if (this.persistent && !this.openLoop && !this.stopping) this.enqueue(i, 1);
            continue;
          }
          this.wake(this.idleAt[i]);
        }
        if (now - this.sentAt[i * this.K + this.head[i]] >= this.timeoutMs) {
          const got = this.got[i] > 0;
          this.lose(i, this.eofRule && got ? 'NEVER_CLOSED' : 'REPLY_TIMEOUT', 0, got ? PARTIAL_REPLY : NO_REPLY, 0);
        }
      } else if (s === BACKOFF) {
        if (now < this.retryAt[i]) {
          this.wake(this.retryAt[i]);
          continue;
        }
        if (this.persistent) {
          if (this.stopping) this.st[i] = DONE;
          else if (this.backoff[i] > 0) this.tryConnect(i);
          else this.startConnect(i);
        } else if (this.hasReq[i]) this.tryConnect(i);
        else this.release(i, 0);
      } else if (s === CONNECTING) {
        if (now - this.connStart[i] >= this.connectTimeoutMs) this.connectFailed(i, 'CONNECT_TIMEOUT', 0, null);
        else this.wake(this.connStart[i] + this.connectTimeoutMs);
      }
    }
    this.nextScan = this.now + this.scanEvery;
  }

  /** Wait for the transport's events (at most `waitMs`), then scan if one is due. */
  private async poll(waitMs: number): Promise<void> {
    const p = this.t.poll(Math.max(0, waitMs));
    if (p !== undefined) await p;
    this.now = performance.now();
    if (this.now >= this.nextScan || this.now >= this.nextWake) this.scan();
  }

  // ---------------------------------------------------------------- the run

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
      await this.poll(Math.min(MAX_WAIT_MS, this.nextWake - this.now, this.nextScan - this.now));
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
    this.readyQ.copyWithin(0, n, this.readyN);
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
    this.tEnd = cfg.durationMs < 0 ? Infinity : this.tMeasure + cfg.durationMs;
    const sch = this.openLoop ? new OpenLoopSchedule(this.tStart + cfg.phaseMs, cfg.rate) : null;

    // Wait for the common start, so all workers begin together.
    while ((this.now = performance.now()) < this.tStart) await this.poll(Math.min(MAX_WAIT_MS, this.tStart - this.now));
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
        break;
      }
      if (!this.stopping && (stop !== RUN || this.now >= this.tEnd)) this.stopping = true;
      if (this.readyN > 0) this.startReady();
      if (sch && !this.stopping) this.startDue(sch);
      if (this.stopping) {
        // Never started: counted, not sent, and not given made-up latencies.
        if (sch) this.stats.unsent += sch.dropUnstarted(this.tMeasure);
        if (this.pending === 0) break;
      }
      if (this.measuring && this.now >= this.nextTick) {
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
      await this.poll(until - this.now);
    }

    this.now = performance.now();
    const end = Math.max(this.now, this.tMeasure);
    if (this.measuring) {
      const tickStart = this.tMeasure + this.second * 1000;
      if (end > tickStart) this.io.post(this.stats.tick(this.second, end - tickStart));
    }
    this.dispose();
    this.io.post(this.stats.done(this.measuring ? end - this.tMeasure : 0));
  }

  private dispose(): void {
    for (let i = 0; i < this.S; i++) this.t.close(i);
    this.t.dispose();
  }
}
