/**
 * ReplyEndScanner: the chunk-by-chunk end of reply finds what findReplyEnd()
 * finds on the whole stream (a naive reference), wherever the chunks split,
 * and scans each byte once (a 50 MB line in one pass).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EndRule, ReplyEndScanner, findReplyEnd } from '../../src/core/framing/end-rule.js';

/** Feed the chunks one by one; the first end found, or -1. */
function scan(rule: EndRule, chunks: Buffer[]): number {
  const s = new ReplyEndScanner(rule);
  for (const c of chunks) {
    const end = s.push(c);
    if (end >= 0) return end;
  }
  return -1;
}

/** Split `buf` at the given cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

// Small alphabets, so delimiters and their near-misses ("aab" in "aaab") occur often.
const bytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((b) => [0x61, 0x62, 0x0a, 0x0d][b % 4])));
const rules: fc.Arbitrary<EndRule> = fc.oneof(
  fc.constant<EndRule>({ kind: 'line' }),
  fc.uint8Array({ minLength: 1, maxLength: 5 }).map((a) => ({ kind: 'delim' as const, delim: Buffer.from(a.map((b) => [0x61, 0x62, 0x0a, 0x0d][b % 4])) })),
  fc.integer({ min: 1, max: 220 }).map((n) => ({ kind: 'bytes' as const, n })),
);

describe('ReplyEndScanner', () => {
  it('finds the same end as findReplyEnd on the whole stream, however it is split (property)', () => {
    fc.assert(
      fc.property(rules, bytes, fc.array(fc.nat(), { maxLength: 30 }), (rule, buf, cuts) => {
        expect(scan(rule, split(buf, cuts))).toBe(findReplyEnd(rule, buf));
      }),
      { numRuns: 3000 },
    );
  });

  it('a delimiter split across chunks at every position', () => {
    const delim = Buffer.from('<<END>>');
    const stream = Buffer.from('payload<<EN<<END>>tail');
    const want = stream.indexOf(delim) + delim.length;
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        expect(scan({ kind: 'delim', delim }, chunks), `cuts ${i},${j}`).toBe(want);
      }
    }
  });

  it('a delimiter arriving one byte at a time, after a near-miss', () => {
    const stream = Buffer.from('aaab');
    expect(scan({ kind: 'delim', delim: Buffer.from('aab') }, [...stream].map((b) => Buffer.of(b)))).toBe(4);
  });

  it('bytes:N at exact chunk boundaries', () => {
    const rule: EndRule = { kind: 'bytes', n: 6 };
    expect(scan(rule, [Buffer.from('012345')])).toBe(6);
    expect(scan(rule, [Buffer.from('012'), Buffer.from('345')])).toBe(6);
    expect(scan(rule, [Buffer.from('01234'), Buffer.from('5678')])).toBe(6);
    expect(scan(rule, [Buffer.from('01234')])).toBe(-1);
    expect(scan(rule, [Buffer.alloc(0), Buffer.from('012345'), Buffer.alloc(0)])).toBe(6);
  });

  it('eof and idle never end by bytes', () => {
    expect(scan({ kind: 'eof' }, [Buffer.from('a\nb')])).toBe(-1);
    expect(scan({ kind: 'idle', ms: 10 }, [Buffer.from('a\nb')])).toBe(-1);
    expect(new ReplyEndScanner({ kind: 'eof' }).byBytes).toBe(false);
  });

  it('a 50 MB line in 64 KiB chunks: found at the right offset in one pass', () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const total = 50 * 1024 * 1024;
    for (const rule of [{ kind: 'line' }, { kind: 'delim', delim: Buffer.from('\r\n') }] as EndRule[]) {
      const s = new ReplyEndScanner(rule);
      const t0 = performance.now();
      let end = -1;
      for (let fed = 0; fed < total && end < 0; fed += chunk.length) end = s.push(chunk);
      expect(end).toBe(-1);
      end = s.push(rule.kind === 'line' ? Buffer.from('\nmore') : Buffer.from('\r\nmore'));
      const ms = performance.now() - t0;
      console.log(`${rule.kind}: 50 MiB scanned in ${ms.toFixed(0)} ms`);
      expect(end).toBe(total + (rule.kind === 'line' ? 1 : 2));
      expect(ms).toBeLessThan(5_000); // linear: tens of ms; re-joining per chunk took seconds
    }
  });
});
