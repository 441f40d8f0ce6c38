/**
 * probe's protocol judging: the request a well-known listening process speaks
 * (PROTOCOL_MISMATCH hints by the service framework's recognition of the process), and what a protocol's framer read
 * in a complete reply (HTTP status, RESP error reply, FastCGI's refusals and
 * CGI Status:).
 */
import { escapeText } from '../escape.js';
import { type ExchangeRecord } from '../exchange.js';
import { PROTOCOL_STATUS, decodeFastcgiReply } from '../framing/fastcgi.js';
import { recogniseWithoutIo } from '../service/index.js';
import { type Target } from '../socket/target.js';
import { type Severity, type Finding, type ListenerInfo } from './findings.js';
import { type Settings } from './settings.js';
import { preview, makeFinding, Checklist } from './checklist.js';

/**
 * What the listening process is known to speak, or null: the service framework's recogniser
 * (recogniseWithoutIo) on the process alone, so the hint and probe's recognition never disagree.
 */
export function protocolOfListener(l: ListenerInfo | null): { server: string; flag: string; who: string } | null {
  for (const o of l?.owners ?? []) {
    const rec = recogniseWithoutIo({ processes: [{ pid: o.pid, name: o.name, cmdline: o.cmdline }] });
    // A known socket with no check of its own (gpg-agent) has no request to suggest.
    if (!rec || rec.service.check.kind === 'line') continue;
    const server = rec.known ? `${rec.known.title} (${rec.service.title})` : rec.service.title;
    return { server, flag: rec.service.flag ?? `--as ${rec.service.name}`, who: `pid ${o.pid} (${o.name})` };
  }
  return null;
}

/**
 * With the default payload only: a reply in another protocol (HTTP, RESP), or a reset right after
 * our line from a listener known to speak another protocol, is PROTOCOL_MISMATCH (UNKNOWN: the
 * server may be healthy, a line cannot tell) naming the flag, in place of the verdicts about the
 * reply and the close, which assumed a line protocol. A 400 to our line is never "healthy".
 */
export function judgeProtocol(t: Target, r: ExchangeRecord, l: ListenerInfo | null, checks: Checklist, findings: Finding[]): void {
  if (r.timings.connectedUs === undefined) return;
  const d = t.display;
  const known = protocolOfListener(l);
  const head = r.reply.subarray(0, 64).toString('latin1');
  let detail: string | null = null;
  let fix: string | undefined;
  if (head.startsWith('HTTP/1.')) {
    const statusLine = preview(r.reply.subarray(0, Math.max(0, r.reply.indexOf('\r\n')) || r.reply.length));
    detail = `${d}: an HTTP server: it answered udsctl's line with ${statusLine}: probe with --http PATH`;
    fix = "probe with --http PATH (e.g. --http /), or --connect-only for liveness";
  } else if (/^(-[A-Z]+ |\+)/.test(head)) {
    detail = `${d}: a Redis (RESP) server: it answered udsctl's line with ${preview(r.reply)}: probe with --resp PING`;
    fix = 'probe with --resp PING (or --resp \'CMD ARG\'), or --connect-only for liveness';
  } else if (t.kind === 'unix' && r.error?.code === 'RESET' && r.bytesReceived === 0 && r.timings.writtenUs !== undefined) {
    const flag = known ? `: ${known.who} is ${known.server}: probe with ${known.flag}` : '';
    const text = `the server rejected udsctl's payload (a protocol mismatch, not necessarily a crash): probe with the protocol's request, or --connect-only`;
    if (!known) {
      // No name to go by: a reset may still be a crash, so RESET stays; its fix names both readings.
      const reset = findings.find((f) => f.code === 'RESET');
      if (reset) reset.fix = `${text}; if the server does speak lines, check its log for a crash or abort`;
      return;
    }
    detail = `${d}: ${text}${flag}`;
    fix = `probe with ${known.flag}, or --connect-only for liveness`;
  }
  if (detail === null) return;
  // The reset's detail already names the process; a reply's fix says who answered.
  if (known && head.length > 0) fix = `${known.who} is ${known.server}: ${fix}`;
  // The reply and close verdicts assumed a line protocol; a slow reply is still slow.
  for (let i = findings.length - 1; i >= 0; i--) {
    const f = findings[i];
    if ((f.check === 'reply' || f.check === 'close') && f.code !== 'SLOW') findings.splice(i, 1);
  }
  checks.worsen('reply', 'warn', 'another protocol');
  const close = checks.list().find((c) => c.name === 'close');
  if (close && close.status === 'fail') checks.update('close', 'skip', 'not judged: another protocol');
  findings.push(makeFinding('PROTOCOL_MISMATCH', detail, { fix }));
}

/**
 * What a protocol's framer read in a complete reply: an HTTP status outside
 * 2xx (or not --expect-status) is HTTP_STATUS, 4xx WARNING and 5xx CRITICAL
 * (any status but the expected one CRITICAL); a RESP error reply is MISMATCH.
 */
export function protocolFindings(r: ExchangeRecord, s: Settings, d: string, checks: Checklist, add: (f: Finding) => void): void {
  const f = r.frame!;
  if (s.until.kind === 'fastcgi') return fastcgiFindings(r, s, d, checks, add);
  if (s.until.kind === 'http') {
    const line = r.reply.subarray(0, Math.max(0, r.reply.indexOf(0x0a))).toString('latin1').trim();
    const shown = escapeText(line, { max: 80 });
    const healthy = s.expectStatus !== undefined ? f.status === s.expectStatus : f.status >= 200 && f.status < 300;
    if (healthy) return checks.worsen('reply', 'ok', `${shown}${s.expectStatus !== undefined ? ' (as --expect-status)' : ''}`);
    const severity: Severity = s.expectStatus !== undefined || f.status >= 500 ? 'CRITICAL' : 'WARNING';
    checks.worsen('reply', severity === 'CRITICAL' ? 'fail' : 'warn', shown);
    const want = s.expectStatus !== undefined ? `--expect-status ${s.expectStatus}` : 'a 2xx';
    add(makeFinding('HTTP_STATUS', `${d}: the server answered ${shown}, not ${want}`, { severity }));
    return;
  }
  if (f.failed) {
    checks.worsen('reply', 'fail', `error reply ${preview(r.reply)}`);
    add(makeFinding('MISMATCH', `${d}: the server answered with an error reply ${preview(r.reply)}`));
  }
}

/**
 * A complete FastCGI reply: a refused request (END_REQUEST OVERLOADED, CANT_MPX_CONN, UNKNOWN_ROLE)
 * is MISMATCH; a CGI Status: outside 2xx (or not --expect-status) is HTTP_STATUS as for --http
 * (php-fpm's "Primary script unknown" is a 404); STDERR records are said on the reply check.
 */
function fastcgiFindings(r: ExchangeRecord, s: Settings, d: string, checks: Checklist, add: (f: Finding) => void): void {
  const v = decodeFastcgiReply(r.reply);
  if (v.stderr.length > 0) checks.worsen('reply', 'ok', `STDERR ${preview(v.stderr, 60)}`);
  if (v.end && v.end.protocolStatus !== 0) {
    const why = PROTOCOL_STATUS[v.end.protocolStatus] ?? `protocol status ${v.end.protocolStatus}`;
    checks.worsen('reply', 'fail', `request refused: ${why}`);
    add(makeFinding('MISMATCH', `${d}: the FastCGI server refused the request: END_REQUEST ${why}`));
    return;
  }
  const status = r.frame!.status;
  const shown = `Status: ${escapeText(v.statusText, { max: 60 })}`;
  const healthy = s.expectStatus !== undefined ? status === s.expectStatus : status >= 200 && status < 300;
  if (healthy) return checks.worsen('reply', 'ok', `${shown}${s.expectStatus !== undefined ? ' (as --expect-status)' : ''}`);
  const severity: Severity = s.expectStatus !== undefined || status >= 500 || status === 0 ? 'CRITICAL' : 'WARNING';
  checks.worsen('reply', severity === 'CRITICAL' ? 'fail' : 'warn', status === 0 ? 'no STDOUT at all' : shown);
  const want = s.expectStatus !== undefined ? `--expect-status ${s.expectStatus}` : 'a 2xx';
  const err = v.stderr.length > 0 ? `; STDERR ${preview(v.stderr, 60)}` : '';
  add(makeFinding('HTTP_STATUS', `${d}: the application answered ${status === 0 ? 'with no STDOUT' : shown}, not ${want}${err}`, { severity }));
}
