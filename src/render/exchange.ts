import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { escapeText } from '../core/escape.js';
import type { ExchangeRecord } from '../core/exchange.js';

const END_TEXT: Record<ExchangeRecord['end'], string> = {
  closed: 'server closed the connection',
  reset: 'server reset the connection',
  timeout: 'our timeout fired',
  open: 'end rule met; connection still open, closed by us',
  error: 'failed',
  sent: 'sent; no reply awaited',
};

const TYPE_SOURCE: Record<NonNullable<ExchangeRecord['socketTypeSource']>, string> = {
  option: '--type',
  proc: 'from /proc/net/unix',
  connect: 'found by connecting',
  tcp: 'TCP',
};

/**
 * The exchange as JSON data (reply as UTF-8 text and as base64, so binary
 * survives). `reply` holds at most --max-reply bytes: `truncated` says it was
 * cut, `replyBytes` is the whole reply's length.
 */
export function exchangeToJson(r: ExchangeRecord): Record<string, unknown> {
  return {
    target: r.target,
    ok: r.ok,
    code: r.error?.code ?? 'OK',
    message: r.error?.message ?? null,
    errno: (r.error?.cause as NodeJS.ErrnoException | undefined)?.code ?? null,
    until: r.until,
    end: r.end,
    ruleMet: r.ruleMet,
    bytesSent: r.bytesSent,
    bytesReceived: r.bytesReceived,
    replyBytes: r.replyBytes,
    truncated: r.truncated,
    reply: r.reply.toString('utf8'),
    replyBase64: r.reply.toString('base64'),
    timings: r.timings,
    ...(r.socketType ? { socketType: r.socketType, socketTypeSource: r.socketTypeSource ?? null } : {}),
    ...(r.messagesReceived !== undefined ? { messagesReceived: r.messagesReceived } : {}),
    ...(r.peer ? { peer: r.peer } : {}),
  };
}

const at = (us: number | undefined) => (us === undefined ? '' : `+${formatDuration(us / 1000)}`.padStart(10));

/** The -v timeline: one line per phase reached (peer text escaped). */
export function exchangeTimeline(r: ExchangeRecord, c: ChalkInstance): string[] {
  const t = r.timings;
  const lines: string[] = [];
  const row = (us: number | undefined, text: string) => {
    if (us !== undefined) lines.push(`${c.dim(at(us))}  ${text}`);
  };
  const type = r.socketType ? ` (${r.socketType} socket, ${TYPE_SOURCE[r.socketTypeSource ?? 'connect']})` : '';
  row(t.connectedUs, `connected to ${escapeText(r.target)}${type}`);
  if (r.peer) lines.push(`${c.dim(at(t.connectedUs))}  peer: pid ${r.peer.pid}, uid ${r.peer.uid}, gid ${r.peer.gid} (SO_PEERCRED)`);
  const msg = r.socketType === 'dgram' ? 'datagram of ' : r.socketType === 'seqpacket' ? 'message of ' : '';
  row(t.writtenUs, `sent ${msg}${r.bytesSent} bytes`);
  row(t.firstByteUs, 'first byte of reply');
  const msgs = r.messagesReceived !== undefined ? `${r.messagesReceived} message${r.messagesReceived === 1 ? '' : 's'}, ` : '';
  row(t.replyEndUs, `reply complete (${msgs}${r.replyBytes} bytes ${escapeText(r.reply, { quote: true, max: 60 })}, until ${r.until})`);
  row(t.closedUs, r.end === 'reset' ? 'connection reset by server' : 'server closed the connection');
  const cut = r.truncated ? `; reply truncated to the first ${r.reply.length} of ${r.replyBytes} bytes (--max-reply)` : '';
  lines.push(`${c.dim(at(t.totalUs))}  ${r.ok ? c.green('done') : c.red('failed')}: ${END_TEXT[r.end]}; ${r.bytesReceived} bytes received${cut}`);
  return lines;
}
