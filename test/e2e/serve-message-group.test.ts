/**
 * serve --type dgram | seqpacket --group: the socket file's group set as the
 * stream engines set it (listener.ts), with the same errors, and a client of
 * that group let in (a Python sender and client, and udsctl send).
 */
import { chmodSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run } from '../helpers/children.js';
import { AS_NOBODY, IS_ROOT, ME, requirePeers, requireRoot } from '../helpers/requirements.js';
import { collectStderr, killAll, runCli, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(async () => {
  killAll();
  await killChildren();
});

const TYPES = ['dgram', 'seqpacket'] as const;

async function serve(type: string, args: string[], sock: string) {
  const child = startCli(['serve', '--type', type, ...args, sock]);
  const log = collectStderr(child);
  await waitForStderr(child, 'listening on');
  return { child, log };
}

/** Wait (bounded) until serve's whole log so far shows `text`: it may have been logged already. */
async function logged(log: { text: () => string }, text: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!log.text().includes(text)) {
    if (Date.now() > end) throw new Error(`no ${text} in serve's log: ${JSON.stringify(log.text())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A group this user may give a file: its own primary group (by name, as a user types it). */
const MY_GROUP = ME.group;

describe('serve --type dgram | seqpacket --group', () => {
  for (const type of TYPES) {
    it(`${type}: the socket file gets the group (by name and by gid), the mode stays --perm, and the server works`, async () => {
      requirePeers('python3');
      const dir = tmpDir();
      const byName = join(dir, `${type}-name.sock`);
      const s1 = await serve(type, ['--perm', '0660', '--group', MY_GROUP], byName);
      const st = lstatSync(byName);
      expect(st.gid).toBe(ME.gid);
      expect(st.mode & 0o777).toBe(0o660);
      // It serves: a Python client of the type gets through.
      const py =
        type === 'dgram'
          ? `import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'hello-group', sys.argv[1])`
          : `import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1]); s.send(b'hello-group'); print(s.recv(100))`;
      const r = await run('python3', ['-c', py, byName], { timeoutMs: 10_000 });
      expect(r.code, r.stderr).toBe(0);
      await logged(s1.log, 'hello-group');
      s1.child.kill('SIGTERM');
      expect(await waitExit(s1.child)).toBe(0);
      expect(existsSync(byName)).toBe(false);

      const byGid = join(dir, `${type}-gid.sock`);
      const s2 = await serve(type, ['--group', String(ME.gid)], byGid);
      expect(lstatSync(byGid).gid).toBe(ME.gid);
      s2.child.kill('SIGTERM');
      await waitExit(s2.child);
    });

    it(`${type}: an unknown group is a usage error (exit 2) and leaves nothing on disk`, async () => {
      const sock = join(tmpDir(), 'g.sock');
      const r = await runCli(['serve', '--type', type, '--group', 'no-such-group-udsctl', sock]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--group: no group named "no-such-group-udsctl"/);
      expect(existsSync(sock)).toBe(false);
    });
  }

  it('a group this user may not give (not root, not a member): refused (exit 4), the socket file removed', async () => {
    if (IS_ROOT) {
      // Root may give any group: the refusal is seen as uid 65534, which is in no group but its own.
      requireRoot('setpriv to uid 65534');
      const dir = tmpDir();
      chmodSync(dir, 0o777);
      for (const type of TYPES) {
        const sock = join(dir, `${type}.sock`);
        const r = await runCli(['serve', '--type', type, '--group', '0', sock], { wrap: AS_NOBODY });
        expect(r.status, r.stderr).toBe(4);
        expect(r.stderr).toMatch(/cannot set the group of the socket file/);
        expect(existsSync(sock)).toBe(false);
      }
      return;
    }
    const other = ME.gid === 0 ? 65534 : 0;
    for (const type of TYPES) {
      const sock = join(tmpDir(), `${type}.sock`);
      const r = await runCli(['serve', '--type', type, '--group', String(other), sock]);
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/cannot set the group of the socket file/);
      expect(existsSync(sock)).toBe(false);
    }
  });

  it('"the service user cannot send": --perm 0660 --group lets a client of that group in (dgram and seqpacket)', async () => {
    requireRoot('the socket goes to group nogroup, and setpriv drops to uid 65534 (a service user)');
    const dir = tmpDir();
    chmodSync(dir, 0o755);
    const asNobodyWithGroups = [...AS_NOBODY.slice(0, -1), '--init-groups'];
    for (const type of TYPES) {
      const closed = join(dir, `${type}-closed.sock`);
      const c = await serve(type, ['--perm', '0660'], closed);
      const denied = await runCli(['send', '--type', type, closed, 'hi'], { wrap: AS_NOBODY });
      expect(denied.status, denied.stderr).toBe(4);
      expect(denied.stderr).toMatch(/permission denied/);
      c.child.kill('SIGTERM');

      const open = join(dir, `${type}-open.sock`);
      const o = await serve(type, ['--perm', '0660', '--group', 'nogroup'], open);
      expect(lstatSync(open).gid).toBe(65534);
      const allowed = await runCli(['send', '--type', type, open, 'hi-from-nobody'], { wrap: asNobodyWithGroups });
      expect(allowed.status, allowed.stderr).toBe(0);
      await logged(o.log, 'hi-from-nobody');
      o.child.kill('SIGTERM');
    }
  });
});
