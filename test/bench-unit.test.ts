/**
 * bench, unit level: the streaming framer against the core's findReplyEnd, the
 * --expect matcher, the histogram summaries, option checks, renderers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EndRule, findReplyEnd } from '../src/core/framing/end-rule.js';
import { ContainsCheck, RuleSlots as ReplyFramer } from '../src/core/framing/slot-framer.js';
import { analysisHistogram, distribution, summarize } from '../src/core/bench/histogram.js';
import { parseRate, planBench } from '../src/core/bench/options.js';
import { defaultWorkers } from '../src/core/bench/run.js';
import { bar, distributionChart, formatBytes, formatUs, progressText } from '../src/render/bench.js';
import { benchExitStatus, sizedPayload } from '../src/commands/bench.js';
import type { BenchResult, BenchTick } from '../src/core/bench/types.js';
import { Chalk } from 'chalk';

const plain = new Chalk({ level: 0 });

/** Reply ends by findReplyEnd on the whole stream, one reply after another. */
function oracleEnds(rule: EndRule, stream: Buffer): number[] {
  const ends: number[] = [];
  let base = 0;
  for (;;) {
    const rest = stream.subarray(base);
    const e = findReplyEnd(rule, rest, 0);
    if (e < 0 || e === 0) return ends;
    base += e;
    ends.push(base);
  }
}

/** The same stream fed to the framer in the given chunks. */
function framerEnds(rule: EndRule, stream: Buffer, cuts: number[]): number[] {
  const f = new ReplyFramer(rule, 2);
  const ends: number[] = [];
  const points = [...new Set([0, ...cuts.map((c) => c % (stream.length + 1)), stream.length])].sort((a, b) => a - b);
  for (let k = 0; k + 1 < points.length; k++) {
    let pos = points[k];
    const to = points[k + 1];
    while (pos < to) {
      const e = f.push(1, stream, pos, to);
      if (e < 0) break;
      ends.push(e);
      pos = e;
    }
  }
  return ends;
}

const bytesArb = fc.uint8Array({ minLength: 0, maxLength: 200 }).map((a) => Buffer.from(a.map((b) => (b % 4) + 0x61 - (b % 5 === 0 ? 0x57 : 0))));

describe('ReplyFramer finds the reply ends findReplyEnd finds, however the stream is chunked', () => {
  const rules: [string, fc.Arbitrary<EndRule>][] = [
    ['line', fc.constant({ kind: 'line' } as EndRule)],
    ['delim', fc.uint8Array({ minLength: 1, maxLength: 4 }).map((d) => ({ kind: 'delim', delim: Buffer.from(d.map((b) => 0x61 + (b % 3))) }) as EndRule)],
    ['bytes', fc.integer({ min: 1, max: 20 }).map((n) => ({ kind: 'bytes', n }) as EndRule)],
  ];
  for (const [name, ruleArb] of rules) {
    it(name, () => {
      fc.assert(
        fc.property(ruleArb, bytesArb, fc.array(fc.nat(), { maxLength: 12 }), (rule, stream, cuts) => {
          expect(framerEnds(rule, stream, cuts)).toEqual(oracleEnds(rule, stream));
        }),
        { numRuns: 400 },
      );
    });
  }

  it('a delimiter that overlaps itself is found across a chunk boundary ("aab" in "aa|ab")', () => {
    const f = new ReplyFramer({ kind: 'delim', delim: Buffer.from('aab') }, 1);
    const s = Buffer.from('xaaab');
    expect(f.push(0, s, 0, 3)).toBe(-1);
    expect(f.push(0, s, 3, 5)).toBe(5);
  });

  it('eof and idle replies end by events, never by bytes', () => {
    for (const rule of [{ kind: 'eof' }, { kind: 'idle', ms: 5 }] as EndRule[]) {
      const f = new ReplyFramer(rule, 1);
      expect(f.byBytes).toBe(false);
      expect(f.push(0, Buffer.from('a\nb\n'), 0, 4)).toBe(-1);
    }
  });

  it('a one-byte delimiter past the given range is not seen (the caller may leave stale bytes there)', () => {
    const f = new ReplyFramer({ kind: 'line' }, 1);
    expect(f.push(0, Buffer.from('abc\n'), 0, 3)).toBe(-1);
  });
});

describe('ContainsCheck', () => {
  it('agrees with Buffer.includes, however the reply is chunked', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4 }), bytesArb, fc.array(fc.nat(), { maxLength: 8 }), (e, reply, cuts) => {
        const expectB = Buffer.from(e.map((b) => 0x61 + (b % 3)));
        const chk = new ContainsCheck(expectB, 1);
        const points = [...new Set([0, ...cuts.map((c) => c % (reply.length + 1)), reply.length])].sort((a, b) => a - b);
        for (let k = 0; k + 1 < points.length; k++) chk.feed(0, reply, points[k], points[k + 1]);
        expect(chk.end(0)).toBe(reply.includes(expectB));
        // reset after end
        expect(chk.matched(0)).toBe(false);
      }),
      { numRuns: 400 },
    );
  });
});

describe('histogram summaries', () => {
  it('percentiles in microseconds with sub-microsecond values kept', () => {
    const h = analysisHistogram();
    for (let i = 1; i <= 1000; i++) h.recordValue(i * 1000); // 1us .. 1000us, in ns
    const s = summarize(h)!;
    expect(s.count).toBe(1000);
    expect(s.minUs).toBe(1);
    expect(s.p50Us).toBeCloseTo(500, -1);
    expect(s.p99Us).toBeCloseTo(990, -1);
    expect(s.maxUs).toBeCloseTo(1000, -1);
    expect(s.meanUs).toBeCloseTo(500.5, 0);
    expect(s.percentiles.map((p) => p.percentile)).toEqual([50, 75, 90, 95, 99, 99.9, 99.99, 100]);
  });

  it('an empty histogram has no summary and no distribution', () => {
    expect(summarize(analysisHistogram())).toBeNull();
    expect(distribution(analysisHistogram())).toEqual([]);
  });

  it('the distribution buckets count every value once, in increasing ranges', () => {
    const h = analysisHistogram();
    for (let i = 0; i < 5000; i++) h.recordValue(10_000 + ((i * 7919) % 90_000));
    h.recordValue(5_000_000);
    const d = distribution(h);
    expect(d.reduce((a, b) => a + b.count, 0)).toBe(5001);
    for (let i = 1; i < d.length; i++) expect(d[i].fromUs).toBe(d[i - 1].toUs);
    expect(d[0].fromUs).toBeLessThanOrEqual(10);
    expect(d[d.length - 1].toUs).toBeGreaterThanOrEqual(5000);
    const chart = distributionChart(d, summarize(h), plain);
    expect(chart).toHaveLength(d.length);
    expect(chart.join('\n')).toContain('p50');
  });
});

describe('planBench', () => {
  it('defaults: oneshot until eof, persistent until line with a newline added', () => {
    expect(planBench({}).until).toEqual({ kind: 'eof' });
    expect(planBench({}).durationMs).toBe(10_000);
    expect(planBench({ requests: 5 }).durationMs).toBeNull();
    const p = planBench({ mode: 'persistent', payload: Buffer.from('hi') });
    expect(p.until).toEqual({ kind: 'line' });
    expect(p.payload.toString()).toBe('hi\n');
  });

  it.each([
    [{ mode: 'oneshot', pipeline: 2 }, /--pipeline needs --mode persistent/],
    [{ mode: 'persistent', until: { kind: 'eof' } }, /keeps the connection open/],
    [{ mode: 'persistent', halfClose: true }, /--half-close/],
    [{ connections: 0 }, /--connections/],
    [{ rate: -1 }, /--rate/],
    [{ mode: 'persistent', payload: Buffer.alloc(0) }, /non-empty payload/],
  ] as const)('refuses %j', (o, re) => {
    expect(() => planBench(o as never)).toThrow(re);
  });

  it('refuses a run whose timers add up past what a timer can wait (the watchdog would fire at once)', () => {
    const day = 86_400_000;
    expect(planBench({ duration: 20 * day, warmup: 0 }).durationMs).toBe(20 * day);
    expect(() => planBench({ duration: 20 * day, warmup: 5 * day })).toThrow(/--warmup \+ --duration .* at most/);
    expect(() => planBench({ duration: 24 * day, timeout: day })).toThrow(expect.objectContaining({ code: 'BAD_DURATION' }));
    // A run bounded by a request count has no planned end: only each value is bounded.
    expect(planBench({ requests: 10, warmup: 20 * day, timeout: 20 * day }).durationMs).toBeNull();
  });

  it('parseRate understands 500, 2.5k and 1m', () => {
    expect(parseRate('500')).toBe(500);
    expect(parseRate('2.5k')).toBe(2500);
    expect(parseRate('1m')).toBe(1_000_000);
    expect(() => parseRate('fast')).toThrow(/--rate/);
    expect(() => parseRate('0')).toThrow(/--rate/);
  });

  it('default workers leave room for the server', () => {
    expect(defaultWorkers(false, 2)).toBe(1);
    expect(defaultWorkers(true, 2)).toBe(1);
    expect(defaultWorkers(false, 8)).toBe(4);
    expect(defaultWorkers(true, 8)).toBe(7);
    expect(defaultWorkers(true, 1)).toBe(1);
  });
});

describe('render helpers', () => {
  it('formatUs keeps three significant digits', () => {
    expect(formatUs(12.34)).toBe('12.3us');
    expect(formatUs(123.4)).toBe('123us');
    expect(formatUs(1234)).toBe('1.23ms');
    expect(formatUs(2_500_000)).toBe('2.50s');
    expect(formatUs(null)).toBe('-');
  });

  it('formatBytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(12 * 1024 * 1024)).toBe('12.0 MiB');
  });

  it('bars grow in eighths and never vanish for a non-zero count', () => {
    expect(bar(1, 4)).toBe('████');
    expect(bar(0.5, 4)).toBe('██');
    expect(bar(0.0001, 4)).toBe('▏');
    expect(bar(0, 4)).toBe('');
  });

  it('sized payloads end in a newline', () => {
    const p = sizedPayload(5);
    expect(p.toString()).toBe('xxxx\n');
  });

  it('exit status: 0 without errors, else the most frequent error class', () => {
    const base = { errors: [] } as unknown as BenchResult;
    expect(benchExitStatus(base)).toBe(0);
    expect(
      benchExitStatus({ errors: [{ code: 'REPLY_TIMEOUT', count: 5, message: '' }, { code: 'RESET', count: 1, message: '' }] } as unknown as BenchResult),
    ).toBe(7);
  });

  it('exit status: interrupted before any request finished is 130, not success', () => {
    const r = { errors: [], interrupted: true, requests: { total: 0 } } as unknown as BenchResult;
    expect(benchExitStatus(r)).toBe(130);
    expect(benchExitStatus({ ...r, requests: { total: 3 } } as unknown as BenchResult)).toBe(0);
  });

  it('the live line: counts are the running totals, rate and p50 the last whole second', () => {
    // 2.2 s into a 4 s run: the tick of second 0 said 1,000 ok; the running totals are 2,200 ok and 3 errors.
    const first: BenchTick = {
      elapsedMs: 1000,
      requests: 1000,
      errors: 0,
      last: { second: 0, durationMs: 1000, requests: 1000, errors: 0, bytesIn: 0, bytesOut: 0, p50Us: 250, p90Us: 500, p99Us: 900, p999Us: 950, maxUs: 1000, silentConnections: null, cpuPercent: 40 },
    };
    const text = progressText(first, { elapsedMs: 2200, requests: 2200, errors: 3 }, 2200, 4000, 0);
    expect(text).toBe('bench 2.2s/4s  1,000 req/s  p50 250us  2,200 ok  3 errors');
    // Before the first whole second: the counts already move.
    expect(progressText(null, { elapsedMs: 400, requests: 420, errors: 0 }, 400, 4000, 0)).toBe('bench 0.4s/4s  420 ok  0 errors');
    expect(progressText(null, null, 0, 4000, 0)).toBe('bench 0.0s/4s');
    expect(progressText(first, null, 1100, null, 0)).toMatch(/1,000 ok {2}0 errors$/);
    expect(progressText(null, null, 0, 4000, 1500)).toBe('warming up (1.5s left)');
    // Persistent: connections not yet served show as they occur.
    expect(progressText(first, { elapsedMs: 2200, requests: 2200, errors: 3, unserved: 2 }, 2200, 4000, 0)).toBe(
      'bench 2.2s/4s  1,000 req/s  p50 250us  2,200 ok  3 errors  2 connections unserved',
    );
  });
});
