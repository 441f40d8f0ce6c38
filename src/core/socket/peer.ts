/**
 * Who is on the other end of a connected Unix socket: SO_PEERCRED (Linux),
 * the pid, uid and gid the kernel recorded when the peer connected (or, for a
 * client, when the server listened), and the process's name. Exact where the
 * /proc/net/unix lookup cannot be (another namespace); a process that exited
 * since keeps its ids, its name is then unknown.
 */
import { readFileSync } from 'node:fs';
import { SOL_SOCKET } from './ffi.js';
import { epollLibc } from './libc.js';

const SO_PEERCRED = 17;

/** The peer's process, as the kernel recorded it (SO_PEERCRED). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** A peer with its process name (/proc/<pid>/comm; absent when not visible). */
export interface NamedPeer extends PeerCred {
  name?: string;
}

const val = Buffer.alloc(12);
const len = Buffer.alloc(4);

/** SO_PEERCRED of a connected Unix socket fd (a net.Socket's: `socket._handle.fd`); null where not available or not recorded. */
export function peerCredOf(fd: number): PeerCred | null {
  if (process.platform !== 'linux' || !(fd >= 0)) return null;
  try {
    len.writeUInt32LE(12, 0);
    if (epollLibc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, val, len) !== 0) return null;
  } catch {
    return null; // no koffi build here
  }
  const pid = val.readInt32LE(0);
  return pid > 0 ? { pid, uid: val.readUInt32LE(4), gid: val.readUInt32LE(8) } : null;
}

// A busy server sees the same few client processes again and again: their names, read once.
const names = new Map<number, string | undefined>();
const NAMES_KEPT = 1024;

/** A process's name (/proc/<pid>/comm), cached by pid; undefined when not visible. */
export function processName(pid: number): string | undefined {
  if (names.has(pid)) return names.get(pid);
  let name: string | undefined;
  try {
    name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    name = undefined;
  }
  if (names.size >= NAMES_KEPT) names.clear();
  names.set(pid, name);
  return name;
}

/** SO_PEERCRED with the process name; null where not available. */
export function namedPeer(fd: number): NamedPeer | null {
  const cred = peerCredOf(fd);
  if (!cred) return null;
  const name = processName(cred.pid);
  return name === undefined ? cred : { ...cred, name };
}
