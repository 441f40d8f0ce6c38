/**
 * The message tap's log renderers (src/render/message-tap.ts): a message's
 * line, a datagram's (sender, unbound), a hex dump, the JSON records, and a
 * connection's open and end lines; what a peer controls is escaped.
 */
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import type { MessageTapPeerLog, MessageTapTraffic } from '../src/core/serve/message-tap-records.js';
import { messageTapPeerJson, messageTapPeerLine, messageTapTrafficJson, messageTapTrafficLines } from '../src/render/message-tap.js';

const c = new Chalk({ level: 0 });
const time = new Date('2026-12-01T03:34:38.331Z');

const msg = (over: Partial<MessageTapTraffic>): MessageTapTraffic => ({
  event: 'message',
  id: 3,
  time,
  dir: 'up',
  bytes: 6,
  data: Buffer.from('hello\n'),
  truncated: false,
  relayed: true,
  ...over,
});

describe('message tap traffic', () => {
  it('a message: id, arrow, size, escaped preview; a note in parentheses', () => {
    expect(messageTapTrafficLines(msg({}), c)).toEqual(['03:34:38.331 #3 > 6B "hello\\n"']);
    expect(messageTapTrafficLines(msg({ dir: 'down', data: Buffer.from('\x1b[2Jx'), bytes: 5, relayed: false, note: 'swallowed: --fault silent' }), c)).toEqual([
      '03:34:38.331 #3 < 5B "\\x1b[2Jx" (swallowed: --fault silent)',
    ]);
  });

  it('a datagram names its sender (escaped), or says it is unbound', () => {
    expect(messageTapTrafficLines(msg({ event: 'datagram', from: '/tmp/a\x07.sock' }), c)[0]).toBe('03:34:38.331 #3 /tmp/a\\x07.sock > 6B "hello\\n"');
    expect(messageTapTrafficLines(msg({ event: 'datagram', id: 0, from: '', note: 'replies cannot be returned: the sender bound no address' }), c)[0]).toBe(
      '03:34:38.331 #- (unbound) > 6B "hello\\n" (replies cannot be returned: the sender bound no address)',
    );
    // Its process from SCM_CREDENTIALS, bound or not, as serve --type dgram says it (the name escaped).
    expect(messageTapTrafficLines(msg({ event: 'datagram', id: 0, from: '', peer: { pid: 42, uid: 0, gid: 0, name: 'notify\x1b' } }), c)[0]).toBe(
      '03:34:38.331 #- (unbound) [pid 42 (notify\\x1b), uid 0, gid 0] > 6B "hello\\n"',
    );
  });

  it('--hexdump: a binary message as hexdump -C lines, the rest counted', () => {
    const data = Buffer.from([0, 1, 2, 0xff]);
    expect(messageTapTrafficLines(msg({ data, bytes: 1000 }), c, { hexdump: true })).toEqual([
      '03:34:38.331 #3 > 1000B binary',
      '    00000000  00 01 02 ff                                       |....|',
      '    … 996 more bytes',
    ]);
  });

  it('JSON keeps the bytes exact: text, or base64 when binary', () => {
    expect(messageTapTrafficJson(msg({ event: 'datagram', from: '' }), 7)).toEqual({
      event: 'traffic',
      unit: 'datagram',
      pid: 7,
      id: 3,
      at: time.toISOString(),
      dir: 'up',
      from: null,
      peer: null,
      bytes: 6,
      truncated: false,
      relayed: true,
      text: 'hello\n',
    });
    expect(messageTapTrafficJson(msg({ data: Buffer.from([0, 0xff]) }), 7)).toMatchObject({ base64: 'AP8=' });
  });
});

describe('message tap connections and senders', () => {
  const peer = { pid: 42, uid: 1000, gid: 1000, name: 'evil\x1b]0;x\x07' };
  it('open names the client from SO_PEERCRED, its process name escaped', () => {
    const l: MessageTapPeerLog = { event: 'open', kind: 'conn', id: 1, time, peer };
    expect(messageTapPeerLine(l, c)).toBe('03:34:38.331 #1 client connected: pid 42 (evil\\x1b]0;x\\x07), uid 1000, gid 1000 (SO_PEERCRED)');
    expect(messageTapPeerJson(l, 7)).toMatchObject({ event: 'connection', phase: 'open', peer: { pid: 42, name: 'evil\x1b]0;x\x07', source: 'peercred' } });
  });

  it('the end says who closed first and how each side ended; a sender its counts', () => {
    const l: MessageTapPeerLog = {
      event: 'close',
      kind: 'conn',
      id: 1,
      time,
      peer,
      messagesUp: 1,
      messagesDown: 2,
      first: 'upstream',
      clientEnd: 'closed',
      upstreamEnd: 'closed',
      reason: 'upstream closed first, then the client',
    };
    expect(messageTapPeerLine(l, c)).toBe('03:34:38.331 #1 ended: upstream closed first, then the client; 1 message up, 2 down; client closed, upstream closed');
    const s: MessageTapPeerLog = { event: 'close', kind: 'sender', id: 2, time, from: '@0001a', messagesUp: 3, messagesDown: 3, reason: 'idle: no datagram for 60000ms' };
    expect(messageTapPeerLine(s, c)).toBe('03:34:38.331 #2 @0001a sender done: idle: no datagram for 60000ms; 3 up, 3 down');
    expect(messageTapPeerJson(s, 7)).toMatchObject({ event: 'sender', phase: 'close', from: '@0001a', messagesUp: 3 });
  });
});
