/** serve --type dgram | seqpacket: its log lines (human, JSON). Peer bytes and process names escaped; JSON keeps them exact. */
import type { ChalkInstance } from 'chalk';
import { escapeText } from '../core/escape.js';
import type { MessageConnLog, MessageLog } from '../core/serve/message-server.js';
import type { LineWriter } from '../core/line-writer.js';

const clock = (d: Date): string => d.toISOString().slice(11, 23);

type Peer = MessageLog['peer'];

/** A message socket's peer for a log line (the process name escaped); the message tap's lines say it the same way. */
export const who = (p: Peer): string => (p ? `pid ${p.pid}${p.name ? ` (${escapeText(p.name)})` : ''}, uid ${p.uid}, gid ${p.gid}` : 'peer unknown');

/** One line per datagram or message. */
export function messageLine(m: MessageLog, c: ChalkInstance): string {
  const src =
    m.event === 'datagram'
      ? (m.from ? ` from ${escapeText(m.from)}` : ' from an unbound sender') + (m.peer ? ` [${who(m.peer)}]` : '')
      : ` on conn ${m.conn} [${who(m.peer ?? null)}]`;
  const cut = m.truncated ? ` (cut: ${m.data.length} of them kept, --max-bytes)` : '';
  const reply = m.replied !== null ? `; replied ${m.replied} bytes` : m.note ? `; ${m.note}` : '';
  return `${c.dim(clock(m.time))}  ${m.event} #${m.n}${src}: ${m.bytes} bytes${cut} ${escapeText(m.data, { quote: true, max: 200 })}${reply}`;
}

/** A seqpacket connection opened or ended. */
export function messageConnLine(l: MessageConnLog, c: ChalkInstance): string {
  if (l.event === 'connect') return `${c.dim(clock(l.time))}  conn ${l.conn} open: ${who(l.peer)} (SO_PEERCRED)`;
  return `${c.dim(clock(l.time))}  conn ${l.conn} ended: ${escapeText(l.reason ?? '')}; ${l.messages} message${l.messages === 1 ? '' : 's'}`;
}

/** A peer in a JSON record (name exact), with where it came from. */
export const peerJson = (p: Peer, source = 'peercred') => (p ? { pid: p.pid, uid: p.uid, gid: p.gid, name: p.name ?? null, source } : null);

export function messageJson(m: MessageLog, pid: number): Record<string, unknown> {
  return {
    event: m.event,
    pid,
    n: m.n,
    time: m.time.toISOString(),
    ...(m.event === 'datagram' ? { from: m.from || null, peer: peerJson(m.peer ?? null, 'scm_credentials') } : { conn: m.conn, peer: peerJson(m.peer ?? null) }),
    bytes: m.bytes,
    truncated: m.truncated,
    data: m.data.toString('utf8'),
    dataBase64: m.data.toString('base64'),
    replied: m.replied,
    ...(m.note ? { note: m.note } : {}),
  };
}

export function messageConnJson(l: MessageConnLog, pid: number): Record<string, unknown> {
  return {
    event: l.event,
    pid,
    conn: l.conn,
    time: l.time.toISOString(),
    peer: peerJson(l.peer),
    ...(l.event === 'close' ? { messages: l.messages, reason: l.reason } : {}),
  };
}

/** Write whole lines into serve's log. */
const put = (out: LineWriter, lines: readonly string[]) => {
  for (const line of lines) {
    out.text(line);
    out.end();
  }
};

/** The message server's record renderers for serve's log (ServeLog.record): each datagram or message, each seqpacket connection. */
export function messageRenderers(json: boolean, c: ChalkInstance, pid: number) {
  return {
    message: (m: MessageLog, out: LineWriter) => put(out, [json ? JSON.stringify(messageJson(m, pid)) : messageLine(m, c)]),
    conn: (l: MessageConnLog, out: LineWriter) => put(out, [json ? JSON.stringify(messageConnJson(l, pid)) : messageConnLine(l, c)]),
  };
}
