/**
 * `--fail-if` thresholds for CI, as k6 writes them: `p99>2ms`, `rps<10000`,
 * `errors>0`; with a comparison, relative ones: `rps<-10%`, `p99>+20%`. Each
 * names a failure; parsed once (a bad one is a usage error), judged against a
 * finished run. Pure data in, data out.
 */
import { UdsError } from '../errors.js';
import type { BenchComparison, CompareMetric } from './compare.js';
import type { BenchResult } from './types.js';
import { formatCount } from './findings.js';

export const THRESHOLD_METRICS = ['rps', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'errors', 'error-rate', 'unserved'] as const;
export type ThresholdMetric = (typeof THRESHOLD_METRICS)[number];
const OPS = ['<=', '>=', '<', '>'] as const;
type Op = (typeof OPS)[number];

const LATENCY = new Set<ThresholdMetric>(['p50', 'p90', 'p99', 'p99.9', 'max', 'mean']);
const RELATIVE = new Set<ThresholdMetric>(['rps', 'p50', 'p90', 'p99', 'p99.9']);

export interface Threshold {
  /** As written. */
  text: string;
  metric: ThresholdMetric;
  op: Op;
  /** Absolute: req/s, a count, microseconds (latencies) or a percent (error-rate). Relative: a fraction (-0.1 = -10%). */
  value: number;
  /** Compared with the --compare base: the change, not the figure. */
  relative: boolean;
}

export interface ThresholdResult {
  threshold: string;
  /** True: the run crossed it (the build fails). */
  failed: boolean;
  /** The figure judged (the change, a fraction, for a relative one); null when not measured. */
  actual: number | null;
  /** One line: the figure and why it passes or fails. */
  detail: string;
}

const USAGE =
  "--fail-if takes METRIC OP VALUE, like 'p99>2ms', 'rps<10000', 'errors>0', 'error-rate>1%' or, with --compare, 'rps<-10%' " +
  `(metrics: ${THRESHOLD_METRICS.join(', ')}; operators: < <= > >=)`;

const bad = (text: string, why: string): UdsError => new UdsError('BAD_OPTION', `--fail-if '${text}': ${why}; ${USAGE}`);

/** A latency like 2ms, 500us, 1.5s, in microseconds. */
function parseLatency(v: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)$/.exec(v);
  if (!m) throw bad(text, `a latency needs a unit (us, ms or s), got "${v}"`);
  return Number(m[1]) * { us: 1, µs: 1, ms: 1000, s: 1_000_000 }[m[2] as 'us'];
}

/** Parse one --fail-if expression; throws a one-line usage error. */
export function parseThreshold(raw: string): Threshold {
  const text = String(raw).trim();
  const m = /^([a-z][a-z0-9.-]*)\s*(<=|>=|<|>)\s*(\S+)$/i.exec(text);
  if (!m) throw bad(text, 'not an expression');
  const metric = m[1].toLowerCase() === 'p999' ? 'p99.9' : m[1].toLowerCase();
  if (!(THRESHOLD_METRICS as readonly string[]).includes(metric)) throw bad(text, `unknown metric "${m[1]}"`);
  const t = { text, metric: metric as ThresholdMetric, op: m[2] as Op };
  const v = m[3];
  const rel = /^([+-])(\d+(?:\.\d+)?)%$/.exec(v);
  if (rel) {
    if (!RELATIVE.has(t.metric)) throw bad(text, `a change (+N% or -N%) is compared for rps, p50, p90, p99 and p99.9 only`);
    return { ...t, value: (rel[1] === '-' ? -1 : 1) * (Number(rel[2]) / 100), relative: true };
  }
  if (t.metric === 'error-rate') {
    const p = /^(\d+(?:\.\d+)?)%$/.exec(v);
    if (!p) throw bad(text, `error-rate is a percent, like 1% or 0.5%, got "${v}"`);
    return { ...t, value: Number(p[1]), relative: false };
  }
  if (LATENCY.has(t.metric)) return { ...t, value: parseLatency(v, text), relative: false };
  const n = /^(\d+(?:\.\d+)?)(k|m)?$/i.exec(v);
  if (!n) throw bad(text, `expected a number (like 10000 or 10k) or, with --compare, a change like -10%, got "${v}"`);
  return { ...t, value: Number(n[1]) * (n[2] ? (n[2].toLowerCase() === 'k' ? 1e3 : 1e6) : 1), relative: false };
}

function holds(actual: number, op: Op, value: number): boolean {
  switch (op) {
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
  }
}

function absolute(r: BenchResult, m: ThresholdMetric): number | null {
  const l = r.latency;
  switch (m) {
    case 'rps':
      return r.throughput.requestsPerSec;
    case 'errors':
      return r.requests.errors;
    case 'error-rate':
      return r.requests.total > 0 ? (r.requests.errors / r.requests.total) * 100 : null;
    case 'unserved':
      return r.perConnection ? r.perConnection.unserved : 0;
    case 'p50':
      return l ? l.p50Us : null;
    case 'p90':
      return l ? l.p90Us : null;
    case 'p99':
      return l ? l.p99Us : null;
    case 'p99.9':
      return l ? l.p999Us : null;
    case 'max':
      return l ? l.maxUs : null;
    case 'mean':
      return l ? l.meanUs : null;
  }
}

const pct = (f: number): string => `${f >= 0 ? '+' : ''}${(f * 100).toFixed(1)}%`;

function show(m: ThresholdMetric, v: number): string {
  if (LATENCY.has(m)) return v >= 1000 ? `${(v / 1000).toPrecision(3)}ms` : `${v.toPrecision(3)}us`;
  if (m === 'error-rate') return `${v.toFixed(2)}%`;
  return formatCount(v);
}

/**
 * Judge the thresholds. A figure that was not measured (no successful request: no p99)
 * fails, as does a relative one without enough seconds to compare: a gate that cannot
 * tell does not pass. A relative threshold fails only on a significant change: noise
 * does not fail a build.
 */
export function judgeThresholds(list: readonly Threshold[], r: BenchResult, cmp: BenchComparison | null): ThresholdResult[] {
  return list.map((t) => {
    if (t.relative) {
      const row = cmp?.metrics.find((x) => x.metric === (t.metric as CompareMetric));
      if (!row || row.change === null) {
        return { threshold: t.text, failed: true, actual: null, detail: 'no comparison: too few whole seconds in a run (4 needed in each)' };
      }
      const crossed = holds(row.change, t.op, t.value);
      const failed = crossed && row.significant;
      const ci = row.ci ? ` [${pct(row.ci[0])}, ${pct(row.ci[1])}]` : '';
      return {
        threshold: t.text,
        failed,
        actual: row.change,
        detail: `${t.metric} ${pct(row.change)}${ci}` + (crossed && !row.significant ? ': within noise (no significant difference)' : ''),
      };
    }
    const actual = absolute(r, t.metric);
    if (actual === null) return { threshold: t.text, failed: true, actual: null, detail: `${t.metric} not measured (no successful request)` };
    return { threshold: t.text, failed: holds(actual, t.op, t.value), actual, detail: `${t.metric} ${show(t.metric, actual)}` };
  });
}
