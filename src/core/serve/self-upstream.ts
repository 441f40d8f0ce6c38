/**
 * A tap whose upstream is its own address (`serve --upstream X X`, or a
 * symlink to X) would relay each connection to itself, and that one to itself
 * again: one client made about 10,000 chained connections and used every file
 * descriptor. Refused before anything is bound. A TCP upstream is the tap's
 * own address under another name too: localhost or 127.0.0.1 for a tap on
 * 127.0.0.1, any address of this host for a tap on 0.0.0.0 or ::
 * (refuseSelfTcpUpstream). A Unix upstream path that becomes the tap later
 * (a symlink made after it started, a bind mount) is caught per connection:
 * before connecting, the path is the tap's own socket file (leadsToOwnFile),
 * and that client is closed instead of relayed to itself.
 */
import { promises as dns } from 'node:dns';
import { lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UdsError } from '../errors.js';
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

/** A socket file's identity: its device and inode. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The tap's own socket file (a Unix path it listens on), read once it is bound; null for other addresses. */
export function ownSocketFile(t: Target): FileIdentity | null {
  if (t.kind !== 'unix') return null;
  try {
    const st = lstatSync(fsPath(t.path));
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/**
 * Whether a Unix upstream path leads to the tap's own socket file now
 * (through a symlink made since it started, a hard link, a bind mount): one
 * stat before each upstream connect, so no connection to ourselves is made.
 */
export function leadsToOwnFile(upstreamPath: string | Buffer, own: FileIdentity | null | undefined): boolean {
  if (!own) return false;
  const st = statSync(upstreamPath, { throwIfNoEntry: false });
  return st !== undefined && st.ino === own.ino && st.dev === own.dev;
}

/**
 * leadsToOwnFile for the epoll relay's loop, where it runs before every
 * upstream connect: through stat(2) into one reused buffer (no Stats object a
 * connection: node:fs's statSync cost the tap-oneshot row ~10%), else node:fs.
 */
export function ownFileCheck(upstreamPath: string | Buffer, own: FileIdentity | null | undefined, sys: { statAt?: (path: Uint8Array, buf: number) => number; address(buf: Uint8Array): number }): () => boolean {
  if (!own) return () => false;
  if (!sys.statAt) return () => leadsToOwnFile(upstreamPath, own);
  const statAt = sys.statAt;
  const path = Buffer.concat([typeof upstreamPath === 'string' ? Buffer.from(upstreamPath) : upstreamPath, Buffer.alloc(1)]);
  const buf = Buffer.alloc(256); // off the V8 heap (64+ bytes): its address stays
  const words = new Uint32Array(buf.buffer, buf.byteOffset, 4);
  const at = sys.address(buf);
  return () => statAt(path, at) === 0 && words[2] + words[3] * 2 ** 32 === own.ino && words[0] + words[1] * 2 ** 32 === own.dev;
}

/** The tap's record of a connection whose upstream led back to the tap: the client is closed, not relayed. */
export function selfUpstreamError(display: string): UdsError {
  return new UdsError('BAD_OPTION', `--upstream ${display} leads back to this tap (it is the tap's own socket file now): not relayed to itself`, { target: display });
}
