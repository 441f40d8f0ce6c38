/**
 * What a worker thread records and the messages it sends to the main thread.
 * Shared by both engines; recording a request is a few additions and one
 * histogram record, no allocation.
 */
import { escapeText } from '../escape.js';
import type { Histogram } from 'hdr-histogram-js';
import { type EndRule, formatEndRule } from '../end-rule.js';
import { type ErrorCode, fromConnectErrno } from '../errors.js';
import type { Target } from '../target.js';
import { encodeHistogram, recordingHistogram } from './histogram.js';
import { errnoName } from '../ffi.js';
import { threadCpuMs } from './syscalls.js';
import type { BenchMode } from './types.js';

/** Control words shared with the main thread (Int32Array over a SharedArrayBuffer). */
export const CTL_STOP = 0;
export const CTL_CLAIMED = 1;
export const CTL_WORDS = 2;
/** CTL_STOP values: keep going; stop starting requests and let those in flight end; stop now. */
export const RUN = 0;
export const FINISH = 1;
export const ABORT = 2;

/** A TCP target carries the address the main thread resolved, so workers do no DNS. */
export type WorkerTarget = Target & { address?: string; family?: 4 | 6 };

export interface WorkerConfig {
  index: number;
  engine: 'epoll' | 'net';
  target: WorkerTarget;
  mode: BenchMode;
  /** Connections (persistent) or concurrent requests (oneshot) of this worker. */
  slots: number;
  pipeline: number;
  payload: Uint8Array;
  until: EndRule;
  expect: Uint8Array | null;
  timeoutMs: number;
  connectTimeoutMs: number;
  halfClose: boolean;
  /** This worker's share of --rate (requests/s); 0: closed loop. */
  rate: number;
  /** Offset of this worker's schedule, so the workers' requests interleave. */
  phaseMs: number;
  warmupMs: number;
  /** -1: no time limit. */
  durationMs: number;
  /** 0: no request limit (else shared through CTL_CLAIMED). */
  requests: number;
  /** Send each second's histogram (several workers: the main thread merges them); else only its percentiles. */
  shareIntervals: boolean;
  control: SharedArrayBuffer;
}

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
  p99Ns: number | null;
  maxNs: number | null;
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
  /** Measured run length as this worker saw it. */
  elapsedMs: number;
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

/** Message details that tell apart two errors of one code. */
export const NO_REPLY = 0;
export const PARTIAL_REPLY = 1;

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
      return variant === PARTIAL_REPLY
        ? `${t}: server closed the connection before the end of the reply (${until})`
        : `${t}: server closed the connection without replying`;
    case 'MISMATCH': {
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

  constructor(private readonly cfg: WorkerConfig) {}

  /** The measured run starts now (wall ms of this thread's clock). */
  begin(now: number): void {
    this.cpuStart = this.cpuLast = threadCpuMs();
    this.wallStart = this.wallLast = now;
  }

  success(latencyMs: number): void {
    this.ok++;
    this.secOk++;
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
    this.errorCount++;
    this.secErr++;
    const e = this.errs.get(code);
    if (e) e.count++;
    else {
      const message = this.notes.get(code) ?? describeError(this.cfg, code, errno, variant, code === 'MISMATCH' ? this.mismatchSample : undefined);
      this.errs.set(code, { count: 1, message });
    }
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

  /** Close one second of the timeline. */
  tick(second: number, durationMs: number, now: number): TickMessage {
    let cpuPercent: number | null = null;
    const cpu = threadCpuMs();
    if (cpu && this.cpuLast && now > this.wallLast) {
      cpuPercent = Math.round(((cpu.user + cpu.system - this.cpuLast.user - this.cpuLast.system) / (now - this.wallLast)) * 1000) / 10;
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
    const msg: TickMessage = {
      type: 'tick',
      second,
      durationMs,
      ok: this.secOk,
      errors: this.secErr,
      bytesIn: this.secIn,
      bytesOut: this.secOut,
      p50Ns: interval ? interval.getValueAtPercentile(50) : null,
      p99Ns: interval ? interval.getValueAtPercentile(99) : null,
      maxNs: interval ? interval.maxValue : null,
      hist: interval && this.cfg.shareIntervals ? encodeHistogram(interval) : null,
      cpuPercent,
    };
    interval?.destroy();
    this.secOk = this.secErr = this.secIn = this.secOut = 0;
    return msg;
  }

  done(now: number, elapsedMs: number): DoneMessage {
    const cpu = threadCpuMs();
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
      latency: encodeHistogram(this.latency),
      connect: encodeHistogram(this.connect),
      exchange: encodeHistogram(this.exchange),
      errors: [...this.errs].map(([code, e]) => ({ code, ...e })),
      cpu:
        cpu && this.cpuStart
          ? { userMs: cpu.user - this.cpuStart.user, systemMs: cpu.system - this.cpuStart.system, wallMs: now - this.wallStart }
          : null,
    };
    for (const h of [this.latency, this.connect, this.exchange, this.lastTick]) h.destroy();
    return msg;
  }
}
