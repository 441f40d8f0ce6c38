/**
 * `udsctl ls` report -> text (a table that fits the terminal) or JSON (exact
 * bytes: names that are not UTF-8 also as base64). Every name, path, process
 * and user name goes through escapeText before it reaches the terminal.
 */
import type { ChalkInstance } from 'chalk';
import { isUtf8 } from 'node:buffer';
import { escapeText, fromKeptBytes } from '../core/escape.js';
import type { LsEntry, LsReport } from '../core/ls/list.js';
import type { WatchFrame, WatchRow } from '../core/ls/watch.js';
import { DEFAULT_COLUMNS, displayWidth, truncate } from './width.js';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A long path cut in the middle, where it says least: `/run/user/1000/…/agent.sock`. */
function fitMiddle(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width < 8 || !PRINTABLE_ASCII.test(s)) return truncate(s, width);
  const tail = Math.ceil((width - 1) * 0.6);
  return `${s.slice(0, width - 1 - tail)}…${s.slice(s.length - tail)}`;
}

function pad(s: string, width: number, right = false): string {
  const w = displayWidth(s);
  if (w >= width) return s;
  return right ? ' '.repeat(width - w) + s : s + ' '.repeat(width - w);
}

const TYPE_SHORT: Record<string, string> = { stream: 'stream', seqpacket: 'seqpkt', dgram: 'dgram', tcp: 'tcp' };

/** `pid/name`, `?/user` when the process is hidden, `-` for a stale file. */
function processCell(e: LsEntry): string {
  const p = e.processes[0];
  if (p) return `${p.pid}/${escapeText(p.name ?? '?')}`;
  if (e.state === 'stale') return '-';
  return e.user ? `?/${escapeText(e.user)}` : '?';
}

function queueCell(e: LsEntry): string {
  if (e.queue === null || e.backlog === null) return '-';
  return `${e.queue}/${e.backlog}`;
}

const full = (e: { queue: number | null; backlog: number | null }) => e.queue !== null && e.backlog !== null && e.queue >= e.backlog && e.backlog > 0;

function youCell(e: LsEntry): string {
  if (e.state === 'stale' || e.state === 'deleted') return e.state;
  return e.access.allowed === false ? 'no' : e.access.allowed === true ? 'yes' : '?';
}

interface Column {
  head: string;
  width: number;
  right?: boolean;
  cell: (e: LsEntry) => string;
}

/** The table's columns for a terminal `columns` wide: owner and mode only when there is room. */
function columnsFor(columns: number): { cols: Column[]; nameWidth: number } {
  const wide = columns >= 120;
  const cols: Column[] = [
    { head: 'TYPE', width: 6, cell: (e) => TYPE_SHORT[e.type ?? ''] ?? '-' },
    { head: 'QUEUE', width: 9, right: true, cell: queueCell },
    { head: 'CONN', width: 4, right: true, cell: (e) => (e.clients === null ? '-' : String(e.clients)) },
    { head: 'PROCESS', width: wide ? 22 : 16, cell: processCell },
  ];
  if (wide) {
    cols.push({ head: 'OWNER', width: 17, cell: (e) => (e.file ? escapeText(`${e.file.owner}:${e.file.group}`) : '-') });
    cols.push({ head: 'MODE', width: 10, cell: (e) => e.file?.modeString ?? '-' });
  }
  cols.push({ head: 'SERVICE', width: 10, cell: (e) => e.service?.service ?? '' });
  cols.push({ head: 'YOU', width: 7, cell: youCell });
  const used = cols.reduce((n, c) => n + c.width + 1, 0);
  return { cols, nameWidth: Math.max(16, columns - used) };
}

/** The human table: one line per socket, and under a socket you may not use, one line saying why. */
export function lsHuman(r: LsReport, c: ChalkInstance, columns = DEFAULT_COLUMNS): string {
  if (!r.available) return `udsctl ls: the kernel's socket list cannot be read here: ${escapeText(r.reason ?? 'unknown reason')}\n`;
  const { cols, nameWidth } = columnsFor(columns);
  const lines: string[] = [];
  const head = [pad('NAME', nameWidth), ...cols.map((col) => pad(col.head, col.width, col.right))].join(' ');
  lines.push(c.bold(head.trimEnd()));
  for (const e of r.entries) {
    const name = pad(fitMiddle(escapeText(e.display), nameWidth), nameWidth);
    const cells = cols.map((col) => {
      const text = pad(truncate(col.cell(e), col.width), col.width, col.right);
      if (col.head === 'QUEUE' && full(e)) return c.red.bold(text);
      if (col.head === 'YOU') return e.state === 'stale' || e.state === 'deleted' ? c.yellow(text) : e.access.allowed === false ? c.red(text) : text;
      return text;
    });
    lines.push(`${e.state === 'stale' ? c.dim(name) : name} ${cells.join(' ')}`.trimEnd());
    const why = reasonLine(e);
    if (why) for (const l of wrapPlain(why, columns - 2, 3)) lines.push(c.dim(`  ${l}`));
  }
  // Wrapped, not cut: the count of sockets and the notes at its end are what a reader looks for.
  for (const l of footer(r)) for (const part of wrapPlain(l, columns, 4)) lines.push(c.dim(part));
  return `${lines.join('\n')}\n`;
}

/** Text wrapped at spaces into at most `max` lines of `width` columns (the last cut with `…`). */
function wrapPlain(s: string, width: number, max: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && displayWidth(line) + 1 + displayWidth(word) > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  if (out.length > max) out.splice(max - 1, out.length - max + 1, `${out[max - 1]} …`);
  return out.map((l) => truncate(l, width));
}

/** The second line of a socket that cannot be used as it is. */
function reasonLine(e: LsEntry): string | null {
  // A stale file says so in YOU; its reason is the same every time (JSON has it).
  if (e.state === 'stale') return null;
  if (e.state === 'deleted' || e.access.allowed === false) return escapeText(e.access.reason);
  if (full(e)) return `accept queue full (${e.queue}/${e.backlog}): new connections wait or are refused; the server is not accepting fast enough`;
  return null;
}

function footer(r: LsReport): string[] {
  const listening = r.entries.filter((e) => e.state === 'listening' || e.state === 'bound').length;
  const stale = r.entries.filter((e) => e.state === 'stale').length;
  const deleted = r.entries.filter((e) => e.state === 'deleted').length;
  const parts = [`${listening} listening`];
  if (deleted) parts.push(`${deleted} with a deleted file`);
  parts.push(`${stale} stale file${stale === 1 ? '' : 's'} under ${r.roots.map((d) => escapeText(d)).join(', ') || '(no folder)'}`);
  const out = [`${parts.join(', ')}; ${r.sockets} sockets in all`];
  if (r.hiddenProcesses > 0 && r.identity.uid !== 0) out.push(`${r.hiddenProcesses} processes' fds are hidden from you (?/OWNER); run as root to name them`);
  if (r.procHidden) out.push(`/proc is mounted with ${r.procHidden}: other users' processes are left out of it (?/OWNER); run as root to name them`);
  for (const l of r.limits) out.push(`note: ${escapeText(l)}`);
  return out;
}

/** A name for JSON: the text (U+FFFD for bytes that are not UTF-8) and, then, the exact bytes as base64. */
function nameJson(bytes: Buffer, text: string): Record<string, unknown> {
  return isUtf8(bytes) ? { name: text } : { name: fromKeptBytes(text), nameBase64: bytes.toString('base64') };
}

function textJson(key: string, b: Buffer | null): Record<string, unknown> {
  if (b === null) return { [key]: null };
  return isUtf8(b) ? { [key]: b.toString('utf8') } : { [key]: b.toString('utf8'), [`${key}Base64`]: b.toString('base64') };
}

export function lsEntryJson(e: LsEntry): Record<string, unknown> {
  return {
    kind: e.kind,
    ...nameJson(e.name, e.kind === 'abstract' ? e.display.slice(1) : e.display),
    path: e.absolute === null ? null : fromKeptBytes(e.absolute),
    type: e.type,
    state: e.state,
    inode: e.inode,
    uid: e.uid,
    user: e.user,
    processes: e.processes.map((p) => ({ pid: p.pid, name: p.name, uid: p.uid, user: p.user, ...textJson('cmdline', p.cmdline) })),
    processNote: e.processNote,
    file: e.file && { owner: e.file.owner, group: e.file.group, uid: e.file.uid, gid: e.file.gid, mode: `0${e.file.mode.toString(8)}`, modeString: e.file.modeString },
    mayConnect: e.access.allowed,
    access: e.access.reason,
    ...(e.access.fix ? { fix: e.access.fix } : {}),
    queue: e.queue,
    backlog: e.backlog,
    queueFull: full(e),
    clients: e.clients,
    service: e.service?.service ?? null,
    serviceFrom: e.service?.why ?? null,
  };
}

export function lsJson(r: LsReport): Record<string, unknown> {
  return {
    schema: 'udsctl.ls/1',
    available: r.available,
    ...(r.reason ? { reason: r.reason } : {}),
    identity: { uid: r.identity.uid, name: r.identity.name },
    unixSockets: r.sockets,
    roots: r.roots,
    hiddenProcesses: r.hiddenProcesses,
    procHidden: r.procHidden,
    limits: r.limits,
    sockets: r.entries.map(lsEntryJson),
  };
}

// ---------------------------------------------------------------------------
// --watch

function rate(n: number | null): string {
  if (n === null) return '-';
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

function watchCells(w: WatchRow): string[] {
  return [TYPE_SHORT[w.type] ?? w.type, w.queue === null ? '-' : `${w.queue}/${w.backlog}`, String(w.clients), rate(w.newPerSecond), w.process ? `${w.process.pid}/${escapeText(w.process.name ?? '?')}` : '?'];
}

const WATCH_COLS = [
  { head: 'TYPE', width: 6 },
  { head: 'QUEUE', width: 11, right: true },
  { head: 'CONN', width: 6, right: true },
  { head: 'NEW/s', width: 7, right: true },
  { head: 'PROCESS', width: 16 },
] as const;

/** One screenful: the busiest sockets first, as many as `rows` allows. */
export function watchScreen(f: WatchFrame, c: ChalkInstance, columns = DEFAULT_COLUMNS, rows = 24): string {
  const nameWidth = Math.max(16, columns - WATCH_COLS.reduce((n, col) => n + col.width + 1, 0) - 1);
  const head = [pad('NAME', nameWidth), ...WATCH_COLS.map((col) => pad(col.head, col.width, 'right' in col))].join(' ');
  const lines = [c.bold(truncate(`udsctl ls --watch: every ${f.intervalMs} ms, ${f.time}; ${f.rows.length} listeners, ${f.sockets} Unix sockets (Ctrl-C ends)`, columns)), c.bold(head.trimEnd())];
  const room = Math.max(1, rows - 3);
  for (const w of f.rows.slice(0, room)) {
    const cells = watchCells(w).map((s, k) => pad(truncate(s, WATCH_COLS[k].width), WATCH_COLS[k].width, 'right' in WATCH_COLS[k]));
    const line = `${pad(fitMiddle(escapeText(w.display), nameWidth), nameWidth)} ${cells.join(' ')}`.trimEnd();
    lines.push(full(w) ? c.red.bold(line) : line);
  }
  if (f.rows.length > room) lines.push(c.dim(`… and ${f.rows.length - room} more (a taller terminal shows more)`));
  return lines.join('\n');
}

/** Lines mode (not a terminal): one line per socket that changed since the last sample (all of them the first time). */
export function watchLines(f: WatchFrame): string {
  let out = '';
  for (const w of f.rows) {
    if (!w.changed) continue;
    out += `${f.time} ${escapeText(w.display)} type=${w.type} queue=${w.queue ?? '-'}/${w.backlog ?? '-'}${full(w) ? ' FULL' : ''} clients=${w.clients} new/s=${rate(w.newPerSecond)}\n`;
  }
  return out;
}

export function watchJsonLine(f: WatchFrame): string {
  return `${JSON.stringify({
    schema: 'udsctl.ls.watch/1',
    time: f.time,
    sockets: f.rows.map((w) => ({ ...nameJson(w.name, w.kind === 'abstract' ? w.display.slice(1) : w.display), kind: w.kind, type: w.type, inode: w.inode, queue: w.queue, backlog: w.backlog, queueFull: full(w), clients: w.clients, newPerSecond: w.newPerSecond, pid: w.process?.pid ?? null })),
  })}\n`;
}
