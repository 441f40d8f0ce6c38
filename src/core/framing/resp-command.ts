/**
 * RESP (Redis): a redis-cli command line as a RESP command, the request
 * `--resp` sends (send, probe, bench and the redis service alike). The reply's
 * framer is resp.ts; its display, resp-render.ts.
 */
import { UdsError } from '../errors.js';
import { keptBytes } from '../escape.js';

/**
 * Split a command line as redis-cli does: words by blanks, '...' taken as
 * written, "..." with escapes (\n \r \t \xHH, \" \\). BAD_OPTION when empty
 * or a quote is left open.
 */
export function splitCommand(text: string): Buffer[] {
  // Words are built as "binary" strings (one char per byte): text as UTF-8, \xHH as that byte.
  const bin = (t: string): string => keptBytes(t).toString('latin1');
  const words: Buffer[] = [];
  let cur = '';
  let has = false;
  let i = 0;
  const word = (): void => void words.push(Buffer.from(cur, 'latin1'));
  while (i < text.length) {
    const c = text[i++];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (has) word();
      cur = '';
      has = false;
    } else if (c === "'") {
      const j = text.indexOf("'", i);
      if (j < 0) throw new UdsError('BAD_OPTION', `--resp: a ' is not closed in ${JSON.stringify(text)}`);
      cur += bin(text.slice(i, j));
      has = true;
      i = j + 1;
    } else if (c === '"') {
      has = true;
      for (;;) {
        if (i >= text.length) throw new UdsError('BAD_OPTION', `--resp: a " is not closed in ${JSON.stringify(text)}`);
        const d = text[i++];
        if (d === '"') break;
        if (d === '\\' && i < text.length) {
          // redis-cli's escapes in double quotes: \n \r \t \b \a \xHH; any other \c is c.
          const e = text[i++];
          const hex = e === 'x' ? /^[0-9a-fA-F]{2}/.exec(text.slice(i)) : null;
          if (hex) {
            cur += String.fromCharCode(parseInt(hex[0], 16));
            i += 2;
          } else cur += bin(({ n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' } as Record<string, string>)[e] ?? e);
        } else cur += bin(d);
      }
    } else {
      cur += bin(c);
      has = true;
    }
  }
  if (has) word();
  if (words.length === 0) throw new UdsError('BAD_OPTION', '--resp needs a command, like PING or "GET key"');
  return words;
}

/** A command as a RESP array of bulk strings (what redis-cli sends). */
export function encodeRespCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
