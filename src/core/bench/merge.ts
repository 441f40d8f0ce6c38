/**
 * The end of a bench run, main-thread side: the workers' final messages and the
 * per-second timeline merged into one BenchResult. Pure data in, data out.
 */
import { formatEndRule } from '../framing/end-rule.js';
import type { ErrorCode } from '../errors.js';
import { analysisHistogram, decodeHistogram, distribution, encodeHistogram, summarize } from './histogram.js';
import { judgeBench, perConnection } from './findings.js';
import type { BenchPlan } from './options.js';
import { BENCH_SCHEMA, BENCH_VERSION, type BenchErrorCount, type BenchResult, type TimelineEntry, type WorkerCpu } from './types.js';
import { type DoneMessage, type WorkerTarget, threadPercent } from './worker-stats.js';

/**
 * A worker at 90% of its core or more may have limited the numbers; judged only over a load
 * window of a second or more: a shorter run is mostly start-up (first calls, lazy compilation),
 * busy whatever the server does, and the warning would be a false alarm.
 */
const GENERATOR_BOUND_PERCENT = 90;
const GENERATOR_BOUND_MIN_MS = 1000;
/**
 * The run ends with the requests in flight draining, often a few milliseconds
 * past the last whole second: fold such a sliver into the second before, so the
 * timeline does not show a rate computed over 2 ms.
 */
export function foldTail(timeline: TimelineEntry[]): void {
  const n = timeline.length;
  if (n < 2 || timeline[n - 1].durationMs >= 100) return;
  const last = timeline.pop()!;
  const prev = timeline[n - 2];
  prev.durationMs += last.durationMs;
  prev.requests += last.requests;
  prev.errors += last.errors;
  prev.bytesIn += last.bytesIn;
  prev.bytesOut += last.bytesOut;
  const max = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  prev.p99Us = max(prev.p99Us, last.p99Us);
  prev.p999Us = max(prev.p999Us, last.p999Us);
  prev.p90Us ??= last.p90Us;
  prev.maxUs = max(prev.maxUs, last.maxUs);
  prev.p50Us ??= last.p50Us;
}

export function merge(
  plan: BenchPlan,
  target: WorkerTarget,
  embedded: boolean,
  engine: 'epoll' | 'net',
  workers: number,
  done: DoneMessage[],
  timeline: TimelineEntry[],
  startedAt: string,
  interrupted: boolean,
  proc: { processPercent: number },
): BenchResult {
  const sum = (f: (d: DoneMessage) => number) => done.reduce((a, d) => a + f(d), 0);
  const hist = (f: (d: DoneMessage) => string) => {
    const h = analysisHistogram();
    for (const d of done) h.add(decodeHistogram(f(d)));
    return h;
  };
  const latency = hist((d) => d.latency);
  const connect = hist((d) => d.connect);
  const exchange = hist((d) => d.exchange);

  const byCode = new Map<ErrorCode, BenchErrorCount>();
  for (const d of done) {
    for (const e of d.errors) {
      const have = byCode.get(e.code);
      if (have) have.count += e.count;
      else byCode.set(e.code, { ...e });
    }
  }
  const errors = [...byCode.values()].sort((a, b) => b.count - a.count);

  const ok = sum((d) => d.ok);
  const errorCount = sum((d) => d.errorCount);
  const elapsedMs = Math.max(0, ...done.map((d) => d.elapsedMs));
  // The rates are over the window: what completed after it (the requests in flight, up to one
  // --timeout later) is not divided by the time spent waiting for it.
  const windowMs = Math.max(0, ...done.map((d) => d.windowMs));
  const secs = windowMs / 1000;
  const per = (n: number) => (secs > 0 ? Math.round((n / secs) * 10) / 10 : 0);
  const bytesIn = sum((d) => d.bytesIn);
  const bytesOut = sum((d) => d.bytesOut);
  const windowOk = sum((d) => d.windowOk);
  const windowErrors = sum((d) => d.windowErrors);

  const cpus: WorkerCpu[] = done
    .filter((d) => d.cpu !== null)
    .map((d) => ({
      userMs: Math.round(d.cpu!.userMs),
      systemMs: Math.round(d.cpu!.systemMs),
      wallMs: Math.round(d.cpu!.wallMs),
      percent: threadPercent(d.cpu!.userMs + d.cpu!.systemMs, d.cpu!.wallMs),
    }));
  const scope = cpus.length === done.length ? 'thread' : 'process';

  const result: Omit<BenchResult, 'findings'> = {
    schema: BENCH_SCHEMA,
    version: BENCH_VERSION,
    target: target.display,
    embedded,
    mode: plan.mode,
    engine,
    connections: plan.connections,
    pipeline: plan.pipeline,
    workers,
    rate: plan.rate,
    until: plan.oneMessage ? 'message' : formatEndRule(plan.until),
    payloadBytes: plan.payload.length,
    expect: plan.expect ? plan.expect.toString('utf8') : null,
    durationMs: plan.durationMs,
    requestLimit: plan.requests,
    warmupMs: plan.warmupMs,
    timeoutMs: plan.timeoutMs,
    connectTimeoutMs: plan.connectTimeoutMs,
    startedAt,
    elapsedMs: Math.round(elapsedMs),
    windowMs: Math.round(windowMs),
    drain: {
      ms: Math.max(0, Math.round(elapsedMs - windowMs)),
      inFlight: sum((d) => d.inFlightAtEnd),
      ok: ok - windowOk,
      errors: errorCount - windowErrors,
    },
    perConnection: plan.mode === 'persistent' ? perConnection(done.flatMap((d) => d.served)) : null,
    interrupted,
    requests: { total: ok + errorCount, ok, errors: errorCount, warmup: sum((d) => d.warmup), abandoned: sum((d) => d.abandoned) },
    throughput: { requestsPerSec: per(windowOk), bytesInPerSec: per(sum((d) => d.windowBytesIn)), bytesOutPerSec: per(sum((d) => d.windowBytesOut)) },
    bytes: { in: bytesIn, out: bytesOut },
    latency: summarize(latency),
    connect: summarize(connect),
    exchange: plan.mode === 'oneshot' ? summarize(exchange) : null,
    distribution: distribution(latency),
    errors,
    timeline,
    schedule: plan.rate ? { scheduled: sum((d) => d.scheduled), unsent: sum((d) => d.unsent), late: sum((d) => d.late) } : null,
    reconnects: sum((d) => d.reconnects),
    connectRetries: sum((d) => d.connectRetries),
    cpu: {
      scope,
      workers: cpus,
      processPercent: proc.processPercent,
      generatorBound: cpus.some((c) => c.percent >= GENERATOR_BOUND_PERCENT && c.wallMs >= GENERATOR_BOUND_MIN_MS),
    },
    memory: { peakRssBytes: process.resourceUsage().maxRSS * 1024 },
    latencyHistogram: latency.totalCount > 0 ? encodeHistogram(latency) : null,
  };
  return { ...result, findings: judgeBench(result) };
}
