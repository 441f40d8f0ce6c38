/**
 * The Framer API (src/core/framing): every framer finds the same frame ends
 * however the stream is cut into chunks, the plain rules agree with
 * findReplyEnd() and bench's typed-array RuleSlots, and len: reads its prefix.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EndRule, findReplyEnd, parseEndRule } from '../../src/core/framing/end-rule.js';
import { type Framer, NEED_MORE, createFramer, createSlotFramer } from '../../src/core/framing/index.js';
import { framerEnds } from '../helpers/framing.js';

/** The reference: findReplyEnd on what is left after each end. */
function oracleEnds(rule: EndRule, stream: Buffer): number[] {
  const ends: number[] = [];
  let base = 0;
  for (;;) {
    const e = findReplyEnd(rule, stream.subarray(base));
    if (e <= 0) return ends;
    base += e;
    ends.push(base);
  }
}

const bytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((b) => [0x61, 0x62, 0x0a, 0x0d][b % 4])));
const rules: fc.Arbitrary<EndRule> = fc.oneof(
  fc.constant<EndRule>({ kind: 'line' }),
  fc.uint8Array({ minLength: 1, maxLength: 5 }).map((a) => ({ kind: 'delim' as const, delim: Buffer.from(a.map((b) => [0x61, 0x62, 0x0a, 0x0d][b % 4])) })),
  fc.integer({ min: 1, max: 220 }).map((n) => ({ kind: 'bytes' as const, n })),
);

describe('plain rules as Framers', () => {
  it('createFramer and createSlotFramer find findReplyEnd’s ends however the stream is cut (property)', () => {
    fc.assert(
      fc.property(rules, bytes, fc.array(fc.nat(), { maxLength: 30 }), (rule, buf, cuts) => {
        const want = oracleEnds(rule, buf);
        expect(framerEnds(createFramer(rule), buf, cuts)).toEqual(want);
        const slots = createSlotFramer(rule, 3);
        const one = { push: (b: Uint8Array, f: number, t: number) => slots.push(2, b, f, t) } as Framer;
        expect(framerEnds(one, buf, cuts)).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('eof and idle end by events: push never ends, the close does', () => {
    for (const rule of [{ kind: 'eof' }, { kind: 'idle', ms: 5 }] as EndRule[]) {
      const f = createFramer(rule);
      expect(f.byBytes).toBe(false);
      expect(f.push(Buffer.from('a\n'), 0, 2)).toBe(NEED_MORE);
      expect(f.endsAtClose()).toBe(true);
    }
  });
});

describe('len:SIZE[be|le][+OFFSET]', () => {
  it('parses the forms of the issue and formats them back', () => {
    for (const t of ['len:4be', 'len:4le', 'len:2be', 'len:1', 'len:2le+3']) {
      const r = parseEndRule(t);
      expect(r.kind).toBe('len');
    }
    expect(parseEndRule('len:4')).toEqual({ kind: 'len', size: 4, le: false, offset: 0 });
    expect(parseEndRule('len:2le+3')).toEqual({ kind: 'len', size: 2, le: true, offset: 3 });
    for (const bad of ['len:3be', 'len:', 'len:4xe', 'len:4be+', 'len:4be+99999999', 'len:8be']) {
      expect(() => parseEndRule(bad), bad).toThrow(/len:/);
    }
  });

  it('frames big- and little-endian prefixes with extra header bytes, at every split', () => {
    const cases: [string, Buffer, number[]][] = [
      ['len:4be', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc'), Buffer.from([0, 0, 0, 0]), Buffer.from([0, 0, 0, 1]), Buffer.from('z')]), [7, 11, 16]],
      ['len:4le', Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('hi'), Buffer.from([1, 1, 0, 0])]), [6]],
      ['len:2be+2', Buffer.concat([Buffer.from([0, 2, 9, 9]), Buffer.from('ok'), Buffer.from([0, 0, 7, 7])]), [6, 10]],
      ['len:1', Buffer.from([3, 1, 2, 3, 0, 1, 0x41]), [4, 5, 7]],
    ];
    for (const [text, stream, want] of cases) {
      for (let i = 0; i <= stream.length; i++) {
        for (let j = i; j <= stream.length; j++) {
          expect(framerEnds(createFramer(parseEndRule(text)), stream, [i, j]), `${text} cut ${i},${j}`).toEqual(want);
        }
      }
    }
  });

  it('a 4-byte length past 2^31 is read as unsigned, and the cut-short frame is described', () => {
    const f = createFramer(parseEndRule('len:4be'));
    expect(f.push(Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2]), 0, 6)).toBe(NEED_MORE);
    expect(f.describe()).toBe('2 of the 4294967280 body bytes the length prefix announced');
    expect(f.endsAtClose()).toBe(false);
    f.reset();
    expect(f.push(Buffer.from([0, 0]), 0, 2)).toBe(NEED_MORE);
    expect(f.describe()).toBe('2 of the 4-byte header');
  });
});
