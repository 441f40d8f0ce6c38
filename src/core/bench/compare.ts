/**
 * Comparing two bench runs, as benchstat does: each run's per-second samples
 * (the timeline's rate and latency percentiles) are the data; a two-sided
 * Mann-Whitney U test (alpha 0.05) says whether the runs differ beyond noise,
 * and a bootstrap with a fixed seed gives the 95% confidence interval of the
 * change in the median. Pure: two results in, a comparison out.
 */
import type { BenchResult, TimelineEntry } from './types.js';

export const COMPARE_ALPHA = 0.05;
/** Fewer whole seconds than this in either run: too few samples for a verdict. */
export const MIN_SAMPLES = 4;
const BOOTSTRAP_ROUNDS = 2000;
const BOOTSTRAP_SEED = 0x5eed_2023;

/** The compared metrics: higher is better for rps, lower for the latencies. */
export const COMPARE_METRICS = ['rps', 'p50', 'p90', 'p99', 'p99.9'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

/**
 * The noise floor of each metric: a smaller change (a fraction) is never
 * called better or worse, whatever the p-value (`--noise` sets one floor for
 * all). The test sees the noise within each run (its seconds), not the noise
 * between runs, and on a VM that is the larger. Calibrated as an A/A test
 * would be: 20 pairs of 5 s runs of one server on a quiet 2-core VM moved
 * req/s by up to 4.8%, p50 3.4%, p90 9.6%, p99 38.5% and p99.9 19.3% (one
 * pair, disturbed by another process, far more), and without a floor the test
 * called 7 of the 20 pairs significant (perf/bench-compare.mjs; docs/bench.md).
 * A 20% slower server moved req/s by 15-19%, p50 and p90 by 18-24%, p99 by
 * 7-42%: the tail of a short run on a VM cannot show a 20% change.
 */
export const COMPARE_NOISE: Readonly<Record<CompareMetric, number>> = { rps: 0.05, p50: 0.05, p90: 0.1, p99: 0.4, 'p99.9': 0.5 };

export interface MetricComparison {
  metric: CompareMetric;
  /** The run's overall figure (req/s over the window; a latency percentile in us); null when not measured. */
  base: number | null;
  current: number | null;
  /** Per-second samples used from each run. */
  samples: [number, number];
  /** Change of the median per-second value, current / base - 1 (0.1 = +10%); null: too few samples. */
  change: number | null;
  /** 95% bootstrap confidence interval of that change. */
  ci: [number, number] | null;
  /** Two-sided Mann-Whitney U p-value; null: too few samples. */
  p: number | null;
  /** The noise floor used (a fraction): a smaller change is never significant. */
  noise: number;
  /** p < alpha and |change| >= the noise floor: the difference is more than noise. */
  significant: boolean;
  /** p < alpha, but the change is under the noise floor (so: same). */
  withinNoise: boolean;
  /** better / worse (significant only), same (no significant difference), unknown (too few samples). */
  verdict: 'better' | 'worse' | 'same' | 'unknown';
}

export interface BenchComparison {
  base: { label: string; target: string; startedAt: string; windowMs: number };
  alpha: number;
  metrics: MetricComparison[];
}

/** mulberry32: a small seeded generator, so the same two runs always give the same interval. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Standard normal upper tail, P(Z > z) (Abramowitz-Stegun 26.2.17, error < 7.5e-8). */
function normalUpper(z: number): number {
  if (z < 0) return 1 - normalUpper(-z);
  const t = 1 / (1 + 0.2316419 * z);
  const d = 0.3989422804014327 * Math.exp((-z * z) / 2);
  return d * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
}

/**
 * Two-sided Mann-Whitney U test of a against b: exact for small samples without
 * ties (as benchstat), else the normal approximation with tie and continuity corrections.
 */
export function mannWhitney(a: readonly number[], b: readonly number[]): { u: number; p: number } {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: 0, p: 1 };
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const N = n1 + n2;
  const ranks = new Array<number>(N);
  let tieSum = 0;
  let ties = false;
  for (let i = 0; i < N; ) {
    let j = i;
    while (j + 1 < N && all[j + 1].v === all[i].v) j++;
    const r = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    if (t > 1) {
      ties = true;
      tieSum += t ** 3 - t;
    }
    i = j + 1;
  }
  let r1 = 0;
  for (let k = 0; k < N; k++) if (all[k].g === 0) r1 += ranks[k];
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.min(u1, n1 * n2 - u1);
  if (!ties && n1 <= 20 && n2 <= 20) {
    // Exact: the number of orderings giving each U (counts[m][n][u] by the usual recursion, rolled up).
    const maxU = n1 * n2;
    let prev: number[][] = [];
    for (let m = 0; m <= n1; m++) {
      const cur: number[][] = [];
      for (let n = 0; n <= n2; n++) {
        const row = new Array<number>(m * n + 1).fill(0);
        if (m === 0 || n === 0) row[0] = 1;
        else {
          const left = prev[n]; // m-1, n: the largest is from b... shifted by n
          const down = cur[n - 1]; // m, n-1
          for (let k = 0; k < left.length; k++) row[k + n] += left[k];
          for (let k = 0; k < down.length; k++) row[k] += down[k];
        }
        cur.push(row);
      }
      prev = cur;
    }
    const counts = prev[n2];
    let total = 0;
    for (const c of counts) total += c;
    let tail = 0;
    for (let k = 0; k <= Math.min(u, maxU); k++) tail += counts[k];
    return { u, p: Math.min(1, (2 * tail) / total) };
  }
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (N + 1 - tieSum / (N * (N - 1))));
  if (sigma === 0) return { u, p: 1 };
  const z = (Math.abs(u1 - mu) - 0.5) / sigma;
  return { u, p: Math.min(1, 2 * normalUpper(Math.max(0, z))) };
}

/** 95% percentile-bootstrap interval of median(b) / median(a) - 1, resampling each run's seconds. */
export function bootstrapChange(a: readonly number[], b: readonly number[], rounds = BOOTSTRAP_ROUNDS, seed = BOOTSTRAP_SEED): [number, number] {
  const r = rng(seed);
  const out: number[] = [];
  const ra = new Array<number>(a.length);
  const rb = new Array<number>(b.length);
  for (let k = 0; k < rounds; k++) {
    for (let i = 0; i < a.length; i++) ra[i] = a[Math.floor(r() * a.length)];
    for (let i = 0; i < b.length; i++) rb[i] = b[Math.floor(r() * b.length)];
    const ma = median(ra);
    if (ma > 0) out.push(median(rb) / ma - 1);
  }
  if (out.length === 0) return [0, 0];
  out.sort((x, y) => x - y);
  const at = (q: number) => out[Math.min(out.length - 1, Math.max(0, Math.floor(q * out.length)))];
  return [at(0.025), at(0.975)];
}

/** The per-second samples of a metric: whole seconds of the window only. */
export function samplesOf(r: BenchResult, metric: CompareMetric): number[] {
  const whole = (t: TimelineEntry) => t.durationMs >= 900;
  const pick: Record<CompareMetric, (t: TimelineEntry) => number | null | undefined> = {
    rps: (t) => (t.requests * 1000) / t.durationMs,
    p50: (t) => t.p50Us,
    p90: (t) => t.p90Us,
    p99: (t) => t.p99Us,
    'p99.9': (t) => t.p999Us,
  };
  const out: number[] = [];
  for (const t of r.timeline) {
    if (!whole(t)) continue;
    const v = pick[metric](t);
    if (typeof v === 'number' && Number.isFinite(v)) out.push(v);
  }
  return out;
}

/** The overall figure of a run: req/s over the window, or a latency percentile. */
export function overallOf(r: BenchResult, metric: CompareMetric): number | null {
  if (metric === 'rps') return r.throughput.requestsPerSec;
  if (!r.latency) return null;
  return { p50: r.latency.p50Us, p90: r.latency.p90Us, p99: r.latency.p99Us, 'p99.9': r.latency.p999Us }[metric];
}

/** Compare one metric of two runs. */
export function compareMetric(
  base: BenchResult,
  current: BenchResult,
  metric: CompareMetric,
  alpha = COMPARE_ALPHA,
  noise = COMPARE_NOISE[metric],
): MetricComparison {
  const a = samplesOf(base, metric);
  const b = samplesOf(current, metric);
  const row: MetricComparison = {
    metric,
    base: overallOf(base, metric),
    current: overallOf(current, metric),
    samples: [a.length, b.length],
    change: null,
    ci: null,
    p: null,
    noise,
    significant: false,
    withinNoise: false,
    verdict: 'unknown',
  };
  if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES || median(a) <= 0) return row;
  row.change = median(b) / median(a) - 1;
  row.ci = bootstrapChange(a, b);
  row.p = mannWhitney(a, b).p;
  const testSays = row.p < alpha;
  row.significant = testSays && Math.abs(row.change) >= noise;
  row.withinNoise = testSays && !row.significant;
  const higherBetter = metric === 'rps';
  row.verdict = !row.significant ? 'same' : (row.change > 0) === higherBetter ? 'better' : 'worse';
  return row;
}

/** Compare a run with a base run (a saved --json report); `noise`: one floor for every metric, else COMPARE_NOISE's. */
export function compareRuns(base: BenchResult, current: BenchResult, label: string, alpha = COMPARE_ALPHA, noise?: number): BenchComparison {
  return {
    base: { label, target: base.target, startedAt: base.startedAt, windowMs: base.windowMs ?? base.elapsedMs },
    alpha,
    metrics: COMPARE_METRICS.map((m) => compareMetric(base, current, m, alpha, noise ?? COMPARE_NOISE[m])),
  };
}
