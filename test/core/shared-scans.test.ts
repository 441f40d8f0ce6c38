/**
 * probe's many targets at once (issue 19 item 10: 1,000 targets): the /proc
 * reads every target needs are shared by the lookups made at once, a read
 * begun after each caller asked. Beside 10,000 sockets each target read and
 * parsed /proc/net/unix and scanned every /proc/<pid>/fd itself, all together:
 * 100 targets took 15 s and 350 MB here, 1,000 took 105 s.
 */
import fs, { promises as fsp, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { findSocketOwners } from '../../src/core/socket/processes.js';
import { readProcNetUnix } from '../../src/core/socket/server-sockets.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => vi.restoreAllMocks());

/** A /proc of its own: pids 10 and 11, each holding sockets. */
function fakeProc(): string {
  const proc = tmpDir();
  for (const [pid, inodes] of [[10, [100, 101]], [11, [200]]] as const) {
    mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
    writeFileSync(join(proc, String(pid), 'comm'), `p${pid}\n`);
    writeFileSync(join(proc, String(pid), 'cmdline'), `p${pid}\0--flag\0`);
    inodes.forEach((ino, fd) => symlinkSync(`socket:[${ino}]`, join(proc, String(pid), 'fd', String(fd))));
  }
  return proc;
}

describe('lookups made at once share one read', () => {
  it('findSocketOwners: 50 at once scan /proc once, and each gets its own owners', async () => {
    const proc = fakeProc();
    const readdir = vi.spyOn(fs, 'readdirSync');
    const asks = Array.from({ length: 50 }, (_, k) => findSocketOwners([k % 2 === 0 ? 100 : 200], 1_000, proc));
    const found = await Promise.all(asks);
    expect(readdir.mock.calls.filter(([p]) => p === proc).length).toBe(1); // made in one turn: one scan
    expect(found[0].owners).toEqual([{ pid: 10, inode: 100, name: 'p10', cmdline: 'p10 --flag' }]);
    expect(found[1].owners).toEqual([{ pid: 11, inode: 200, name: 'p11', cmdline: 'p11 --flag' }]);
    // A lookup after they are done sees what changed since: a scan of its own.
    symlinkSync('socket:[300]', join(proc, '11', 'fd', '9'));
    expect((await findSocketOwners([300], 1_000, proc)).owners.map((o) => o.pid)).toEqual([11]);
  });

  describe('a /proc of 1,000 processes of 8 descriptors each (a scan takes many event-loop turns)', () => {
    let proc = '';
    beforeAll(() => {
      proc = mkdtempSync(join(tmpdir(), 'udsctl-proc-'));
      for (let pid = 1; pid <= 1_000; pid++) {
        mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
        for (let fd = 0; fd < 8; fd++) symlinkSync(`socket:[${pid * 10 + fd}]`, join(proc, String(pid), 'fd', String(fd)));
      }
    });
    afterAll(() => rmSync(proc, { recursive: true, force: true }));

    it('a long scan lets the event loop turn (probe\'s other targets keep their timing)', async () => {
      let turns = 0;
      let spinning = true;
      const spin = () => {
        turns++;
        if (spinning) setImmediate(spin);
      };
      setImmediate(spin);
      const found = await findSocketOwners([1_000 * 10 + 3], 60_000, proc);
      spinning = false;
      expect(found.owners.map((o) => o.pid)).toEqual([1_000]); // the last process: the whole /proc was read
      expect(turns).toBeGreaterThan(1);
    });

    it('50 lookups arriving one event-loop turn apart (as real targets do) share a few scans, each its own owners', async () => {
      const readdir = vi.spyOn(fs, 'readdirSync');
      const asks: Promise<Awaited<ReturnType<typeof findSocketOwners>>>[] = [];
      for (let k = 1; k <= 50; k++) {
        asks.push(findSocketOwners([k * 10], 60_000, proc));
        await new Promise<void>((r) => setImmediate(r));
      }
      const found = await Promise.all(asks);
      // Lookups that come while a scan runs wait for the next one, together (each on its own: 50).
      expect(readdir.mock.calls.filter(([p]) => p === proc).length).toBeLessThanOrEqual(10);
      expect(found.map((f) => f.owners.map((o) => o.pid).join())).toEqual(Array.from({ length: 50 }, (_, k) => String(k + 1)));
    });
  });

  it('readProcNetUnix: 50 at once read the file at most twice', async () => {
    const file = join(tmpDir(), 'unix');
    writeFileSync(file, 'Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/a.sock\n');
    const readFile = vi.spyOn(fsp, 'readFile');
    const all = await Promise.all(Array.from({ length: 50 }, () => readProcNetUnix(file)));
    expect(readFile.mock.calls.filter(([p]) => p === file).length).toBeLessThanOrEqual(2);
    expect(all.every((rows) => rows?.length === 1 && rows[0].inode === 12345)).toBe(true);
  });
});
