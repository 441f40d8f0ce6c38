// The /proc fd scan of `udsctl ls` (core/ls/holders.ts): the getdents64/readlinkat path and the
// node:fs fallback see the same sockets, on this process's own real descriptors.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eachFd, eachFdFs, scanHolders } from '../../src/core/ls/holders.js';
import { dumpUnixSockets, SockDiagUnavailable } from '../../src/core/socket/sock-diag.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const collect = (f: typeof eachFd, dir: string) => {
  const got: number[] = [];
  const r = f(dir, (inode) => {
    got.push(inode);
    return false;
  });
  return { r, got };
};

describe('ls holder scan', () => {
  it('getdents64+readlinkat and node:fs give the same descriptors of /proc/self/fd; a listener of ours is found with our pid', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'udsctl-holders-'));
    dirs.push(dir);
    const sock = join(dir, 'h.sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    try {
      const fast = collect(eachFd, '/proc/self/fd');
      const slow = collect(eachFdFs, '/proc/self/fd');
      expect(fast.r).toBe('read');
      expect(slow.r).toBe('read');
      // The directory's own descriptor differs between the two reads: compare the sockets.
      const sockets = (xs: number[]) => xs.filter((x) => x >= 0).sort((a, b) => a - b);
      expect(sockets(fast.got)).toEqual(sockets(slow.got));
      const t = dumpUnixSockets();
      if (t instanceof SockDiagUnavailable) throw new Error(t.reason);
      const want = Buffer.from(sock);
      const row = [...Array(t.length).keys()].find((i) => t.nameEquals(i, want));
      expect(row, 'our listener in sock_diag').toBeDefined();
      const inode = t.inode[row!];
      expect(sockets(fast.got)).toContain(inode);
      const scan = scanHolders(new Set([inode]));
      expect(scan.byInode.get(inode)).toEqual([process.pid]);
      expect(scan.processes.get(process.pid)?.pid).toBe(process.pid);
    } finally {
      server.close();
    }
  });

  it('a fake /proc: links that are not sockets are -1, `socket:[N]` is N, an unreadable or absent folder is named', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'udsctl-fakeproc-'));
    dirs.push(dir);
    const fd = join(dir, 'fd');
    mkdirSync(fd);
    symlinkSync('socket:[4242]', join(fd, '3'));
    symlinkSync('/dev/null', join(fd, '4'));
    symlinkSync('socket:[12x]', join(fd, '5'));
    symlinkSync('pipe:[77]', join(fd, '6'));
    for (const f of [eachFd, eachFdFs]) {
      const { r, got } = collect(f, fd);
      expect(r).toBe('read');
      expect(got.sort((a, b) => a - b)).toEqual([-1, -1, -1, 4242]);
      expect(collect(f, join(dir, 'absent')).r).toBe('gone');
    }
  });
});
