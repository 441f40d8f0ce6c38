/**
 * serve --group's private directory is reached through its descriptor, never
 * by its name again (issue 19 item 1, round 3). The private directory sits in
 * the socket's directory, which another user may write: without a sticky bit
 * they may rename it (renaming a directory within one parent needs no right on
 * it) and put their own directory under its name, holding a setgid directory
 * where the socket was. A chown by the private directory's name then gave their
 * directory our group (reproduced with an inotify racer: 3 of 30 rounds). Here
 * the other user's swap is played between bind and chown, deterministically.
 */
import { closeSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UdsError } from '../../src/core/errors.js';
import { bindPath } from '../../src/core/serve/listener.js';
import { SOCK_STREAM } from '../../src/core/socket/ffi.js';
import { listenPathFd } from '../../src/core/socket/fd.js';
import { IS_ROOT } from '../helpers/requirements.js';
import { tmpDir } from '../helpers/tmp-dir.js';

/** A group to give that is not the file's own (as root: nogroup). */
const GID = 65534;

describe('serve --group: the private directory is used by its descriptor', () => {
  it.skipIf(!IS_ROOT)('their directory swapped in under the private name between bind and chown keeps its group', () => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    // The other user's directory, and in it a setgid directory where the socket would be.
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs);
    mkdirSync(join(theirs, 's'), { mode: 0o2777 });
    const gidBefore = statSync(join(theirs, 's')).gid;
    expect(gidBefore).not.toBe(GID);
    let fd: number | undefined;
    let swappedTo = '';
    let error: unknown;
    try {
      bindPath({ kind: 'unix', path, display: path }, GID, (at) => {
        fd = listenPathFd(at, 8, SOCK_STREAM);
        // The other user, now: the private directory renamed away, theirs put under its name.
        const priv = realpathSync(dirname(at));
        renameSync(priv, join(dir, 'moved'));
        renameSync(theirs, priv);
        swappedTo = priv;
      });
    } catch (err) {
      error = err;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    expect(swappedTo).not.toBe('');
    // Their setgid directory keeps its group.
    expect(statSync(join(swappedTo, 's')).gid).toBe(gidBefore);
    // Our socket got the group and its place (nothing of theirs was linked there).
    expect(error).toBeUndefined();
    const st = lstatSync(path);
    expect([st.isSocket(), st.gid]).toEqual([true, GID]);
    // The private directory (moved away) holds nothing of ours any more.
    expect(readdirSync(join(dir, 'moved'))).toEqual([]);
  });

  it.skipIf(!IS_ROOT)('a private directory replaced before it is opened (not ours, or not 0700) is refused: UNSAFE_PATH, nothing bound', () => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    let called = false;
    // mkdtemp's directory replaced at once by one that is not private: the check sees it before any bind.
    const err = (() => {
      try {
        bindPath({ kind: 'unix', path, display: path }, GID, () => {
          called = true;
        }, (priv) => {
          renameSync(priv, join(dir, 'moved'));
          mkdirSync(priv, { mode: 0o755 });
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(UdsError);
    expect((err as UdsError).code).toBe('UNSAFE_PATH');
    expect(readdirSync(dir).includes('s.sock')).toBe(false);
  });
});
