import { type ProtocolFlags, protocolRequest } from '../protocol-options.js';
import { serviceBenchRequest } from './bench-service.js';
import { Chalk, type ChalkInstance } from 'chalk';
import chalk from 'chalk';
import { UdsError } from '../core/errors.js';
import { escapeText, parseMessage } from '../core/escape.js';
import { runBench } from '../core/bench/run.js';
import { BENCH_SCHEMA, type BenchOptions, type BenchProgress, type BenchResult, type BenchTick } from '../core/bench/types.js';
import { EXIT, exitStatusFor } from '../exit-codes.js';
import { importEsm } from '../import-esm.js';
import { type Io, stderrColumns, stdoutColumns, writeAll } from '../io.js';
import { benchHgrm, benchMarkdown, benchReport, benchToJson, comparisonReport, progressText, thresholdReport } from '../render/bench.js';
import { renderMeasured, wrap } from '../render/width.js';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { compareRuns } from '../core/bench/compare.js';
import { type Threshold, type ThresholdResult, judgeThresholds } from '../core/bench/thresholds.js';
import { errColor } from '../render/style.js';

/**
 * The flags: BenchOptions as the command line gives them (payload and expect as
 * text), plus the command's own. A new bench option is a field of BenchOptions
 * (and its flag in src/cli/bench.ts); it passes through here untouched.
 */
export type BenchFlags = Omit<BenchOptions, 'target' | 'payload' | 'expect' | 'signal' | 'onTick' | 'onProgress' | 'onStart'> & ProtocolFlags & {
  /** A saved --json run to compare this run (or --input) with. */
  compare?: string;
  /** A saved --json run to report instead of running. */
  input?: string;
  /** --noise: one noise floor (a fraction) for every compared metric; default per metric (COMPARE_NOISE). */
  noise?: number;
  /** --fail-if, parsed (repeatable). */
  failIf?: Threshold[];
  /** A Markdown summary: a file, or `github` for $GITHUB_STEP_SUMMARY. */
  summary?: string;
  /** The latency histogram as .hgrm. */
  hgrm?: string;
  payload?: string;
  /** --payload and --expect as written: no escapes. */
  literal?: boolean;
  size?: number;
  expect?: string;
  json?: boolean;
  /** --type: a Unix target's socket type (seqpacket: the epoll engine). */
  type?: 'stream' | 'seqpacket';
};

/** A payload of `size` bytes: 'x' filler ending in a newline, so line servers answer it. */
export function sizedPayload(size: number): Buffer {
  const b = Buffer.alloc(size, 'x');
  b[size - 1] = 0x0a;
  return b;
}

/**
 * The exit status of a finished run: 13 when a --fail-if threshold was crossed; else 0 when
 * no request failed, else the status of the most frequent error (7 for timeouts, 5 refused,
 * 10 mismatch, ...).
 */
export function benchExitStatus(r: BenchResult, thresholds: readonly ThresholdResult[] = []): number {
  // Interrupted before any request finished: nothing was measured, which is no success.
  if (r.interrupted && r.requests.total === 0) return EXIT.INTERRUPTED;
  if (thresholds.some((t) => t.failed)) return EXIT.THRESHOLD;
  if (r.errors.length === 0) return EXIT.OK;
  return exitStatusFor(r.errors[0].code);
}

/** A saved `bench --json` document, read for --compare or --input; a usage error when it is not one. */
export async function readSavedRun(file: string, flag: string): Promise<BenchResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UdsError('BAD_OPTION', `${flag} ${escapeText(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new UdsError('BAD_OPTION', `${flag} ${escapeText(file)}: not JSON (save a run with udsctl bench --json > FILE)`);
  }
  const r = j as BenchResult;
  if (!r || typeof r !== 'object' || r.schema !== BENCH_SCHEMA || !Array.isArray(r.timeline) || typeof r.throughput !== 'object') {
    throw new UdsError('BAD_OPTION', `${flag} ${escapeText(file)}: not a udsctl bench --json report (schema ${BENCH_SCHEMA})`);
  }
  return r;
}

/** Where --summary writes: a file, or (`github`) the step summary GitHub Actions names in $GITHUB_STEP_SUMMARY. */
function summaryPath(flag: string, env: NodeJS.ProcessEnv): { path: string; append: boolean } {
  if (flag !== 'github') return { path: flag, append: false };
  const path = env.GITHUB_STEP_SUMMARY;
  if (!path) throw new UdsError('BAD_OPTION', '--summary github: $GITHUB_STEP_SUMMARY is not set (GitHub Actions sets it in a step; elsewhere give a file)');
  return { path, append: true };
}

/** `udsctl bench`: load a server (or read a saved run), print the report (or JSON), return the exit status. */
export async function runBenchCommand(target: string | undefined, flags: BenchFlags, io: Io): Promise<number> {
  const thresholds = flags.failIf ?? [];
  if (thresholds.some((t) => t.relative) && flags.compare === undefined) {
    throw new UdsError('BAD_OPTION', `--fail-if '${thresholds.find((t) => t.relative)!.text}': a change needs --compare BASE.json`);
  }
  if (flags.input !== undefined && target !== undefined) throw new UdsError('BAD_OPTION', '--input reports a saved run: give no target');
  const sum = flags.summary !== undefined ? summaryPath(flags.summary, io.env) : null;
  // Read the saved runs first: a bad file is a usage error before any load.
  const base = flags.compare !== undefined ? await readSavedRun(flags.compare, '--compare') : null;
  const saved = flags.input !== undefined ? await readSavedRun(flags.input, '--input') : null;
  const result = saved ?? (await runLoad(target, flags, io));
  const c = await errColor();
  const say = (line: string) => void io.stderr.write(line + '\n');
  const out: ChalkInstance = io.env.NO_COLOR || !io.stdout.isTTY ? new Chalk({ level: 0 }) : chalk;

  if (flags.noise !== undefined && !base) throw new UdsError('BAD_OPTION', '--noise is the noise floor of --compare: give --compare BASE.json');
  const comparison = base ? compareRuns(base, result, flags.compare!, undefined, flags.noise) : null;
  const judged = thresholds.length > 0 ? judgeThresholds(thresholds, result, comparison) : null;

  if (flags.json) {
    const doc = { ...benchToJson(result), ...(comparison ? { comparison } : {}), ...(judged ? { thresholds: judged } : {}) };
    await writeAll(io.stdout, JSON.stringify(doc) + '\n');
  } else {
    const text = await renderMeasured(() => {
      let t = benchReport(result, out, stdoutColumns(io));
      if (comparison) t += '\n' + comparisonReport(comparison, out).join('\n') + '\n';
      if (judged) t += '\n' + thresholdReport(judged, out).join('\n') + '\n';
      return t;
    });
    await writeAll(io.stdout, text);
  }
  if (sum) {
    const md = benchMarkdown(result, comparison, judged);
    try {
      await (sum.append ? appendFile(sum.path, md) : writeFile(sum.path, md));
    } catch (err) {
      throw new UdsError('IO_ERROR', `--summary ${escapeText(sum.path)}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
  }
  if (flags.hgrm !== undefined) {
    const h = benchHgrm(result);
    if (h === null) say(`${c.yellow('udsctl bench:')} --hgrm: no request succeeded: no histogram to write`);
    else {
      try {
        await writeFile(flags.hgrm, h);
      } catch (err) {
        throw new UdsError('IO_ERROR', `--hgrm ${escapeText(flags.hgrm)}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
    }
  }

  const status = benchExitStatus(result, judged ?? []);
  if (status === EXIT.INTERRUPTED) {
    say(`${c.red('udsctl bench:')} interrupted before any request finished: nothing was measured`);
  } else if (status === EXIT.THRESHOLD) {
    const failed = judged!.filter((t) => t.failed);
    say(`${c.red('udsctl bench:')} ${failed.length} of ${judged!.length} thresholds crossed: ${failed.map((t) => `${escapeText(t.threshold)} (${t.detail})`).join('; ')}`);
  } else if (status !== EXIT.OK && !flags.json) {
    const top = result.errors[0];
    say(`${c.red('udsctl bench:')} ${result.requests.errors} of ${result.requests.total} requests failed; most often ${top.code}: ${escapeText(top.message)}`);
  }
  return status;
}

/** Run the load with the live line (a terminal only) and Ctrl-C handling; the result. */
async function runLoad(target: string | undefined, flags: BenchFlags, io: Io): Promise<BenchResult> {
  if (flags.size !== undefined && flags.payload !== undefined) {
    throw new UdsError('BAD_OPTION', 'give --payload or --size, not both');
  }
  // --http / --resp: the request and its framing (oneshot HTTP asks the server to close: Connection: close).
  const proto = protocolRequest(flags, { close: (flags.mode ?? 'oneshot') === 'oneshot' });
  if (proto && target === undefined) throw new UdsError('BAD_OPTION', `--${proto.protocol} needs a target: udsctl's own server speaks no HTTP, RESP or FastCGI`);
  const payload = proto
    ? proto.payload
    : flags.size !== undefined
      ? sizedPayload(flags.size)
      : flags.payload !== undefined
        ? parseMessage(flags.payload, flags.literal)
        : undefined;
  // A recognised service's own request (src/core/service), when none is given.
  const svc = !proto && payload === undefined && flags.until === undefined && target !== undefined ? await serviceBenchRequest(target, io, Boolean(flags.json)) : null;
  const c = await errColor();
  const say = (line: string) => void io.stderr.write(line + '\n');

  // A terminal that reports no width (some CI ptys) would make ora clear an infinite number of lines.
  // With CI set or TERM=dumb ora would not animate (is-interactive) but print "- starting": no live line at all.
  const live =
    !flags.json &&
    io.stderr.isTTY === true &&
    ((io.stderr as NodeJS.WriteStream).columns ?? 0) > 0 &&
    io.env.CI === undefined &&
    io.env.TERM !== 'dumb';
  const spinner = live ? (await importEsm<typeof import('ora')>('ora')).default({ stream: io.stderr as NodeJS.WriteStream, text: 'starting' }) : null;
  let lastTick: BenchTick | null = null;
  let lastProgress: BenchProgress | null = null;
  let startedAt = 0;
  let warmupMs = 0;
  let totalMs: number | null = null;
  const refresh = () => {
    if (!spinner || startedAt === 0) return;
    const t = performance.now() - startedAt;
    spinner.text = progressText(lastTick, lastProgress, Math.max(0, t - warmupMs), totalMs, Math.max(0, warmupMs - t));
  };
  const refresher = spinner ? setInterval(refresh, 250) : undefined;

  const ac = new AbortController();
  const onSignal = () => {
    if (!ac.signal.aborted && !flags.json) spinner?.stop();
    if (!ac.signal.aborted) say('udsctl bench: interrupted: stopping and reporting what was measured');
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let result: BenchResult;
  try {
    const {
      payload: _text,
      literal: _literal,
      size: _size,
      expect: _expect,
      json: _json,
      http: _h,
      method: _m,
      header: _hd,
      data: _d,
      resp: _r,
      fastcgi: _f,
      param: _p,
      compare: _cmp,
      input: _in,
      failIf: _fi,
      summary: _sum,
      hgrm: _hg,
      type,
      ...same
    } = flags;
    result = await runBench({
      ...same,
      ...(proto ? { until: proto.until } : svc ? { until: svc.until } : {}),
      socketType: type,
      target,
      payload: payload ?? svc?.payload,
      expect: flags.expect !== undefined ? parseMessage(flags.expect, flags.literal) : undefined,
      signal: ac.signal,
      onStart: (info) => {
        if (info.embedded) {
          const note =
            `${c.cyan('udsctl bench:')} no target given: benchmarking udsctl's own server ` +
            `(udsctl serve${info.mode === 'persistent' ? ' --keep-alive' : ''}) on ${info.target}`;
          say(wrap(note, stderrColumns(io), '  ').join('\n'));
        }
        startedAt = performance.now();
        warmupMs = info.warmupMs;
        totalMs = info.durationMs;
        spinner?.start();
        refresh();
      },
      onTick: (t) => {
        lastTick = t;
        refresh();
      },
      // The counts of the live line are the running totals, refreshed between whole seconds.
      onProgress: spinner
        ? (p) => {
            lastProgress = p;
          }
        : undefined,
    });
  } finally {
    clearInterval(refresher);
    spinner?.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  return result;
}
