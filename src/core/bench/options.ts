/**
 * Defaults and validation for a bench run: one normalise step from options to
 * the plan the workers execute. Throws BAD_OPTION with a message naming the flag.
 */
import { MAX_DURATION_MS, checkDuration } from '../duration.js';
import { type EndRule, checkEndRule, formatEndRule } from '../framing/end-rule.js';
import { UdsError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from '../defaults.js';
import type { BenchEngine, BenchMode, BenchOptions } from './types.js';

export const BENCH_DEFAULTS = {
  mode: 'oneshot',
  connections: 10,
  pipeline: 1,
  duration: 10_000,
  warmup: 0,
  payload: 'ping\n',
  timeout: DEFAULT_TIMEOUT_MS,
  connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS,
  engine: 'auto',
} as const;

/** Largest --connections: one file descriptor each, and the kernel caps those well below this. */
export const MAX_CONNECTIONS = 1_000_000;
export const MAX_PIPELINE = 1024;
export const MAX_WORKERS = 256;
export const MAX_PAYLOAD = 1024 ** 3;
/** How long past its planned end a run waits for its workers before stopping them (run.ts's watchdog). */
export const WORKER_END_SLACK_MS = 10_000;
/** The watchdog's slack plus the last wait after it: what the planned run may not use of a timer's range. */
const RUN_END_SLACK_MS = WORKER_END_SLACK_MS + 5_000;

export interface BenchPlan {
  mode: BenchMode;
  connections: number;
  pipeline: number;
  durationMs: number | null;
  requests: number | null;
  warmupMs: number;
  payload: Buffer;
  until: EndRule;
  expect: Buffer | null;
  timeoutMs: number;
  connectTimeoutMs: number;
  halfClose: boolean;
  rate: number | null;
  /** Asked for; the run caps it by connections and picks a default when absent. */
  workers: number | null;
  engine: BenchEngine;
  /** Absent: stream. */
  socketType?: 'stream' | 'seqpacket';
  /** seqpacket without --until: each reply is one message (a read), as send and probe end it; `until` is then eof, unused. */
  oneMessage: boolean;
}

const bad = (message: string): UdsError => new UdsError('BAD_OPTION', message);

function positive(v: number | undefined, what: string, integer: boolean, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)) || v > max) {
    throw bad(`${what} must be ${integer ? 'a whole number' : 'a number'} above 0${max < Number.MAX_SAFE_INTEGER ? ` and at most ${max}` : ''} (got ${v})`);
  }
}

/** Check options and fill in defaults. */
export function planBench(o: BenchOptions): BenchPlan {
  const mode = o.mode ?? BENCH_DEFAULTS.mode;
  if (mode !== 'oneshot' && mode !== 'persistent') throw bad(`--mode must be oneshot or persistent (got "${mode}")`);
  positive(o.connections, '--connections', true, MAX_CONNECTIONS);
  positive(o.pipeline, '--pipeline', true, MAX_PIPELINE);
  positive(o.duration, '--duration', false);
  positive(o.requests, '--requests', true, 2 ** 31 - 1);
  positive(o.rate, '--rate', false, 100_000_000);
  positive(o.timeout, '--timeout', false);
  positive(o.connectTimeout, '--connect-timeout', false);
  positive(o.workers, '--workers', true, MAX_WORKERS);
  if (o.warmup !== undefined && !(Number.isFinite(o.warmup) && o.warmup >= 0)) throw bad(`--warmup must be a duration of 0 or more (got ${o.warmup})`);
  // Each of these is a timer's wait: past 2^31-1 ms Node would fire it at once.
  for (const [v, name] of [[o.duration, '--duration'], [o.timeout, '--timeout'], [o.connectTimeout, '--connect-timeout'], [o.warmup, '--warmup']] as const) {
    if (v !== undefined) checkDuration(v, name);
  }
  if (o.payload !== undefined && !Buffer.isBuffer(o.payload)) throw bad(`the payload must be a Buffer (got ${typeof o.payload})`);
  const engine = o.engine ?? BENCH_DEFAULTS.engine;
  if (!['auto', 'epoll', 'net'].includes(engine)) throw bad(`--engine must be auto, epoll or net (got "${engine}")`);
  const socketType = o.socketType ?? 'stream';
  if (socketType !== 'stream' && socketType !== 'seqpacket') throw bad(`bench --type must be stream or seqpacket (got "${String(socketType)}"): a datagram has no connection to load`);
  if (socketType === 'seqpacket' && engine === 'net') throw bad('--type seqpacket needs the epoll engine (node:net speaks only stream sockets)');

  const pipeline = o.pipeline ?? BENCH_DEFAULTS.pipeline;
  // A seqpacket reply is one message unless an end rule is given (as send and probe read it).
  const oneMessage = socketType === 'seqpacket' && o.until === undefined;
  const until: EndRule = o.until === undefined ? (mode === 'persistent' && !oneMessage ? { kind: 'line' } : { kind: 'eof' }) : checkEndRule(o.until);
  let payload = o.payload ?? Buffer.from(BENCH_DEFAULTS.payload);

  if (payload.length > MAX_PAYLOAD) throw bad(`the payload must be at most 1 GiB (got ${payload.length} bytes)`);
  if (mode === 'oneshot') {
    if (pipeline > 1) throw bad('--pipeline needs --mode persistent (a one-shot connection carries one request)');
  } else {
    if (until.kind === 'eof' && !oneMessage) {
      throw bad('--mode persistent needs a reply end that keeps the connection open: --until line, delim:TEXT, bytes:N or idle:DURATION (not eof)');
    }
    if (until.kind === 'idle' && pipeline > 1) throw bad(`--pipeline needs replies that end by their bytes (--until line, delim: or bytes:), not ${formatEndRule(until)}`);
    if (o.halfClose) throw bad('--half-close ends the connection: it needs --mode oneshot');
    if (payload.length === 0) throw bad('--mode persistent needs a non-empty payload: the server replies to requests');
    // A line protocol needs the newline; a payload given without one would never be answered.
    if (until.kind === 'line' && payload[payload.length - 1] !== 0x0a) payload = Buffer.concat([payload, Buffer.from('\n')]);
  }

  // The run's watchdog waits for all of these at once: their sum is a timer too.
  const durationMs = o.duration ?? (o.requests === undefined ? BENCH_DEFAULTS.duration : null);
  const timeoutMs = o.timeout ?? BENCH_DEFAULTS.timeout;
  const connectTimeoutMs = o.connectTimeout ?? BENCH_DEFAULTS.connectTimeout;
  const warmupMs = o.warmup ?? BENCH_DEFAULTS.warmup;
  if (durationMs !== null && warmupMs + durationMs + timeoutMs + connectTimeoutMs > MAX_DURATION_MS - RUN_END_SLACK_MS) {
    throw new UdsError(
      'BAD_DURATION',
      `--warmup + --duration + --timeout + --connect-timeout must be at most ${MAX_DURATION_MS - RUN_END_SLACK_MS}ms together (about 24.8 days; got ${warmupMs + durationMs + timeoutMs + connectTimeoutMs}ms)`,
    );
  }

  return {
    mode,
    connections: o.connections ?? BENCH_DEFAULTS.connections,
    pipeline,
    durationMs,
    requests: o.requests ?? null,
    warmupMs,
    payload,
    until,
    oneMessage,
    expect: o.expect && o.expect.length > 0 ? o.expect : null,
    timeoutMs,
    connectTimeoutMs,
    halfClose: o.halfClose ?? false,
    rate: o.rate ?? null,
    workers: o.workers ?? null,
    engine,
    socketType,
  };
}

/** `--rate 5000`, `--rate 2.5k`: requests per second, above 0. */
export function parseRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m)?\s*(?:\/s)?\s*$/i.exec(String(text));
  const v = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1e3 : 1e6) : 1) : NaN;
  if (!(v > 0) || v > 100_000_000) throw bad(`--rate must be requests per second above 0, like 500, 2.5k or 1m (got "${text}")`);
  return v;
}
