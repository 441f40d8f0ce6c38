/**
 * `udsctl ls [PATH|DIR|@PREFIX...]`: flags -> core (src/core/ls/) -> report
 * -> render (src/render/ls.ts); `--watch` samples until Ctrl-C or SIGTERM.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { statSync } from 'node:fs';
import path from 'node:path';
import { UdsError } from '../core/errors.js';
import { LS_TYPES, type LsSort, type LsType, listSockets } from '../core/ls/list.js';
import { type LsService, serviceMatches } from '../core/ls/service.js';
import { matchesPaths, splitPaths } from '../core/ls/paths.js';
import { SocketWatcher } from '../core/ls/watch.js';
import { SERVICE_NAMES } from '../core/service/index.js';
import { KNOWN_SOCKETS } from '../core/service/known-sockets.js';
import { SockDiagUnavailable } from '../core/socket/sock-diag.js';
import { parseDuration } from '../core/duration.js';
import { type Io, stdoutColumns, writeAll } from '../io.js';
import { lsHuman, lsJson, watchJsonLine, watchLines, watchScreen } from '../render/ls.js';
import { renderMeasured } from '../render/width.js';

export interface LsFlags {
  type?: string[];
  service?: string;
  stale?: boolean;
  tcp?: boolean;
  sort?: LsSort;
  json?: boolean;
  /** --watch alone: true; --watch 2s: the interval's text. */
  watch?: boolean | string;
}

export const WATCH_DEFAULT_MS = 1_000;
export const WATCH_MIN_MS = 100;

/** `--type stream,dgram` (repeatable) -> the types; BAD_OPTION for others. */
export function parseLsTypes(values: string[] | undefined): LsType[] | undefined {
  if (!values?.length) return undefined;
  const out: LsType[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    if (!(LS_TYPES as readonly string[]).includes(v)) throw new UdsError('BAD_OPTION', `--type must be one of ${LS_TYPES.join(', ')} (got ${JSON.stringify(v)})`);
    out.push(v as LsType);
  }
  return out;
}

/**
 * Whether the value commander gave `--watch` (its value is optional) is the
 * first path instead: `ls --watch /run`, `ls --watch .`, `ls --watch @app`,
 * a folder here. Anything else is an interval, and a bad one is an error
 * (`--watch abc`, `--watch -1`), never a filter that silently matches nothing.
 */
export function looksLikePath(v: string): boolean {
  if (/^\s*\d/.test(v)) return false;
  if (/^[/.~@]/.test(v) || v.includes('/')) return true;
  try {
    statSync(v);
    return true;
  } catch {
    return false;
  }
}

/** `--service NAME`: a service's name or a known socket's; BAD_OPTION otherwise (`postgres` would list nothing, silently). */
export function parseLsService(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const names = [...new Set([...SERVICE_NAMES.filter((n) => n !== 'line'), ...KNOWN_SOCKETS.map((k) => k.name)])];
  if (!names.includes(name)) throw new UdsError('BAD_OPTION', `--service must be one of ${names.join(', ')} (got ${JSON.stringify(name)})`);
  return name;
}

/** `--watch [INTERVAL]` -> ms; BAD_OPTION below 100ms. */
export function watchInterval(w: boolean | string): number {
  if (w === true) return WATCH_DEFAULT_MS;
  // A bare number is seconds, as watch(1)'s -n.
  const text = /^\s*\d+(\.\d+)?\s*$/.test(String(w)) ? `${String(w).trim()}s` : String(w);
  const ms = parseDuration(text, '--watch');
  if (ms < WATCH_MIN_MS) throw new UdsError('BAD_OPTION', `--watch interval must be at least ${WATCH_MIN_MS}ms (got ${JSON.stringify(w)})`);
  return ms;
}

async function outColor(io: Io): Promise<ChalkInstance> {
  if (io.env.NO_COLOR || !io.stdout.isTTY) return new Chalk({ level: 0 });
  return (await import('chalk')).default;
}

/** `udsctl ls`: the table (or JSON) of the listening sockets; 0, or 1 when the kernel's list cannot be read. */
export async function runLs(paths: string[], flags: LsFlags, io: Io): Promise<number> {
  const types = parseLsTypes(flags.type);
  flags.service = parseLsService(flags.service);
  if (types?.includes('tcp') && !flags.tcp) flags.tcp = true;
  // `ls --watch /run`: commander took the path for the interval (an optional value); it is a path.
  if (typeof flags.watch === 'string' && looksLikePath(flags.watch)) {
    paths = [flags.watch, ...paths];
    flags.watch = true;
  }
  if (flags.watch !== undefined && flags.watch !== false) {
    const interval = watchInterval(flags.watch);
    // The live view samples Unix listeners' queues: a TCP or stale-only watch would be an empty screen that looks like "all quiet".
    const off = [flags.tcp && (types?.includes('tcp') ? '--type tcp' : '--tcp'), flags.stale && '--stale'].filter(Boolean);
    if (off.length) throw new UdsError('BAD_OPTION', `--watch follows Unix listeners; ${off.join(' and ')} ${off.length > 1 ? 'do' : 'does'} not apply to it`);
    return runWatch(paths, types, flags, io, interval);
  }
  const report = listSockets({ paths, types, service: flags.service, staleOnly: flags.stale, tcp: flags.tcp, sort: flags.sort, env: io.env });
  if (!report.available) throw new UdsError('IO_ERROR', `the kernel's socket list (sock_diag) cannot be read here: ${report.reason}`);
  if (flags.json) await writeAll(io.stdout, `${JSON.stringify(lsJson(report), null, 2)}\n`);
  else {
    const c = await outColor(io);
    await writeAll(io.stdout, await renderMeasured(() => lsHuman(report, c, stdoutColumns(io))));
  }
  return 0;
}

/** The --watch loop: a sample each interval until SIGINT/SIGTERM; redrawn in place on a terminal, lines otherwise. */
async function runWatch(paths: string[], types: LsType[] | undefined, flags: LsFlags, io: Io, intervalMs: number): Promise<number> {
  // The paths filter as ls's list has it: folders by their real path (`/var/run/php` is `/run/php`), relative ones against our cwd.
  const filters = paths.length ? splitPaths(paths) : null;
  const keep = (display: string, type: string, service: LsService | null, kind: 'path' | 'abstract'): boolean =>
    matchesPaths({ kind, display, absolute: kind === 'path' && path.isAbsolute(display) ? path.normalize(display) : null }, filters) &&
    (!types || (types as string[]).includes(type)) &&
    (!flags.service || serviceMatches(service, flags.service));
  const watcher = new SocketWatcher({ intervalMs, keep, env: io.env });
  const tty = !flags.json && io.stdout.isTTY === true;
  const c = await outColor(io);
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let ended = false;
  const end = () => {
    ended = true;
    stop();
  };
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  // A reader that went away (`ls --watch --json | head -1`) ends the watch as Ctrl-C does: it would sample for nobody, forever.
  const put = async (text: string) => {
    if (await writeAll(io.stdout, text)) end();
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    if (tty) await put('\x1b[?25l'); // no cursor blinking over the table
    while (!ended) {
      const f = watcher.sample();
      if (f instanceof SockDiagUnavailable) throw new UdsError('IO_ERROR', `the kernel's socket list (sock_diag) cannot be read here: ${f.reason}`);
      if (flags.json) await put(watchJsonLine(f));
      else if (tty) {
        // A terminal of unknown size (a pty nobody sized: `script`, some CI runners) says 0 rows: 24, as stdoutColumns says 80.
        const said = (io.stdout as { rows?: number }).rows;
        const rows = typeof said === 'number' && said > 0 ? said : 24;
        await put(`\x1b[H\x1b[J${await renderMeasured(() => watchScreen(f, c, stdoutColumns(io), rows))}`);
      } else await put(watchLines(f));
      if (ended) break;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
      clearTimeout(timer);
    }
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
    if (tty) await put('\x1b[?25h\n');
  }
  return 0;
}
