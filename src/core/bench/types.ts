/**
 * The data of `udsctl bench`: what a run is asked to do and what it measured.
 * Plain data only (no chalk, no commander); the JSON output is BenchResult as is.
 */
import type { EndRule } from '../framing/end-rule.js';
import type { ErrorCode } from '../errors.js';
import type { Target } from '../socket/target.js';

export const BENCH_MODES = ['oneshot', 'persistent'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

/**
 * How the load generator does its I/O. `epoll`: raw non-blocking sockets and
 * epoll through libc (Linux; the fast one). `net`: node:net (portable).
 * `auto`: epoll where it can load, else net.
 */
export const BENCH_ENGINES = ['auto', 'epoll', 'net'] as const;
export type BenchEngine = (typeof BENCH_ENGINES)[number];

/** Identifies the JSON document; bumped on an incompatible change. */
export const BENCH_SCHEMA = 'udsctl-bench/1' as const;
/** The document's version within its schema: raised when fields are added (docs/bench-json.md lists them by version). */
export const BENCH_VERSION = 3 as const;

export interface BenchOptions {
  /** Server to load. Omitted: udsctl's own reference server on a temporary socket (the embedded default). */
  target?: Target | string;
  /** oneshot (default): one connection per request. persistent: requests repeat over open connections. */
  mode?: BenchMode;
  /** Connections (persistent) or requests in flight at once (oneshot). Default 10. */
  connections?: number;
  /** Requests in flight per connection (persistent only). Default 1. */
  pipeline?: number;
  /** Length of the measured run in ms. Default 10s, or no time limit when `requests` is given. */
  duration?: number;
  /** Stop after this many measured requests. */
  requests?: number;
  /** Unmeasured load before the measured run, in ms. Default 0. */
  warmup?: number;
  /** Request bytes. Default `ping\n`. */
  payload?: Buffer;
  /** End of a reply. Default eof (oneshot) or line (persistent). */
  until?: EndRule;
  /** Every reply must contain these bytes (as `udsctl probe --expect`); a reply that does not is a MISMATCH error. */
  expect?: Buffer;
  /** Bound on one request, from when it is sent to the end of its reply. Default 5s. */
  timeout?: number;
  /** Bound on connecting (backlog-full retries included). Default 5s. */
  connectTimeout?: number;
  /** oneshot: shut down our write side after sending (servers that read to end-of-file). */
  halfClose?: boolean;
  /**
   * Open loop: start requests on a fixed schedule of this many per second, whatever
   * the server does; latency counts from each request's scheduled start.
   * Omitted: closed loop (each connection sends its next request when the last one ends).
   */
  rate?: number;
  /** Worker threads generating load. Default: the core count (one less for the embedded server), at most `connections`. */
  workers?: number;
  engine?: BenchEngine;
  /** A Unix target's socket type: stream (default) or seqpacket (the epoll engine; a message per request and reply). */
  socketType?: 'stream' | 'seqpacket';
  /** Ends the run early; what was measured so far is returned with `interrupted: true`. */
  signal?: AbortSignal;
  /** Called once a second during the measured run, as each second is complete (progress). */
  onTick?: (tick: BenchTick) => void;
  /** Called about four times a second during the measured run with the running totals (the live line). */
  onProgress?: (progress: BenchProgress) => void;
  /** Called once the target is known and the workers are ready, just before load starts. */
  onStart?: (info: BenchStartInfo) => void;
}

export interface BenchStartInfo {
  target: string;
  embedded: boolean;
  mode: BenchMode;
  connections: number;
  workers: number;
  engine: 'epoll' | 'net';
  warmupMs: number;
  durationMs: number | null;
  requests: number | null;
  rate: number | null;
}

/** Progress, once a second. */
export interface BenchTick {
  /** Milliseconds since the measured run began. */
  elapsedMs: number;
  /** Successful requests so far: the running total when the tick is delivered, not as of the end of `last`. */
  requests: number;
  /** Failed requests so far (running total, like requests). */
  errors: number;
  /** The second that just ended. */
  last: TimelineEntry;
}

/** The running totals of the measured run, at one moment. */
export interface BenchProgress {
  /** Milliseconds since the measured run began (0 during warmup). */
  elapsedMs: number;
  /** Successful measured requests so far. */
  requests: number;
  /** Failed measured requests so far. */
  errors: number;
  /** Persistent: connections that have had no reply yet in the measured run (as of the last whole second); null: oneshot. */
  unserved?: number | null;
}

/** A latency distribution in microseconds (an HDR histogram: 3 significant digits). */
export interface LatencySummary {
  count: number;
  minUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
  stdevUs: number;
  /** Selected percentiles, for plots and trend tracking. */
  percentiles: { percentile: number; us: number }[];
}

/** One row of the latency distribution chart: requests whose latency fell in [fromUs, toUs). */
export interface DistributionBucket {
  fromUs: number;
  toUs: number;
  count: number;
}

/** One second of the measured run (the last one may be shorter: see durationMs). */
export interface TimelineEntry {
  second: number;
  durationMs: number;
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** Latency of the requests that completed in this second; null when none did. */
  p50Us: number | null;
  p90Us: number | null;
  p99Us: number | null;
  p999Us: number | null;
  maxUs: number | null;
  /** Persistent: connections that completed no request in this second (null: oneshot). */
  silentConnections: number | null;
  /** Busiest worker thread's CPU in this second, percent of one core; null when not measurable. */
  cpuPercent: number | null;
}

export interface BenchErrorCount {
  code: ErrorCode;
  count: number;
  /** The first such error's message. */
  message: string;
}

/** One worker thread's own CPU over the load window (getrusage RUSAGE_THREAD). */
export interface WorkerCpu {
  userMs: number;
  systemMs: number;
  /** The load window measured: from the start of the measured run to its end. */
  wallMs: number;
  /** (user + system) / wallMs, percent of one core: at most 100 (one thread). */
  percent: number;
}

/** Requests per connection over the measured run (persistent: a connection and its reopenings). */
export interface PerConnection {
  connections: number;
  min: number;
  median: number;
  max: number;
  /** Connections that got no reply at all. */
  unserved: number;
  /** Connections served, but less than a tenth of the median. */
  starved: number;
}

/** A finding of a run: what was seen, why it happens, what to do (the table is core/bench/findings.ts). */
export interface BenchFinding {
  code: string;
  title: string;
  /** What exactly was seen in this run. */
  detail: string;
  cause: string;
  fix: string;
}

export interface BenchResult {
  schema: typeof BENCH_SCHEMA;
  version: number;
  /** The target as written, or the temporary socket of the embedded server. */
  target: string;
  /** True when no target was given and udsctl's own server was benchmarked. */
  embedded: boolean;
  mode: BenchMode;
  engine: 'epoll' | 'net';
  connections: number;
  pipeline: number;
  workers: number;
  /** Open-loop rate (requests/s), or null for closed loop. */
  rate: number | null;
  until: string;
  payloadBytes: number;
  /** The --expect text, or null. */
  expect: string | null;
  durationMs: number | null;
  requestLimit: number | null;
  warmupMs: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  /** Wall-clock time the measured run began, ISO 8601. */
  startedAt: string;
  /** Measured run length: from its start to the end of its last request (the window, then the drain). */
  elapsedMs: number;
  /** The measured window: from its start until no more requests started (-d, -n, Ctrl-C); the rates are over it. */
  windowMs: number;
  /** After the window: the requests still in flight, each ended by its reply or within one --timeout. */
  drain: { ms: number; inFlight: number; ok: number; errors: number };
  /** Persistent: successful requests per connection; null for oneshot. */
  perConnection: PerConnection | null;
  /** What the numbers mean: each with a cause and a fix (empty: nothing to say). */
  findings: BenchFinding[];
  /** Ended early by the signal (Ctrl-C). */
  interrupted: boolean;
  requests: {
    /** ok + errors: every measured request that ended. */
    total: number;
    ok: number;
    errors: number;
    /** Requests that ran during warmup (not measured). */
    warmup: number;
    /** In flight when the run was interrupted: neither ok nor error. */
    abandoned: number;
  };
  /** Over the window (windowMs): the successes and bytes within it. */
  throughput: {
    requestsPerSec: number;
    bytesInPerSec: number;
    bytesOutPerSec: number;
  };
  bytes: { in: number; out: number };
  /** Successful requests: from the (scheduled, with --rate) start to the end of the reply; oneshot includes connecting. */
  latency: LatencySummary | null;
  /** Connecting: oneshot, every request; persistent, the connections opened (and reopened). */
  connect: LatencySummary | null;
  /** oneshot only: from connected to the end of the reply. */
  exchange: LatencySummary | null;
  distribution: DistributionBucket[];
  errors: BenchErrorCount[];
  timeline: TimelineEntry[];
  /** Open loop only: how the schedule was kept. */
  schedule: {
    /** Requests whose scheduled start fell in the measured run. */
    scheduled: number;
    /** Scheduled requests that had not started when the run ended (the server or the connections fell behind). */
    unsent: number;
    /** Requests that started more than 1 ms after their scheduled time (waiting for a free connection). */
    late: number;
  } | null;
  /**
   * Persistent: attempts to reopen a connection the server closed or reset, failed ones
   * included; each failed attempt is also an error of its code (REFUSED, NOT_FOUND, ...)
   * in the totals and the timeline. Retries back off (10 ms doubling to 250 ms per connection).
   */
  reconnects: number;
  /** connect() attempts retried because the listen backlog was full. */
  connectRetries: number;
  cpu: {
    /** Each worker thread's own CPU ("thread"), or the whole process when per-thread figures are unavailable ("process"). */
    scope: 'thread' | 'process';
    workers: WorkerCpu[];
    /** Whole process (workers, main thread and, when embedded, the server), percent of one core. */
    processPercent: number;
    /** Some worker used >= 90% of its core over a load window of 1 s or more: the generator may have limited the numbers. */
    generatorBound: boolean;
  };
  memory: { peakRssBytes: number };
  /** The request latency histogram (ns) in HdrHistogram's compressed base64 encoding: for --hgrm and comparisons of saved runs. */
  latencyHistogram: string | null;
}
