/**
 * A tap whose upstream is its own address (`serve --upstream X X`, or a
 * symlink to X) would relay each connection to itself, and that one to itself
 * again: one client made about 10,000 chained connections and used every file
 * descriptor. Refused before anything is bound. A TCP upstream is the tap's
 * own address under another name too: localhost or 127.0.0.1 for a tap on
 * 127.0.0.1, any address of this host for a tap on 0.0.0.0 or ::
 * (refuseSelfTcpUpstream). A Unix upstream that becomes the tap later (a
 * symlink made after it started, a bind mount) is caught per connection: the
 * connected upstream's listener (SO_PEERCRED) is this very process
 * (selfUpstreamPid), and that client is closed instead of relayed to itself.
 */
import { promises as dns } from 'node:dns';
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UdsError } from '../errors.js';
import { peerCredOf } from '../socket/peer.js';
import { fsPath, type Target } from '../socket/target.js';

/**
 * The file a path names, symlinks followed (of the path and its directories),
 * also a dangling one (to the listen path, not bound yet): at most 40 links.
 */
function resolved(path: string, hops = 40): string {
  const abs = resolve(path);
  try {
    return String(realpathSync(fsPath(abs)));
  } catch {
    let dir: string;
    try {
      dir = String(realpathSync(fsPath(dirname(abs))));
    } catch {
      return abs;
    }
    const at = join(dir, basename(abs));
    try {
      if (hops > 0 && lstatSync(fsPath(at)).isSymbolicLink()) return resolved(resolve(dir, String(readlinkSync(fsPath(at)))), hops - 1);
    } catch {
      /* not there: the name as it is */
    }
    return at;
  }
}

/** BAD_OPTION when `upstream` is the address `listen` is to be: the same path (through symlinks too), abstract name, or TCP port. */
export function refuseSelfUpstream(listen: Target, upstream: Target): void {
  let same = false;
  if (listen.kind === 'unix' && upstream.kind === 'unix') same = resolved(listen.path) === resolved(upstream.path);
  else if (listen.kind === 'abstract' && upstream.kind === 'abstract') same = listen.name.equals(upstream.name);
  else if (listen.kind === 'tcp' && upstream.kind === 'tcp') same = listen.port !== 0 && listen.port === upstream.port && listen.host === upstream.host;
  if (same) {
    throw new UdsError('BAD_OPTION', `--upstream ${upstream.display} is the address the tap listens on (${listen.display}): it would relay every connection to itself`);
  }
}

/** IPv4-mapped IPv6 addresses as their IPv4 form; IPv6 lower-cased. */
function canonical(addr: string): string {
  const a = addr.toLowerCase();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return m ? m[1] : a;
}

/** Every address `host` names (an address as it is), canonical; none when it does not resolve. */
async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [canonical(host)];
  try {
    return (await dns.lookup(host, { all: true })).map((a) => canonical(a.address));
  } catch {
    return [];
  }
}

/** Whether `addr` reaches this host: loopback (127.0.0.0/8, ::1) or an address of one of its interfaces. */
function isLocal(addr: string): boolean {
  if (addr.startsWith('127.') || addr === '::1' || addr === '0.0.0.0' || addr === '::') return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (canonical(i.address) === addr) return true;
  }
  return false;
}

/**
 * BAD_OPTION when a TCP tap's upstream is its own port under another name:
 * the same port, and an address the upstream's host resolves to is one the
 * tap listens on (the same address, or any address of this host when the tap
 * listens on 0.0.0.0 or ::). `serve --upstream localhost:P 127.0.0.1:P` made
 * thousands of chained connections from one client.
 */
export async function refuseSelfTcpUpstream(listen: Target, upstream: Target): Promise<void> {
  if (listen.kind !== 'tcp' || upstream.kind !== 'tcp' || listen.port === 0 || listen.port !== upstream.port) return;
  const mine = await addressesOf(listen.host);
  const wildcard = mine.some((a) => a === '0.0.0.0' || a === '::');
  const theirs = await addressesOf(upstream.host);
  const hit = theirs.find((a) => (wildcard ? isLocal(a) : mine.includes(a)));
  if (hit !== undefined) {
    const via = hit === upstream.host ? '' : ` (${upstream.host} is ${hit})`;
    throw new UdsError('BAD_OPTION', `--upstream ${upstream.display} is the address the tap listens on (${listen.display})${via}: it would relay every connection to itself`);
  }
}

/** The serve process that listens: this one, or under serve --workers (net engine) the primary that forked it (start.ts's WORKER_ENV). */
function primaryPid(): number {
  return process.env.UDSCTL_SERVE_WORKER === '1' && typeof process.send === 'function' ? process.ppid : process.pid;
}

/** A process's parent (/proc/<pid>/stat), 0 when not known. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) || 0;
  } catch {
    return 0;
  }
}

// The listener's pid is the same for every connection of a tap: its verdict, read once.
const verdicts = new Map<number, boolean>();

/**
 * Whether `pid` is one of this serve's processes: this one, the primary, or
 * a worker the primary forked (each worker's listen() names itself the
 * listener, so the pid SO_PEERCRED gives may be any of them).
 */
function ownPid(pid: number): boolean {
  if (pid === process.pid) return true;
  const primary = primaryPid();
  if (pid === primary) return true;
  let own = verdicts.get(pid);
  if (own === undefined) {
    own = parentOf(pid) === primary;
    if (verdicts.size >= 64) verdicts.clear();
    verdicts.set(pid, own);
  }
  return own;
}

/** Whether a connection to ourselves was seen: from then on accepted clients are checked too. */
let selfSeen = false;

/**
 * A connected Unix upstream whose listener is this tap itself (SO_PEERCRED:
 * the process that listened): its pid, else 0 (another process, or not known).
 */
export function selfUpstreamPid(fd: number): number {
  const cred = peerCredOf(fd);
  if (cred === null || !ownPid(cred.pid)) return 0;
  selfSeen = true;
  return cred.pid;
}

/**
 * Whether an accepted client is this tap itself (its connection to its own
 * address, made before selfUpstreamPid saw it): to be closed, not relayed on,
 * or the chain goes on one connection at a time. Checked only once a
 * connection to ourselves was seen in this process or thread (one getsockopt).
 */
export function clientIsSelf(fd: number): boolean {
  if (!selfSeen) return false;
  const cred = peerCredOf(fd);
  return cred !== null && ownPid(cred.pid);
}

/** The tap's record of a connection whose upstream led back to the tap: the client is closed, not relayed. */
export function selfUpstreamError(display: string, pid: number): UdsError {
  return new UdsError('BAD_OPTION', `--upstream ${display} leads back to this tap (its listener is our own process, pid ${pid}): not relayed to itself`, { target: display });
}
