import { promises as fsp } from 'node:fs';
import { openConnection } from './connect.js';
import { UdsError } from '../errors.js';
import type { Target } from './target.js';

export type SocketFileState =
  | { state: 'absent' }
  | { state: 'live' }
  | { state: 'stale'; ino: number }
  | { state: 'not-socket'; kind: string };

function kindOf(st: import('node:fs').Stats): string {
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'regular file';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'non-socket file';
}

/**
 * What is at a socket path: nothing, a socket with a listener, a stale socket
 * (no listener: a crashed or killed server left it), or something that is not
 * a socket. lstat, so a planted symlink is seen as a symlink, never followed.
 */
export async function inspectSocketFile(path: string, connectTimeout = 1_000): Promise<SocketFileState> {
  let st;
  try {
    st = await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
    throw new UdsError('IO_ERROR', `${path}: ${(err as Error).message}`, { target: path, cause: err });
  }
  if (!st.isSocket()) return { state: 'not-socket', kind: kindOf(st) };
  const target: Target = { kind: 'unix', path, display: path };
  try {
    const s = await openConnection(target, { connectTimeout });
    s.destroy();
    return { state: 'live' };
  } catch (err) {
    if (err instanceof UdsError && err.code === 'REFUSED') return { state: 'stale', ino: st.ino };
    // Backlog full or slow accept still means somebody listens.
    if (err instanceof UdsError && (err.code === 'BACKLOG_FULL' || err.code === 'CONNECT_TIMEOUT')) return { state: 'live' };
    // A socket of another type (dgram, seqpacket) bound there: live too (a stale file refuses, whatever its type).
    if (err instanceof UdsError && err.code === 'WRONG_TYPE') return { state: 'live' };
    throw err;
  }
}

/**
 * Remove a stale socket file, but only if the same inode is still a socket:
 * never deletes anything else, even if the path was swapped meanwhile.
 */
export async function removeSocketFile(path: string, ino?: number): Promise<boolean> {
  try {
    const st = await fsp.lstat(path);
    if (!st.isSocket() || (ino !== undefined && st.ino !== ino)) return false;
    await fsp.unlink(path);
    return true;
  } catch {
    return false;
  }
}
