/**
 * probe's listener lookup (findListeners + nameListeners) on real servers in
 * child processes, both ways: by the bound file's inode (sock_diag) and by name
 * (the fallback where sock_diag is missing), so the fallback is not dead code.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findListeners, nameListeners } from '../src/core/probe.js';
import { parseTarget } from '../src/core/socket/target.js';
import { inspectPath } from '../src/core/socket/path-access.js';
import { fileId, readServerSockets, sameFile } from '../src/core/socket/server-sockets.js';
import { type Spawned, killChildren, spawnChild, waitForOutput } from './helpers/children.js';
import { makeStaleSocket } from './helpers/peers.js';
import { tmpDir } from './helpers/tmp-dir.js';

afterEach(killChildren);

/** A node:net server in a child process, bound by `name` (relative names resolve in `cwd`). */
async function server(name: string, cwd?: string): Promise<Spawned> {
  const s = spawnChild(process.execPath, ['-e', "require('net').createServer((c) => c.end('OK\\n')).listen(process.argv[1], () => console.log('ready'))", name], {
    cwd,
    timeoutMs: 30_000,
  });
  await waitForOutput(s, /ready/);
  return s;
}

async function lookUp(p: string, sockDiag: boolean) {
  const search = await findListeners(parseTarget(p), await inspectPath(p), sockDiag);
  await nameListeners(search, 2_000);
  return search.info;
}

const pids = (owners: { pid: number }[]) => owners.map((o) => o.pid);

describe('the listener of a Unix path', () => {
  it('sock_diag names the file each listener is bound to (device and inode, as stat gives them)', async (ctx) => {
    if (readServerSockets() === null && !process.env.UDSCTL_TEST_STRICT) {
      // Not Linux, or no unix_diag in this kernel: probe matches by name there (the "by name" tests).
      return ctx.skip();
    }
    const dir = tmpDir();
    await server(join(dir, 's.sock'));
    const id = await fileId(join(dir, 's.sock'));
    expect(readServerSockets()!.some((s) => s.listening && sameFile(s.vfs, id))).toBe(true);
  });

  for (const sockDiag of [true, false]) {
    const how = sockDiag ? 'by inode' : 'by name';

    it(`${how}: a symlink to a live socket finds its server`, async () => {
      const dir = tmpDir();
      const s = await server(join(dir, 'real.sock'));
      symlinkSync(join(dir, 'real.sock'), join(dir, 'link.sock'));
      const l = await lookUp(join(dir, 'link.sock'), sockDiag);
      expect(l.available).toBe(true);
      expect(l.match).toBe(sockDiag && readServerSockets() !== null ? 'inode' : 'name');
      expect(pids(l.owners)).toEqual([s.child.pid]);
      expect(l.deleted.inodes).toEqual([]);
    });

    it(`${how}: a stale file here is not served by a namesake bound relatively elsewhere; that server is found where it lives`, async () => {
      const here = join(tmpDir(), 'here');
      const there = join(tmpDir(), 'there');
      mkdirSync(here);
      mkdirSync(there);
      const s = await server('app.sock', there);
      await makeStaleSocket(join(here, 'app.sock'));
      const stale = await lookUp(join(here, 'app.sock'), sockDiag);
      expect(stale.inodes).toEqual([]);
      expect(pids(stale.owners)).not.toContain(s.child.pid);
      const live = await lookUp(join(there, 'app.sock'), sockDiag);
      expect(pids(live.owners)).toEqual([s.child.pid]);
    });

    it(`${how}: a deleted socket file whose server still listens is reported as deleted, with its process`, async () => {
      const dir = tmpDir();
      const s = await server(join(dir, 'gone.sock'));
      rmSync(join(dir, 'gone.sock'));
      const l = await lookUp(join(dir, 'gone.sock'), sockDiag);
      expect(l.inodes).toEqual([]);
      expect(l.deleted.inodes.length).toBe(1);
      expect(pids(l.deleted.owners)).toEqual([s.child.pid]);
    });

    it(`${how}: a file deleted and bound again by a new server: the new one listens, the old one is on a deleted file`, async () => {
      const dir = tmpDir();
      const old = await server(join(dir, 'app.sock'));
      rmSync(join(dir, 'app.sock'));
      const fresh = await server(join(dir, 'app.sock'));
      const l = await lookUp(join(dir, 'app.sock'), sockDiag);
      if (sockDiag && l.match === 'inode') {
        expect(pids(l.owners)).toEqual([fresh.child.pid]);
        expect(pids(l.deleted.owners)).toEqual([old.child.pid]);
      } else {
        // By name the two cannot be told apart: both are listed as listening on it.
        expect(pids(l.owners).sort()).toEqual([old.child.pid, fresh.child.pid].sort());
      }
    });
  }
});
