/**
 * The sock_diag reply parser on crafted bytes (names with NUL and newlines,
 * every attribute, malformed lengths that must neither loop nor over-read),
 * and one real dump that sees a listener of ours.
 */
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  NAME_ABSTRACT,
  NAME_PATH,
  NONE,
  SockDiagUnavailable,
  TCP_LISTEN,
  UnixSockTable,
  dumpUnixSockets,
  parseInetDiag,
  parseUnixDiag,
  type InetSocket,
} from '../../src/core/socket/sock-diag.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const SEQ = 7;

function attr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  Buffer.from(payload).copy(b, 4);
  return b;
}
const u32s = (...v: number[]) => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  return b;
};

function unixMsg(o: { type?: number; state?: number; ino: number; attrs?: Buffer[]; seq?: number; msgType?: number }): Buffer {
  const body = Buffer.concat([Buffer.from([1, o.type ?? 1, o.state ?? TCP_LISTEN, 0]), u32s(o.ino, 0, 0), ...(o.attrs ?? [])]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(o.msgType ?? 20, 4);
  h.writeUInt32LE(o.seq ?? SEQ, 8);
  return Buffer.concat([h, body]);
}
function done(seq = SEQ): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20, 0);
  h.writeUInt16LE(3, 4);
  h.writeUInt32LE(seq, 8);
  return h;
}

describe('parseUnixDiag', () => {
  it('reads every attribute; an abstract name keeps its NUL and newline bytes, a path stops at its NUL', () => {
    const abstractName = Buffer.from('\0x\nforged row\0tail', 'latin1');
    const buf = Buffer.concat([
      unixMsg({ ino: 11, attrs: [attr(0, abstractName), attr(4, u32s(3, 128)), attr(7, u32s(65534)), attr(3, u32s(1, 2, 3))] }),
      unixMsg({ ino: 12, type: 5, attrs: [attr(0, Buffer.from('/run/a b.sock\0', 'latin1')), attr(1, u32s(99, (8 << 20) | 3)), attr(2, u32s(44))] }),
      unixMsg({ ino: 13, type: 2, state: 7 }),
      done(),
    ]);
    const t = new UnixSockTable(1);
    expect(parseUnixDiag(buf, buf.length, t, SEQ)).toBe('done');
    expect(t.length).toBe(3);
    expect(t.nameKind[0]).toBe(NAME_ABSTRACT);
    expect(Buffer.from(t.name(0)).toString('latin1')).toBe('x\nforged row\0tail');
    expect([t.rqueue[0], t.wqueue[0], t.uid[0], t.icons[0]]).toEqual([3, 128, 65534, 3]);
    expect(t.nameKind[1]).toBe(NAME_PATH);
    expect(Buffer.from(t.name(1)).toString()).toBe('/run/a b.sock');
    expect([t.type[1], t.vfsIno[1], t.vfsDev[1] >>> 20, t.peer[1]]).toEqual([5, 99, 8, 44]);
    expect(t.nameKind[2]).toBe(0);
    expect([t.uid[2], t.vfsIno[2], t.peer[2]]).toEqual([NONE, NONE, NONE]);
    expect(t.isServer(0)).toBe(true);
    expect(t.isServer(1)).toBe(true);
    expect(t.isServer(2)).toBe(false);
  });

  it('a message claiming more bytes than were received is malformed: nothing read past the end', () => {
    const m = unixMsg({ ino: 1 });
    m.writeUInt32LE(4096, 0);
    const t = new UnixSockTable();
    expect(parseUnixDiag(m, m.length, t)).toBe('malformed');
    expect(t.length).toBe(0);
  });

  it('a zero or too-short message length ends the parse instead of looping', () => {
    for (const len of [0, 1, 15]) {
      const m = unixMsg({ ino: 1 });
      m.writeUInt32LE(len, 0);
      expect(parseUnixDiag(m, m.length, new UnixSockTable())).toBe('malformed');
    }
  });

  it('a bad attribute length (0, or past its message) drops the rest of that message only', () => {
    const bad0 = Buffer.from([0, 0, 0, 0, 1, 2, 3, 4]);
    const long = attr(0, Buffer.from('/x\0'));
    long.writeUInt16LE(200, 0);
    const buf = Buffer.concat([unixMsg({ ino: 1, attrs: [bad0] }), unixMsg({ ino: 2, attrs: [long] }), unixMsg({ ino: 3, attrs: [attr(7, u32s(5))] }), done()]);
    const t = new UnixSockTable();
    expect(parseUnixDiag(buf, buf.length, t)).toBe('done');
    expect(Array.from(t.inode.subarray(0, t.length))).toEqual([1, 2, 3]);
    expect(t.nameLen[1]).toBe(0);
    expect(t.uid[2]).toBe(5);
  });

  it('a length shorter than the buffer given is honoured (bytes beyond it are not ours)', () => {
    const a = unixMsg({ ino: 1 });
    const buf = Buffer.concat([a, unixMsg({ ino: 2 })]);
    const t = new UnixSockTable();
    expect(parseUnixDiag(buf, a.length, t)).toBe('more');
    expect(t.length).toBe(1);
  });

  it("another request's messages are skipped; the kernel's error is returned as its errno", () => {
    const err = Buffer.alloc(36);
    err.writeUInt32LE(36, 0);
    err.writeUInt16LE(2, 4);
    err.writeUInt32LE(SEQ, 8);
    err.writeInt32LE(-2, 16);
    const buf = Buffer.concat([unixMsg({ ino: 1, seq: 99 }), err]);
    const t = new UnixSockTable();
    expect(parseUnixDiag(buf, buf.length, t, SEQ)).toEqual({ errno: 2 });
    expect(t.length).toBe(0);
  });

  it('stops at its row cap and says truncated, without growing further', () => {
    const buf = Buffer.concat([...Array.from({ length: 10 }, (_, i) => unixMsg({ ino: i })), done()]);
    const t = new UnixSockTable(2, 4);
    expect(parseUnixDiag(buf, buf.length, t)).toBe('done');
    expect(t.length).toBe(4);
    expect(t.truncated).toBe(true);
    expect(t.inode.length).toBe(4);
  });

  it('random bytes never throw, loop or over-read', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n < 300; n++) {
      const b = Buffer.from(Array.from({ length: 16 + (n % 200) }, rand));
      const st = parseUnixDiag(b, b.length, new UnixSockTable(1, 64));
      expect(['more', 'done', 'malformed'].includes(st as string) || typeof st === 'object').toBe(true);
    }
  });
});

describe('parseInetDiag', () => {
  it('reads a TCP listener: address, port, queues, uid, inode', () => {
    const m = Buffer.alloc(16 + 72);
    m.writeUInt32LE(m.length, 0);
    m.writeUInt16LE(20, 4);
    m[16] = 10; // AF_INET6
    m[17] = TCP_LISTEN;
    m.writeUInt16BE(8080, 20);
    m[16 + 8 + 15] = 1; // ::1
    m.writeUInt32LE(2, 16 + 56);
    m.writeUInt32LE(511, 16 + 60);
    m.writeUInt32LE(1000, 16 + 64);
    m.writeUInt32LE(4242, 16 + 68);
    const out: InetSocket[] = [];
    const buf = Buffer.concat([m, done(0)]);
    expect(parseInetDiag(buf, buf.length, out)).toBe('done');
    expect(out).toEqual([{ family: 10, state: TCP_LISTEN, port: 8080, address: '::1', rqueue: 2, wqueue: 511, uid: 1000, inode: 4242 }]);
  });
});

describe('dumpUnixSockets (this kernel)', () => {
  it('lists a listener of ours with its name, file and backlog', async () => {
    const sock = join(tmpDir(), 'd.sock');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen({ path: sock, backlog: 7 }, r));
    try {
      const t = dumpUnixSockets({ states: 1 << TCP_LISTEN });
      if (t instanceof SockDiagUnavailable) throw new Error(t.reason);
      let found = -1;
      for (let i = 0; i < t.length; i++) if (Buffer.from(t.name(i)).toString() === sock) found = i;
      expect(found).toBeGreaterThanOrEqual(0);
      expect(t.state[found]).toBe(TCP_LISTEN);
      expect(t.wqueue[found]).toBe(7);
      expect(t.uid[found]).toBe(process.getuid!());
      expect(t.vfsIno[found]).not.toBe(NONE);
    } finally {
      server.close();
    }
  });
});
