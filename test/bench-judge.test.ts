/**
 * bench's judges on fixed data: requests per connection, a rate that
 * collapses mid-run (and one that does not), and the findings table's shape.
 */
import { describe, expect, it } from 'vitest';
import { BENCH_FINDINGS, perConnection, rateCollapse } from '../src/core/bench/findings.js';
import type { TimelineEntry } from '../src/core/bench/types.js';

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
