import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeKeepingBytes, escapeText, fromKeptBytes, keptBytes, parseMessage } from '../../src/core/escape.js';
import { CLASSES, HOSTILE, expectTerminalSafe } from '../helpers/hostile-text.js';

describe('escapeText: one function for every untrusted string', () => {
  for (const c of CLASSES) {
    it(`shows ${c.name} as escapes, from bytes and from decodeKeepingBytes text`, () => {
      expect(escapeText(c.bytes)).toBe(c.shown);
      expect(escapeText(decodeKeepingBytes(c.bytes))).toBe(c.shown);
      expectTerminalSafe(Buffer.from(escapeText(c.bytes)), c.name);
    });
  }

  it('shows a lone surrogate and line/paragraph separators as \\u escapes', () => {
    expect(escapeText('a\ud800b\udfffc')).toBe('a\\ud800b\\udfffc');
    expect(escapeText('x\u2028y\u2029z')).toBe('x\\u2028y\\u2029z');
    expect(escapeText('\u{e0001}tag')).toBe('\\u{e0001}tag');
  });

  it('keeps printable text, wide characters and emoji as they are', () => {
    const s = 'héllo 中文 😀 ǘ "q" \\back';
    expect(escapeText(s)).toBe(s);
    expect(escapeText(Buffer.from(s))).toBe(s);
  });

  it('quoted: escapes " and \\ too, and wraps in quotes', () => {
    expect(escapeText('say "hi"\\n\n', { quote: true })).toBe('"say \\"hi\\"\\\\n\\n"');
  });

  it('cuts at max characters with …, never inside an escape or a surrogate pair', () => {
    expect(escapeText('abcdefghij', { quote: true, max: 5 })).toBe('"abcde…"');
    expect(escapeText(Buffer.from('abcdefghij'), { max: 5 })).toBe('abcde…');
    expect(escapeText('ab\x1bcdef', { max: 5 })).toBe('ab…');
    expect(escapeText(Buffer.from('😀😀😀'), { max: 3 })).toBe('😀…');
  });

  it('bytes cut inside a character show the bytes left, as \\xHH', () => {
    expect(escapeText(Buffer.from('中').subarray(0, 2))).toBe('\\xe4\\xb8');
  });

  it('is safe and lossless-looking for any bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        const b = Buffer.from(a);
        const shown = escapeText(b);
        expectTerminalSafe(Buffer.from(shown), 'fuzz');
        expect(escapeText(decodeKeepingBytes(b))).toBe(shown);
        expect(fromKeptBytes(decodeKeepingBytes(b))).toBe(b.toString('utf8'));
      }),
      { seed: 10, numRuns: 500 },
    );
  });

  it('escaping twice changes nothing unquoted (a renderer may escape a detail that holds an escaped preview)', () => {
    const once = escapeText(HOSTILE);
    expect(escapeText(once)).toBe(once);
  });
});

describe('parseMessage: the escapes send, probe and bench understand', () => {
  it('understands \\n \\r \\t \\0 \\\\ \\xHH by default', () => {
    expect(parseMessage('GET / HTTP/1.0\\r\\n\\r\\n')).toEqual(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    expect(parseMessage('a\\tb\\0c\\\\d\\x41\\x7f')).toEqual(Buffer.from([0x61, 9, 0x62, 0, 0x63, 0x5c, 0x64, 0x41, 0x7f]));
  });
  it('literal: the text as written', () => {
    expect(parseMessage('a\\r\\n', true)).toEqual(Buffer.from('a\\r\\n'));
  });
});

describe('keptBytes: the bytes a decodeKeepingBytes string stands for (argv that is not UTF-8)', () => {
  it('gives back any bytes exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        const b = Buffer.from(a);
        expect(keptBytes(decodeKeepingBytes(b)).equals(b)).toBe(true);
      }),
    );
  });

  it('is UTF-8 for ordinary text, and a message with kept bytes keeps them through escapes', () => {
    expect(keptBytes('é😀').toString('hex')).toBe('c3a9f09f9880');
    expect(parseMessage('A\udcff\\x00\udcfe').toString('hex')).toBe('41ff00fe');
    expect(parseMessage('A\udcff\\n', true).toString('hex')).toBe('41ff5c6e');
  });
});
