/**
 * `udsctl bench` reports: the human one (tables, a latency distribution chart,
 * the timeline) and the JSON one. Pure: result in, text out.
 */
import type { ChalkInstance } from 'chalk';
import type { BenchProgress, BenchResult, BenchTick, DistributionBucket, LatencySummary } from '../core/bench/types.js';
import { stripVTControlCharacters } from 'node:util';
import { escapeText } from '../core/escape.js';
import type { BenchComparison, MetricComparison } from '../core/bench/compare.js';
import { decodeHistogram } from '../core/bench/histogram.js';
import { formatCount } from '../core/bench/findings.js';
import type { ThresholdResult } from '../core/bench/thresholds.js';
import { DEFAULT_COLUMNS, displayWidth, wrap } from './width.js';

/** 12.3us, 123us, 1.23ms, 12.3ms, 1.23s: three significant digits. */
export function formatUs(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return '-';
  const sig = (v: number) => (v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  if (us < 1000) return `${sig(us)}us`;
  if (us < 1_000_000) return `${sig(us / 1000)}ms`;
  return `${sig(us / 1_000_000)}s`;
}

/** 500ms, 5s. */
export function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** 512 B, 1.5 KiB, 12.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

const int = formatCount;

const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - visible(s)));
const lpad = (s: string, n: number): string => ' '.repeat(Math.max(0, n - visible(s))) + s;
// eslint-disable-next-line no-control-regex
const visible = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

const BLOCKS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of `fraction` of `width` cells, in eighths of a cell. */
export function bar(fraction: number, width: number): string {
  const eighths = Math.round(Math.max(0, Math.min(1, fraction)) * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  const nonzero = fraction > 0 && eighths === 0 ? '▏' : '';
  return '█'.repeat(full) + BLOCKS[rest] + nonzero;
}

function describeRun(r: BenchResult): string {
  const parts = [
    r.mode,
    r.mode === 'persistent'
      ? `${int(r.connections)} connection${r.connections === 1 ? '' : 's'}${r.pipeline > 1 ? ` x ${r.pipeline} pipelined` : ''}`
      : `${int(r.connections)} in flight`,
    r.rate ? `open loop at ${int(r.rate)} req/s` : 'closed loop',
    `${r.workers} worker${r.workers === 1 ? '' : 's'} (${r.engine})`,
    `until ${r.until}`,
  ];
  return parts.join(', ');
}

function latencyRows(rows: [string, LatencySummary | null][], c: ChalkInstance): string[] {
  const heads = ['min', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'stdev'];
  const W = 8; // 14 + 8 x 8 = 78 columns: the table fits 80
  const out = [c.bold(pad('Latency', 14)) + heads.map((h) => c.dim(lpad(h, W))).join('')];
  for (const [name, s] of rows) {
    if (!s) continue;
    const vals = [s.minUs, s.p50Us, s.p90Us, s.p99Us, s.p999Us, s.maxUs, s.meanUs, s.stdevUs];
    out.push(pad(`  ${name}`, 14) + vals.map((v, i) => lpad(i === 1 ? c.bold(formatUs(v)) : formatUs(v), W)).join(''));
  }
  return out;
}

/** The distribution as a bar chart, one row per bucket, with the percentiles marked. */
export function distributionChart(d: DistributionBucket[], s: LatencySummary | null, c: ChalkInstance, width = 36): string[] {
  if (d.length === 0 || !s) return [];
  const total = d.reduce((a, b) => a + b.count, 0);
  const most = Math.max(...d.map((b) => b.count));
  const marks: [string, number][] = [
    ['p50', s.p50Us],
    ['p90', s.p90Us],
    ['p99', s.p99Us],
    ['p99.9', s.p999Us],
  ];
  const labels = d.map((b) => `${formatUs(b.fromUs)} - ${formatUs(b.toUs)}`);
  const lw = Math.max(...labels.map((l) => l.length));
  return d.map((b, i) => {
    const last = i === d.length - 1;
    const here = marks.filter(([, v]) => v >= b.fromUs && (v < b.toUs || last)).map(([m]) => m);
    const pct = total > 0 ? (b.count / total) * 100 : 0;
    const pctText = b.count === 0 ? '' : pct < 0.01 ? '<0.01%' : `${pct < 10 ? pct.toFixed(2) : pct.toFixed(1)}%`;
    return (
      `  ${lpad(labels[i], lw)} ${c.cyan(pad(bar(most > 0 ? b.count / most : 0, width), width))} ` +
      `${lpad(pctText, 7)} ${lpad(b.count === 0 ? '' : int(b.count), 10)}` +
      (here.length ? `  ${c.yellow(here.join(' '))}` : '')
    );
  });
}

function timelineRows(r: BenchResult, c: ChalkInstance): string[] {
  if (r.timeline.length === 0) return [];
  const silent = r.mode === 'persistent' && r.timeline.some((t) => (t.silentConnections ?? 0) > 0);
  const heads = ['req/s', 'errors', 'p50', 'p99', 'max', 'cpu', ...(silent ? ['silent'] : [])];
  const out = [c.bold(pad('Timeline', 10)) + heads.map((h) => c.dim(lpad(h, 10))).join('')];
  // Long runs: show at most 30 rows, evenly spread, so the report stays readable.
  const step = Math.max(1, Math.ceil(r.timeline.length / 30));
  for (let i = 0; i < r.timeline.length; i += step) {
    const t = r.timeline[i];
    const rate = t.durationMs > 0 ? (t.requests * 1000) / t.durationMs : 0;
    const cells = [
      int(rate),
      t.errors > 0 ? c.red(int(t.errors)) : '0',
      formatUs(t.p50Us),
      formatUs(t.p99Us),
      formatUs(t.maxUs),
      t.cpuPercent === null ? '-' : `${Math.round(t.cpuPercent)}%`,
      ...(silent ? [(t.silentConnections ?? 0) > 0 ? c.yellow(int(t.silentConnections ?? 0)) : '0'] : []),
    ];
    const label = t.durationMs < 1000 ? `${t.second}s+${Math.round(t.durationMs)}ms` : `${t.second}s`;
    out.push(pad(`  ${label}`, 10) + cells.map((x) => lpad(x, 10)).join(''));
  }
  return out;
}

/**
 * The report's lines within `columns` (80 when stdout is not a terminal): a
 * longer line wraps at spaces, under its label column (14) when it has one,
 * else under its own indent. Tables are built to fit 80 already.
 */
function fit(lines: string[], columns: number): string[] {
  const width = Math.max(60, columns);
  return lines.flatMap((l) => {
    if (displayWidth(l) <= width) return [l];
    const plain = stripVTControlCharacters(l);
    const indent = /^[A-Z][\w ]{0,12} $/.test(plain.slice(0, 14)) ? ' '.repeat(14) : /^ */.exec(plain)![0] + '  ';
    return wrap(l, width, indent);
  });
}

/** The human report, in `columns` columns. */
export function benchReport(r: BenchResult, c: ChalkInstance, columns = DEFAULT_COLUMNS): string {
  const lines: string[] = [];
  const secs = r.elapsedMs / 1000;
  lines.push(`${c.bold('udsctl bench')} ${escapeText(r.target)}${r.embedded ? c.dim(" (udsctl's own server, embedded)") : ''}`);
  lines.push(c.dim(`  ${describeRun(r)}`));
  if (r.interrupted) lines.push(c.yellow('  interrupted: the numbers cover the run up to then'));
  lines.push('');

  const rq = r.requests;
  const windowSecs = (r.windowMs ?? r.elapsedMs) / 1000;
  lines.push(
    `${c.bold(pad('Requests', 14))}${int(rq.ok)} ok, ${rq.errors > 0 ? c.red(`${int(rq.errors)} errors`) : '0 errors'} in ${windowSecs.toFixed(2)}s` +
      `   ${c.bold(int(r.throughput.requestsPerSec))} req/s` +
      (rq.warmup > 0 ? c.dim(`   (+${int(rq.warmup)} in warmup)`) : '') +
      (rq.abandoned > 0 ? c.dim(`   (${int(rq.abandoned)} abandoned in flight)`) : ''),
  );
  lines.push(
    `${c.bold(pad('Bytes', 14))}in ${formatBytes(r.bytes.in)} (${formatBytes(r.throughput.bytesInPerSec)}/s)` +
      `   out ${formatBytes(r.bytes.out)} (${formatBytes(r.throughput.bytesOutPerSec)}/s)`,
  );
  if (r.drain && r.drain.ms >= 50) {
    // The rate is over the window; the wait for what was in flight is said, not divided in.
    const d = r.drain;
    lines.push(
      c.dim(
        `${pad('', 14)}then ${(d.ms / 1000).toFixed(2)}s waiting for ${int(d.inFlight)} request${d.inFlight === 1 ? '' : 's'} in flight ` +
          `(${int(d.ok)} ok, ${int(d.errors)} failed; bounded by --timeout ${formatMs(r.timeoutMs)}): run ${secs.toFixed(2)}s`,
      ),
    );
  }
  if (r.perConnection) {
    const p = r.perConnection;
    lines.push(
      `${c.bold(pad('Per conn.', 14))}min ${int(p.min)}, median ${int(p.median)}, max ${int(p.max)} requests` +
        (p.unserved > 0 ? `   ${c.yellow(`${int(p.unserved)} of ${int(p.connections)} never served`)}` : '') +
        (p.starved > 0 ? `   ${c.yellow(`${int(p.starved)} starved`)}` : ''),
    );
  }
  if (r.schedule) {
    const s = r.schedule;
    lines.push(
      `${c.bold(pad('Schedule', 14))}${int(s.scheduled)} scheduled, ${s.late > 0 ? c.yellow(`${int(s.late)} started late`) : '0 late'}, ` +
        `${s.unsent > 0 ? c.yellow(`${int(s.unsent)} never sent`) : '0 unsent'}`,
    );
  }
  if (r.reconnects > 0 || r.connectRetries > 0) {
    lines.push(c.dim(`${pad('', 14)}${int(r.reconnects)} reconnects, ${int(r.connectRetries)} connects retried (listen backlog full)`));
  }
  lines.push('');

  if (r.latency) {
    const rows: [string, LatencySummary | null][] = [['request', r.latency]];
    if (r.mode === 'oneshot') rows.push(['connect', r.connect], ['exchange', r.exchange]);
    else rows.push(['connect', r.connect]);
    lines.push(...latencyRows(rows, c));
    lines.push(
      c.dim(
        r.rate
          ? '  request: from each scheduled start to the end of the reply (waiting for a connection included)'
          : r.mode === 'oneshot'
            ? '  request: connect + send + reply; exchange: from connected to the end of the reply'
            : '  request: from send to the end of the reply; connect: opening the connections',
      ),
    );
    lines.push('');
    lines.push(c.bold('Distribution') + c.dim(' (request latency)'));
    lines.push(...distributionChart(r.distribution, r.latency, c));
    lines.push('');
  } else {
    lines.push(c.yellow('No request succeeded: no latency to show.'));
    lines.push('');
  }

  const tl = timelineRows(r, c);
  if (tl.length) lines.push(...tl, '');

  if (r.findings && r.findings.length > 0) {
    lines.push(c.bold(c.yellow('Findings')));
    for (const f of r.findings) {
      lines.push(`  ${c.yellow(f.code)}: ${f.detail}`);
      lines.push(c.dim(`    cause: ${f.cause}`));
      lines.push(`    fix: ${f.fix}`);
    }
    lines.push('');
  }

  if (r.errors.length > 0) {
    lines.push(c.bold(c.red('Errors')));
    const w = Math.max(...r.errors.map((e) => e.code.length));
    for (const e of r.errors) lines.push(`  ${c.red(pad(e.code, w))} ${lpad(int(e.count), 9)}  ${escapeText(e.message)}`);
    lines.push('');
  }

  const cpu = r.cpu;
  const ws = cpu.workers.map((w, i) => `w${i + 1} ${Math.round(w.percent)}%`).join(', ');
  lines.push(
    `${c.bold(pad('Generator CPU', 14))}${cpu.scope === 'thread' ? `${ws} ${c.dim('(each worker thread, of one core)')}` : 'per-thread figures unavailable'}` +
      c.dim(`   (whole process ${Math.round(cpu.processPercent)}%${r.embedded ? ', the embedded server included' : ''})`) +
      c.dim(`   peak memory ${formatBytes(r.memory.peakRssBytes)}`),
  );
  if (cpu.generatorBound) {
    lines.push(
      c.yellow(
        '  a worker used 90% or more of a core: the generator may have been the bottleneck; ' +
          'try more --workers (or fewer, if the server shares these cores)',
      ),
    );
  }
  return fit(lines, columns).join('\n') + '\n';
}

/** The JSON document (BenchResult is plain data already; see docs for the schema). */
export function benchToJson(r: BenchResult): BenchResult {
  return r;
}

/**
 * The live progress line: the rate and p50 of the last whole second (`t`), and the ok and
 * error counts as they are now (`now`, the running totals; else the tick's own).
 */
export function progressText(
  t: BenchTick | null,
  now: BenchProgress | null,
  elapsedMs: number,
  totalMs: number | null,
  warmupLeftMs: number,
): string {
  if (warmupLeftMs > 0) return `warming up (${(warmupLeftMs / 1000).toFixed(1)}s left)`;
  const time = `${(elapsedMs / 1000).toFixed(1)}s${totalMs ? `/${(totalMs / 1000).toFixed(0)}s` : ''}`;
  const ok = Math.max(now?.requests ?? 0, t?.requests ?? 0);
  const errors = Math.max(now?.errors ?? 0, t?.errors ?? 0);
  const unserved = now?.unserved ?? 0;
  const counts = `${int(ok)} ok  ${int(errors)} errors${unserved > 0 ? `  ${int(unserved)} connection${unserved === 1 ? '' : 's'} unserved` : ''}`;
  if (!t) return now ? `bench ${time}  ${counts}` : `bench ${time}`;
  const rate = t.last.durationMs > 0 ? (t.last.requests * 1000) / t.last.durationMs : 0;
  return `bench ${time}  ${int(rate)} req/s  p50 ${formatUs(t.last.p50Us)}  ${counts}`;
}

// ---------------------------------------------------------------- comparison, thresholds, exports

const signedPct = (f: number): string => `${f >= 0 ? '+' : ''}${(f * 100).toFixed(1)}%`;

function metricValue(m: MetricComparison['metric'], v: number | null): string {
  if (v === null) return '-';
  return m === 'rps' ? int(v) : formatUs(v);
}

function verdictText(row: MetricComparison): string {
  if (row.verdict === 'unknown') return `too few seconds to compare (${row.samples[0]} and ${row.samples[1]}; 4 needed)`;
  if (row.verdict === 'same' && row.withinNoise) return `no significant difference (p=${row.p! < 0.001 ? '<0.001' : row.p!.toFixed(3)}, under the ±${+(row.noise * 100).toFixed(2)}% noise floor)`;
  if (row.verdict === 'same') return `no significant difference (p=${row.p!.toFixed(2)})`;
  return `${row.verdict} (${row.p! < 0.001 ? 'p<0.001' : `p=${row.p!.toFixed(3)}`})`;
}

/** The comparison with a base run, as a table: each metric's figures, change, interval and verdict. */
export function comparisonReport(cmp: BenchComparison, c: ChalkInstance): string[] {
  const lines = [
    c.bold('Compared with ') +
      escapeText(cmp.base.label) +
      c.dim(` (${escapeText(cmp.base.target)}, ${cmp.base.startedAt}; per-second samples, Mann-Whitney U, alpha ${cmp.alpha}; changes under each metric's noise floor are noise; 95% bootstrap interval)`),
  ];
  lines.push(c.dim(pad('', 10) + ['base', 'this', 'change'].map((h) => lpad(h, 11)).join('') + '   ' + pad('95% CI', 18)));
  for (const row of cmp.metrics) {
    const label = row.metric === 'rps' ? 'req/s' : row.metric;
    const change = row.change === null ? '-' : signedPct(row.change);
    const ci = row.ci ? `[${signedPct(row.ci[0])}, ${signedPct(row.ci[1])}]` : '';
    const v = verdictText(row);
    const shown = row.verdict === 'worse' ? c.red(v) : row.verdict === 'better' ? c.green(v) : c.dim(v);
    lines.push(
      pad(`  ${label}`, 10) +
        lpad(metricValue(row.metric, row.base), 11) +
        lpad(metricValue(row.metric, row.current), 11) +
        lpad(row.significant ? c.bold(change) : change, 11) +
        '   ' +
        pad(ci, 18) +
        ' ' +
        shown,
    );
  }
  return lines;
}

/** The --fail-if results, one line each. */
export function thresholdReport(list: ThresholdResult[], c: ChalkInstance): string[] {
  const lines = [c.bold('Thresholds')];
  for (const t of list) lines.push(`  ${t.failed ? c.red('FAIL') : c.green('pass')}  ${pad(escapeText(t.threshold), 16)} ${t.detail}`);
  return lines;
}

/** Markdown table cell: escaped for the terminal, then for Markdown's pipes, backticks and angle brackets. */
const md = (s: string): string => escapeText(s).replace(/[|`<>*_[\]\\]/g, (ch) => `\\${ch}`);

/** A Markdown summary of a run (for CI: $GITHUB_STEP_SUMMARY), with its comparison and thresholds. */
export function benchMarkdown(r: BenchResult, cmp: BenchComparison | null, thresholds: ThresholdResult[] | null): string {
  const out: string[] = [];
  out.push(`### udsctl bench ${md(r.target)}`, '', md(describeRun(r)), '');
  const l = r.latency;
  out.push('| requests | errors | window | req/s | p50 | p90 | p99 | p99.9 | max |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  out.push(
    `| ${int(r.requests.ok)} | ${int(r.requests.errors)} | ${((r.windowMs ?? r.elapsedMs) / 1000).toFixed(2)}s | ${int(r.throughput.requestsPerSec)} | ` +
      `${formatUs(l?.p50Us)} | ${formatUs(l?.p90Us)} | ${formatUs(l?.p99Us)} | ${formatUs(l?.p999Us)} | ${formatUs(l?.maxUs)} |`,
  );
  out.push('');
  if (r.perConnection) {
    const p = r.perConnection;
    out.push(`Requests per connection: min ${int(p.min)}, median ${int(p.median)}, max ${int(p.max)}; never served ${int(p.unserved)} of ${int(p.connections)}.`, '');
  }
  if (r.findings?.length) {
    out.push('**Findings**', '');
    for (const f of r.findings) out.push(`- **${f.code}**: ${md(f.detail)}. Fix: ${md(f.fix)}`);
    out.push('');
  }
  if (r.errors.length) {
    out.push('| error | count | first message |', '|---|---:|---|');
    for (const e of r.errors) out.push(`| ${e.code} | ${int(e.count)} | ${md(e.message)} |`);
    out.push('');
  }
  if (cmp) {
    out.push(`**Compared with** ${md(cmp.base.label)} (Mann-Whitney U on per-second samples, alpha ${cmp.alpha}; changes under each metric's noise floor are noise; 95% bootstrap interval)`, '');
    out.push('| metric | base | this | change | 95% CI | verdict |', '|---|---:|---:|---:|---|---|');
    for (const row of cmp.metrics) {
      const ci = row.ci ? `${signedPct(row.ci[0])} .. ${signedPct(row.ci[1])}` : '';
      out.push(
        `| ${row.metric === 'rps' ? 'req/s' : row.metric} | ${metricValue(row.metric, row.base)} | ${metricValue(row.metric, row.current)} | ` +
          `${row.change === null ? '-' : signedPct(row.change)} | ${ci} | ${verdictText(row)} |`,
      );
    }
    out.push('');
  }
  if (thresholds?.length) {
    out.push('| threshold | result | measured |', '|---|---|---|');
    for (const t of thresholds) out.push(`| \`${t.threshold.replace(/`/g, "'")}\` | ${t.failed ? '❌ fail' : '✅ pass'} | ${md(t.detail)} |`);
    out.push('');
  }
  return out.join('\n') + '\n';
}

/**
 * The request latency as HdrHistogram's percentile distribution (.hgrm), in milliseconds
 * as wrk2 writes it (for the HdrHistogram plotter); null when no request succeeded.
 */
export function benchHgrm(r: BenchResult): string | null {
  if (!r.latencyHistogram) return null;
  const h = decodeHistogram(r.latencyHistogram);
  // Recorded in nanoseconds: scaled by 1e6 to milliseconds.
  return h.outputPercentileDistribution(5, 1_000_000);
}
