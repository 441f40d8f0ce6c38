/**
 * probe's judging of one exchange record: the connect, send, reply and close
 * checks and their findings, in the order they happen.
 */
import { formatDuration } from '../duration.js';
import type { ExchangeRecord } from '../exchange.js';
import { decodeFastcgiReply } from '../framing/fastcgi.js';
import { MAX_REGEX_INPUT } from '../regex.js';
import { replySize } from '../reply-size.js';
import { type Target } from '../socket/target.js';
import { type SocketType, type SocketTypeSource } from '../socket/socket-type.js';
import { type PathInfo } from '../socket/path-access.js';
import { type Finding, type ListenerInfo } from './findings.js';
import { type Settings } from './settings.js';
import { ms, preview, makeFinding, Checklist } from './checklist.js';
import { protocolFindings } from './protocol.js';

const TYPE_SOURCE_TEXT: Readonly<Record<SocketTypeSource, string>> = {
  option: '--type',
  proc: 'type from sock_diag',
  connect: 'type found by connecting',
  tcp: 'TCP',
};

/** Turn the exchange record into checks and findings; returns the response time in ms (null: no reply). */
export function judgeExchange(
  t: Target,
  s: Settings,
  r: ExchangeRecord,
  p: PathInfo | null,
  l: ListenerInfo | null,
  checks: Checklist,
  findings: Finding[],
  actualType: SocketType | null = null,
): number | null {
  const tm = r.timings;
  const e = r.error;
  const d = t.display;
  const add = (f: Finding) => findings.push(f);

  if (tm.connectedUs === undefined) {
    checks.set('connect', 'fail', e?.message ?? 'failed', ms(tm.totalUs));
    switch (e?.code) {
      case 'NOT_FOUND':
        add(makeFinding('NOT_FOUND', e.message));
        break;
      case 'NOT_A_SOCKET':
        add(makeFinding('NOT_A_SOCKET', e.message));
        break;
      case 'BAD_PATH':
        add(makeFinding('NOT_FOUND', e.message));
        break;
      case 'PERMISSION_DENIED':
        if (p?.access.allowed === false) add(makeFinding('PERMISSION_DENIED', `${d}: ${p.access.reason}`, { fix: p.access.fix }));
        else {
          add(
            makeFinding(
              'PERMISSION_DENIED',
              `${d}: ${p?.file ? `${p.file.modeString} ${p.file.owner}:${p.file.group}; ` : ''}the mode bits allow it, yet connect was denied: an ACL or a security module (AppArmor, SELinux) forbids it`,
              { fix: 'check getfacl on the socket and its directories, and the audit log for AppArmor/SELinux denials' },
            ),
          );
        }
        break;
      case 'REFUSED':
        if (t.kind === 'unix') {
          const f = p?.file ? `${p.file.modeString} ${p.file.owner}:${p.file.group} ` : '';
          add(makeFinding('STALE_SOCKET', `${d}: a ${f}socket file, but no process listens on it (connect: connection refused)`));
        } else if (t.kind === 'abstract') {
          add(makeFinding('NOT_FOUND', `${d}: nothing is bound to that abstract name`, { fix: 'start the server, or check the @name it binds' }));
        } else add(makeFinding('REFUSED', e.message));
        break;
      case 'CONNECT_TIMEOUT':
        add(makeFinding('CONNECT_TIMEOUT', `${d}: connect did not complete within ${formatDuration(s.connectTimeout)}`));
        break;
      case 'BACKLOG_FULL': {
        const who = l?.owners.length ? ` (the listener: pid ${l.owners[0].pid} ${l.owners[0].name})` : '';
        add(makeFinding('BACKLOG_FULL', `${d}: listen backlog stayed full for ${formatDuration(s.connectTimeout)}${who}`));
        break;
      }
      case 'RESET':
        add(makeFinding('RESET', e.message));
        break;
      case 'WRONG_TYPE': {
        const is = actualType ? `; it is a ${actualType} socket (sock_diag)` : '';
        add(makeFinding('TYPE_MISMATCH', `${d}: not a ${s.socketType ?? r.socketType ?? 'stream'} socket (connect: EPROTOTYPE)${is}`));
        break;
      }
      default:
        add(makeFinding('PROBE_ERROR', e?.message ?? `${d}: connect failed`));
    }
    return null;
  }

  const typeText = r.socketType ? ` (${r.socketType} socket, ${TYPE_SOURCE_TEXT[r.socketTypeSource ?? 'connect']})` : '';
  checks.set('connect', 'ok', `connected${typeText}`, ms(tm.connectedUs));
  const dgram = r.socketType === 'dgram';
  if (p?.access.allowed === false) {
    checks.update('path', 'ok', `${p.access.reason}; yet connect was allowed (an ACL grants it)`);
  }
  if (s.connectOnly) {
    for (const name of ['send', 'reply', 'close'] as const) checks.set(name, 'skip', '--connect-only: nothing sent or read; closed by udsctl');
    return ms(tm.connectedUs);
  }
  const sentText =
    s.payload.length === 0 ? '' : `${s.payload.length} bytes ${preview(s.payload)}${s.halfClose ? ', then half-closed' : ''}`;
  if (dgram && r.bytesSent === 0 && tm.writtenUs !== undefined) {
    checks.set('send', 'skip', 'datagram socket: nothing sent without --send (a probe payload would land in its log)');
  } else if (s.payload.length === 0) checks.set('send', 'skip', 'nothing to send (empty payload)');
  else if (tm.writtenUs !== undefined) checks.set('send', 'ok', sentText, ms(tm.writtenUs - tm.connectedUs));
  else if (e?.code === 'RESET') checks.set('send', 'fail', `${sentText}: the server had already closed`, ms(tm.totalUs - tm.connectedUs));

  const replyFrom = tm.writtenUs ?? tm.connectedUs;
  const rule = r.until;
  const got = r.bytesReceived;
  // FastCGI: the records are framing; people (and --expect) read the application's STDOUT.
  const fcgi = s.until.kind === 'fastcgi' ? decodeFastcgiReply(r.reply) : null;
  const body = fcgi ? fcgi.stdout : r.reply;
  const replyText = `${replySize(r)} bytes${r.truncated ? ` (the first ${r.reply.length} kept, --max-reply)` : ''} ${fcgi ? `STDOUT ${preview(fcgi.body)}` : preview(r.reply)}`;
  const inKept = r.truncated ? ` in the first ${r.reply.length} bytes kept` : '';
  let replyEndUs: number | undefined;
  let complete = false;

  if (r.end === 'sent') {
    checks.set('reply', 'skip', r.bytesSent > 0 ? 'datagram socket: no reply awaited (--expect waits for one)' : 'not asked for');
    checks.set('close', 'skip', 'datagram socket: no connection to close');
    return null;
  }
  switch (e?.code) {
    case undefined: {
      complete = true;
      replyEndUs = tm.replyEndUs;
      checks.set('reply', 'ok', `${replyText} (until ${rule})`, replyEndUs === undefined ? null : ms(replyEndUs - replyFrom));
      const afterReply = ms((tm.closedUs ?? tm.totalUs) - (replyEndUs ?? tm.totalUs));
      if (dgram) {
        checks.set('close', 'skip', 'datagram socket: no connection to close');
      } else if (r.end === 'closed') {
        checks.set('close', 'ok', s.contract === 'one-shot' ? 'server closed after the reply' : 'server closed after the reply (allowed)', afterReply);
      } else if (r.end === 'reset') {
        checks.set('close', 'warn', 'connection reset after the reply, not closed cleanly', afterReply);
        add(makeFinding('RESET_AFTER_REPLY', `${d}: the reply was complete, then the connection was reset instead of closed`));
      } else if (s.contract === 'keep-alive') {
        checks.set('close', 'ok', 'kept open (keep-alive); closed by udsctl', null);
      } else if (r.socketType === 'seqpacket' && !s.contractGiven) {
        checks.set('close', 'skip', 'seqpacket: left open, as message protocols are (--expect-close checks that the server closes)');
      } else if (s.closeTimeout <= 0) {
        checks.set('close', 'skip', 'not checked (--close-timeout 0)');
      } else {
        checks.set('close', 'fail', `still open ${formatDuration(s.closeTimeout)} after the reply (one-shot contract)`, afterReply);
        add(makeFinding('NEVER_CLOSED', `${d}: replied (${replyText}), but the connection was still open ${formatDuration(s.closeTimeout)} later`));
      }
      break;
    }
    case 'REPLY_TIMEOUT':
      if (got === 0) {
        checks.set('reply', 'fail', `no reply within ${formatDuration(s.timeout)}`, ms(tm.totalUs - replyFrom));
        add(makeFinding('SILENT', `${d}: connected and sent ${r.bytesSent} bytes; no reply within ${formatDuration(s.timeout)}`));
      } else {
        const nl = s.until.kind === 'line' ? '; no newline in it' : '';
        checks.set('reply', 'fail', `${replyText}, end rule ${rule} not met within ${formatDuration(s.timeout)}${nl}`, ms(tm.totalUs - replyFrom));
        add(
          makeFinding(
            'PARTIAL_REPLY',
            `${d}: ${replyText} within ${formatDuration(s.timeout)}, but the end rule (${rule}) was never met and the connection stayed open${nl}${r.frameState ? `: ${r.frameState}` : ''}`,
          ),
        );
      }
      checks.set('close', 'not-reached', 'the reply never ended');
      break;
    case 'NEVER_CLOSED':
      // --until eof: the reply is whatever came before our timeout.
      complete = true;
      replyEndUs = tm.firstByteUs;
      checks.set('reply', 'ok', `${replyText} (until eof, first byte)`, replyEndUs === undefined ? null : ms(replyEndUs - replyFrom));
      checks.set('close', 'fail', `still open ${formatDuration(s.timeout)} after connecting (--until eof)`, ms(tm.totalUs - (replyEndUs ?? 0)));
      add(makeFinding('NEVER_CLOSED', `${d}: replied (${replyText}), but never closed the connection within ${formatDuration(s.timeout)}`));
      break;
    case 'CLOSED_EARLY':
      checks.set('close', 'not-reached', 'the server closed before a complete reply');
      if (got === 0) {
        checks.set('reply', 'fail', 'server closed without sending a byte', ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('CLOSED_WITHOUT_REPLY', `${d}: the server closed the connection without replying`));
      } else if (s.until.kind === 'line') {
        complete = true;
        replyEndUs = tm.closedUs;
        checks.set('close', 'ok', 'server closed');
        checks.set('reply', 'warn', `${replyText}, ended by close without a trailing newline`, ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('NO_NEWLINE', `${d}: reply ${replyText} has no trailing newline; it ended only because the server closed`));
      } else {
        checks.set('reply', 'fail', `${replyText}, then closed before the end rule ${rule}`, ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('PARTIAL_REPLY', `${d}: the server closed after ${replyText}, before the end rule (${rule}) was met${r.frameState ? `: ${r.frameState}` : ''}`));
      }
      break;
    case 'BAD_FRAME':
      checks.set('reply', 'fail', `${replyText}: not a valid ${rule} reply`, ms(tm.totalUs - replyFrom));
      checks.set('close', 'not-reached', 'the reply broke its protocol');
      add(makeFinding('MISMATCH', e.message));
      break;
    case 'RESET': {
      const at = got === 0 ? 'before any reply' : `after ${replyText}, before the end of the reply`;
      checks.set('reply', 'fail', `connection reset ${at}`, ms(tm.totalUs - replyFrom));
      checks.set('close', 'not-reached', 'reset');
      add(makeFinding('RESET', `${d}: connection reset by the server ${at}`));
      break;
    }
    default:
      checks.set('reply', 'fail', e?.message ?? 'failed', ms(tm.totalUs - replyFrom));
      add(makeFinding('PROBE_ERROR', e?.message ?? `${d}: exchange failed`));
  }
  if (!complete) return null;
  if (r.frame) protocolFindings(r, s, d, checks, add);

  if (s.expect !== undefined && !body.includes(s.expect)) {
    checks.worsen('reply', 'fail', `does not contain ${preview(s.expect)}${inKept}`);
    add(makeFinding('MISMATCH', `${d}: reply ${preview(fcgi ? fcgi.body : body)} does not contain ${preview(s.expect)}${inKept} (--expect)`));
  }
  // At most MAX_REGEX_INPUT bytes are matched (the linear automaton's cost bounded too).
  if (s.expectRegex !== undefined && !s.expectRegex.test(body.subarray(0, MAX_REGEX_INPUT).toString('utf8'))) {
    checks.worsen('reply', 'fail', `does not match ${s.expectRegex}${inKept}`);
    add(makeFinding('MISMATCH', `${d}: reply ${preview(fcgi ? fcgi.body : body)} does not match ${s.expectRegex}${inKept} (--expect-regex)`));
  }
  if ((s.expect || s.expectRegex) && !findings.some((f) => f.code === 'MISMATCH')) checks.worsen('reply', 'ok', 'as expected');

  if (replyEndUs === undefined) return null;
  const response = ms(replyEndUs);
  if (s.crit !== undefined && s.crit > 0 && response > s.crit) {
    checks.worsen('reply', 'fail', `slow: over --crit ${formatDuration(s.crit)}`);
    add(makeFinding('SLOW', `${d}: the reply took ${formatDuration(response)}, over --crit ${formatDuration(s.crit)}`, { severity: 'CRITICAL' }));
  } else if (s.warn > 0 && response > s.warn) {
    checks.worsen('reply', 'warn', `slow: over --warn ${formatDuration(s.warn)}`);
    add(makeFinding('SLOW', `${d}: the reply took ${formatDuration(response)}, over --warn ${formatDuration(s.warn)}`));
  }
  return response;
}
