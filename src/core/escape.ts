import { UdsError } from './errors.js';

const SIMPLE: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, '0': 0x00, '\\': 0x5c, e: 0x1b, a: 0x07 };

/** Turn `\r\n`, `\t`, `\0`, `\\`, `\xHH` escapes into bytes; other text is UTF-8. */
export function unescapeText(text: string): Buffer {
  const out: number[] = [];
  const src = Buffer.from(text, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c !== 0x5c || i === src.length - 1) {
      out.push(c);
      continue;
    }
    const next = String.fromCharCode(src[++i]);
    if (next in SIMPLE) out.push(SIMPLE[next]);
    else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(src.subarray(i + 1, i + 3).toString())) {
      out.push(parseInt(src.subarray(i + 1, i + 3).toString(), 16));
      i += 2;
    } else {
      out.push(0x5c, src[i]);
    }
  }
  return Buffer.from(out);
}

/** Parse hex text (spaces and colons allowed between bytes) into bytes. */
export function parseHex(text: string): Buffer {
  const clean = text.replace(/[\s:]/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new UdsError('BAD_OPTION', `--hex needs pairs of hex digits like "48 69 0a" (got "${text}")`);
  }
  return Buffer.from(clean, 'hex');
}
