/**
 * Binary bytes for a human: `hexdump -C`'s layout (offset, 16 bytes in hex in
 * two groups of 8, the printable ASCII between bars, `.` for the rest). Every
 * character it emits is ASCII, so nothing a peer sends reaches the terminal raw.
 * Used wherever a human output shows bytes that are not text (send -v, probe,
 * serve's log with --hexdump); JSON keeps base64.
 */
import { isUtf8 } from 'node:buffer';

export interface HexdumpOptions {
  /** Show at most this many bytes; a last line says how many more there were. Default: all. */
  maxBytes?: number;
  /** Put before each line (e.g. an indent). */
  prefix?: string;
  /** Offset of buf[0] in the whole stream (shown in the first column). Default 0. */
  offset?: number;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The dump as lines (no trailing newline). An empty buffer gives no lines. */
export function hexdumpLines(buf: Uint8Array, options: HexdumpOptions = {}): string[] {
  const prefix = options.prefix ?? '';
  const base = options.offset ?? 0;
  const shown = Math.min(buf.length, options.maxBytes ?? buf.length);
  const lines: string[] = [];
  for (let at = 0; at < shown; at += 16) {
    const end = Math.min(at + 16, shown);
    let hex = '';
    let ascii = '';
    for (let i = at; i < at + 16; i++) {
      if (i === at + 8) hex += ' ';
      if (i < end) {
        const b = buf[i];
        hex += `${HEX[b]} `;
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${prefix}${(base + at).toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (shown < buf.length) lines.push(`${prefix}… ${buf.length - shown} more bytes`);
  return lines;
}

/**
 * Whether bytes read as binary rather than text: not valid UTF-8, or holding a
 * NUL or a C0 control other than tab, newline, carriage return and escape (the
 * last is common in coloured text, and escapeText shows it safely). Looks at
 * the first `limit` bytes only (a multi-byte sequence cut at the limit is fine).
 */
export function looksBinary(buf: Uint8Array, limit = 4096): boolean {
  const n = Math.min(buf.length, limit);
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x1b) return true;
    if (b === 0x7f) return true;
  }
  const head = Buffer.from(buf.buffer, buf.byteOffset, n);
  // A sequence cut by the limit: drop up to 3 trailing bytes before the check.
  for (let cut = 0; cut <= 3 && cut <= n; cut++) {
    if (isUtf8(head.subarray(0, n - cut))) return false;
    if (n === buf.length) break;
  }
  return true;
}
