/**
 * The tap's log (serve --upstream): one line per chunk, half-close, close and
 * reset of a relayed connection, and one per connection at its end; human or
 * JSON, written through serve's log (commands/serve-log.ts) like serve's own
 * lines. `>` is the client's bytes on their way to the upstream, `<` the
 * upstream's on their way back (socat -v's arrows). Every byte a peer sent is
 * escaped (escapeText) or, with --hexdump, shown as a hex dump when binary.
 */
import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { escapeText, fromKeptBytes, hasKeptBytes, keptBytes } from '../core/escape.js';
import type { LineWriter } from '../core/line-writer.js';
import type { TrafficLog } from '../core/serve/tap-records.js';
import type { TapConnectionLog } from '../core/serve/tap.js';
import { hexdumpLines, looksBinary } from './hexdump.js';

/** Characters of a chunk's preview on its line. */
const PREVIEW_CHARS = 60;
/** Bytes of a binary chunk --hexdump shows. */
const HEXDUMP_BYTES = 256;

const since = (us: number) => `+${formatDuration(us / 1000)}`;

/** A renderer of the human line(s) of one traffic record. */
export function trafficLineRenderer(c: ChalkInstance, opts: { hexdump?: boolean } = {}): (log: TrafficLog, out: LineWriter) => void {
  return (log, out) => {
    out.text(`${c.dim(log.at)} #${log.id} ${c.dim(since(log.sinceUs))} `);
    const note = log.note ? ` ${c.dim(`(${escapeText(log.note)})`)}` : '';
    const code = log.code || log.errno ? ` ${[log.code, log.errno && log.errno !== log.code ? log.errno : ''].filter(Boolean).join(' ')}` : '';
    if (log.kind === 'data') {
      const data = log.data ?? Buffer.alloc(0);
      const arrow = log.from === 'client' ? c.cyan('>') : c.magenta('<');
      const at = log.offset ? ` @${log.offset}` : '';
      if (opts.hexdump && looksBinary(data)) {
        out.text(`${arrow} ${log.bytes}B${at} binary${note}`);
        out.end();
        const shown = data.subarray(0, Math.min(data.length, HEXDUMP_BYTES));
        for (const line of hexdumpLines(shown, { prefix: '    ', offset: log.offset ?? 0 })) {
          out.text(line);
          out.end();
        }
        const more = (log.bytes ?? data.length) - shown.length;
        if (more > 0) {
          out.text(`    … ${more} more bytes`);
          out.end();
        }
        return;
      }
      out.text(`${arrow} ${log.bytes}B${at} ${escapeText(data, { quote: true, max: PREVIEW_CHARS - 2 })}${note}`);
      out.end();
      return;
    }
    const words: Record<TrafficLog['kind'], string> = {
      connect: 'connected',
      data: '',
      'half-close': 'half-closed',
      close: 'closed',
      reset: 'reset',
      error: 'error',
    };
    const bad = log.kind === 'reset' || log.kind === 'error';
    const what = `${log.from} ${words[log.kind]}${code}`;
    out.text(`${bad ? c.yellow(what) : what}${note}`);
    out.end();
  };
}

/** The JSON line of one traffic record: the bytes as `text` (UTF-8 that is not binary) or `base64`. */
export function trafficJsonRenderer(pid: number): (log: TrafficLog, out: LineWriter) => void {
  return (log, out) => {
    const { data, ...rest } = log;
    const obj: Record<string, unknown> = { event: 'traffic', pid, ...rest };
    if (data) {
      if (looksBinary(data)) obj.base64 = data.toString('base64');
      else obj.text = data.toString('utf8');
      if ((log.bytes ?? 0) > data.length) obj.truncated = true;
    }
    out.text(JSON.stringify(obj));
    out.end();
  };
}

const BAD_ENDS: ReadonlySet<string> = new Set(['client-reset', 'reset', 'idle-timeout', 'over-max-conns', 'error', 'left-open', 'shutdown']);

/** A renderer of the human line of a relayed connection's end. */
export function tapConnectionLineRenderer(c: ChalkInstance): (log: TapConnectionLog, out: LineWriter) => void {
  return (log, out) => {
    const end = BAD_ENDS.has(log.end) ? c.yellow(log.end) : c.green(log.end);
    const first = log.first ? ` ${log.first} first;` : '';
    const reason = log.reason ? ` ${c.dim(`(${escapeText(log.reason)})`)}` : '';
    // Stamped at its end, like the traffic lines before it (log.at is when the connection was accepted).
    const t = Date.parse(log.at);
    const endAt = Number.isNaN(t) ? log.at : new Date(t + Math.round(log.durationUs / 1000)).toISOString();
    out.text(
      `${c.dim(endAt)} #${log.id} ${end} in=${log.bytesIn}B out=${log.bytesOut}B ${formatDuration(log.durationUs / 1000)}${first} client ${log.clientEnd}, upstream ${log.upstreamEnd}${reason}`,
    );
    out.end();
  };
}

/**
 * The JSON line of a relayed connection's end: { event: 'connection', pid, ...log }, previews as
 * Buffer#toString decodes them; a preview that is not UTF-8 also as its exact bytes (requestBase64,
 * replyBase64), as traffic records keep theirs.
 */
export function tapConnectionJsonRenderer(pid: number): (log: TapConnectionLog, out: LineWriter) => void {
  return (log, out) => {
    const obj: Record<string, unknown> = { event: 'connection', pid, ...log };
    for (const k of ['request', 'reply'] as const) {
      const s = log[k];
      if (s === undefined) continue;
      obj[k] = fromKeptBytes(s);
      if (hasKeptBytes(s)) obj[`${k}Base64`] = keptBytes(s).toString('base64');
    }
    out.text(JSON.stringify(obj));
    out.end();
  };
}
