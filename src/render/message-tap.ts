/**
 * The message tap's log (serve --upstream on a dgram or seqpacket upstream):
 * one line per message or datagram (> client to upstream, < upstream to
 * client, as the stream tap's), one when a connection or a dgram sender's
 * relay socket opens and ends. Peer bytes, addresses and process names
 * escaped (escapeText), or a hex dump with --hexdump when binary; JSON keeps
 * them exact.
 */
import type { ChalkInstance } from 'chalk';
import { escapeText } from '../core/escape.js';
import type { MessageTapPeerLog, MessageTapTraffic } from '../core/serve/message-tap-records.js';
import type { LineWriter } from '../core/line-writer.js';
import { hexdumpLines, looksBinary } from './hexdump.js';
import { peerJson, who } from './serve-message.js';

const clock = (d: Date): string => d.toISOString().slice(11, 23);
const PREVIEW_CHARS = 60;
const HEXDUMP_BYTES = 256;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The line(s) of one message or datagram. */
export function messageTapTrafficLines(m: MessageTapTraffic, c: ChalkInstance, opts: { hexdump?: boolean } = {}): string[] {
  const arrow = m.dir === 'up' ? c.cyan('>') : c.magenta('<');
  // A datagram's sender: its bound address, and its process from SCM_CREDENTIALS (an unbound one too), as serve --type dgram names it.
  const src = m.event === 'datagram' ? ` ${m.from ? escapeText(m.from) : '(unbound)'}${m.peer ? ` [${who(m.peer)}]` : ''}` : '';
  const id = m.event === 'datagram' && m.id === 0 ? '#-' : `#${m.id}`;
  const note = m.note ? ` ${m.relayed ? c.dim(`(${escapeText(m.note)})`) : c.yellow(`(${escapeText(m.note)})`)}` : '';
  const head = `${c.dim(clock(m.time))} ${id}${src} ${arrow} ${m.bytes}B`;
  if (opts.hexdump && looksBinary(m.data)) {
    const shown = m.data.subarray(0, Math.min(m.data.length, HEXDUMP_BYTES));
    const lines = [`${head} binary${note}`, ...hexdumpLines(shown, { prefix: '    ' })];
    if (m.bytes > shown.length) lines.push(`    … ${m.bytes - shown.length} more bytes`);
    return lines;
  }
  return [`${head} ${escapeText(m.data, { quote: true, max: PREVIEW_CHARS - 2 })}${note}`];
}

/** A connection or a dgram sender opened or ended. */
export function messageTapPeerLine(l: MessageTapPeerLog, c: ChalkInstance): string {
  const t = c.dim(clock(l.time));
  if (l.kind === 'sender') {
    const from = escapeText(l.from ?? '');
    if (l.event === 'open') return `${t} #${l.id} ${from} sender: a socket of its own to the upstream, for its replies`;
    return `${t} #${l.id} ${from} sender done: ${escapeText(l.reason ?? '')}; ${l.messagesUp} up, ${l.messagesDown} down`;
  }
  if (l.event === 'open') return `${t} #${l.id} client connected: ${who(l.peer ?? null)} (SO_PEERCRED)`;
  const bad = l.clientEnd === 'reset' || l.upstreamEnd === 'reset' || l.upstreamEnd === 'never-connected' || l.first === 'tap';
  const what = `ended: ${escapeText(l.reason ?? '')}`;
  return `${t} #${l.id} ${bad ? c.yellow(what) : what}; ${plural(l.messagesUp ?? 0, 'message')} up, ${l.messagesDown ?? 0} down; client ${l.clientEnd}, upstream ${l.upstreamEnd}`;
}

/** JSON of a message or datagram: the bytes as `text` (UTF-8 that is not binary) or `base64`. */
export function messageTapTrafficJson(m: MessageTapTraffic, pid: number): Record<string, unknown> {
  const { data, time, event, peer, ...rest } = m;
  return {
    event: 'traffic',
    unit: event,
    pid,
    ...rest,
    at: time.toISOString(),
    ...(m.event === 'datagram' ? { from: m.from || null, ...(m.dir === 'up' ? { peer: peerJson(peer ?? null, 'scm_credentials') } : {}) } : {}),
    ...(looksBinary(data) ? { base64: data.toString('base64') } : { text: data.toString('utf8') }),
  };
}

/** JSON of a connection or dgram sender opened or ended. */
export function messageTapPeerJson(l: MessageTapPeerLog, pid: number): Record<string, unknown> {
  const { time, peer, ...rest } = l;
  return { ...rest, event: l.kind === 'conn' ? 'connection' : 'sender', phase: l.event, pid, at: time.toISOString(), ...(l.kind === 'conn' ? { peer: peerJson(peer ?? null) } : {}) };
}

/** The message tap's record renderers for serve's log (ServeLog.record): each message or datagram, each connection or sender. */
export function messageTapRenderers(json: boolean, c: ChalkInstance, pid: number, opts: { hexdump?: boolean } = {}) {
  const put = (out: LineWriter, lines: readonly string[]) => {
    for (const line of lines) {
      out.text(line);
      out.end();
    }
  };
  return {
    traffic: (m: MessageTapTraffic, out: LineWriter) => put(out, json ? [JSON.stringify(messageTapTrafficJson(m, pid))] : messageTapTrafficLines(m, c, opts)),
    peer: (l: MessageTapPeerLog, out: LineWriter) => put(out, [json ? JSON.stringify(messageTapPeerJson(l, pid)) : messageTapPeerLine(l, c)]),
  };
}
