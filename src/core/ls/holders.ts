/**
 * Which processes hold which sockets: one pass over /proc/PID/fd (a socket fd
 * reads `socket:[INODE]`), bounded in time and in descriptors looked at.
 * Synchronous on purpose: ls wants one picture, and thousands of readlink(2)
 * calls through the thread pool cost more than they overlap. What cannot be
 * read (another user's process when we are not root, hidepid) is counted,
 * never an error.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { nowMs } from '../clock.js';

export interface HolderProcess {
  pid: number;
  /** /proc/PID/comm; null when it could not be read. */
  name: string | null;
  /** The process's uid (owner of /proc/PID); null when unknown. */
  uid: number | null;
  /** The command line's arguments (NULs between them turned into spaces), cut to 200 bytes; null when unreadable. */
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
export function processInfo(pid: number, proc = '/proc'): HolderProcess {
  const comm = readSmall(`${proc}/${pid}/comm`, 64);
  let uid: number | null = null;
  try {
    uid = statSync(`${proc}/${pid}`).uid;
  } catch {
    uid = null;
  }
  const raw = readSmall(`${proc}/${pid}/cmdline`, 200);
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

/** The holders of the sockets in `want` (all sockets when `want` is null). */
export function scanHolders(want: ReadonlySet<number> | null, o: HolderOptions = {}): HolderScan {
  const proc = o.proc ?? '/proc';
  const scan: HolderScan = { byInode: new Map(), processes: new Map(), hidden: 0, truncated: false, scanned: 0 };
  if (want && want.size === 0) return scan;
  const deadline = nowMs() + (o.budgetMs ?? 2_000);
  let fdsLeft = o.maxFds ?? 2_000_000;
  const firstOnly = want !== null && o.firstHolder !== false;
  let missing = want ? want.size : Infinity;
  let pids: string[];
  try {
    pids = readdirSync(proc);
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
  for (const pid of numeric) {
    if (firstOnly && missing === 0) break;
    if (fdsLeft <= 0 || nowMs() > deadline) {
      scan.truncated = true;
      break;
    }
    const dir = `${proc}/${pid}/fd/`;
    let fds: string[];
    try {
      fds = readdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') scan.hidden++;
      continue; // ENOENT: it exited meanwhile
    }
    scan.scanned++;
    let found = false;
    for (let k = 0; k < fds.length; k++) {
      if (--fdsLeft < 0) {
        scan.truncated = true;
        break;
      }
      if ((k & 255) === 255 && nowMs() > deadline) {
        scan.truncated = true;
        break;
      }
      let link: string;
      try {
        link = readlinkSync(dir + fds[k]);
      } catch {
        continue;
      }
      // `socket:[12345]`
      if (link.charCodeAt(0) !== 115 || !link.startsWith('socket:[')) continue;
      const inode = Number(link.slice(8, -1));
      if (want && !want.has(inode)) continue;
      const list = scan.byInode.get(inode);
      if (!list) {
        scan.byInode.set(inode, [pid]);
        missing--;
      } else if (!list.includes(pid)) list.push(pid);
      found = true;
      if (firstOnly && missing === 0) break;
    }
    if (found) scan.processes.set(pid, processInfo(pid, proc));
  }
  return scan;
}
