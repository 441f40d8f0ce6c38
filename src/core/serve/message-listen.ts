/**
 * The bound socket of serve's message-socket servers (message-server.ts, the
 * message tap message-tap.ts): the socket file's checks as serve's stream
 * listener makes them (a live server refused as in use, a non-socket never
 * replaced, a stale file replaced), the mode set through the umask, bind and,
 * for seqpacket, listen, the file's group (--group); bind's errors in serve's words.
 */
import { UdsError } from '../errors.js';
import { MessageSocket, sockaddrOf } from '../socket/message.js';
import { inspectSocketFile, removeSocketFile } from '../socket/socket-file.js';
import type { Target } from '../socket/target.js';
import { bindError, bindPath, lookupGid } from './listener.js';
import { sockaddrPath } from '../socket/sockaddr.js';
import { SERVE_DEFAULTS } from './options.js';

/** A bound (dgram) or listening (seqpacket) message socket, and the socket file it owns. */
export interface BoundMessageSocket {
  sock: MessageSocket;
  replacedStale: boolean;
  owned?: { path: string; ino: number };
}

/** Bind (and listen, seqpacket) at a Unix path or abstract name; ADDRESS_IN_USE, UNSAFE_PATH, bind's errors typed. */
export async function bindMessageSocket(
  t: Target,
  type: 'dgram' | 'seqpacket',
  o: { perm?: number; backlog?: number; group?: string | number } = {},
): Promise<BoundMessageSocket> {
  if (t.kind === 'tcp') throw new UdsError('BAD_OPTION', `${t.display}: --type ${type} is for Unix sockets (a path or @name)`);
  let replacedStale = false;
  if (t.kind === 'unix') {
    const state = await inspectSocketFile(t.path);
    if (state.state === 'live') throw new UdsError('ADDRESS_IN_USE', `${t.display}: in use: a server is bound there`, { target: t.display });
    if (state.state === 'not-socket') {
      throw new UdsError('UNSAFE_PATH', `${t.display}: exists and is a ${state.kind}, not a socket; refusing to replace it (remove it yourself if it is safe)`, {
        target: t.display,
      });
    }
    if (state.state === 'stale') replacedStale = await removeSocketFile(t.path, state.ino);
  }
  // Looked up before anything exists on disk: a bad --group leaves nothing behind.
  const gid = o.group === undefined ? undefined : await lookupGid(o.group);
  let sock: MessageSocket;
  try {
    sock = MessageSocket.create(type, t.display);
  } catch (err) {
    throw bindError(err as NodeJS.ErrnoException, t);
  }
  const perm = o.perm;
  const bindAt = (addr: Buffer) => {
    const old = perm === undefined || t.kind !== 'unix' ? undefined : process.umask(~perm & 0o777);
    try {
      sock.bind(addr, t.display);
      if (type === 'seqpacket') sock.listen(o.backlog ?? SERVE_DEFAULTS.backlog, t.display);
    } finally {
      if (old !== undefined) process.umask(old);
    }
  };
  let owned: BoundMessageSocket['owned'];
  try {
    // With --group, bound in a private directory and given its group there (listener.ts bindPath): never by name.
    if (t.kind === 'unix') owned = bindPath(t, gid, (at) => bindAt(sockaddrPath(at)));
    else bindAt(sockaddrOf(t));
  } catch (err) {
    // A group we may not give (not root, not one of ours): no socket left with the wrong group.
    sock.close();
    throw err instanceof UdsError ? err : bindError(err as NodeJS.ErrnoException, t);
  }
  return { sock, replacedStale, owned };
}

/** Close the socket and remove its file (only the one it bound: same inode). */
export async function releaseMessageSocket(b: BoundMessageSocket): Promise<void> {
  b.sock.close();
  if (b.owned) await removeSocketFile(b.owned.path, b.owned.ino);
}
