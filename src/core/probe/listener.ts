/**
 * probe's listener check: which sockets listen at the target (sock_diag: by
 * the bound file, else by the name's bytes), which processes hold them (bounded /proc
 * scan), and the verdicts on them (NO_LISTENER, STALE_SOCKET, a deleted file).
 */
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { type ExchangeRecord } from '../exchange.js';
import { type Target } from '../socket/target.js';
import type { PathInfo } from '../socket/path-access.js';
import { type ProcessInfo, findSocketOwners, procHidePid, processCwd, processNames } from '../socket/processes.js';
import { type FileId, type ServerSocket, type UnixSocketEntry, fileId, readServerSockets, sameFile } from '../socket/server-sockets.js';
import { type Finding, type ListenerInfo, type ServerProcess } from './findings.js';
import { type Settings } from './settings.js';
import { makeFinding, Checklist } from './checklist.js';

/** A listener lookup in progress: what sock_diag said, before the owners are named. */
export interface ListenerSearch {
  info: ListenerInfo;
  /** The absolute names this path goes by: as given, with symlinks resolved, with its directory's symlinks resolved. */
  names: Set<string>;
  /** The socket file is there (or cannot be looked at): a name match is a listener, not a deleted one. */
  present: boolean;
  /** Listening sockets bound by a relative name that may be this path: decided by their process's working directory. */
  relative: UnixSocketEntry[];
}

/**
 * The listening sockets bound to the target. A Unix path is matched by the file, not the name:
 * the kernel's sock_diag gives the device and inode of the file each listener is bound to, so a
 * symlink to a live socket finds its listener, and a server elsewhere bound to the same relative
 * name (`./app.sock`) is not taken for this one. Where sock_diag is not available, names are used,
 * a relative one resolved against its process's working directory. A listener bound by this path
 * whose file is gone is `deleted`: the server lives, the path does not reach it.
 * (Exported for tests; `sockDiag: false` takes the by-name way, as where sock_diag is missing.)
 */
export async function findListeners(t: Target, p: PathInfo | null, sockDiag = true, read: () => ServerSocket[] | null = readServerSockets): Promise<ListenerSearch> {
  const info: ListenerInfo = { available: false, match: 'name', inodes: [], owners: [], hidden: false, truncated: false, deleted: { inodes: [], owners: [] } };
  const search: ListenerSearch = { info, names: new Set(), present: true, relative: [] };
  // Names as bytes from the kernel, never /proc/net/unix's text (a newline in an abstract name forges rows).
  const servers = read();
  if (!servers) return search;
  info.available = true;
  if (t.kind === 'abstract') {
    info.inodes = servers.filter((e) => e.abstract && t.name.equals(e.name)).map((e) => e.inode);
    return search;
  }
  if (t.kind !== 'unix') return search;
  const abs = path.resolve(t.path);
  search.names.add(abs);
  const real = await fsp.realpath(abs).catch(() => null);
  if (real) search.names.add(real);
  const realDir = await fsp.realpath(path.dirname(abs)).catch(() => null);
  if (realDir) search.names.add(path.join(realDir, path.basename(abs)));
  search.present = p?.state !== 'absent';

  const listening = servers.filter((e) => !e.abstract);
  const byName = (e: UnixSocketEntry): boolean =>
    path.isAbsolute(e.path) ? search.names.has(path.normalize(e.path)) : [...search.names].some((n) => n.endsWith('/' + path.normalize(e.path)));
  const id: FileId | null = p?.state === 'socket' ? await fileId(abs) : null;
  if (id && sockDiag) {
    info.match = 'inode';
    info.inodes = listening.filter((e) => sameFile(e.vfs, id)).map((e) => e.inode);
    // Bound by this very name to another file: an earlier server whose file was deleted and replaced.
    info.deleted.inodes = listening
      .filter((e) => path.isAbsolute(e.path) && search.names.has(path.normalize(e.path)) && !info.inodes.includes(e.inode))
      .map((e) => e.inode);
    return search;
  }
  for (const e of listening.filter(byName)) {
    if (!path.isAbsolute(e.path)) search.relative.push(e);
    else if (search.present) info.inodes.push(e.inode);
    else info.deleted.inodes.push(e.inode);
  }
  return search;
}

/**
 * The server's process: from the connected socket (SO_PEERCRED: the process
 * that bound or listened, exact even across namespaces), else the one process
 * sock_diag and /proc/<pid>/fd found holding the listener.
 */
export async function serverProcess(r: ExchangeRecord | null, l: ListenerInfo | null): Promise<ServerProcess | null> {
  if (r?.peer) {
    const names = await processNames(r.peer.pid);
    return { pid: r.peer.pid, uid: r.peer.uid, gid: r.peer.gid, name: names?.name ?? '?', cmdline: names?.cmdline ?? '', source: 'peercred' };
  }
  const pids = new Set(l?.owners.map((o) => o.pid));
  if (l && pids.size === 1) return { pid: l.owners[0].pid, name: l.owners[0].name, cmdline: l.owners[0].cmdline, source: 'proc' };
  return null;
}

/** Name the processes holding the listeners, and settle relative names by those processes' working directories. */
export async function nameListeners(search: ListenerSearch, budgetMs: number): Promise<void> {
  const { info } = search;
  const all = [...info.inodes, ...info.deleted.inodes, ...search.relative.map((e) => e.inode)];
  if (all.length === 0) return;
  const found = await findSocketOwners(all, budgetMs);
  info.hidden = found.hidden;
  info.truncated = found.truncated;
  for (const e of search.relative) {
    const owner = found.owners.find((o) => o.inode === e.inode);
    const cwd = owner ? await processCwd(owner.pid) : null;
    // Not visible to us: the name is all we have (the file's presence decides which list).
    if (cwd !== null && !search.names.has(path.resolve(cwd, e.path))) continue; // a namesake elsewhere
    (search.present ? info.inodes : info.deleted.inodes).push(e.inode);
  }
  info.owners = found.owners.filter((o) => info.inodes.includes(o.inode));
  info.deleted.owners = found.owners.filter((o) => info.deleted.inodes.includes(o.inode));
}

export function describeOwners(s: Settings, l: ListenerInfo, owners: ProcessInfo[]): string {
  if (owners.length) return owners.map((o) => `pid ${o.pid} (${o.cmdline || o.name})`).join(', ');
  // hidepid=invisible leaves other users' processes out of /proc: nothing unreadable to count, and "none" would be a
  // guess. Said first, as ls says it: a process of our own uid whose descriptors we may not read (one that dropped
  // privileges) also makes the scan "hidden", and the mount is still the reason the listener is not seen.
  const hidepid = procHidePid(s.identity);
  if (hidepid) return `process not visible to ${s.identity.describe}: /proc is mounted with ${hidepid}; run as root to name it`;
  if (l.hidden) return `process not visible to ${s.identity.describe}; run as root to name it`;
  if (l.truncated) return 'process not found within the lookup budget';
  return 'no process found holding it';
}

export function judgeListener(
  t: Target,
  s: Settings,
  l: ListenerInfo,
  r: ExchangeRecord | null,
  p: PathInfo | null,
  checks: Checklist,
  findings: Finding[],
  took: number,
): void {
  if (!l.available) return checks.set('listener', 'skip', 'no sock_diag on this system (the kernel\'s socket list)', took);
  const gone = l.deleted.inodes.length > 0 ? describeOwners(s, l, l.deleted.owners) : '';
  if (t.kind === 'unix' && p?.state === 'absent') {
    if (!gone) return checks.set('listener', 'skip', 'no socket file, and nothing listens by this name');
    // "Someone deleted my socket": the server is alive, its file is not. That, not NOT_FOUND, is the diagnosis.
    checks.set('listener', 'fail', `the socket file is gone, yet ${gone} still listens by this name`, took);
    const i = findings.findIndex((f) => f.code === 'NOT_FOUND');
    if (i >= 0) findings.splice(i, 1);
    findings.push(
      makeFinding('SOCKET_DELETED', `${t.display}: the socket file was deleted, but ${gone} still listens on the socket bound to it (unreachable by the path)`),
    );
    return;
  }
  const alsoGone = gone ? `; also ${gone} listens on an earlier, deleted file of this name` : '';
  if (l.inodes.length > 0) {
    const who = describeOwners(s, l, l.owners);
    const many = l.inodes.length > 1 ? `${l.inodes.length} listening sockets on this file; ` : '';
    const verb = r?.socketType === 'dgram' ? 'bound (datagram)' : 'listening';
    return checks.set('listener', 'ok', `${verb}: ${many}${who}${alsoGone}`, took);
  }
  const code = r?.error?.code;
  if (r && r.timings.connectedUs !== undefined) {
    // connect works but the kernel lists no listener here: it lives in another network namespace.
    return checks.set('listener', 'ok', 'the kernel lists no listener here, yet connect works: the server is in another network namespace (a container?)', took);
  }
  if (code === 'REFUSED') {
    return checks.set('listener', 'fail', t.kind === 'abstract' ? 'nothing is bound to this name' : `no process listens on it (none in sock_diag)${alsoGone}`, took);
  }
  if (t.kind === 'unix' && code === 'PERMISSION_DENIED' && p?.state === 'socket') {
    // We may not connect, but the kernel still tells whether anyone listens: say so, it changes the fix.
    checks.set('listener', 'fail', 'no process listens on it (none in sock_diag)', took);
    findings.push(makeFinding('STALE_SOCKET', `${t.display}: besides, no process listens on it (none in sock_diag): the file is stale`));
    return;
  }
  checks.set('listener', 'warn', 'no listener in sock_diag', took);
}
