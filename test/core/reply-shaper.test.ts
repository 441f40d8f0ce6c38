/**
 * The reply shaper (src/core/serve/reply-shaper.ts): each fault's action on a
 * reply and at the upstream's end, --delay's time, and no-newline on a stream
 * (the line ends held across chunks, sent only when more bytes follow) and on
 * a message (taken off).
 */
import { describe, expect, it } from 'vitest';
import { FAULTS } from '../../src/core/serve/options.js';
import { CLOSE, DELAY, HOLD_OPEN, NL_MAX, RELAY_END, RESET, ReplyShaper, SEND, SWALLOW } from '../../src/core/serve/reply-shaper.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const out = (sh: ReplyShaper) => Buffer.from(sh.data.subarray(0, sh.len)).toString('latin1');

describe('ReplyShaper', () => {
  it('one action per fault on a reply, and at the upstream end', () => {
    const want: Record<string, [number, number]> = {
      'never-close': [SEND, HOLD_OPEN],
      silent: [SWALLOW, HOLD_OPEN],
      'no-newline': [SEND, RELAY_END],
      'close-without-reply': [CLOSE, RELAY_END],
      reset: [RESET, RELAY_END],
      slow: [DELAY, RELAY_END],
    };
    for (const fault of FAULTS) {
      const sh = new ReplyShaper({ fault });
      expect([sh.reply(0, b('OK\n'), 3, 0, false), sh.upstreamEnd()], fault).toEqual(want[fault]);
    }
    const plain = new ReplyShaper({});
    expect([plain.reply(0, b('OK\n'), 3, 0, false), plain.upstreamEnd()]).toEqual([SEND, RELAY_END]);
    expect(out(plain)).toBe('OK\n');
  });

  it('--delay: DELAY until now + delay; slow defaults to 1s; delay 0 with slow sends at once', () => {
    const d = new ReplyShaper({ delay: 250 });
    expect(d.reply(0, b('x'), 1, 1000, false)).toBe(DELAY);
    expect(d.at).toBe(1250);
    expect(new ReplyShaper({ fault: 'slow' }).delayMs).toBe(1000);
    expect(new ReplyShaper({ fault: 'slow', delay: 0 }).reply(0, b('x'), 1, 0, false)).toBe(SEND);
  });

  it('no-newline on a message: CR and LF taken off, the count in stripped', () => {
    const sh = new ReplyShaper({ fault: 'no-newline' });
    expect(sh.reply(0, b('OK\r\n'), 4, 0, true)).toBe(SEND);
    expect([out(sh), sh.stripped]).toEqual(['OK', 2]);
    sh.reply(0, b('\n'), 1, 0, true);
    expect(out(sh)).toBe('');
  });

  it('no-newline on a stream: the trailing line ends held per slot, sent before more bytes, never at the end', () => {
    const sh = new ReplyShaper({ fault: 'no-newline' }, 2);
    sh.reply(0, b('a\r\n'), 3, 0, false);
    expect(out(sh)).toBe('a');
    sh.reply(1, b('other\n'), 6, 0, false);
    expect(out(sh)).toBe('other');
    sh.reply(0, b('\n'), 1, 0, false);
    expect(out(sh)).toBe('');
    sh.reply(0, b('b\n'), 2, 0, false);
    expect(out(sh)).toBe('\r\n\nb');
    sh.release(0);
    sh.reply(0, b('c'), 1, 0, false);
    expect(out(sh)).toBe('c');
    // A run longer than NL_MAX: the oldest go out, memory stays flat.
    const run = '\n'.repeat(NL_MAX + 10);
    sh.reply(1, b(run), run.length, 0, false);
    expect(sh.len).toBe(10 + 1);
    // Slots beyond those given at first grow on demand.
    sh.reply(1000, b('z\n'), 2, 0, false);
    expect(out(sh)).toBe('z');
  });
});
