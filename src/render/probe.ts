import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import {
  type CheckStatus,
  type Finding,
  type ProbeReport,
  SEVERITY_EXIT,
  type Severity,
} from '../core/probe.js';
import { escapeText } from '../core/escape.js';
import { replySize } from '../core/reply-size.js';
import { binaryReplyLines, exchangeToJson } from './exchange.js';
import { DEFAULT_COLUMNS, displayWidth, padEnd, truncate, wrap } from './width.js';

/** Version of the --json document; bumped only when a field changes meaning or goes away. */
export const PROBE_JSON_SCHEMA = 'udsctl.probe/1';

function findingToJson(f: Finding): Record<string, unknown> {
  return { code: f.code, severity: f.severity, check: f.check, title: f.title, detail: f.detail, cause: f.cause, fix: f.fix };
}

/** One target's report as JSON data (documented in README "probe --json"). */
export function probeToJson(r: ProbeReport): Record<string, unknown> {
  const p = r.path;
  const l = r.listener;
  return {
    target: r.target,
    service: r.service?.name ?? null,
    recognisedBy: r.service?.recognisedBy ?? null,
    serviceInfo: r.service,
    kind: r.kind,
    socketType: r.socketType,
    socketTypeSource: r.socketTypeSource,
    server: r.server,
    status: r.status,
    exitStatus: SEVERITY_EXIT[r.status],
    code: r.finding.code,
    title: r.finding.title,
    detail: r.finding.detail,
    cause: r.finding.cause,
    fix: r.finding.fix,
    findings: r.findings.map(findingToJson),
    checks: r.checks.map((c) => ({ name: c.name, status: c.status, ms: c.ms, detail: c.detail })),
    contract: r.contract,
    until: r.until,
    connectOnly: r.connectOnly,
    responseMs: r.responseMs,
    attempts: r.attempts,
    elapsedMs: r.elapsedMs,
    wait: r.wait,
    path: p
      ? {
          path: p.path,
          absolute: p.absolute,
          state: p.state,
          type: p.file?.type ?? null,
          mode: p.file ? p.file.mode.toString(8).padStart(4, '0') : null,
          modeString: p.file?.modeString ?? null,
          owner: p.file?.owner ?? null,
          group: p.file?.group ?? null,
          uid: p.file?.uid ?? null,
          gid: p.file?.gid ?? null,
          symlinkTo: p.symlinkTo ?? null,
          mayConnect: p.access.allowed,
          access: p.access.reason,
          blockedDir: p.blockedDir?.path ?? null,
          missingDir: p.missingDir ?? null,
        }
      : null,
    listener: l
      ? {
          available: l.available,
          match: l.match,
          inodes: l.inodes,
          processes: l.owners,
          hidden: l.hidden,
          truncated: l.truncated,
          deleted: { inodes: l.deleted.inodes, processes: l.deleted.owners },
        }
      : null,
    exchange: r.exchange ? exchangeToJson(r.exchange) : null,
  };
}

/** The whole run: worst status, and one object per target. */
export function probeRunToJson(status: Severity, reports: ProbeReport[]): Record<string, unknown> {
  return { schema: PROBE_JSON_SCHEMA, status, exitStatus: SEVERITY_EXIT[status], targets: reports.map(probeToJson) };
}

const paint = (c: ChalkInstance, s: Severity, text: string): string =>
  s === 'OK' ? c.green(text) : s === 'WARNING' ? c.yellow(text) : s === 'CRITICAL' ? c.red(text) : c.magenta(text);

const MARK: Readonly<Record<CheckStatus, string>> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip', 'not-reached': '--' };

function mark(c: ChalkInstance, s: CheckStatus): string {
  const m = MARK[s].padEnd(4);
  return s === 'ok' ? c.green(m) : s === 'warn' ? c.yellow(m) : s === 'fail' ? c.red(m) : c.dim(m);
}

/** Finding detail without the `target: ` prefix (the verdict line names the target). */
function bare(f: Finding, target: string): string {
  return f.detail.startsWith(`${target}: `) ? f.detail.slice(target.length + 2) : f.detail;
}

const took = (msec: number | null): string => (msec === null ? '' : formatDuration(msec));

/** Peer and user text (details embed process names, command lines, symlink targets, replies) made safe for a terminal. */
const esc = (s: string): string => escapeText(s);

/** Width of a check's name, and of the time column. */
const NAME = 8;
const TIME = 7;
/** The narrowest report. */
const MIN_WIDTH = 40;
/** `  MARK  name      ` */
const ROW_HEAD = 2 + 4 + 2 + NAME + 2;

/**
 * One target for people: the verdict, what to do, then the checklist, in
 * `width` columns (the terminal's; 80 when not a terminal). The prose (the
 * finding, its cause and fix) wraps; a checklist row is one line, its detail
 * cut with `…` (the full text is in --json), the times in one column.
 */
export function probeHuman(r: ProbeReport, c: ChalkInstance, columns = DEFAULT_COLUMNS): string[] {
  // Below this the headings themselves would not fit: a terminal that narrow wraps.
  const width = Math.max(MIN_WIDTH, columns);
  const f = r.finding;
  const lines: string[] = [];
  // Wrapped text, painted line by line (a colour code must not be cut or counted).
  const prose = (head: string, paintHead: (s: string) => string, text: string, indent: string) => {
    const wrapped = wrap(`${head}${text}`, width, indent);
    wrapped[0] = paintHead(head) + wrapped[0].slice(head.length);
    lines.push(...wrapped);
  };
  const target = esc(r.target);
  const code = `[${f.code}]`;
  const head = `${target}: ${esc(f.title)}`;
  const verdict = wrap(`${r.status} ${head} ${code}`, width, '  ');
  verdict[0] = c.bold(paint(c, r.status, r.status)) + verdict[0].slice(r.status.length);
  const last = verdict.length - 1;
  verdict[last] = verdict[last].slice(0, verdict[last].length - code.length) + c.dim(code);
  lines.push(...verdict);
  prose('  ', (h) => h, esc(bare(f, r.target)), '  ');
  if (f.code !== 'OK') {
    prose('  cause: ', () => `  ${c.bold('cause:')} `, esc(f.cause), '         ');
    prose('  fix:   ', () => `  ${c.bold('fix:')}   `, esc(f.fix), '         ');
  }
  for (const o of r.findings) {
    if (o === f) continue;
    const sev = o.severity;
    prose(`  also:  ${sev} `, () => `  ${c.bold('also:')}  ${paint(c, sev, sev)} `, `${esc(o.title)} [${o.code}]: ${esc(bare(o, r.target))}`, '         ');
  }
  if (r.service && r.service.name !== 'line') {
    const sv = r.service;
    const facts = Object.entries(sv.details).map(([k, v]) => `${k} ${String(v)}`);
    const by = sv.recognisedBy === 'flag' ? `as asked (${sv.evidence})` : `recognised by ${sv.recognisedBy}: ${sv.evidence}`;
    prose('  service: ', () => `  ${c.bold('service:')} `, esc(`${sv.title}, ${by}${facts.length ? `; ${facts.join(', ')}` : ''}`), '           ');
  }
  if (r.wait) {
    const how = r.wait.gaveUp ? `gave up after --wait ${formatDuration(r.wait.ms)}` : 'until healthy';
    prose('  waited: ', () => `  ${c.bold('waited:')} `, `${r.attempts} attempt${r.attempts === 1 ? '' : 's'} over ${formatDuration(r.elapsedMs)} (${how})`, '          ');
  }
  // Times in one column, right after the longest detail that fits the width.
  const details = r.checks.map((k) => esc(k.detail));
  const room = Math.max(8, width - ROW_HEAD);
  const longest = Math.max(0, ...r.checks.map((k, i) => (took(k.ms) ? displayWidth(details[i]) : 0)));
  const timed = Math.max(8, Math.min(room - 2 - TIME, longest));
  r.checks.forEach((k, i) => {
    const t = took(k.ms);
    const rowHead = `  ${mark(c, k.status)}  ${k.name.padEnd(NAME)}  `;
    lines.push(t ? `${rowHead}${padEnd(truncate(details[i], timed), timed)}  ${c.dim(t.padStart(TIME))}` : `${rowHead}${truncate(details[i], room)}`);
  });
  // A binary reply's preview is escapes; the dump shows its bytes (all ASCII, 80 columns with the indent).
  if (r.exchange) lines.push(...binaryReplyLines(r.exchange, '  '));
  return lines;
}

/** Every target for people, in `width` columns; with several, a one-line overall verdict first. */
export function probeRunHuman(status: Severity, reports: ProbeReport[], c: ChalkInstance, width = DEFAULT_COLUMNS): string {
  const blocks = reports.map((r) => probeHuman(r, c, width).join('\n'));
  if (reports.length === 1) return blocks[0] + '\n';
  const bad = reports.filter((r) => r.status !== 'OK').length;
  const head = `${c.bold(paint(c, status, status))} ${bad === 0 ? `all ${reports.length} targets healthy` : `${bad} of ${reports.length} targets not OK`}`;
  return [head, ...blocks].join('\n\n') + '\n';
}

const perfLabel = (name: string, target: string, several: boolean): string =>
  several ? `'${name} ${esc(target).replace(/['=|]/g, '_')}'` : name;

const secs = (msec: number): string => (msec / 1000).toFixed(6);

/**
 * The Nagios plugin line: `STATUS: text | perfdata`, perfdata being the
 * response time in seconds with the --warn/--crit thresholds, and the reply
 * size: the reply as framed by the end rule (--until), the bytes the human
 * report's reply row counts and --expect is checked against (bytes after the
 * end of the reply are not part of it). One line always: peer text is escaped.
 */
export function probeNagios(status: Severity, reports: ProbeReport[], thresholds: { warn?: number; crit?: number }): string {
  const several = reports.length > 1;
  const text = reports
    .map((r) => (r.status === 'OK' ? `${r.target} healthy${r.responseMs === null ? '' : ` in ${formatDuration(r.responseMs)}`}` : `${r.target} ${r.finding.title} (${r.finding.code}): ${bare(r.finding, r.target)}`))
    .join('; ');
  const w = thresholds.warn ? secs(thresholds.warn) : '';
  const cr = thresholds.crit ? secs(thresholds.crit) : '';
  const perf: string[] = [];
  for (const r of reports) {
    if (r.responseMs !== null) perf.push(`${perfLabel('time', r.target, several)}=${secs(r.responseMs)}s;${w};${cr};0`);
    if (r.exchange && r.exchange.timings.connectedUs !== undefined) {
      perf.push(`${perfLabel('size', r.target, several)}=${replySize(r.exchange)}B;;;0`);
    }
  }
  const oneLine = esc(text).replace(/\|/g, ' ');
  return `${status}: ${oneLine}${perf.length ? ` | ${perf.join(' ')}` : ''}\n`;
}
