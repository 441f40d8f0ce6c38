/**
 * What the OS can tell about a socket path without talking to it: what is
 * there, the file's owner, group and mode, and whether the current user may
 * connect (and if not, why, in terms a person can act on). For one path
 * (inspectPath: probe, send's service look) or many (inspectSocketSync: ls).
 * Read-only; never prints, never throws for an OS answer it can describe.
 */
import { type Stats, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import { type Identity, currentIdentity, groupName, userName } from './identity.js';
import { fsPath } from './target.js';

/** Owner, group and mode of one file system object. */
export interface FileFacts {
  path: string;
  /** `socket`, `directory`, `regular file`, ... */
  type: string;
  /** Permission bits, e.g. 0o660. */
  mode: number;
  /** As ls shows it: `srw-rw----`. */
  modeString: string;
  uid: number;
  gid: number;
  owner: string;
  group: string;
}

export type PathState =
  /** A socket (possibly through a symlink). */
  | 'socket'
  /** Nothing at the path, or a parent directory is missing. */
  | 'absent'
  /** Something that is not a socket. */
  | 'not-socket'
  /** A parent directory cannot be searched by us, so the path cannot even be looked at. */
  | 'unreachable';

export interface PathAccess {
  /** Whether the mode bits let us connect; null when it does not apply (absent, not a socket). */
  allowed: boolean | null;
  /** One line a person can act on: `srw-rw---- www-data:www-data; you are uid 1000 (alice), not in group www-data`. */
  reason: string;
  /** One line: what to change. */
  fix?: string;
}

export interface PathInfo {
  path: string;
  absolute: string;
  state: PathState;
  /** The socket file (or whatever is there). */
  file?: FileFacts;
  /** Where a symlink at the path points. */
  symlinkTo?: string;
  /** The nearest parent directory that does not exist (state absent). */
  missingDir?: string;
  /** A parent that is not a directory (state absent). */
  notDir?: string;
  /** The parent directory without search permission for us. */
  blockedDir?: FileFacts;
  access: PathAccess;
}

const R = 4;
const W = 2;
const X = 1;

function typeOf(st: Stats): string {
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'regular file';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

/** `srw-rw----`, as ls -l prints it. */
export function modeString(st: Stats): string {
  const m = st.mode;
  const t = st.isSocket() ? 's' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '-';
  const triplet = (shift: number, special: number, ch: string): string => {
    const bits = (m >> shift) & 7;
    const x = bits & X;
    const s = m & special;
    return (bits & R ? 'r' : '-') + (bits & W ? 'w' : '-') + (s ? (x ? ch : ch.toUpperCase()) : x ? 'x' : '-');
  };
  return t + triplet(6, 0o4000, 's') + triplet(3, 0o2000, 's') + triplet(0, 0o1000, 't');
}

function facts(p: string, st: Stats): FileFacts {
  return {
    path: p,
    type: typeOf(st),
    mode: st.mode & 0o7777,
    modeString: modeString(st),
    uid: st.uid,
    gid: st.gid,
    owner: userName(st.uid),
    group: groupName(st.gid),
  };
}

/**
 * Which permission class applies to us and whether it grants `want`. Linux
 * checks the owner class alone when we own the file, then the group class, then
 * other: an owner without w is denied even when other has w.
 */
function classFor(f: FileFacts, who: Identity): 'owner' | 'group' | 'other' {
  if (who.uid === f.uid) return 'owner';
  if (who.groups.includes(f.gid)) return 'group';
  return 'other';
}

function grants(f: FileFacts, cls: 'owner' | 'group' | 'other', want: number): boolean {
  const shift = cls === 'owner' ? 6 : cls === 'group' ? 3 : 0;
  return ((f.mode >> shift) & want) === want;
}

const label = (f: FileFacts): string => `${f.modeString} ${f.owner}:${f.group}`;

/** Why `who` may not connect to socket `f` (writing to a socket file is what connect needs), or null. */
function socketDenial(f: FileFacts, who: Identity): { reason: string; fix: string } | null {
  if (who.uid === 0) return null;
  const cls = classFor(f, who);
  if (grants(f, cls, W)) return null;
  const groupWritable = grants(f, 'group', W);
  if (cls === 'owner') {
    return {
      reason: `${label(f)}; you are its owner (${who.describe}), but the owner has no write permission`,
      fix: `have the server create the socket with an owner-writable mode (e.g. 0660), or chmod u+w ${f.path}`,
    };
  }
  if (cls === 'group') {
    return {
      reason: `${label(f)}; you are ${who.describe}, in group ${f.group}, but the group has no write permission`,
      fix: `have the server create the socket with mode 0660 (group-writable), or chmod g+w ${f.path}`,
    };
  }
  return {
    reason: `${label(f)}; you are ${who.describe}, not ${f.owner} and not in group ${f.group}`,
    fix: groupWritable
      ? `add ${who.name} to group ${f.group} (usermod -aG ${f.group} ${who.name}, then log in again), or run as ${f.owner}`
      : `only ${f.owner} may connect: run as ${f.owner}, or have the server create the socket with mode 0660 and a group you are in`,
  };
}

function dirDenial(d: FileFacts, who: Identity): { reason: string; fix: string } | null {
  if (who.uid === 0) return null;
  if (grants(d, classFor(d, who), X)) return null;
  return {
    reason: `parent directory ${d.path} (${label(d)}) has no search (x) permission for ${who.describe}`,
    fix: `let clients enter ${d.path} (chmod o+x, or g+x with a group they are in), or put the socket in a directory they can enter`,
  };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/**
 * Look at a socket path: what is there, owner/group/mode, and whether `who`
 * may connect (write permission on the socket, search permission on every
 * parent directory). Follows a symlink at the path, as connect(2) does.
 */
export async function inspectPath(p: string, who: Identity = currentIdentity()): Promise<PathInfo> {
  const absolute = path.resolve(p);
  const base = { path: p, absolute };

  // Every parent, from / down, must be a directory we may search.
  const parents: string[] = [];
  for (let d = path.dirname(absolute); ; d = path.dirname(d)) {
    parents.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of parents) {
    let st: Stats;
    try {
      st = await fsp.stat(fsPath(d));
    } catch (err) {
      if (errno(err) === 'ENOENT') {
        return { ...base, state: 'absent', missingDir: d, access: { allowed: null, reason: `directory ${d} does not exist` } };
      }
      if (errno(err) === 'ENOTDIR') {
        return { ...base, state: 'absent', notDir: d, access: { allowed: null, reason: `${path.dirname(d)} is not a directory` } };
      }
      if (errno(err) === 'ELOOP') {
        return { ...base, state: 'absent', access: { allowed: null, reason: `${d}: too many levels of symbolic links (a loop)` } };
      }
      if (errno(err) === 'EACCES') {
        // A parent we thought searchable refused (ACL, LSM): say which one.
        return { ...base, state: 'unreachable', access: { allowed: false, reason: `cannot look into ${path.dirname(d)}: permission denied` } };
      }
      throw err;
    }
    if (!st.isDirectory()) {
      return { ...base, state: 'absent', notDir: d, access: { allowed: null, reason: `${d} is a ${typeOf(st)}, not a directory` } };
    }
    const f = facts(d, st);
    const denied = dirDenial(f, who);
    if (denied) return { ...base, state: 'unreachable', blockedDir: f, access: { allowed: false, ...denied } };
  }

  let lst: Stats;
  try {
    lst = await fsp.lstat(fsPath(absolute));
  } catch (err) {
    if (errno(err) === 'ENOENT') {
      return { ...base, state: 'absent', access: { allowed: null, reason: `no file named ${path.basename(absolute)} in ${path.dirname(absolute)}` } };
    }
    if (errno(err) === 'EACCES') {
      return { ...base, state: 'unreachable', access: { allowed: false, reason: `cannot look into ${path.dirname(absolute)}: permission denied` } };
    }
    throw err;
  }
  let st = lst;
  let symlinkTo: string | undefined;
  if (lst.isSymbolicLink()) {
    symlinkTo = await fsp.readlink(fsPath(absolute)).then(String).catch(() => undefined);
    try {
      st = await fsp.stat(fsPath(absolute));
    } catch (err) {
      const to = symlinkTo ? ` to ${symlinkTo}` : '';
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') {
        return { ...base, state: 'absent', symlinkTo, access: { allowed: null, reason: `dangling symbolic link${to}` } };
      }
      if (errno(err) === 'ELOOP') {
        return { ...base, state: 'absent', symlinkTo, access: { allowed: null, reason: `symbolic link loop${to}` } };
      }
      return { ...base, state: 'unreachable', symlinkTo, access: { allowed: false, reason: `cannot follow the symbolic link${to}: ${errno(err) ?? err}` } };
    }
  }
  const file = facts(absolute, st);
  const via = symlinkTo ? ` (via symlink to ${symlinkTo})` : '';
  if (!st.isSocket()) {
    return { ...base, state: 'not-socket', file, symlinkTo, access: { allowed: null, reason: `${label(file)}: a ${file.type}${via}, not a socket` } };
  }
  const denied = socketDenial(file, who);
  if (denied) return { ...base, state: 'socket', file, symlinkTo, access: { allowed: false, ...denied } };
  const how = who.uid === 0 ? 'you are root' : `you are ${who.describe}; the ${classFor(file, who)} bits allow connecting`;
  return { ...base, state: 'socket', file, symlinkTo, access: { allowed: true, reason: `${label(file)}${via}; ${how}` } };
}

/** inspectPath's verdict on the parent directories of a path, cached by directory (see inspectSocketSync). */
export type DirVerdicts = Map<string, { state: PathState; access: PathAccess } | null>;

function dirVerdict(d: string, who: Identity, cache: DirVerdicts): { state: PathState; access: PathAccess } | null {
  const hit = cache.get(d);
  if (hit !== undefined) return hit;
  const parent = path.dirname(d);
  let v: { state: PathState; access: PathAccess } | null = parent === d ? null : dirVerdict(parent, who, cache);
  if (v === null) {
    try {
      const st = statSync(fsPath(d));
      if (!st.isDirectory()) v = { state: 'absent', access: { allowed: null, reason: `${d} is a ${typeOf(st)}, not a directory` } };
      else {
        const denied = dirDenial(facts(d, st), who);
        if (denied) v = { state: 'unreachable', access: { allowed: false, ...denied } };
      }
    } catch (err) {
      v =
        errno(err) === 'EACCES'
          ? { state: 'unreachable', access: { allowed: false, reason: `cannot look into ${parent}: permission denied` } }
          : { state: 'absent', access: { allowed: null, reason: `directory ${d} does not exist` } };
    }
  }
  cache.set(d, v);
  return v;
}

/**
 * inspectPath's answer for many paths at once (ls): synchronous, and each
 * parent directory looked at once for all the files in it. Follows a symlink
 * at the path as connect(2) does. `st` is the file's stat when the caller has it.
 */
export function inspectSocketSync(absolute: string, who: Identity, cache: DirVerdicts, st?: Stats): { state: PathState; file?: FileFacts; access: PathAccess } {
  const dir = dirVerdict(path.dirname(absolute), who, cache);
  if (dir) return dir;
  if (!st) {
    try {
      st = statSync(fsPath(absolute));
    } catch (err) {
      const e = errno(err);
      if (e === 'EACCES') return { state: 'unreachable', access: { allowed: false, reason: `cannot look into ${path.dirname(absolute)}: permission denied` } };
      return { state: 'absent', access: { allowed: null, reason: `no file named ${path.basename(absolute)} in ${path.dirname(absolute)}` } };
    }
  }
  const file = facts(absolute, st);
  if (!st.isSocket()) return { state: 'not-socket', file, access: { allowed: null, reason: `${label(file)}: a ${file.type}, not a socket` } };
  const denied = socketDenial(file, who);
  if (denied) return { state: 'socket', file, access: { allowed: false, ...denied } };
  const how = who.uid === 0 ? 'you are root' : `you are ${who.describe}; the ${classFor(file, who)} bits allow connecting`;
  return { state: 'socket', file, access: { allowed: true, reason: `${label(file)}; ${how}` } };
}
