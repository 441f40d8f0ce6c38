/**
 * Which processes hold which sockets: one pass over /proc/PID/fd (a socket fd
 * reads `socket:[INODE]`), bounded in time and in descriptors looked at.
 * System calls made directly, not through the thread pool: thousands of
 * readlink(2) calls there cost more than they overlap. ls scans in one go
 * (one picture); probe (socket/processes.ts) lets the event loop turn every
 * few milliseconds, for its other targets. What cannot be
 * read (another user's process when we are not root, hidepid) is counted,
 * never an error.
 */
import fs, { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { nowMs } from '../clock.js';
import { procFdLibc } from '../socket/libc.js';

/**
 * Call `visit` with each descriptor of a /proc/PID/fd directory: its socket
 * inode, or -1 when it is not a socket; `visit` returns true to stop.
 * Through getdents64 and readlinkat when libc loads (no string a descriptor),
 * else node:fs. hidden: we may not read it; gone: the process exited.
 */
export function eachFd(dir: string, visit: (inode: number) => boolean): 'read' | 'hidden' | 'gone' {
  const c = procFdLibc();
  if (!c) return eachFdFs(dir, visit);
  const dfd = c.openDir(dir);
  if (dfd < 0) {
    const e = c.errno();
    return e === 13 || e === 1 ? 'hidden' : 'gone'; // EACCES, EPERM
  }
  try {
    for (;;) {
      const n = c.getdents64(dfd, DENTS, DENTS.length);
      if (n <= 0) return n === 0 ? 'read' : 'gone';
      for (let off = 0; off < n; ) {
        const reclen = DENTS[off + 16] | (DENTS[off + 17] << 8);
        const name = off + 19;
        off += reclen;
        if (DENTS[name] === 0x2e) continue; // . and ..
        const len = c.readlinkat(dfd, DENTS.subarray(name, off), LINK, LINK.length);
        if (visit(socketInode(LINK, len))) return 'read';
      }
    }
  } finally {
    c.close(dfd);
  }
}

const DENTS = Buffer.alloc(64 * 1024);
const LINK = Buffer.alloc(64);
const SOCKET_PREFIX = Buffer.from('socket:[');

/** The inode of a `socket:[12345]` link target in buf[0, len), else -1. */
function socketInode(buf: Uint8Array, len: number): number {
  if (len < 10 || buf[len - 1] !== 0x5d) return -1;
  for (let i = 0; i < 8; i++) if (buf[i] !== SOCKET_PREFIX[i]) return -1;
  let v = 0;
  for (let i = 8; i < len - 1; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export function eachFdFs(dir: string, visit: (inode: number) => boolean): 'read' | 'hidden' | 'gone' {
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? 'hidden' : 'gone';
  }
  for (const fd of fds) {
    let link: string;
    try {
      link = readlinkSync(`${dir}/${fd}`);
    } catch {
      continue;
    }
    const inode = link.startsWith('socket:[') && link.endsWith(']') ? Number(link.slice(8, -1)) : -1;
    if (visit(Number.isInteger(inode) ? inode : -1)) break;
  }
  return 'read';
}

export interface HolderProcess {
  pid: number;
  /** /proc/PID/comm; null when it could not be read. */
  name: string | null;
  /** The process's uid (owner of /proc/PID); null when unknown. */
  uid: number | null;
  /** The command line's arguments (NULs between them turned into spaces), cut to `cmdlineBytes` (200); null when unreadable. */
  cmdline: Buffer | null;
}

export interface HolderScan {
  /** Socket inode -> pids holding it. */
  byInode: Map<number, number[]>;
  processes: Map<number, HolderProcess>;
  /** Processes whose descriptors we may not read. */
  hidden: number;
  /** The budget (time or descriptors) ran out before every process was looked at. */
  truncated: boolean;
  /** Processes looked at. */
  scanned: number;
}

export interface HolderOptions {
  budgetMs?: number;
  /**
   * Stop once every wanted socket has a holder (default true): the first
   * holder is the lowest pid (a pool's master before its workers), and the
   * rest of /proc is not read. false: every holder of every socket.
   */
  firstHolder?: boolean;
  /** Most descriptors looked at (default 2,000,000). */
  maxFds?: number;
  /** Bytes of each holder's command line kept (default 200). */
  cmdlineBytes?: number;
  proc?: string;
}

function readSmall(file: string, max: number): Buffer | null {
  try {
    const b = readFileSync(file);
    return b.length > max ? b.subarray(0, max) : b;
  } catch {
    return null;
  }
}

/** What /proc says about one process, whatever of it can be read. */
export function processInfo(pid: number, proc = '/proc', cmdlineBytes = 200): HolderProcess {
  const comm = readSmall(`${proc}/${pid}/comm`, 64);
  let uid: number | null = null;
  try {
    uid = statSync(`${proc}/${pid}`).uid;
  } catch {
    uid = null;
  }
  const raw = readSmall(`${proc}/${pid}/cmdline`, cmdlineBytes);
  let cmdline: Buffer | null = null;
  if (raw) {
    cmdline = Buffer.from(raw);
    let end = cmdline.length;
    while (end > 0 && cmdline[end - 1] === 0) end--;
    cmdline = cmdline.subarray(0, end);
    for (let i = 0; i < cmdline.length; i++) if (cmdline[i] === 0) cmdline[i] = 0x20;
  }
  return { pid, name: comm ? comm.toString('utf8').replace(/\n$/, '') : null, uid, cmdline };
}

/** The holders of the sockets in `want` (all sockets when `want` is null), in one go: ls's one picture. */
export function scanHolders(want: ReadonlySet<number> | null, o: HolderOptions = {}): HolderScan {
  const steps = scanning(want, o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same scan, giving the event loop a turn after every few milliseconds of it: probe checks
 * many targets at once, and one target's scan must not hold the others' replies and deadlines
 * (a whole-/proc scan can take most of its budget on a busy machine).
 */
export async function scanHoldersAsync(want: ReadonlySet<number> | null, o: HolderOptions = {}): Promise<HolderScan> {
  const steps = scanning(want, o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Work between two turns of the event loop in scanHoldersAsync. */
const SLICE_MS = 2;

/** The scan, yielding after every SLICE_MS of work. */
function* scanning(want: ReadonlySet<number> | null, o: HolderOptions): Generator<void, HolderScan> {
  const proc = o.proc ?? '/proc';
  const scan: HolderScan = { byInode: new Map(), processes: new Map(), hidden: 0, truncated: false, scanned: 0 };
  if (want && want.size === 0) return scan;
  const deadline = nowMs() + (o.budgetMs ?? 2_000);
  let fdsLeft = o.maxFds ?? 2_000_000;
  const firstOnly = want !== null && o.firstHolder !== false;
  let missing = want ? want.size : Infinity;
  let pids: string[];
  try {
    pids = fs.readdirSync(proc); // through the module object: the tests count the scans
  } catch {
    scan.hidden = -1;
    return scan;
  }
  // Ascending pid: the first holder found is the oldest process (readdir order is not numeric).
  const numeric: number[] = [];
  for (const p of pids) {
    const c = p.charCodeAt(0);
    if (c >= 48 && c <= 57) numeric.push(Number(p));
  }
  numeric.sort((a, b) => a - b);
  let sliceEnd = nowMs() + SLICE_MS;
  for (const pid of numeric) {
    if (firstOnly && missing === 0) break;
    if (nowMs() > sliceEnd) {
      yield;
      sliceEnd = nowMs() + SLICE_MS;
    }
    if (fdsLeft <= 0 || nowMs() > deadline) {
      scan.truncated = true;
      break;
    }
    let found = false;
    const seen = eachFd(`${proc}/${pid}/fd`, (inode) => {
      if (--fdsLeft < 0 || ((fdsLeft & 255) === 0 && nowMs() > deadline)) {
        scan.truncated = true;
        return true;
      }
      if (inode < 0 || (want && !want.has(inode))) return false;
      const list = scan.byInode.get(inode);
      if (!list) {
        scan.byInode.set(inode, [pid]);
        missing--;
      } else if (!list.includes(pid)) list.push(pid);
      found = true;
      return firstOnly && missing === 0;
    });
    if (seen === 'hidden') scan.hidden++;
    else if (seen === 'read') scan.scanned++; // gone: it exited meanwhile
    if (found) scan.processes.set(pid, processInfo(pid, proc, o.cmdlineBytes));
  }
  return scan;
}
