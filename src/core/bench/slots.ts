/**
 * The per-slot bookkeeping of bench's load loop: what each slot (a oneshot
 * request, or a persistent connection) is doing, what a transport event means
 * for its requests (a reply, an end, an error), timeouts, retries and their
 * back-off, and what gets counted. loop.ts drives it (setup, schedulers, the
 * clock); a Transport moves its bytes.
 *
 * Per-slot state lives in typed arrays indexed by slot: a request records one
 * histogram value and allocates nothing.
 */
import { performance } from 'node:perf_hooks';
import { backlogDelay, reconnectDelay } from '../socket/backoff.js';
import type { ErrorCode } from '../errors.js';
import { FRAME_ERROR, REPLY_EMPTY, REPLY_FAILED, REPLY_MISMATCH, ReplyReader } from './reply.js';
import type { Transport, TransportEvents } from './transport.js';
import { CLOSE_ANNOUNCED, ERROR_REPLY, NO_REPLY, PARTIAL_REPLY, type WorkerConfig, WorkerStats, describeError } from './worker-stats.js';

// Slot states.
export const FREE = 0; // oneshot: no request; persistent: no connection and none wanted
export const BACKOFF = 1; // waiting until retryAt to connect (again)
export const CONNECTING = 2;
export const OPEN = 3;
export const DONE = 4;

/** After an I/O error on an open connection, the slot waits this long before its next connect. */
export const ERROR_PAUSE_MS = 1;

export class SlotBook implements TransportEvents {
  now = performance.now();
  readonly stats: WorkerStats;
  protected t!: Transport;
  protected readonly ctl: Int32Array;
  protected readonly S: number;
  protected readonly K: number;
  protected readonly persistent: boolean;
  protected readonly openLoop: boolean;
  private readonly eofRule: boolean;
  private readonly idleRule: boolean;
  /** seqpacket's default: each read is one message, and one message is one reply. */
  private readonly oneMessage: boolean;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  protected readonly connectTimeoutMs: number;
  private readonly plen: number;

  // Per slot (public for the tests, read-only by convention).
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
  private readonly idleAt: Float64Array;
  private readonly replies: ReplyReader;
  // Closed loop: a slot whose request ended is queued, and its next request starts once the whole
  // batch of events is handled (as the C client does), so a new request's clock never runs while
  // this thread is busy with other connections' replies.
  protected readonly readyQ: Int32Array;
  protected readonly queued: Uint8Array;
  protected readonly owed: Int32Array; // persistent: requests to send on the connection
  protected readyN = 0;

  // The run, as far as the bookkeeping needs it.
  tMeasure = Infinity;
  measuring = false;
  started = false; // past setup: connection losses are the run's, not fatal
  stopping = false;
  /** When the window ended (no more requests start): requests still in flight get one --timeout from then, at most. */
  tStop = Infinity;
  pending = 0; // requests started and not yet ended
  protected freeUnits = 0; // open loop: requests that could start now without waiting
  protected nextWake = Infinity; // earliest retryAt / idleAt / connect deadline set since the last scan
  protected nextScan: number;
  private readonly scanEvery: number;
  fatal: { code: ErrorCode; message: string } | null = null;

  constructor(protected readonly cfg: WorkerConfig) {
    const S = (this.S = cfg.slots);
    const K = (this.K = cfg.pipeline);
    this.ctl = new Int32Array(cfg.control);
    this.stats = new WorkerStats(cfg);
    this.persistent = cfg.mode === 'persistent';
    this.openLoop = cfg.rate > 0;
    this.oneMessage = cfg.oneMessage === true;
    this.eofRule = cfg.until.kind === 'eof' && !this.oneMessage;
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
    this.idleAt = new Float64Array(S);
    this.replies = new ReplyReader(cfg.until, cfg.expect, S);
    this.readyQ = new Int32Array(2 * S);
    this.queued = new Uint8Array(S);
    this.owed = new Int32Array(S);
    this.scanEvery = Math.max(1, Math.min(50, cfg.timeoutMs / 20, cfg.connectTimeoutMs / 20));
    this.nextScan = this.now + this.scanEvery;
  }

  attach(t: Transport): void {
    this.t = t;
  }

  // ---------------------------------------------------------------- bookkeeping

  protected wake(t: number): void {
    if (t < this.nextWake) this.nextWake = t;
  }

  protected enqueue(i: number, m: number): void {
    this.owed[i] += m;
    if (this.queued[i]) return;
    this.queued[i] = 1;
    this.readyQ[this.readyN++] = i;
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
    this.replies.reset(i);
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
      this.replies.reset(i);
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
    const r = this.replies.finish(i);
    if (r === REPLY_MISMATCH && t0 >= this.tMeasure && this.stats.wantsMismatchSample) this.stats.noteMismatch(this.replies.sample(i));
    this.replies.clearSample(i);
    if (t0 >= this.tMeasure) {
      if (r === REPLY_MISMATCH) this.stats.fail('MISMATCH');
      else if (r === REPLY_FAILED) this.stats.fail('MISMATCH', this.replies.framer.status(i), ERROR_REPLY);
      else if (r === REPLY_EMPTY) this.stats.fail('CLOSED_EARLY', 0, NO_REPLY);
      else {
        this.stats.success(i, this.now - t0);
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
  protected sendBatch(i: number, m: number, t0: number): void {
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

  protected startOneshot(i: number, t0: number): void {
    this.hasReq[i] = 1;
    this.pending++;
    this.now = performance.now();
    this.starts[i * this.K] = this.openLoop ? t0 : this.now;
    this.connStart[i] = this.now;
    this.backoff[i] = 0;
    this.tryConnect(i);
  }

  /** Persistent: open (or reopen) connection i. */
  protected startConnect(i: number): void {
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
    this.replies.reset(i);
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
    let pos = from;
    let done = 0;
    if (this.oneMessage) {
      // One read is one whole message (the kernel cuts a longer one): it is the reply, counted and matched.
      this.replies.feed(i, buf, from, n);
      this.completeOne(i);
      if (!this.persistent) return;
      pos = n;
      done = 1;
    }
    while (pos < n && this.inflight[i] > 0) {
      const end = this.replies.feed(i, buf, pos, n);
      if (end < 0) {
        if (end === FRAME_ERROR) return this.lose(i, 'BAD_FRAME', 0, PARTIAL_REPLY, ERROR_PAUSE_MS);
        break;
      }
      this.completeOne(i);
      done++;
      if (!this.persistent) return;
      // The server said it closes after this reply (HTTP Connection: close, nginx's keepalive_requests):
      // a reconnect, not an error; what was pipelined behind it is lost with the connection.
      if (this.replies.facts && this.replies.framer.closing(i)) return this.lose(i, 'CLOSED_EARLY', 0, CLOSE_ANNOUNCED, 0);
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
    // A reply that ends at the close (an HTTP body without length): complete, then reconnect.
    if (this.inflight[i] > 0 && this.replies.got[i] > 0 && this.replies.framer.endsAtClose(i)) {
      this.completeOne(i);
      if (!this.persistent) return;
    }
    // The server closed the connection before the reply ended (a persistent one: reconnect at once).
    this.lose(i, 'CLOSED_EARLY', 0, this.replies.got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
  }

  failed(i: number, code: ErrorCode, errno: number): void {
    if (this.st[i] !== OPEN) return;
    this.lose(i, code, errno, this.replies.got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, ERROR_PAUSE_MS);
  }

  // ---------------------------------------------------------------- timeouts, retries, idle ends

  /** A pass over the slots: reply and connect timeouts, idle ends, retries that are due. */
  scan(): void {
    const now = this.now;
    this.nextWake = Infinity;
    // Past the window, the run ends within one timeout: a request still connecting, backing off
    // or waiting for its reply (a slot the server never serves) fails now.
    const cut = now - this.tStop >= this.timeoutMs;
    if (this.tStop !== Infinity) this.wake(this.tStop + this.timeoutMs);
    for (let i = 0; i < this.S; i++) {
      const s = this.st[i];
      if (cut && (s === CONNECTING || s === BACKOFF) && (this.hasReq[i] || this.persistent)) {
        this.lose(i, 'CONNECT_TIMEOUT', 0, NO_REPLY, 0);
        this.st[i] = DONE;
        continue;
      }
      if (s === OPEN) {
        if (this.inflight[i] === 0) continue;
        if (this.idleRule && this.replies.got[i] > 0) {
          if (now >= this.idleAt[i]) {
            this.completeOne(i);
            if (this.persistent && !this.openLoop && !this.stopping) this.enqueue(i, 1);
            continue;
          }
          this.wake(this.idleAt[i]);
        }
        if (cut || now - this.sentAt[i * this.K + this.head[i]] >= this.timeoutMs) {
          const got = this.replies.got[i] > 0;
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
}
