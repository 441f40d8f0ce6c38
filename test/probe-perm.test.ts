/**
 * Permission findings, run as an unprivileged user: root may connect anywhere,
 * so the probe runs under `setpriv --reuid=65534 --regid=65534 --clear-groups`
 * against sockets served by root. These tests need root (they skip otherwise,
 * and fail under UDSCTL_TEST_STRICT=1); the CLI runs from the world-readable
 * copy of the build (a 0700 checkout is out of uid 65534's reach).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ME, NOBODY, requireRoot } from './helpers/requirements.js';
import { runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { AS_NOBODY, check, cleanup, expectFinding, peer, probe, probeJson, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

// cwd '/': nobody need not be able to enter the checkout (it runs the world-readable copy of the build).
const nobody = { wrap: AS_NOBODY, cwd: '/' };

// The sockets are served by the test's own user (root), so that user and group own them.
const owners = `${ME.user}:${ME.group}`;
const who = `uid ${NOBODY.uid} (${NOBODY.user})`;

let canRun = false;
beforeEach(async () => {
  requireRoot('setpriv to uid 65534, because root passes every permission check');
  if (canRun) return;
  const r = await runCli(['--version'], nobody);
  if (r.status !== 0) throw new Error(`uid 65534 cannot run udsctl (is setpriv installed?): ${r.stderr}`);
  canRun = true;
});

/** A mkdtemp folder (0700) opened so that anyone may enter it. */
function openDir(): string {
  const dir = tmpDir();
  chmodSync(dir, 0o755);
  return dir;
}

describe('as nobody (uid 65534)', () => {
  it('PERMISSION_DENIED: srw-rw---- owned by root, not in its group; the fix names the group', async () => {
    const sock = join(openDir(), 'p.sock');
    await serve(sock, ['--perm', '0660']);
    const res = await probeJson([sock], nobody);
    expectFinding(res, 'PERMISSION_DENIED', 2);
    expect(res.t.detail).toContain(`srw-rw---- ${owners}; you are ${who}, not ${ME.user} and not in group ${ME.group}`);
    expect(res.t.fix).toContain(`usermod -aG ${ME.group} ${NOBODY.user}`);
    expect(res.t.path).toMatchObject({ mayConnect: false, modeString: 'srw-rw----', owner: ME.user, group: ME.group, mode: '0660' });
    expect(check(res.t, 'path').status).toBe('fail');
    expect(check(res.t, 'connect').status).toBe('fail');
    // The listener is there; its process belongs to root and is not ours to see.
    expect(check(res.t, 'listener')).toMatchObject({ status: 'ok' });
    expect(check(res.t, 'listener').detail).toContain(`not visible to uid ${NOBODY.uid}`);

    const human = await probe([sock], nobody);
    expect(human.status).toBe(2);
    expect(human.stdout.split('\n')[0]).toBe(`CRITICAL ${sock}: permission denied [PERMISSION_DENIED]`);
    // The detail wraps at 80 columns (stdout is not a terminal); unwrapped, it is the whole sentence.
    const [, detail, more] = human.stdout.split('\n');
    expect(`${detail} ${more.trim()}`).toBe(`  srw-rw---- ${owners}; you are ${who}, not ${ME.user} and not in group ${ME.group}`);
  });

  it('PERMISSION_DENIED: a parent directory without search permission, named', async () => {
    const dir = openDir();
    const priv = join(dir, 'private');
    mkdirSync(priv, { mode: 0o700 });
    const sock = join(priv, 's.sock');
    await serve(sock);
    const res = await probeJson([sock], nobody);
    expectFinding(res, 'PERMISSION_DENIED', 2);
    expect(res.t.detail).toContain(`parent directory ${priv} (drwx------ ${owners}) has no search (x) permission for ${who}`);
    expect(res.t.path).toMatchObject({ state: 'unreachable', blockedDir: priv, mayConnect: false });
    expect(res.t.fix).toContain(priv);
  });

  it('only the owner may write: the fix says so', async () => {
    const sock = join(openDir(), 'o.sock');
    await serve(sock, ['--perm', '0600']);
    const res = await probeJson([sock], nobody);
    expectFinding(res, 'PERMISSION_DENIED', 2);
    expect(res.t.fix.startsWith(`only ${ME.user} may connect`)).toBe(true);
  });

  it('a socket others may write: healthy as nobody too', async () => {
    const sock = join(openDir(), 'w.sock');
    await serve(sock, ['--perm', '0666']);
    const res = await probeJson([sock], nobody);
    expectFinding(res, 'OK', 0);
    expect(res.t.path.access).toBe(`srw-rw-rw- ${owners}; you are ${who}; the other bits allow connecting`);
  });

  it('no permission and no listener: both findings, permission first', async () => {
    const dir = openDir();
    const sock = join(dir, 'stale.sock');
    await peer('stale', sock);
    chmodSync(sock, 0o600);
    const res = await probeJson([sock], nobody);
    expectFinding(res, 'PERMISSION_DENIED', 2);
    expect(res.t.findings.map((f: { code: string }) => f.code)).toEqual(['PERMISSION_DENIED', 'STALE_SOCKET']);
    expect(check(res.t, 'listener').status).toBe('fail');
  });
});
