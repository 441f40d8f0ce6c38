/**
 * Latency histograms: hdr-histogram-js. Workers record into its WebAssembly
 * build (about 40 ns a value against 120-250 ns for its JavaScript ones, and it
 * loads in worker threads); histograms travel to the main thread in the HDR
 * compressed encoding and are merged and read there with the JavaScript build,
 * which can iterate buckets for the distribution chart.
 *
 * Values are nanoseconds, 3 significant digits: sub-microsecond resolution up to
 * ~2 ms, 0.1% relative error beyond. Reports convert to microseconds.
 */
import { createRequire } from 'node:module';
import type { Histogram } from 'hdr-histogram-js';
import type { DistributionBucket, LatencySummary } from './types.js';

type Hdr = typeof import('hdr-histogram-js');
let hdrModule: Hdr | undefined;
// Loaded on first use, not at import: in the bundled CLI a static import of an
// external package runs at start-up, and this one (with pako and zlib) costs
// tens of milliseconds that `send` and `probe` must not pay.
const hdrLib = (): Hdr => (hdrModule ??= createRequire(import.meta.url)('hdr-histogram-js') as Hdr);

let wasm: boolean | undefined;

function wasmReady(): boolean {
  if (wasm === undefined) {
    try {
      hdrLib().initWebAssemblySync();
      wasm = true;
    } catch {
      wasm = false;
    }
  }
  return wasm;
}

const SPEC = {
  bitBucketSize: 64,
  autoResize: true,
  lowestDiscernibleValue: 1,
  // One hour in ns; autoResize extends it should a request ever take longer.
  highestTrackableValue: 3_600_000_000_000,
  numberOfSignificantValueDigits: 3,
} as const;

/** A histogram to record into on a hot path (WebAssembly when it loads). Call destroy() when done. */
export function recordingHistogram(): Histogram {
  return hdrLib().build({ ...SPEC, useWebAssembly: wasmReady() });
}

/** A JavaScript histogram, for merging and reading. */
export function analysisHistogram(): Histogram {
  return hdrLib().build({ ...SPEC, useWebAssembly: false });
}

/** Compact encoding that crosses threads (and could go in a file). */
export function encodeHistogram(h: Histogram): string {
  return hdrLib().encodeIntoCompressedBase64(h);
}

/** Decode into a JavaScript histogram. */
export function decodeHistogram(s: string): Histogram {
  return hdrLib().decodeFromCompressedBase64(s, 64, false);
}

const us = (ns: number): number => Math.round(ns / 100) / 10;

export const REPORTED_PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99, 100] as const;

/** Percentiles and moments of a histogram of nanoseconds, in microseconds; null when empty. */
export function summarize(h: Histogram): LatencySummary | null {
  const count = h.totalCount;
  if (count === 0) return null;
  return {
    count,
    minUs: us(h.getValueAtPercentile(0)),
    p50Us: us(h.getValueAtPercentile(50)),
    p90Us: us(h.getValueAtPercentile(90)),
    p99Us: us(h.getValueAtPercentile(99)),
    p999Us: us(h.getValueAtPercentile(99.9)),
    maxUs: us(h.maxValue),
    meanUs: us(h.mean),
    stdevUs: us(h.stdDeviation),
    percentiles: REPORTED_PERCENTILES.map((p) => ({ percentile: p, us: us(h.getValueAtPercentile(p)) })),
  };
}

interface IterableHistogram {
  recordedValuesIterator: {
    reset(): void;
    hasNext(): boolean;
    next(): { valueIteratedTo: number; countAddedInThisIterationStep: number };
  };
}

/** Round to two significant digits, so chart edges read 12us, 150us, 2.4ms. */
function roundEdge(ns: number): number {
  if (ns <= 0) return 0;
  const mag = 10 ** Math.max(0, Math.floor(Math.log10(ns)) - 1);
  return Math.round(ns / mag) * mag;
}

/**
 * The distribution as about `rows` buckets between the fastest and the slowest
 * request, spaced logarithmically (a long tail stays visible next to the bulk).
 */
export function distribution(h: Histogram, rows = 14): DistributionBucket[] {
  if (h.totalCount === 0) return [];
  const lo = Math.max(1, h.getValueAtPercentile(0));
  const hi = h.maxValue + 1;
  const edges: number[] = [];
  for (let i = 0; i <= rows; i++) {
    const e = i === 0 ? Math.floor(lo) : i === rows ? hi : roundEdge(lo * (hi / lo) ** (i / rows));
    if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  }
  if (edges[edges.length - 1] < hi) edges.push(hi);
  if (edges.length < 2) edges.push(edges[0] + 1);
  const counts = new Array<number>(edges.length - 1).fill(0);
  const it = (h as unknown as IterableHistogram).recordedValuesIterator;
  it.reset();
  let row = 0;
  while (it.hasNext()) {
    const v = it.next();
    while (row < counts.length - 1 && v.valueIteratedTo >= edges[row + 1]) row++;
    counts[row] += v.countAddedInThisIterationStep;
  }
  return counts.map((count, i) => ({ fromUs: us(edges[i]), toUs: us(edges[i + 1]), count }));
}
