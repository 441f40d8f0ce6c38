import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { escapeText } from '../core/escape.js';
import type { ExchangeRecord } from '../core/exchange.js';
import { hexdumpLines, looksBinary } from './hexdump.js';
import { isUtf8 } from 'node:buffer';
import { decodeFastcgiReply } from '../core/framing/fastcgi.js';

/** Bytes of a binary reply shown as a hex dump in human output (the rest is counted on a last line). */
export const HEXDUMP_MAX_BYTES = 512;

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
 * The exchange as JSON data. `reply` is the exact text when the bytes are valid
 * UTF-8 (`replyEncoding: "utf8"`), else their base64 (`replyEncoding: "base64"`):
 * never a lossy decoding. `replyBase64` always holds the bytes. `reply` holds at
 * most --max-reply bytes: `truncated` says it was cut, `replyBytes` is the
 * whole reply's length.
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
    reply: isUtf8(r.reply) ? r.reply.toString('utf8') : r.reply.toString('base64'),
    replyEncoding: isUtf8(r.reply) ? 'utf8' : 'base64',
    replyBase64: r.reply.toString('base64'),
    ...(r.frame ? { frame: r.frame } : {}),
    timings: r.timings,
    ...(r.socketType ? { socketType: r.socketType, socketTypeSource: r.socketTypeSource ?? null } : {}),
    ...(r.messagesReceived !== undefined ? { messagesReceived: r.messagesReceived } : {}),
    ...(r.peer ? { peer: r.peer } : {}),
  };
}

const at = (us: number | undefined) => (us === undefined ? '' : `+${formatDuration(us / 1000)}`.padStart(10));

/**
 * A binary reply for a human: a heading and `hexdump -C` lines (at most HEXDUMP_MAX_BYTES); none for text.
 * A FastCGI reply's records are framing: its body is what is shown (dumped only if that is binary).
 */
export function binaryReplyLines(r: ExchangeRecord, indent = ''): string[] {
  const reply = r.until === 'fastcgi' ? decodeFastcgiReply(r.reply).body : r.reply;
  if (reply.length === 0 || !looksBinary(reply)) return [];
  return [`${indent}reply is binary (${reply.length} bytes), as hexdump -C:`, ...hexdumpLines(reply, { maxBytes: HEXDUMP_MAX_BYTES, prefix: indent })];
}

/** The -v timeline: one line per phase reached (peer text escaped; a binary reply as a hex dump). */
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
  // FastCGI's records are framing: the application's STDOUT is what a person reads.
  const shown = r.until === 'fastcgi' ? `STDOUT ${escapeText(decodeFastcgiReply(r.reply).stdout, { quote: true, max: 60 })}` : escapeText(r.reply, { quote: true, max: 60 });
  const msgs = r.messagesReceived !== undefined ? `${r.messagesReceived} message${r.messagesReceived === 1 ? '' : 's'}, ` : '';
  row(t.replyEndUs, `reply complete (${msgs}${r.replyBytes} bytes ${shown}, until ${r.until})`);
  row(t.closedUs, r.end === 'reset' ? 'connection reset by server' : 'server closed the connection');
  const cut = r.truncated ? `; reply truncated to the first ${r.reply.length} of ${r.replyBytes} bytes (--max-reply)` : '';
  lines.push(`${c.dim(at(t.totalUs))}  ${r.ok ? c.green('done') : c.red('failed')}: ${END_TEXT[r.end]}; ${r.bytesReceived} bytes received${cut}`);
  lines.push(...binaryReplyLines(r, '  '));
  return lines;
}
