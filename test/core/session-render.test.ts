import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { CrlfLines } from '../../src/core/session.js';
import { MAX_HELD_LINE, ReplyView, formatElapsed } from '../../src/render/session.js';

const plain = new Chalk({ level: 0 });
const at = (sinceSendUs: number) => ({ sinceSendUs, atUs: sinceSendUs, afterSend: true });

describe('CrlfLines (--crlf)', () => {
  it('turns each bare \\n into \\r\\n and leaves \\r\\n alone, across chunks', () => {
    const c = new CrlfLines();
    expect(c.convert(Buffer.from('a\nb\r\n')).toString()).toBe('a\r\nb\r\n');
    expect(c.convert(Buffer.from('x\r')).toString()).toBe('x\r');
    expect(c.convert(Buffer.from('\ny\n')).toString()).toBe('\ny\r\n'); // the \r ended the last chunk
    expect(c.convert(Buffer.from('\n\n')).toString()).toBe('\r\n\r\n');
    const none = Buffer.from('no newline');
    expect(c.convert(none)).toBe(none); // nothing to change: no copy
  });
});

describe('ReplyView (a session on a terminal)', () => {
  it('puts the timing in the margin of a chunk\'s first line only, and escapes control bytes', () => {
    const v = new ReplyView(plain);
    const out = v.chunk(Buffer.from('one\ntwo \u001b[2J\u202eevil\r\n'), at(1234));
    expect(out).toBe('   +1.2ms │ one\n          │ two \\x1b[2J\\u202eevil\\r\n');
    expect(out).not.toContain('\u001b');
  });

  it('--crlf: the CR before a line\'s LF is a line end, not shown (a lone CR still is); a message\'s CR LF too', () => {
    const v = new ReplyView(plain, { crlf: true });
    expect(v.chunk(Buffer.from('+OK\r\nbare\rcr\r\n'), at(1234))).toBe('   +1.2ms │ +OK\n          │ bare\\rcr\n');
    expect(v.message(Buffer.from('PONG\r\n'), at(1234))).toBe('   +1.2ms │ PONG\n');
    expect(new ReplyView(plain).chunk(Buffer.from('+OK\r\n'), at(1234))).toBe('   +1.2ms │ +OK\\r\n');
  });

  it('holds a line the peer has not ended, joins it with what follows, and flush() marks it', () => {
    const v = new ReplyView(plain);
    expect(v.chunk(Buffer.from('hel'), at(500))).toBe('');
    expect(v.holding).toBe(true);
    expect(v.chunk(Buffer.from('lo\nwor'), at(90_000))).toBe('   +0.5ms │ hello\n');
    expect(v.flush()).toBe('    +90ms │ wor (no newline)\n');
    expect(v.holding).toBe(false);
    expect(v.flush()).toBe('');
  });

  it('does not hold more than MAX_HELD_LINE bytes of an unended line', () => {
    const v = new ReplyView(plain);
    const out = v.chunk(Buffer.alloc(MAX_HELD_LINE + 1, 0x61), at(1));
    expect(out).toMatch(/│ a+ \(no newline\)\n$/);
    expect(v.holding).toBe(false);
  });

  it('shows binary as a hex dump (offsets counted over the whole reply)', () => {
    const v = new ReplyView(plain);
    v.chunk(Buffer.from('0123456789abcde\n'), at(1));
    const out = v.chunk(Buffer.from([0, 1, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]), at(2));
    expect(out).toBe('   +0.0ms │ 00000010  00 01 1b 5b 32 4a 0a                              |...[2J.|\n');
  });

  it('formats elapsed times', () => {
    expect(formatElapsed(400)).toBe('+0.4ms');
    expect(formatElapsed(12_400)).toBe('+12ms');
    expect(formatElapsed(12_000_000)).toBe('+12.0s');
  });
});

describe('ReplyView.message (a session on a seqpacket or dgram socket)', () => {
  it('shows each message as one block: its time on the first line, no line held, a final newline not doubled, escapes kept', () => {
    const v = new ReplyView(plain);
    expect(v.message(Buffer.from('first'), at(500))).toBe('   +0.5ms │ first\n');
    expect(v.message(Buffer.from('line 1\nline 2\n'), at(900))).toBe('   +0.9ms │ line 1\n          │ line 2\n');
    expect(v.holding).toBe(false);
    expect(v.message(Buffer.from('\u001b[2J'), at(100))).not.toContain('\u001b');
    expect(v.message(Buffer.alloc(0), at(100))).toBe('   +0.1ms │ (empty message)\n');
  });

  it('a binary message is a hex dump counted from its own start; a cut message says so', () => {
    const v = new ReplyView(plain);
    v.message(Buffer.from('some text first\n'), at(1));
    const out = v.message(Buffer.from([0, 1, 2, 0x1b, 0xff]), { ...at(2), messageBytes: 300_000 });
    expect(out).toMatch(/│ 00000000 {2}00 01 02 1b ff/);
    expect(out).toMatch(/message of 300000 bytes: the first 5 shown/);
  });
});
