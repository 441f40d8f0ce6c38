/**
 * The epoll engine thread's parts, alone: the slot table and the lingering
 * queue hold state only, so they are checked without sockets; the protocol
 * rules both engines share (protocol.ts) likewise.
 */
import { statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANSWERED, ConnTable, FREE, READING } from '../../src/core/serve/epoll/conn-table.js';
import { LINGER_MS, Lingering } from '../../src/core/serve/epoll/lingering.js';
import { endAtClose, errnoEnd, oneshotRequestEnd, requestAtEnd } from '../../src/core/serve/protocol.js';
import { END_CODE, REASON_IDLE, REASON_MAX_BYTES } from '../../src/core/serve/epoll/shared.js';
import { bindListener } from '../../src/core/serve/listener.js';
import { epollLibc, libc } from '../../src/core/socket/libc.js';
import { leadsToOwnFile, ownFileCheck } from '../../src/core/serve/self-upstream.js';
import { parseTarget } from '../../src/core/socket/target.js';
import { run } from '../helpers/children.js';
import { requirePeers } from '../helpers/requirements.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const SOCK_SEQPACKET = 5;

describe('ConnTable', () => {
  it('hands out distinct slots, grows past its first size, and reuses a released slot with a new generation', () => {
    const t = new ConnTable(true);
    const first = t.cap;
    const slots = new Set<number>();
    for (let k = 0; k < first + 10; k++) slots.add(t.take(100 + k, 1));
    expect(slots.size).toBe(first + 10);
    expect(t.cap).toBeGreaterThan(first);
    const i = t.take(7, 5);
    expect(t.phase[i]).toBe(READING);
    expect(t.fdOf[i]).toBe(7);
    expect(t.endOf[i]).toBe(-1);
    const g = t.gen[i];
    t.release(i);
    expect(t.phase[i]).toBe(FREE);
    expect(t.gen[i]).not.toBe(g);
    expect(t.take(8, 6)).toBe(i);
    expect(t.gen[i]).not.toBe(g);
  });

  it('keeps the first end decided, and partial input across chunks', () => {
    const t = new ConnTable(false);
    const i = t.take(3, 0);
    t.setEnd(i, END_CODE['max-bytes'], REASON_MAX_BYTES);
    t.setEnd(i, END_CODE['idle-timeout'], REASON_IDLE);
    expect(t.endOf[i]).toBe(END_CODE['max-bytes']);
    expect(t.reasonOf[i]).toBe(REASON_MAX_BYTES);
    const chunk = Buffer.from('abcdef');
    t.keepPending(i, chunk, 1, 3);
    chunk.fill(0); // the table keeps a copy, not the reused read buffer
    t.keepPending(i, Buffer.from('xyz'), 0, 3);
    expect(t.pendInLen[i]).toBe(5);
    expect(t.takePending(i, Buffer.from('!')).toString()).toBe('bcxyz!');
    expect(t.pendIn[i]).toBeNull();
    expect(t.pendInLen[i]).toBe(0);
  });
});

describe('Lingering', () => {
  it('gives a slot back once its time has come, and skips one whose slot moved on', () => {
    const gen = new Uint32Array(4);
    const phase = new Uint8Array(4).fill(ANSWERED);
    const q = new Lingering();
    expect(q.dueAt()).toBe(Infinity);
    q.add(1, 0, 10);
    q.add(2, 0, 10);
    q.add(3, 0, 10.5);
    expect(q.dueAt()).toBe(10 + LINGER_MS);
    expect(q.next(gen, phase, 10)).toBe(-1); // not yet
    gen[2] = 1; // closed and reused meanwhile
    const now = 10 + LINGER_MS;
    expect(q.next(gen, phase, now)).toBe(1);
    expect(q.next(gen, phase, now)).toBe(-1); // 2 skipped; 3 not due
    expect(q.waiting()).toBe(true);
    expect(q.next(gen, phase, 10.5 + LINGER_MS)).toBe(3);
    expect(q.next(gen, phase, 100)).toBe(-1);
    expect(q.waiting()).toBe(false);
  });
});

describe('serve protocol rules (both engines)', () => {
  it('frames one-shot requests by --read', () => {
    const buf = Buffer.from('ab\ncd');
    expect(oneshotRequestEnd('line', buf, buf.length)).toBe(3);
    expect(oneshotRequestEnd('line', Buffer.from('abc'), 3)).toBe(-1);
    expect(oneshotRequestEnd('eof', buf, buf.length)).toBe(-1);
    expect(oneshotRequestEnd('once', buf, buf.length)).toBe(5);
    expect(oneshotRequestEnd('once', Buffer.alloc(2000), 2000)).toBe(512);
    expect(requestAtEnd('eof', false)).toBe(true);
    expect(requestAtEnd('line', false)).toBe(false);
    expect(requestAtEnd('once', true)).toBe(true);
  });

  it('names the ends', () => {
    expect(endAtClose(false, true)).toBe('closed');
    expect(endAtClose(true, true)).toBe('closed');
    expect(endAtClose(true, false)).toBe('shutdown');
    expect(endAtClose(false, false)).toBe('client-closed');
    expect(errnoEnd('EPIPE')).toBe('client-reset');
    expect(errnoEnd(constants.errno.ECONNRESET)).toBe('client-reset');
    expect(errnoEnd('EACCES')).toBe('error');
    expect(errnoEnd(undefined)).toBe('error');
  });
});

describe('bindListener: the socket type is a parameter', () => {
  it('makes a SOCK_SEQPACKET listener when asked, which a Python seqpacket client reaches (and a stream client does not)', async () => {
    requirePeers('python3');
    const dir = tmpDir();
    const path = join(dir, 'seq.sock');
    const bound = await bindListener(parseTarget(path), {}, SOCK_SEQPACKET);
    expect(bound.socketType).toBe(SOCK_SEQPACKET);
    try {
      const probe = (type: string) =>
        run('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.${type})\ntry:\n  s.connect(sys.argv[1]); print('connected')\nexcept OSError as e: print(e.errno)`, path], {
          timeoutMs: 10_000,
        });
      expect((await probe('SOCK_SEQPACKET')).stdout.trim()).toBe('connected');
      // A stream client is refused by a seqpacket listener (EPROTOTYPE).
      expect((await probe('SOCK_STREAM')).stdout.trim()).toBe(String(constants.errno.EPROTOTYPE));
    } finally {
      libc().close(bound.fd!);
    }
  });
});

describe("the relay's self-upstream check (ownFileCheck: stat(2) into a reused buffer)", () => {
  it('says whether the path leads to the given file now: through a symlink made later, not another file, not a missing path; as leadsToOwnFile does', () => {
    const dir = tmpDir();
    const own = join(dir, 'tap.sock');
    const other = join(dir, 'other');
    writeFileSync(own, '');
    writeFileSync(other, '');
    const st = statSync(own);
    const id = { dev: st.dev, ino: st.ino };
    const link = join(dir, 'up.sock');
    const sys = epollLibc();
    expect(sys.statAt, 'the fast path is there on this libc').toBeTypeOf('function');
    for (const s of [sys, { address: sys.address }]) {
      const check = ownFileCheck(link, id, s);
      expect(check()).toBe(false); // nothing there yet
      symlinkSync(other, link);
      expect(check()).toBe(false);
      unlinkSync(link);
      symlinkSync(own, link); // made after the check was: the next call sees it
      expect(check()).toBe(true);
      expect(check()).toBe(leadsToOwnFile(link, id));
      expect(ownFileCheck(link, { dev: id.dev, ino: id.ino + 1 }, s)()).toBe(false);
      expect(ownFileCheck(link, null, s)()).toBe(false);
      unlinkSync(link);
    }
  });
});
