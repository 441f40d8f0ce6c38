/**
 * What the OS can tell about a Unix socket without talking to it: the path's
 * owner, group and mode and whether the current user may connect (and if not,
 * why, in terms a person can act on); on Linux, the listening socket in
 * /proc/net/unix and the process that holds it (/proc/<pid>/fd).
 * Read-only; never prints, never throws for an OS answer it can describe.
 *
 * Over ~400 lines: the path's checks, /proc/net/unix, the holders' scan and
 * the sock_diag query are one job (probe's and serve's listener question); to
 * be split with probe's findings (issue 9, core/probe/).
 */
import { type Stats, promises as fsp, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { nowMs } from '../clock.js';
import { decodeKeepingBytes } from '../escape.js';
import { NAME_ABSTRACT, NONE, SockDiagUnavailable, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, UDIAG_SHOW_NAME, UDIAG_SHOW_PEER, UDIAG_SHOW_VFS, dumpUnixSockets } from './sock-diag.js';
import { fsPath } from './target.js';

const SOCK_DGRAM = 2;

/** Who we are, for permission checks. */
export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups, the primary one included. */
  groups: number[];
  /** `uid 1000 (alice)`. */
  describe: string;
  /** Login name, or the uid as text. */
  name: string;
}

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

let names: { users: Map<number, string>; groups: Map<number, string> } | undefined;

/** uid/gid -> name from /etc/passwd and /etc/group (read once; numbers when unreadable). */
function nameTables(): { users: Map<number, string>; groups: Map<number, string> } {
  if (names) return names;
  const read = (file: string): Map<number, string> => {
    const map = new Map<number, string>();
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && /^\d+$/.test(id) && !map.has(Number(id))) map.set(Number(id), name);
      }
    } catch {
      // No /etc/passwd (minimal containers): numbers it is.
    }
    return map;
  };
  names = { users: read('/etc/passwd'), groups: read('/etc/group') };
  return names;
}

/** Login name of a uid, or the number. */
export function userName(uid: number): string {
  return nameTables().users.get(uid) ?? String(uid);
}

/** Name of a gid, or the number. */
export function groupName(gid: number): string {
  return nameTables().groups.get(gid) ?? String(gid);
}

/** The effective identity of this process. */
export function currentIdentity(): Identity {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const groups = [...new Set([gid, ...(process.getgroups?.() ?? [])])];
  const name = userName(uid);
  return { uid, gid, groups, name, describe: name === String(uid) ? `uid ${uid}` : `uid ${uid} (${name})` };
}

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
      const st = statSync(d);
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
      st = statSync(absolute);
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

/** One row of /proc/net/unix. */
export interface UnixSocketEntry {
  /** Socket inode (sockfs), the number in /proc/<pid>/fd's `socket:[N]`. */
  inode: number;
  /** Bound path, `@name` for an abstract name, '' for an unbound socket. */
  path: string;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  type: number;
  /** listen(2) was called (the __SO_ACCEPTCON flag). */
  listening: boolean;
}

const SO_ACCEPTCON = 0x10000;

/**
 * Parse the text of /proc/net/unix. Not for listener identity: a name is
 * printed raw there, so an abstract name with a newline forges rows (udsctl
 * reads sock_diag instead: readServerSockets). Kept for library callers.
 */
export function parseProcNetUnix(text: string): UnixSocketEntry[] {
  const out: UnixSocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode [Path]; a path may contain spaces.
    const m = /^\s*[0-9a-fA-F]+:\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+\s+(\d+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    out.push({
      inode: Number(m[3]),
      path: m[4] ?? '',
      type: parseInt(m[2], 16),
      listening: (parseInt(m[1], 16) & SO_ACCEPTCON) !== 0,
    });
  }
  return out;
}

/** The rows of /proc/net/unix, or null where there is none (not Linux, /proc not mounted). */
export async function readProcNetUnix(file = '/proc/net/unix'): Promise<UnixSocketEntry[] | null> {
  try {
    return parseProcNetUnix(await fsp.readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Listening sockets bound to a path (absolute or as given) or an abstract
 * `@name`. A server that bound a relative path shows it relative, so a relative
 * row matches when the absolute path ends with it.
 */
export function listenersFor(entries: UnixSocketEntry[], spec: { path?: string; abstract?: string }): UnixSocketEntry[] {
  return entries.filter((e) => {
    if (!isServerSocket(e)) return false;
    if (spec.abstract !== undefined) return e.path === spec.abstract;
    if (spec.path === undefined || e.path.startsWith('@')) return false;
    const abs = path.resolve(spec.path);
    if (e.path === spec.path || e.path === abs) return true;
    return !e.path.startsWith('/') && abs.endsWith('/' + path.normalize(e.path));
  });
}

/** A file's identity: its device (as major, minor) and inode. Two paths name one file when these agree. */
export interface FileId {
  major: number;
  minor: number;
  ino: number;
}

/** The identity of the file at `p`, following symlinks (as connect(2) does); null when it cannot be stat'ed. */
export async function fileId(p: string): Promise<FileId | null> {
  try {
    const st = await fsp.stat(fsPath(p), { bigint: true });
    // glibc's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
    const d = st.dev;
    const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
    const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
    return { major, minor, ino: Number(st.ino) };
  } catch {
    return null;
  }
}

export const sameFile = (a: FileId | null | undefined, b: FileId | null | undefined): boolean =>
  !!a && !!b && a.ino === b.ino && a.major === b.major && a.minor === b.minor;

/** sock_diag states of the sockets a server receives on: listening stream/seqpacket, bound datagram (TCP_ESTABLISHED on 6.x kernels, TCP_CLOSE on older ones). */
export const SERVER_STATES = (1 << TCP_LISTEN) | (1 << TCP_ESTABLISHED) | (1 << TCP_CLOSE);

/** A file id from sock_diag's UNIX_DIAG_VFS device (the kernel's dev_t: major in the top 12 bits, minor in the low 20). */
export function kernelFileId(dev: number, ino: number): FileId {
  return { ino, major: dev >>> 20, minor: dev & 0xfffff };
}

/**
 * The file each listening Unix socket is bound to, by socket inode, from the
 * kernel's sock_diag netlink interface (UNIX_DIAG_VFS: the bound file's device
 * and inode, which /proc/net/unix does not give). This is what ties a socket
 * file on disk to its listener whatever name it was bound by (relative,
 * through a symlink) and tells a listener whose file was deleted from one
 * whose file is there. Null where it is not available (not Linux, no
 * unix_diag, no koffi). Bounded: `budgetMs` at most.
 */
export function readUnixDiagVfs(budgetMs = 500, states = 1 << TCP_LISTEN): Map<number, FileId> | null {
  const t = dumpUnixSockets({ states, show: UDIAG_SHOW_VFS, budgetMs });
  if (t instanceof SockDiagUnavailable) return null;
  const out = new Map<number, FileId>();
  for (let i = 0; i < t.length; i++) if (t.vfsIno[i] !== NONE) out.set(t.inode[i], kernelFileId(t.vfsDev[i], t.vfsIno[i]));
  return out;
}

/** A bound socket that serves (listening, or a bound datagram socket), as sock_diag gives it: its name as bytes. */
export interface ServerSocket extends UnixSocketEntry {
  /** The name's exact bytes (an abstract name without its leading NUL). */
  name: Uint8Array;
  abstract: boolean;
  /** The file it is bound to (a path name), when the kernel says. */
  vfs: FileId | null;
}

/**
 * The serving Unix sockets (listening stream/seqpacket, bound datagram), from
 * sock_diag, names as bytes: never /proc/net/unix, whose rows any user can
 * forge with a newline in an abstract name. `path` is the name decoded with
 * the bytes that are not UTF-8 kept (decodeKeepingBytes), `@name` when
 * abstract. Null where sock_diag is not available.
 */
export function readServerSockets(budgetMs = 500): ServerSocket[] | null {
  const t = dumpUnixSockets({ states: SERVER_STATES, show: UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER, budgetMs });
  if (t instanceof SockDiagUnavailable) return null;
  const out: ServerSocket[] = [];
  for (let i = 0; i < t.length; i++) {
    if (!t.isServer(i)) continue;
    const name = Buffer.from(t.name(i));
    const abstract = t.nameKind[i] === NAME_ABSTRACT;
    const text = decodeKeepingBytes(name);
    out.push({
      inode: t.inode[i],
      type: t.type[i],
      listening: t.state[i] === TCP_LISTEN,
      path: abstract ? `@${text}` : text,
      name,
      abstract,
      vfs: t.vfsIno[i] === NONE ? null : kernelFileId(t.vfsDev[i], t.vfsIno[i]),
    });
  }
  return out;
}

/** The working directory of a process (where it resolves a relative socket name), or null when not visible to us. */
export async function processCwd(pid: number, proc = '/proc'): Promise<string | null> {
  return fsp.readlink(`${proc}/${pid}/cwd`).catch(() => null);
}

/** A process's name (/proc/<pid>/comm) and command line (joined by spaces, cut to 120 characters); null when not visible. */
export async function processNames(pid: number, proc = '/proc'): Promise<{ name: string; cmdline: string } | null> {
  const name = await fsp.readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => null);
  if (name === null) return null;
  const raw = await fsp.readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '');
  const cmd = raw.split('\0').filter(Boolean).join(' ');
  return { name: name.trim(), cmdline: cmd.length > 120 ? `${cmd.slice(0, 119)}…` : cmd };
}

/** A socket a server receives on: a listening stream or seqpacket socket, or a bound datagram socket. */
export function isServerSocket(e: UnixSocketEntry): boolean {
  return e.path !== '' && (e.listening || e.type === SOCK_DGRAM);
}

/** A process holding a socket. */
export interface ProcessInfo {
  pid: number;
  /** The socket inode it was found holding. */
  inode: number;
  /** /proc/<pid>/comm. */
  name: string;
  /** The command line, joined by spaces and cut to 120 characters. */
  cmdline: string;
}

export interface OwnerLookup {
  owners: ProcessInfo[];
  /** Some processes' fds could not be read (another user's, when we are not root). */
  hidden: boolean;
  /** The time budget ran out before every process was looked at. */
  truncated: boolean;
}

/**
 * Which processes hold one of these socket inodes, from /proc/<pid>/fd. Bounded
 * by `budgetMs`; asynchronous so probes of other targets keep their timing.
 */
export async function findSocketOwners(inodes: number[], budgetMs = 1_000, proc = '/proc'): Promise<OwnerLookup> {
  const want = new Set(inodes.map((i) => `socket:[${i}]`));
  const result: OwnerLookup = { owners: [], hidden: false, truncated: false };
  if (want.size === 0) return result;
  const deadline = nowMs() + budgetMs;
  let pids: string[];
  try {
    pids = (await fsp.readdir(proc)).filter((n) => /^\d+$/.test(n));
  } catch {
    result.hidden = true;
    return result;
  }
  const BATCH = 32;
  for (let i = 0; i < pids.length; i += BATCH) {
    if (nowMs() > deadline) {
      result.truncated = true;
      break;
    }
    await Promise.all(
      pids.slice(i, i + BATCH).map(async (pid) => {
        let fds: string[];
        try {
          fds = await fsp.readdir(`${proc}/${pid}/fd`);
        } catch (err) {
          if (errno(err) === 'EACCES' || errno(err) === 'EPERM') result.hidden = true;
          return; // ENOENT: the process exited meanwhile
        }
        for (const fd of fds) {
          const link = await fsp.readlink(`${proc}/${pid}/fd/${fd}`).catch(() => '');
          if (!want.has(link)) continue;
          const name = (await fsp.readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => '?')).trim();
          const raw = await fsp.readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '');
          const cmd = raw.split('\0').filter(Boolean).join(' ');
          result.owners.push({ pid: Number(pid), inode: Number(link.slice(8, -1)), name, cmdline: cmd.length > 120 ? `${cmd.slice(0, 119)}…` : cmd });
          return;
        }
      }),
    );
  }
  result.owners.sort((a, b) => a.pid - b.pid);
  return result;
}
