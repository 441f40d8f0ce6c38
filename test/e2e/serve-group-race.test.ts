/**
 * serve --group never changes a group through a name another user can swap
 * (issue 19 item 1). The old way, bind then chown(path), let a user who may
 * write the socket's directory put their setgid directory (or a hard link to
 * any file) at the path in between, and serve gave it the group. Now the socket
 * is bound in a private 0700 directory beside the path, given its group there,
 * and hard-linked into place, the private directory reached through its
 * descriptor once opened (its name could be swapped too: bind-private-dir.test.ts).
 * strace shows the calls: the bind and the chown are inside the private
 * directory by /proc/self/fd, none names the path; the result is the
 * usual socket with the group and --perm, for each socket type and engine.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findTool, IS_ROOT, STRICT } from '../helpers/requirements.js';
import { killAll, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => killAll());

/** A group we may give: as root another one than ours (so the change shows), else our own. */
const GID = IS_ROOT ? 65534 : process.getgid!();
const HAVE_STRACE = findTool('strace') !== null;

describe('serve --group: no chown by name', () => {
  it.skipIf(!HAVE_STRACE && !STRICT).each([
    ['stream, net engine', ['--engine', 'net']],
    ['stream, epoll engine', ['--engine', 'epoll']],
    ['seqpacket', ['--type', 'seqpacket']],
    ['dgram', ['--type', 'dgram']],
  ])('%s: bound and chowned in a private directory, linked into place; group and mode as asked', async (_name, extra) => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    const log = join(dir, 'strace.log');
    const calls = 'trace=bind,chown,lchown,fchownat,fchown,link,linkat,rename,renameat,renameat2';
    const child = startCli(['serve', '--perm', '0640', '--group', String(GID), ...extra, path], { wrap: ['strace', '-f', '-qq', '-o', log, '-e', calls] });
    await waitForStderr(child, 'listening on', 20_000);
    const st = statSync(path);
    expect([st.isSocket(), st.gid, st.mode & 0o777]).toEqual([true, GID, 0o640]);
    expect(readdirSync(dir).sort()).toEqual(['s.sock', 'strace.log']); // the private directory is gone

    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => /\b(bind|chown|lchown|fchownat|fchown|link|linkat|rename\w*)\(/.test(l));
    const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // The private directory is reached through its descriptor: a name another user could swap is never used again.
    const priv = `/proc/self/fd/\\d+/s`;
    const binds = lines.filter((l) => /\bbind\(/.test(l) && (l.includes(dir) || l.includes('/proc/self/fd/')));
    expect(binds.length, lines.join('\n')).toBe(1);
    expect(binds[0]).toMatch(new RegExp(`sun_path="${priv}"`));
    const chowns = lines.filter((l) => /chown\w*\(/.test(l));
    expect(chowns.length, lines.join('\n')).toBe(1);
    expect(chowns[0]).toMatch(new RegExp(`"${priv}", -1, ${GID}\\)`));
    expect(lines.join('\n')).not.toMatch(new RegExp(`chown\\w*\\([^"]*"${q(path)}"`));
    expect(lines.filter((l) => /link(at)?\(/.test(l)).join('\n')).toMatch(new RegExp(`"${priv}", .*"${q(path)}"`));

    process.kill(Number(binds[0].split(' ')[0]), 'SIGTERM');
    expect(await waitExit(child, 15_000)).toBe(0);
  });
});
