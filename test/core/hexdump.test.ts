import { describe, expect, it } from 'vitest';
import { hexdumpLines, looksBinary } from '../../src/render/hexdump.js';

describe('hexdump', () => {
  it('lays bytes out as hexdump -C does', () => {
    const b = Buffer.from('Hello, world!\n\x00\x01\xffABC', 'latin1');
    expect(hexdumpLines(b)).toEqual([
      '00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |Hello, world!...|',
      '00000010  ff 41 42 43                                       |.ABC|',
    ]);
  });

  it('bounds the output, prefixes lines and starts at an offset', () => {
    const b = Buffer.alloc(100, 0x61);
    const lines = hexdumpLines(b, { maxBytes: 20, prefix: '  ', offset: 0x100 });
    expect(lines).toHaveLength(3);
    expect(lines[0].startsWith('  00000100  61 61')).toBe(true);
    expect(lines[1].startsWith('  00000110  61 61 61 61 ')).toBe(true);
    expect(lines[2]).toBe('  … 80 more bytes');
    expect(hexdumpLines(Buffer.alloc(0))).toEqual([]);
  });

  it('emits only ASCII whatever the bytes', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(/^[\x20-\x7e\n]*$/.test(hexdumpLines(all).join('\n'))).toBe(true);
  });

  it('tells binary from text', () => {
    expect(looksBinary(Buffer.from('plain text\r\n\ttabs and \x1b[31mcolour\x1b[0m, ünïcödé'))).toBe(false);
    expect(looksBinary(Buffer.from([0, 0, 0, 5, 0x68]))).toBe(true);
    expect(looksBinary(Buffer.from([0x68, 0xff, 0xfe]))).toBe(true);
    expect(looksBinary(Buffer.from('abc\x7f'))).toBe(true);
    // A multi-byte character cut by the limit is still text.
    const s = Buffer.from('aé');
    expect(looksBinary(Buffer.concat([s, s]), 4)).toBe(false);
    expect(looksBinary(Buffer.alloc(0))).toBe(false);
  });
});
