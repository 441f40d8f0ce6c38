// The /proc fd scan of `udsctl ls` (core/ls/holders.ts): the getdents64/readlinkat path and the
// node:fs fallback see the same sockets, on this process's own real descriptors.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eachFd, eachFdFs, scanHolders } from '../../src/core/ls/holders.js';
import { procHidePid } from '../../src/core/socket/processes.js';
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

describe('procHidePid: /proc mounted so that other users\' processes are not even listed', () => {
  const mountinfo = (superOptions: string[]) => {
    const dir = mkdtempSync(join(os.tmpdir(), 'udsctl-mountinfo-'));
    dirs.push(dir);
    const file = join(dir, 'mountinfo');
    const lines = ['22 1 0:21 / /proc rw,relatime - proc proc rw', ...superOptions.map((o, i) => `${60 + i} 22 0:4${i} / /proc rw,relatime - proc proc ${o}`), '30 1 0:5 / /dev rw - devtmpfs udev rw'];
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const nobody = { uid: 65534, groups: [65534] };

  it('hidepid=invisible (2) and ptraceable (4) are said; noaccess (1) lists them (an unreadable fd folder is counted instead)', () => {
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,hidepid=invisible']))).toBe('hidepid=invisible');
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,hidepid=2']))).toBe('hidepid=invisible');
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,hidepid=ptraceable']))).toBe('hidepid=ptraceable');
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,hidepid=noaccess']))).toBeNull();
    expect(procHidePid(nobody, '/proc', mountinfo([]))).toBeNull();
  });

  it('root, and members of its gid= group, see every process; the last mount on /proc is the one in use', () => {
    expect(procHidePid({ uid: 0, groups: [0] }, '/proc', mountinfo(['rw,hidepid=invisible']))).toBeNull();
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,gid=65534,hidepid=invisible']))).toBeNull();
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,gid=4,hidepid=invisible']))).toBe('hidepid=invisible');
    expect(procHidePid(nobody, '/proc', mountinfo(['rw,hidepid=invisible', 'rw']))).toBeNull();
    expect(procHidePid(nobody, '/proc', '/nonexistent/mountinfo')).toBeNull();
  });
});
