/**
 * The bench run, main-thread side: pick the target (or start the embedded
 * server), make room for the file descriptors, start the worker threads, start
 * them together, gather their per-second ticks and final histograms, and merge
 * it all into one BenchResult. Data in, data out: never prints, never exits.
 */
import { connectMessage } from '../exchange-message.js';
import { promises as fsp } from 'node:fs';
import { findBuilt } from '../built-file.js';
import { lookup } from 'node:dns/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openConnection } from '../socket/connect.js';
import { UdsError } from '../errors.js';
import { type StartServeOptions, startServe } from '../serve/start.js';
import { type Target, parseTarget } from '../socket/target.js';
import { analysisHistogram, decodeHistogram } from './histogram.js';
import { foldTail, merge } from './merge.js';
import { type BenchPlan, WORKER_END_SLACK_MS, planBench } from './options.js';
import { epollLibc, raiseOpenFileLimit } from '../socket/libc.js';
import type { BenchOptions, BenchResult, BenchStartInfo, TimelineEntry } from './types.js';
import {
  ABORT,
  CTL_STOP,
  CTL_WORDS,
  LIVE_ERRORS,
  LIVE_OK,
  LIVE_UNSERVED,
  LIVE_WORDS,
  type DoneMessage,
  type TickMessage,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerTarget,
} from './worker-stats.js';

/** Bound on a worker starting up (loading modules, opening its persistent connections beyond connectTimeout). */
const WORKER_START_SLACK_MS = 15_000;
/** How often onProgress reports the running totals. */
const PROGRESS_EVERY_MS = 250;
/** File descriptors kept for everything that is not a benchmark connection. */
const FD_MARGIN = 64;

/** Where the worker script is: beside this module (tsc layout), under dist/core/bench (bundled CLI), or built from sources (tests). */
function workerUrl(): URL {
  const u = findBuilt(import.meta.url, ['./worker.js', './core/bench/worker.js', '../../../dist/core/bench/worker.js']);
  if (u) return u;
  throw new UdsError('IO_ERROR', `bench: the worker script was not found beside ${fileURLToPath(import.meta.url)} (run npm run build)`);
}

/** The engine to use: epoll where its system calls load, unless asked otherwise. */
function pickEngine(asked: BenchPlan['engine']): 'epoll' | 'net' {
  if (asked === 'net') return 'net';
  try {
    epollLibc();
    return 'epoll';
  } catch (err) {
    if (asked === 'epoll') throw new UdsError('NOT_SUPPORTED', `--engine epoll: not available here (${(err as Error).message}); use --engine net`);
    return 'net';
  }
}

/** Default workers: the generator shares the machine with the server (a Unix socket's server is always local). */
export function defaultWorkers(embedded: boolean, cores = os.availableParallelism()): number {
  return Math.max(1, embedded ? cores - 1 : Math.ceil(cores / 2));
}

async function resolveTarget(t: Target): Promise<WorkerTarget> {
  if (t.kind !== 'tcp') return t;
  try {
    const a = await lookup(t.host);
    return { ...t, address: a.address, family: a.family === 6 ? 6 : 4 };
  } catch (err) {
    throw new UdsError('NOT_FOUND', `${t.display}: cannot resolve ${t.host}`, { target: t.display, cause: err });
  }
}

function ensureFiles(needed: number, connections: number): void {
  const lim = raiseOpenFileLimit(needed);
  if (lim && lim.soft < needed) {
    throw new UdsError(
      'TOO_MANY_FILES',
      `${connections} connections need about ${needed} open files, but the limit is ${lim.soft} (hard limit ${lim.hard}) ` +
        `and could not be raised: run \`ulimit -n ${needed}\` first (as root, or raise the hard limit in limits.conf), or use fewer --connections`,
    );
  }
}

interface Live {
  worker: Worker;
  ready: boolean;
  done: DoneMessage | null;
  exited: boolean;
  lastSecond: number;
}

/** Run a benchmark; resolves with the measured result, rejects with a UdsError when it cannot run. */
export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const plan = planBench(opts);
  let server: { close(): Promise<void> } | null = null;
  let tmpDir: string | null = null;
  const lives: Live[] = [];
  try {
    let target: Target;
    if (plan.socketType === 'seqpacket' && (opts.target === undefined || (typeof opts.target === 'string' ? parseTarget(opts.target) : opts.target).kind === 'tcp')) {
      throw new UdsError('BAD_OPTION', '--type seqpacket needs a Unix target (e.g. one `udsctl serve --type seqpacket PATH` listens on)');
    }
    if (opts.target === undefined) {
      tmpDir = await fsp.mkdtemp(join(os.tmpdir(), 'udsctl-bench-'));
      target = parseTarget(join(tmpDir, 'bench.sock'));
      const serveOptions: StartServeOptions = { keepAlive: plan.mode === 'persistent', idleTimeout: 0, backlog: 4096, graceTimeout: 500 };
      // The fast engine (epoll threads) where it runs, as `serve --engine auto` picks: the embedded
      // server shares the machine with the generator, so its cost per connection matters.
      server = await startServe(target, serveOptions);
    } else {
      target = typeof opts.target === 'string' ? parseTarget(opts.target) : opts.target;
    }
    const engine = pickEngine(plan.socketType === 'seqpacket' ? 'epoll' : plan.engine);
    const workers = Math.min(plan.workers ?? defaultWorkers(server !== null), plan.connections);
    ensureFiles(plan.connections * (server ? 2 : 1) + FD_MARGIN, plan.connections);
    const wt = await resolveTarget(target);
    if (plan.mode === 'oneshot' && !server) {
      // One unmeasured connection first: a target nobody listens on is a clear error, not a run full of them.
      if (plan.socketType === 'seqpacket') (await connectMessage(target, 'seqpacket', plan.connectTimeoutMs, false)).close();
      else (await openConnection(target, { connectTimeout: plan.connectTimeoutMs })).destroy();
    }
    return await drive(plan, wt, server !== null, engine, workers, opts, lives);
  } finally {
    await Promise.all(lives.filter((l) => !l.exited).map((l) => l.worker.terminate().catch(() => 0)));
    if (server) await server.close();
    if (tmpDir) await fsp.rm(tmpDir, { recursive: true, force: true });
  }
}

async function drive(
  plan: BenchPlan,
  target: WorkerTarget,
  embedded: boolean,
  engine: 'epoll' | 'net',
  workers: number,
  opts: BenchOptions,
  lives: Live[],
): Promise<BenchResult> {
  const control = new SharedArrayBuffer(4 * CTL_WORDS);
  const ctl = new Int32Array(control);
  const liveBuffer = new SharedArrayBuffer(8 * LIVE_WORDS * workers);
  const liveWords = new Float64Array(liveBuffer);
  /** The workers' running totals, now (never behind what the finished seconds add up to). */
  const totals = (): { requests: number; errors: number; unserved: number | null } => {
    let requests = 0;
    let errors = 0;
    let unserved = 0;
    for (let w = 0; w < workers; w++) {
      requests += liveWords[w * LIVE_WORDS + LIVE_OK];
      errors += liveWords[w * LIVE_WORDS + LIVE_ERRORS];
      unserved += liveWords[w * LIVE_WORDS + LIVE_UNSERVED];
    }
    return { requests: Math.max(requests, okSoFar), errors: Math.max(errors, errorsSoFar), unserved: plan.mode === 'persistent' ? unserved : null };
  };
  const url = workerUrl();
  const C = plan.connections;

  let fail: ((err: UdsError) => void) | undefined;
  let progress: (() => void) | undefined;
  const failure = new Promise<never>((_, reject) => {
    fail = (err) => reject(err);
  });
  failure.catch(() => {});

  const ticks = new Map<number, TickMessage[]>();
  const timeline: TimelineEntry[] = [];
  let finalized = 0;
  let okSoFar = 0;
  let errorsSoFar = 0;

  const finalize = (): void => {
    for (;;) {
      const waiting = lives.some((l) => l.done === null && l.lastSecond < finalized);
      const parts = ticks.get(finalized);
      if (waiting || !parts) return;
      ticks.delete(finalized);
      const sum = (f: (t: TickMessage) => number) => parts.reduce((a, t) => a + f(t), 0);
      const cpus = parts.map((t) => t.cpuPercent).filter((c): c is number => c !== null);
      // One worker: its own percentiles are exact. Several: merge their histograms of the second.
      let p50: number | null = null;
      let p90: number | null = null;
      let p99: number | null = null;
      let p999: number | null = null;
      let max: number | null = null;
      const withData = parts.filter((t) => t.p50Ns !== null);
      if (withData.length === 1) {
        ({ p50Ns: p50, p90Ns: p90, p99Ns: p99, p999Ns: p999, maxNs: max } = withData[0]);
      } else if (withData.length > 1) {
        const h = analysisHistogram();
        for (const p of withData) if (p.hist) h.add(decodeHistogram(p.hist));
        p50 = h.getValueAtPercentile(50);
        p90 = h.getValueAtPercentile(90);
        p99 = h.getValueAtPercentile(99);
        p999 = h.getValueAtPercentile(99.9);
        max = h.maxValue;
      }
      const silent = parts.map((t) => t.silent).filter((x): x is number => x !== null);
      const us = (ns: number | null) => (ns === null ? null : Math.round(ns / 100) / 10);
      const entry: TimelineEntry = {
        second: finalized,
        durationMs: Math.round(Math.max(...parts.map((t) => t.durationMs))),
        requests: sum((t) => t.ok),
        errors: sum((t) => t.errors),
        bytesIn: sum((t) => t.bytesIn),
        bytesOut: sum((t) => t.bytesOut),
        p50Us: us(p50),
        p90Us: us(p90),
        p99Us: us(p99),
        p999Us: us(p999),
        maxUs: us(max),
        silentConnections: silent.length > 0 ? silent.reduce((a, b) => a + b, 0) : null,
        cpuPercent: cpus.length > 0 ? Math.max(...cpus) : null,
      };
      timeline.push(entry);
      okSoFar += entry.requests;
      errorsSoFar += entry.errors;
      finalized++;
      opts.onTick?.({ elapsedMs: finalized * 1000 - 1000 + entry.durationMs, ...totals(), last: entry });
    }
  };

  for (let w = 0; w < workers; w++) {
    const slots = Math.floor(C / workers) + (w < C % workers ? 1 : 0);
    const { engine: _asked, workers: _workers, connections: _connections, rate: _rate, ...shared } = plan;
    const cfg: WorkerConfig = {
      ...shared,
      index: w,
      engine,
      target,
      slots,
      rate: plan.rate ? (plan.rate * slots) / C : 0,
      phaseMs: plan.rate ? (1000 / plan.rate) * w : 0,
      shareIntervals: workers > 1,
      control,
      live: liveBuffer,
    };
    const live: Live = { worker: new Worker(url, { workerData: cfg }), ready: false, done: null, exited: false, lastSecond: -1 };
    lives.push(live);
    live.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') live.ready = true;
      else if (m.type === 'fatal') fail!(new UdsError(m.code, m.message));
      else if (m.type === 'tick') {
        live.lastSecond = m.second;
        const list = ticks.get(m.second) ?? [];
        list.push(m);
        ticks.set(m.second, list);
      } else if (m.type === 'done') live.done = m;
      finalize();
      progress?.();
    });
    live.worker.on('error', (err) => fail!(new UdsError('IO_ERROR', `bench worker ${w}: ${err.message}`, { cause: err })));
    live.worker.on('exit', (code) => {
      live.exited = true;
      if (!live.done) fail!(new UdsError('IO_ERROR', `bench worker ${w} exited (${code}) before reporting`));
      progress?.();
    });
  }

  const until = (cond: () => boolean, ms: number, what: string): Promise<void> =>
    Promise.race([
      failure,
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new UdsError('IO_ERROR', `bench: ${what} within ${ms}ms`)), ms);
        progress = () => {
          if (cond()) {
            clearTimeout(timer);
            resolve();
          }
        };
        progress();
      }),
    ]);

  const onAbort = () => Atomics.store(ctl, CTL_STOP, ABORT);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await until(() => lives.every((l) => l.ready), plan.connectTimeoutMs + WORKER_START_SLACK_MS, 'the workers did not start');
    const info: BenchStartInfo = {
      target: target.display,
      embedded,
      mode: plan.mode,
      connections: C,
      workers,
      engine,
      warmupMs: plan.warmupMs,
      durationMs: plan.durationMs,
      requests: plan.requests,
      rate: plan.rate,
    };
    opts.onStart?.(info);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const startNs = process.hrtime.bigint() + 20_000_000n;
    const startedAt = new Date(Date.now() + 20 + plan.warmupMs).toISOString();
    for (const l of lives) l.worker.postMessage({ type: 'go', startNs });
    if (opts.signal?.aborted) onAbort();
    const measureFrom = wall0 + 20 + plan.warmupMs;
    const onProgress = opts.onProgress;
    const progressTimer = onProgress
      ? setInterval(() => onProgress({ elapsedMs: Math.max(0, Math.round(performance.now() - measureFrom)), ...totals() }), PROGRESS_EVERY_MS)
      : undefined;

    // A run with a time limit has a bound on when it must be over; past it, stop the workers.
    const expected =
      plan.durationMs === null ? Infinity : plan.warmupMs + plan.durationMs + plan.timeoutMs + plan.connectTimeoutMs + WORKER_END_SLACK_MS;
    const watchdog = Number.isFinite(expected) ? setTimeout(onAbort, expected) : undefined;
    try {
      await until(() => lives.every((l) => l.done !== null), Number.isFinite(expected) ? expected + 5_000 : 2 ** 31 - 1, 'the workers did not finish');
    } finally {
      clearTimeout(watchdog);
      clearInterval(progressTimer);
    }
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    finalize();
    foldTail(timeline);
    return merge(plan, target, embedded, engine, workers, lives.map((l) => l.done!), timeline, startedAt, opts.signal?.aborted ?? false, {
      processPercent: wallMs > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10 : 0,
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
