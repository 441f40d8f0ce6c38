import { type ProtocolFlags, protocolRequest } from '../protocol-options.js';
import { serviceBenchRequest } from './bench-service.js';
import { Chalk, type ChalkInstance } from 'chalk';
import chalk from 'chalk';
import { UdsError } from '../core/errors.js';
import { escapeText, parseMessage } from '../core/escape.js';
import { runBench } from '../core/bench/run.js';
import type { BenchOptions, BenchProgress, BenchResult, BenchTick } from '../core/bench/types.js';
import { EXIT, exitStatusFor } from '../exit-codes.js';
import { importEsm } from '../import-esm.js';
import { type Io, writeAll } from '../io.js';
import { benchReport, benchToJson, progressText } from '../render/bench.js';
import { errColor } from '../render/style.js';

/**
 * The flags: BenchOptions as the command line gives them (payload and expect as
 * text), plus the command's own. A new bench option is a field of BenchOptions
 * (and its flag in cli.ts); it passes through here untouched.
 */
export type BenchFlags = Omit<BenchOptions, 'target' | 'payload' | 'expect' | 'signal' | 'onTick' | 'onProgress' | 'onStart'> & ProtocolFlags & {
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
 * The exit status of a finished run: 0 when no request failed, else the status
 * of the most frequent error (7 for timeouts, 5 refused, 10 mismatch, ...).
 */
export function benchExitStatus(r: BenchResult): number {
  // Interrupted before any request finished: nothing was measured, which is no success.
  if (r.interrupted && r.requests.total === 0) return EXIT.INTERRUPTED;
  if (r.errors.length === 0) return EXIT.OK;
  return exitStatusFor(r.errors[0].code);
}

/** `udsctl bench`: load a server, print the report (or JSON), return the exit status. */
export async function runBenchCommand(target: string | undefined, flags: BenchFlags, io: Io): Promise<number> {
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
  const out: ChalkInstance = io.env.NO_COLOR || !io.stdout.isTTY ? new Chalk({ level: 0 }) : chalk;
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
    const { payload: _text, literal: _literal, size: _size, expect: _expect, json: _json, http: _h, method: _m, header: _hd, data: _d, resp: _r, fastcgi: _f, param: _p, type, ...same } = flags;
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
          say(
            `${c.cyan('udsctl bench:')} no target given: benchmarking udsctl's own server ` +
              `(udsctl serve${info.mode === 'persistent' ? ' --keep-alive' : ''}) on ${info.target}`,
          );
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

  if (flags.json) await writeAll(io.stdout, JSON.stringify(benchToJson(result)) + '\n');
  else await writeAll(io.stdout, benchReport(result, out));
  const status = benchExitStatus(result);
  if (status === EXIT.INTERRUPTED) {
    say(`${c.red('udsctl bench:')} interrupted before any request finished: nothing was measured`);
  } else if (status !== EXIT.OK && !flags.json) {
    const top = result.errors[0];
    say(`${c.red('udsctl bench:')} ${result.requests.errors} of ${result.requests.total} requests failed; most often ${top.code}: ${escapeText(top.message)}`);
  }
  return status;
}
