/**
 * bench for CI (issue 23): --compare a run with a saved one, --input a saved
 * run instead of running, --fail-if thresholds and their exit status 13,
 * --summary (a file or $GITHUB_STEP_SUMMARY) and --hgrm. One real run is
 * saved; the comparisons read it and a copy slowed by 20% (so the verdicts
 * are deterministic: the statistics themselves are tested on fixed samples
 * in bench-judge.test.ts, and measured on real pairs by perf/bench-compare.mjs).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.js';
import { killAll, runCli } from './helpers/run-cli.js';

afterEach(() => killAll());

let dir: string;
let A: string;
let slower: string;
let steady: string;
let slightly: string;

beforeAll(async () => {
  dir = mkdtempSync(join(os.tmpdir(), 'udsctl-compare-'));
  A = join(dir, 'a.json');
  slower = join(dir, 'slower.json');
  steady = join(dir, 'steady.json');
  slightly = join(dir, 'slightly.json');
  const r = await runCli(['bench', '-m', 'persistent', '-c', '2', '-d', '4s', '--json'], { timeoutMs: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  writeFileSync(A, r.stdout);
  // The real run is as noisy as this shared machine; for a verdict that does not depend on it, a
  // steady copy (every second at the run's rate) and the same 20% slower.
  const j = JSON.parse(r.stdout);
  const rate = j.throughput.requestsPerSec;
  for (const t of j.timeline) t.requests = Math.round((rate * t.durationMs) / 1000);
  writeFileSync(steady, JSON.stringify(j));
  // 3% slower, every second: the test alone calls it significant; it is under req/s's 5% noise floor.
  for (const t of j.timeline) t.requests = Math.round((rate * 0.97 * t.durationMs) / 1000);
  writeFileSync(slightly, JSON.stringify({ ...j, throughput: { ...j.throughput, requestsPerSec: rate * 0.97 } }));
  for (const t of j.timeline) t.requests = Math.round((rate * 0.8 * t.durationMs) / 1000);
  j.throughput.requestsPerSec = rate * 0.8;
  writeFileSync(slower, JSON.stringify(j));
}, 90_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench --compare, --input', () => {
  it('a run against itself: no significant difference, every metric', async () => {
    const r = await runCli(['bench', '--input', A, '--compare', A, '--json', '--fail-if', 'rps<-10%']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.comparison.metrics.map((m: { metric: string }) => m.metric)).toEqual(['rps', 'p50', 'p90', 'p99', 'p99.9']);
    for (const m of j.comparison.metrics) expect(m, m.metric).toMatchObject({ verdict: 'same', significant: false, change: 0 });
    expect(j.thresholds).toEqual([expect.objectContaining({ threshold: 'rps<-10%', failed: false })]);
    const h = await runCli(['bench', '--input', A, '--compare', A]);
    expect(h.stdout).toMatch(/Compared with .*a\.json/);
    expect(h.stdout).toMatch(/req\/s .*\+0\.0% .*no significant difference/);
  });

  it('20% slower: worse, with its interval; --fail-if rps<-10% fails with exit 13 and says why', async () => {
    const r = await runCli(['bench', '--input', slower, '--compare', steady, '--json', '--fail-if', 'rps<-10%', '--fail-if', 'errors>0']);
    expect(r.status).toBe(EXIT.THRESHOLD);
    const j = JSON.parse(r.stdout);
    const rps = j.comparison.metrics[0];
    expect(rps).toMatchObject({ metric: 'rps', verdict: 'worse', significant: true });
    expect(rps.change).toBeCloseTo(-0.2, 1);
    expect(rps.ci[0]).toBeLessThanOrEqual(rps.change);
    expect(rps.ci[1]).toBeGreaterThanOrEqual(rps.change);
    expect(j.thresholds.map((t: { failed: boolean }) => t.failed)).toEqual([true, false]);
    expect(r.stderr).toMatch(/^udsctl bench: 1 of 2 thresholds crossed: rps<-10% \(rps -20\.\d%/m);
    // Human: the threshold lines.
    const h = await runCli(['bench', '--input', slower, '--compare', steady, '--fail-if', 'rps<-10%']);
    expect(h.status).toBe(EXIT.THRESHOLD);
    expect(h.stdout).toMatch(/req\/s .*-20\.\d% +\[.*\] +worse/);
    expect(h.stdout).toMatch(/FAIL +rps<-10% +rps -20\.\d%/);
  });

  it('3% slower: significant to the test, under the noise floor, so the same; --noise 1% calls it worse; --noise checked', async () => {
    const r = await runCli(['bench', '--input', slightly, '--compare', steady, '--json', '--fail-if', 'rps<-1%']);
    expect(r.status, r.stderr).toBe(0);
    const rps = JSON.parse(r.stdout).comparison.metrics[0];
    expect(rps).toMatchObject({ metric: 'rps', verdict: 'same', significant: false, withinNoise: true, noise: 0.05 });
    expect(rps.p).toBeLessThan(0.05);
    expect(rps.change).toBeCloseTo(-0.03, 2);
    const h = await runCli(['bench', '--input', slightly, '--compare', steady]);
    expect(h.stdout).toMatch(/req\/s .*-3\.\d% .*no significant difference \(p=[<\d.]+, under the ±5% noise floor\)/);
    const tight = await runCli(['bench', '--input', slightly, '--compare', steady, '--json', '--noise', '1%', '--fail-if', 'rps<-1%']);
    expect(tight.status).toBe(EXIT.THRESHOLD);
    const t = JSON.parse(tight.stdout).comparison.metrics;
    expect(t[0]).toMatchObject({ verdict: 'worse', significant: true, withinNoise: false, noise: 0.01 });
    expect(t.every((m: { noise: number }) => m.noise === 0.01)).toBe(true);
    for (const [args, msg] of [
      [['--noise', '5'], /--noise.*a percent from 0% to 99%, like 5% \(got "5"\)/],
      [['--noise', '120%'], /--noise.*a percent from 0% to 99%/],
    ] as const) {
      const bad = await runCli(['bench', '--input', slightly, '--compare', steady, ...args]);
      expect(bad.status, bad.stderr).toBe(EXIT.USAGE);
      expect(bad.stderr).toMatch(msg);
    }
    const alone = await runCli(['bench', '--input', slightly, '--noise', '2%']);
    expect(alone.status).toBe(EXIT.USAGE);
    expect(alone.stderr).toMatch(/--noise is the noise floor of --compare: give --compare BASE\.json/);
  });

  it('absolute thresholds: each pass or fail; a latency without a unit, an unknown metric, a change without --compare: one-line usage errors', async () => {
    const pass = await runCli(['bench', '--input', A, '--fail-if', 'rps<1', '--fail-if', 'errors>0', '--fail-if', 'p99>10s', '--fail-if', 'error-rate>1%']);
    expect(pass.status, pass.stderr).toBe(0);
    expect(pass.stdout.match(/^ {2}pass /gm)).toHaveLength(4);
    const fail = await runCli(['bench', '--input', A, '--fail-if', 'p50>1us']);
    expect(fail.status).toBe(EXIT.THRESHOLD);
    expect(fail.stdout).toMatch(/FAIL +p50>1us +p50 /);
    for (const [args, re] of [
      [['--fail-if', 'p99>2'], /latency needs a unit/],
      [['--fail-if', 'latency>2ms'], /unknown metric "latency"/],
      [['--fail-if', 'rps'], /not an expression/],
      [['--fail-if', 'errors>-1%'], /compared for rps, p50/],
      [['--input', A, '--fail-if', 'rps<-10%'], /a change needs --compare/],
    ] as const) {
      const r = await runCli(['bench', ...args]);
      expect(r.status, r.stderr).toBe(EXIT.USAGE);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toBe('');
    }
  });

  it('bad saved runs and --input with a target: usage errors before any load', async () => {
    const notReport = join(dir, 'x.json');
    writeFileSync(notReport, '{"hello": 1}');
    const cases: [string[], RegExp][] = [
      [['--compare', join(dir, 'missing.json'), '--input', A], /--compare .*missing\.json: cannot read it \(ENOENT\)/],
      [['--input', notReport], /not a udsctl bench --json report/],
      [['--input', join(dir, 'a.json'), '/tmp/some.sock'], /--input reports a saved run: give no target/],
      [['--input', A, '--summary', 'github'], /GITHUB_STEP_SUMMARY is not set/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['bench', ...args], { env: { GITHUB_STEP_SUMMARY: '' } });
      expect(r.status, r.stderr).toBe(EXIT.USAGE);
      expect(r.stderr).toMatch(re);
    }
  });
});

describe('bench exports', () => {
  it('--summary FILE writes Markdown; --summary github appends to $GITHUB_STEP_SUMMARY', async () => {
    const file = join(dir, 's.md');
    const r = await runCli(['bench', '--input', slower, '--compare', steady, '--fail-if', 'rps<-10%', '--summary', file]);
    expect(r.status).toBe(EXIT.THRESHOLD);
    const md = readFileSync(file, 'utf8');
    expect(md).toMatch(/^### udsctl bench /);
    expect(md).toMatch(/^\| requests \| errors \| window \| req\/s \|/m);
    expect(md).toMatch(/^\| req\/s \| [\d,]+ \| [\d,]+ \| -20\.\d% \| .* \| worse/m);
    expect(md).toMatch(/^\| `rps<-10%` \| ❌ fail \|/m);
    const gh = join(dir, 'step-summary.md');
    writeFileSync(gh, 'earlier step\n');
    const g = await runCli(['bench', '--input', A, '--summary', 'github'], { env: { GITHUB_STEP_SUMMARY: gh } });
    expect(g.status, g.stderr).toBe(0);
    expect(readFileSync(gh, 'utf8')).toMatch(/^earlier step\n### udsctl bench /);
  });

  it("--hgrm writes HdrHistogram's percentile distribution in ms, as wrk2 does", async () => {
    const file = join(dir, 'h.hgrm');
    const r = await runCli(['bench', '--input', A, '--hgrm', file]);
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    const j = JSON.parse(readFileSync(A, 'utf8'));
    expect(text).toMatch(/^ +Value +Percentile +TotalCount 1\/\(1-Percentile\)\n\n/);
    expect(text).toMatch(new RegExp(`#\\[Max += +[\\d.]+, Total count += +${j.latency.count}\\]`));
    // The median line agrees with the report's p50 (ms against us, 3 significant digits).
    const p50 = text.split('\n').find((l) => / 0\.500000000000 /.test(l))!;
    expect(Number(p50.trim().split(/\s+/)[0]) * 1000).toBeCloseTo(j.latency.p50Us, -1);
  });
});
