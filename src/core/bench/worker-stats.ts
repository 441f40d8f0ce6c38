/**
 * What a worker thread records and the messages it sends to the main thread.
 * Shared by both engines; recording a request is a few additions and one
 * histogram record, no allocation.
 */
import { escapeText } from '../escape.js';
import type { Histogram } from 'hdr-histogram-js';
import { formatEndRule } from '../framing/end-rule.js';
import { type ErrorCode, fromConnectErrno } from '../errors.js';
import type { Target } from '../socket/target.js';
import { encodeHistogram, recordingHistogram } from './histogram.js';
import { errnoName } from '../socket/ffi.js';
import { reconnectDelay } from '../socket/backoff.js';
import { threadCpuMs } from '../socket/libc.js';
import type { BenchPlan } from './options.js';

/** Control words shared with the main thread (Int32Array over a SharedArrayBuffer). */
export const CTL_STOP = 0;
export const CTL_CLAIMED = 1;
export const CTL_WORDS = 2;
/** CTL_STOP values: keep going; stop now. */
export const RUN = 0;
export const ABORT = 2;

/** A TCP target carries the address the main thread resolved, so workers do no DNS. */
export type WorkerTarget = Target & { address?: string; family?: 4 | 6 };

/**
 * What a worker thread is given: the run's plan as planBench() made it (a new bench
 * option added there reaches the loop as is), with this worker's share of it.
 */
export type WorkerConfig = Omit<BenchPlan, 'engine' | 'workers' | 'connections' | 'rate' | 'payload' | 'expect'> & {
  index: number;
  engine: 'epoll' | 'net';
  target: WorkerTarget;
  /** Connections (persistent) or concurrent requests (oneshot) of this worker. */
  slots: number;
  /** This worker's share of --rate (requests/s); 0: closed loop. */
  rate: number;
  /** Offset of this worker's schedule, so the workers' requests interleave. */
  phaseMs: number;
  /** A Buffer in the plan; a worker receives its bytes. */
  payload: Uint8Array;
  expect: Uint8Array | null;
  /** Send each second's histogram (several workers: the main thread merges them); else only its percentiles. */
  shareIntervals: boolean;
  control: SharedArrayBuffer;
  /** Running totals for the live progress: LIVE_WORDS float64 per worker, at index * LIVE_WORDS. */
  live: SharedArrayBuffer;
};

/** The live words of a worker: measured ok and measured errors so far; persistent, connections not yet served (at the last tick). */
export const LIVE_OK = 0;
export const LIVE_ERRORS = 1;
export const LIVE_UNSERVED = 2;
export const LIVE_WORDS = 3;

export interface TickMessage {
  type: 'tick';
  second: number;
  durationMs: number;
  ok: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** This worker's latency percentiles of the second, in ns (null: no request completed). */
  p50Ns: number | null;
  p90Ns: number | null;
  p99Ns: number | null;
  p999Ns: number | null;
  maxNs: number | null;
  /** Persistent: this worker's connections that completed no request in the second (null: oneshot). */
  silent: number | null;
  /** The second's histogram, when the main thread merges several workers. */
  hist: string | null;
  cpuPercent: number | null;
}

export interface DoneMessage {
  type: 'done';
  ok: number;
  errorCount: number;
  warmup: number;
  abandoned: number;
  bytesIn: number;
  bytesOut: number;
  reconnects: number;
  connectRetries: number;
  scheduled: number;
  unsent: number;
  late: number;
  /** Measured run length as this worker saw it: the window and the wait for the requests in flight after it. */
  elapsedMs: number;
  /** The measured window: from its start to the moment no more requests were started (the time limit, the request budget, a stop). */
  windowMs: number;
  /** Successes, errors and bytes within the window (the rate's numerator; the rest ended while draining). */
  windowOk: number;
  windowErrors: number;
  windowBytesIn: number;
  windowBytesOut: number;
  /** Requests in flight when the window ended (warm-up ones included). */
  inFlightAtEnd: number;
  /** Successful measured requests per slot (a persistent connection, reopened or not; a oneshot slot). */
  served: number[];
  latency: string;
  connect: string;
  exchange: string;
  errors: { code: ErrorCode; count: number; message: string }[];
  cpu: { userMs: number; systemMs: number; wallMs: number } | null;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'fatal'; code: ErrorCode; message: string }
  | TickMessage
  | DoneMessage;

/** CPU time over wall time, percent of one core: one thread cannot use more than 100% (rounding aside). */
export function threadPercent(cpuMs: number, wallMs: number): number {
  return wallMs > 0 ? Math.min(100, Math.round((cpuMs / wallMs) * 1000) / 10) : 0;
}

/** Message details that tell apart two errors of one code. */
export const NO_REPLY = 0;
export const PARTIAL_REPLY = 1;
/** MISMATCH: the protocol's error reply (RESP -ERR, HTTP 4xx/5xx; errno carries the HTTP status). */
export const ERROR_REPLY = 2;
/** CLOSED_EARLY: requests pipelined behind a reply that announced the close (HTTP Connection: close). */
export const CLOSE_ANNOUNCED = 3;

/** The message of the first error of each code, worded as `udsctl send` words them. */
export function describeError(cfg: WorkerConfig, code: ErrorCode, errno: number, variant: number, sample?: string): string {
  const t = cfg.target.display;
  const until = formatEndRule(cfg.until);
  switch (code) {
    case 'REPLY_TIMEOUT':
      return variant === PARTIAL_REPLY
        ? `${t}: only a partial reply (end rule ${until} not met) within ${cfg.timeoutMs}ms`
        : `${t}: no reply within ${cfg.timeoutMs}ms`;
    case 'NEVER_CLOSED':
      return `${t}: server replied but did not close the connection within ${cfg.timeoutMs}ms`;
    case 'CLOSED_EARLY':
      if (variant === CLOSE_ANNOUNCED) {
        return `${t}: the server closed a keep-alive connection (Connection: close, e.g. nginx keepalive_requests) with pipelined requests unanswered; lower --pipeline or raise the server's limit`;
      }
      return variant === PARTIAL_REPLY
        ? `${t}: server closed the connection before the end of the reply (${until})`
        : `${t}: server closed the connection without replying`;
    case 'BAD_FRAME':
      return `${t}: a reply broke the ${until} framing (not that protocol, or a corrupt reply)`;
    case 'MISMATCH': {
      if (variant === ERROR_REPLY) return errno > 0 ? `${t}: HTTP status ${errno}` : `${t}: an error reply (${until})`;
      // The reply is the server's: escaped (escapeText), for the terminal and the JSON alike.
      const want = escapeText(Buffer.from(cfg.expect ?? []), { quote: true });
      return `${t}: reply did not contain ${want}${sample === undefined ? '' : ` (got ${escapeText(sample, { quote: true })})`}`;
    }
    case 'CONNECT_TIMEOUT':
      return `${t}: connect did not complete within ${cfg.connectTimeoutMs}ms`;
    case 'BACKLOG_FULL':
      return `${t}: listen backlog stayed full for ${cfg.connectTimeoutMs}ms (the server accepts too slowly)`;
    case 'RESET':
      return `${t}: connection reset by the server`;
    default:
      if (errno !== 0) {
        const e = Object.assign(new Error(errnoName(errno)), { code: errnoName(errno) }) as NodeJS.ErrnoException;
        return fromConnectErrno(e, t).message;
      }
      return `${t}: ${code}`;
  }
}

export class WorkerStats {
  readonly latency: Histogram = recordingHistogram();
  readonly connect: Histogram = recordingHistogram();
  readonly exchange: Histogram = recordingHistogram();
  /** The latency histogram as it was at the last tick: a second's histogram is the difference. */
  private readonly lastTick: Histogram = recordingHistogram();
  ok = 0;
  errorCount = 0;
  warmup = 0;
  abandoned = 0;
  bytesIn = 0;
  bytesOut = 0;
  reconnects = 0;
  connectRetries = 0;
  scheduled = 0;
  unsent = 0;
  late = 0;
  /** Successful measured requests per slot, over the run and in the current second. */
  private readonly served: Int32Array;
  private readonly secServed: Int32Array;
  private windowOpen = true;
  private window = { ms: 0, ok: 0, errors: 0, bytesIn: 0, bytesOut: 0, inFlight: 0 };
  private secOk = 0;
  private secErr = 0;
  private secIn = 0;
  private secOut = 0;
  private readonly errs = new Map<ErrorCode, { count: number; message: string }>();
  private mismatchSample: string | undefined;
  private readonly notes = new Map<ErrorCode, string>();
  private cpuStart: { user: number; system: number } | null = null;
  private cpuLast: { user: number; system: number } | null = null;
  private wallStart = 0;
  private wallLast = 0;

  /**
   * This worker's running totals, read by the main thread for the live line at any moment (a
   * plain store per request: an aligned float64 store is not torn on the platforms Node runs on,
   * and a progress figure a request behind is harmless).
   */
  private readonly live: Float64Array;

  constructor(private readonly cfg: WorkerConfig) {
    this.live = new Float64Array(cfg.live, cfg.index * LIVE_WORDS * 8, LIVE_WORDS);
    this.served = new Int32Array(cfg.slots);
    this.secServed = new Int32Array(cfg.slots);
  }

  /** The measured run starts now. */
  begin(): void {
    // CPU and wall clock read together, here, so each window's two ends match.
    this.wallStart = this.wallLast = performance.now();
    this.cpuStart = this.cpuLast = threadCpuMs();
  }

  /** Slot i's request succeeded after `latencyMs`. */
  success(i: number, latencyMs: number): void {
    this.live[LIVE_OK] = ++this.ok;
    this.secOk++;
    this.served[i]++;
    this.secServed[i]++;
    this.latency.recordValue(Math.round(latencyMs * 1e6));
  }

  connected(ms: number): void {
    this.connect.recordValue(Math.round(ms * 1e6));
  }

  exchanged(ms: number): void {
    this.exchange.recordValue(Math.round(ms * 1e6));
  }

  in(n: number): void {
    this.bytesIn += n;
    this.secIn += n;
  }

  out(n: number): void {
    this.bytesOut += n;
    this.secOut += n;
  }

  fail(code: ErrorCode, errno = 0, variant = NO_REPLY): void {
    this.live[LIVE_ERRORS] = ++this.errorCount;
    this.secErr++;
    const e = this.errs.get(code);
    if (e) e.count++;
    else {
      const message = this.notes.get(code) ?? describeError(this.cfg, code, errno, variant, code === 'MISMATCH' ? this.mismatchSample : undefined);
      this.errs.set(code, { count: 1, message });
    }
  }

  /** Persistent: an attempt to reopen a lost connection begins (counted whether or not it succeeds). */
  reconnecting(): void {
    this.reconnects++;
  }

  /**
   * Persistent: an attempt to reopen a connection failed (REFUSED, NOT_FOUND, ...): one error of
   * its code when measured, so a dead server shows in the totals and the timeline; returns the
   * wait before the next attempt.
   */
  reconnectFailed(measured: boolean, failures: number, code: ErrorCode, errno = 0): number {
    if (measured) this.fail(code, errno);
    return reconnectDelay(failures);
  }

  /** The message to use for the first error of a code (a typed error from the core says it best). */
  noteConnectMessage(code: ErrorCode, message: string): void {
    if (!this.notes.has(code)) this.notes.set(code, message);
  }

  /** The end of the first reply that failed --expect, for the error message. */
  noteMismatch(sample: string): void {
    this.mismatchSample ??= sample;
  }

  get wantsMismatchSample(): boolean {
    return this.mismatchSample === undefined;
  }

  /**
   * The measured window ends (no more requests start): what completed so far is the rate's;
   * what ends after it is the drain's. `inFlight`: requests still to end.
   */
  endWindow(ms: number, inFlight: number): void {
    if (!this.windowOpen) return;
    this.windowOpen = false;
    this.window = { ms, ok: this.ok, errors: this.errorCount, bytesIn: this.bytesIn, bytesOut: this.bytesOut, inFlight };
  }

  /** Close one second of the timeline. */
  tick(second: number, durationMs: number): TickMessage {
    let cpuPercent: number | null = null;
    const now = performance.now();
    const cpu = threadCpuMs();
    if (cpu && this.cpuLast && now > this.wallLast) {
      cpuPercent = threadPercent(cpu.user + cpu.system - this.cpuLast.user - this.cpuLast.system, now - this.wallLast);
    }
    this.cpuLast = cpu;
    this.wallLast = now;
    // This second's latencies: the total now minus the total at the last tick (once a second, not per request).
    let interval: Histogram | null = null;
    if (this.secOk > 0) {
      interval = recordingHistogram();
      interval.add(this.latency);
      interval.subtract(this.lastTick);
      this.lastTick.add(interval);
    }
    // Persistent: the connections silent in this second, and those never served so far (a scan once a second).
    let silent: number | null = null;
    if (this.cfg.mode === 'persistent') {
      silent = 0;
      let unserved = 0;
      const S = this.served.length;
      for (let i = 0; i < S; i++) {
        if (this.secServed[i] === 0) silent++;
        if (this.served[i] === 0) unserved++;
      }
      this.secServed.fill(0);
      this.live[LIVE_UNSERVED] = unserved;
    }
    const msg: TickMessage = {
      type: 'tick',
      second,
      durationMs,
      ok: this.secOk,
      errors: this.secErr,
      bytesIn: this.secIn,
      bytesOut: this.secOut,
      p50Ns: interval ? interval.getValueAtPercentile(50) : null,
      p90Ns: interval ? interval.getValueAtPercentile(90) : null,
      p99Ns: interval ? interval.getValueAtPercentile(99) : null,
      p999Ns: interval ? interval.getValueAtPercentile(99.9) : null,
      maxNs: interval ? interval.maxValue : null,
      silent,
      hist: interval && this.cfg.shareIntervals ? encodeHistogram(interval) : null,
      cpuPercent,
    };
    interval?.destroy();
    this.secOk = this.secErr = this.secIn = this.secOut = 0;
    return msg;
  }

  /**
   * The worker's totals. Its CPU covers the load window only, from begin() to the last tick
   * (the engines tick at the end of the run): the end-of-run work (histograms, closing
   * sockets) is not counted against a wall time that excludes it, which made a short run
   * read over 100%.
   */
  done(elapsedMs: number): DoneMessage {
    const cpu = this.cpuLast;
    const msg: DoneMessage = {
      type: 'done',
      ok: this.ok,
      errorCount: this.errorCount,
      warmup: this.warmup,
      abandoned: this.abandoned,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      reconnects: this.reconnects,
      connectRetries: this.connectRetries,
      scheduled: this.scheduled,
      unsent: this.unsent,
      late: this.late,
      elapsedMs,
      windowMs: this.window.ms,
      windowOk: this.window.ok,
      windowErrors: this.window.errors,
      windowBytesIn: this.window.bytesIn,
      windowBytesOut: this.window.bytesOut,
      inFlightAtEnd: this.window.inFlight,
      served: Array.from(this.served),
      latency: encodeHistogram(this.latency),
      connect: encodeHistogram(this.connect),
      exchange: encodeHistogram(this.exchange),
      errors: [...this.errs].map(([code, e]) => ({ code, ...e })),
      cpu:
        cpu && this.cpuStart
          ? { userMs: cpu.user - this.cpuStart.user, systemMs: cpu.system - this.cpuStart.system, wallMs: this.wallLast - this.wallStart }
          : null,
    };
    for (const h of [this.latency, this.connect, this.exchange, this.lastTick]) h.destroy();
    return msg;
  }
}
