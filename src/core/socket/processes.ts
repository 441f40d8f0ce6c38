/**
 * The processes behind a socket, from /proc: which hold one of its inodes
 * (/proc/<pid>/fd, bounded in time), their names and command lines, and
 * their working directories (where a relative socket name was bound).
 * Asynchronous, for probe; ls's synchronous one-pass scan is ls/holders.ts.
 */
import { promises as fsp } from 'node:fs';
import { nowMs } from '../clock.js';

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
          const code = (err as NodeJS.ErrnoException)?.code;
          if (code === 'EACCES' || code === 'EPERM') result.hidden = true;
          return; // ENOENT: the process exited meanwhile
        }
        for (const fd of fds) {
          const link = await fsp.readlink(`${proc}/${pid}/fd/${fd}`).catch(() => '');
          if (!want.has(link)) continue;
          const name = (await fsp.readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => '?')).trim();
          result.owners.push({ pid: Number(pid), inode: Number(link.slice(8, -1)), name, cmdline: await commandLine(pid, proc) });
          return;
        }
      }),
    );
  }
  result.owners.sort((a, b) => a.pid - b.pid);
  return result;
}
