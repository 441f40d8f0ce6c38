/**
 * bench's judges on fixed data: requests per connection, a rate that
 * collapses mid-run (and one that does not), and the findings table's shape.
 */
import { describe, expect, it } from 'vitest';
import { BENCH_FINDINGS, perConnection, rateCollapse } from '../src/core/bench/findings.js';
import { bootstrapChange, compareMetric, mannWhitney, median } from '../src/core/bench/compare.js';
import type { BenchResult, TimelineEntry } from '../src/core/bench/types.js';

const sec = (second: number, requests: number, durationMs = 1000): TimelineEntry => ({
  second,
  durationMs,
  requests,
  errors: 0,
  bytesIn: 0,
  bytesOut: 0,
  p50Us: null,
  p90Us: null,
  p99Us: null,
  p999Us: null,
  maxUs: null,
  silentConnections: null,
  cpuPercent: null,
});

describe('per connection', () => {
  it('min, median, max; the unserved and the starved', () => {
    expect(perConnection([5000, 0, 4800, 0])).toEqual({ connections: 4, min: 0, median: 2400, max: 5000, unserved: 2, starved: 0 });
    expect(perConnection([1000, 1100, 900, 50])).toMatchObject({ median: 950, unserved: 0, starved: 1 });
    expect(perConnection([7])).toMatchObject({ min: 7, median: 7, max: 7, unserved: 0, starved: 0 });
    expect(perConnection([])).toBeNull();
  });
});

describe('rate collapse', () => {
  it('names the first second under a quarter of the rate before, and whether it recovered', () => {
    expect(rateCollapse([sec(0, 28000), sec(1, 29000), sec(2, 27000), sec(3, 100), sec(4, 0)])).toEqual({
      second: 3,
      before: 28000,
      after: 0,
      recoveredAt: null,
    });
    expect(rateCollapse([sec(0, 1000), sec(1, 100), sec(2, 990)])).toMatchObject({ second: 1, recoveredAt: 2 });
  });

  it('noise, a slow start and a short last sliver are no collapse', () => {
    expect(rateCollapse([sec(0, 1000), sec(1, 800), sec(2, 1200), sec(3, 700)])).toBeNull();
    expect(rateCollapse([sec(0, 10), sec(1, 5000), sec(2, 5100)])).toBeNull();
    expect(rateCollapse([sec(0, 5000), sec(1, 5100), sec(2, 3, 20)])).toBeNull();
    expect(rateCollapse([])).toBeNull();
  });
});

describe('the findings table', () => {
  it('each code once, with a title, a cause and a fix', () => {
    expect(new Set(BENCH_FINDINGS.map((f) => f.code)).size).toBe(BENCH_FINDINGS.length);
    for (const f of BENCH_FINDINGS) for (const k of ['title', 'cause', 'fix'] as const) expect(f[k].length, `${f.code}.${k}`).toBeGreaterThan(10);
  });
});

describe('comparison statistics on fixed samples', () => {
  it('Mann-Whitney U: exact for small samples without ties, normal with tie and continuity corrections otherwise (values from scipy.stats.mannwhitneyu)', () => {
    expect(mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p).toBeCloseTo(0.007936507936507936, 10);
    expect(mannWhitney([10.1, 10.4, 9.8, 10.0, 10.3, 9.9, 10.2, 10.5], [10.05, 10.6, 9.7, 10.25, 10.45, 9.95, 10.15, 10.35]).p).toBeCloseTo(0.7984459984459983, 10);
    expect(mannWhitney([10.1, 10.4, 9.8, 10.0, 10.3, 9.9, 10.2, 10.5], [10.0, 10.6, 9.7, 10.2, 10.4, 9.95, 10.1, 10.35]).p).toBeCloseTo(0.95799832386793, 5);
    // Ties: asymptotic.
    expect(mannWhitney([100, 101, 101, 102, 103, 103, 104, 105, 105, 106], [98, 99, 99, 100, 100, 101, 101, 102, 102, 103]).p).toBeCloseTo(0.013166268431086486, 4);
    const e = Array.from({ length: 22 }, (_, i) => i + 1);
    expect(mannWhitney(e, e.map((x) => x + 4.5)).p).toBeCloseTo(0.03777134895141666, 4);
    expect(mannWhitney([], [1]).p).toBe(1);
  });

  it('the bootstrap interval is reproducible (fixed seed) and holds the change', () => {
    const a = [1000, 1010, 990, 1005, 995, 1002, 998, 1001, 999, 1003];
    const b = a.map((x) => x * 0.8);
    const ci = bootstrapChange(a, b);
    expect(ci).toEqual(bootstrapChange(a, b));
    expect(ci[0]).toBeLessThanOrEqual(-0.2 + 1e-9);
    expect(ci[1]).toBeGreaterThanOrEqual(-0.2 - 1e-9);
    expect(ci[1]).toBeLessThan(-0.18);
  });

  it('compareMetric: a 20% slower run is worse, with its interval; the same samples are no significant difference; too few seconds, no verdict', () => {
    const run = (rates: number[]): BenchResult =>
      ({ throughput: { requestsPerSec: median(rates) }, latency: null, timeline: rates.map((r, i) => sec(i, r)) }) as unknown as BenchResult;
    const base = run([1000, 1012, 993, 1007, 996, 1003, 989, 1010, 1001, 998]);
    const slow = run([800, 812, 790, 805, 797, 803, 791, 808, 799, 801]);
    const w = compareMetric(base, slow, 'rps');
    expect(w.verdict).toBe('worse');
    expect(w.significant).toBe(true);
    expect(w.change!).toBeCloseTo(-0.2, 1);
    expect(w.ci![0]).toBeLessThan(w.change!);
    expect(w.ci![1]).toBeGreaterThan(w.change!);
    const same = compareMetric(base, run([1003, 995, 1008, 990, 1001, 1011, 997, 1004, 999, 992]), 'rps');
    expect(same.verdict).toBe('same');
    expect(same.p!).toBeGreaterThan(0.05);
    expect(compareMetric(base, run([800, 810, 790]), 'rps')).toMatchObject({ verdict: 'unknown', change: null, samples: [10, 3] });
    // Latency: lower is better; a run without per-second percentiles has none to compare.
    expect(compareMetric(base, slow, 'p99').verdict).toBe('unknown');
  });
});
