/**
 * The processes behind a socket, from /proc: which hold one of its inodes
 * (/proc/<pid>/fd, bounded in time), their names and command lines, and
 * their working directories (where a relative socket name was bound).
 * The descriptor scan is ls's (ls/holders.ts), shared by the lookups made at once.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { type HolderScan, scanHoldersAsync } from '../ls/holders.js';

/** The working directory of a process (where it resolves a relative socket name), or null when not visible to us. */
export async function processCwd(pid: number, proc = '/proc'): Promise<string | null> {
  return fsp.readlink(`${proc}/${pid}/cwd`).catch(() => null);
}

/** A process's name (/proc/<pid>/comm) and command line (joined by spaces, cut to 120 characters); null when not visible. */
export async function processNames(pid: number, proc = '/proc'): Promise<{ name: string; cmdline: string } | null> {
  const name = await fsp.readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => null);
  if (name === null) return null;
  return { name: name.trim(), cmdline: await commandLine(pid, proc) };
}

/** /proc/<pid>/cmdline joined by spaces, cut to 120 characters; '' when not visible. */
async function commandLine(pid: number | string, proc: string): Promise<string> {
  const raw = await fsp.readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '');
  const cmd = raw.split('\0').filter(Boolean).join(' ');
  return cmd.length > 120 ? `${cmd.slice(0, 119)}…` : cmd;
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

/** The scan under way and the one the lookups that came meanwhile wait for (with every inode they want), per /proc. */
interface ScanQueue {
  running: Promise<HolderScan> | null;
  next: { budgetMs: number; want: Set<number>; done: Promise<HolderScan> } | null;
}
const queues = new Map<string, ScanQueue>();

/**
 * A scan that starts after this call (so it sees every socket that existed
 * when the caller asked): the one the callers waiting meanwhile share, for
 * all their inodes. One scan runs at a time: probe's many targets at once
 * scanned /proc once each, all together (1,000 targets beside 10,000
 * sockets: minutes and 400 MB). The scan itself is ls's (ls/holders.ts),
 * letting the event loop turn every few milliseconds: the lookups that come
 * while it runs wait for the next one, together.
 */
function sharedScan(inodes: Iterable<number>, budgetMs: number, proc: string): Promise<HolderScan> {
  let q = queues.get(proc);
  if (!q) queues.set(proc, (q = { running: null, next: null }));
  const queue = q;
  if (queue.next) {
    queue.next.budgetMs = Math.max(queue.next.budgetMs, budgetMs);
    for (const i of inodes) queue.next.want.add(i);
    return queue.next.done;
  }
  const next: NonNullable<ScanQueue['next']> = { budgetMs, want: new Set(inodes), done: Promise.resolve({ byInode: new Map(), processes: new Map(), hidden: 0, truncated: false, scanned: 0 }) };
  queue.next = next;
  next.done = (async () => {
    // The scan under way may have begun before this call: wait for it, then scan anew.
    if (queue.running) await queue.running.catch(() => undefined);
    else await Promise.resolve(); // the lookups made in this same turn join it
    queue.next = null;
    const run = scanHoldersAsync(next.want, { budgetMs: next.budgetMs, proc, firstHolder: false, cmdlineBytes: CMDLINE_BYTES });
    queue.running = run;
    try {
      return await run;
    } finally {
      if (queue.running === run) queue.running = null;
    }
  })();
  return next.done;
}

/** Bytes of a command line read: enough for 120 characters of any UTF-8. */
const CMDLINE_BYTES = 4 * 120;

/**
 * Which processes hold one of these socket inodes, from /proc/<pid>/fd (a
 * process once, by the first of them found). Bounded by `budgetMs`; the
 * lookups made at once share one scan.
 */
export async function findSocketOwners(inodes: number[], budgetMs = 1_000, proc = '/proc'): Promise<OwnerLookup> {
  const want = new Set(inodes);
  const result: OwnerLookup = { owners: [], hidden: false, truncated: false };
  if (want.size === 0) return result;
  const scan = await sharedScan(want, budgetMs, proc);
  result.hidden = scan.hidden !== 0;
  result.truncated = scan.truncated;
  const seen = new Set<number>();
  for (const [inode, pids] of scan.byInode) {
    if (!want.has(inode)) continue;
    for (const pid of pids) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      const p = scan.processes.get(pid);
      const cmd = p?.cmdline?.toString('utf8') ?? '';
      result.owners.push({ pid, inode, name: p?.name ?? '?', cmdline: cmd.length > 120 ? `${cmd.slice(0, 119)}…` : cmd });
    }
  }
  result.owners.sort((a, b) => a.pid - b.pid);
  return result;
}

/**
 * How /proc hides other users' processes from a user who is neither root nor
 * in its gid= group: `hidepid=invisible` (2) and `hidepid=ptraceable` (4)
 * leave them out of /proc altogether, so a scan cannot even count them and
 * "no process holds it" would be a guess; null when /proc lists them all
 * (hidepid=noaccess lists them: their unreadable fd folders are counted).
 * The last proc mount on `proc` is the one path lookups see.
 */
export function procHidePid(who: { uid: number; groups: readonly number[] }, proc = '/proc', mountinfo = '/proc/self/mountinfo'): string | null {
  if (who.uid === 0) return null;
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return null;
  }
  let options: string | null = null;
  for (const line of text.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions] = line.slice(sep + 3).split(' ');
    if (fstype === 'proc' && line.slice(0, sep).split(' ')[4] === proc) options = superOptions ?? '';
  }
  if (options === null) return null;
  const opt = (k: string) => options!.split(',').find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const gid = opt('gid');
  if (gid !== undefined && who.groups.includes(Number(gid))) return null;
  const hide = opt('hidepid');
  if (hide === '2' || hide === 'invisible') return 'hidepid=invisible';
  if (hide === '4' || hide === 'ptraceable') return 'hidepid=ptraceable';
  return null;
}
