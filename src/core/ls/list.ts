/**
 * `udsctl ls`: every listening socket on the machine (this network namespace),
 * who holds it, who may connect, its queues and what it likely is; and the
 * socket files nobody listens on. Everything from sock_diag (names as bytes),
 * /proc/PID/fd and stat: nothing is sent to any socket.
 *
 * One pass each: one sock_diag dump, one /proc scan for the listeners'
 * inodes, one stat per socket file (parent directories once), one bounded
 * walk for stale files. Returns data; never prints, never throws for what
 * the OS says.
 */
import { type Stats, lstatSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeKeepingBytes, keptBytes } from '../escape.js';
import { fsPath } from '../socket/target.js';
import type { SocketType } from '../socket/socket-type.js';
import { AF_INET, type InetSocket, NAME_ABSTRACT, NAME_PATH, NONE, SockDiagUnavailable, TCP_ESTABLISHED, TCP_LISTEN, dumpTcpSockets, dumpUnixSockets } from '../socket/sock-diag.js';
import { type DirVerdicts, type FileFacts, type PathAccess, inspectSocketSync } from '../socket/path-access.js';
import { type Identity, currentIdentity, userName } from '../socket/identity.js';
import { type HolderProcess, type HolderScan, scanHolders } from './holders.js';
import { procHidePid } from '../socket/processes.js';
import { defaultRoots, matchesPaths, splitPaths, walkSockets } from './paths.js';
import { indexServers } from './server-index.js';
import { type LsService, recogniseEntry, serviceMatches } from './service.js';
import type { LsSort, LsType } from './options.js';

export { LS_SORTS, LS_TYPES, type LsSort, type LsType } from './options.js';

/** listening (stream, seqpacket, TCP), bound (dgram), stale (a file nobody listens on), deleted (a listener whose file is gone). */
export type LsState = 'listening' | 'bound' | 'stale' | 'deleted';

export interface LsProcess extends HolderProcess {
  user: string | null;
}

export interface LsEntry {
  kind: 'path' | 'abstract' | 'tcp';
  /** The exact bytes of the name: a path, an abstract name (without its leading NUL), `address:port`. */
  name: Buffer;
  /** As shown: the path, `@name`, `127.0.0.1:80` (bytes that are not UTF-8 kept as decodeKeepingBytes does: escape before printing). */
  display: string;
  /** A path name made absolute (a relative one against its process's working directory); null when not known. */
  absolute: string | null;
  /** null: a stale file's type cannot be told. */
  type: SocketType | 'tcp' | null;
  state: LsState;
  inode: number | null;
  /** The socket's owner as the kernel says (UNIX_DIAG_UID, inet_diag); null when not said. */
  uid: number | null;
  user: string | null;
  processes: LsProcess[];
  /** What could not be learnt about the process, or null. */
  processNote: string | null;
  file: FileFacts | null;
  access: PathAccess;
  /** Connections waiting to be accepted now, and the backlog (listeners). */
  queue: number | null;
  backlog: number | null;
  /** Connected clients (accepted connections; connected datagram senders). */
  clients: number | null;
  service: LsService | null;
}

export interface LsReport {
  /** sock_diag could be read; else `reason`. */
  available: boolean;
  reason?: string;
  entries: LsEntry[];
  /** Unix sockets the kernel listed (all states). */
  sockets: number;
  /** Folders walked for stale socket files. */
  roots: string[];
  identity: Identity;
  /** Processes whose descriptors we may not read (run as root to see them). */
  hiddenProcesses: number;
  /** /proc leaves other users' processes out altogether (`hidepid=invisible`), so they cannot be counted; null when it lists them. */
  procHidden: string | null;
  /** A bound that was reached, in words (the /proc scan, the walk, the dump). */
  limits: string[];
}

export interface LsOptions {
  /** Paths, folders or `@prefix`es: only sockets under/at them; folders are walked for stale files instead of the usual places. */
  paths?: string[];
  types?: LsType[];
  service?: string;
  /** Only stale files and listeners whose file is gone. */
  staleOnly?: boolean;
  /** TCP listeners on loopback (and on every address) too. */
  tcp?: boolean;
  sort?: LsSort;
  env?: NodeJS.ProcessEnv;
  /** Bounds: the /proc scan, the walk (ms), and the walk's size. */
  procBudgetMs?: number;
  walkBudgetMs?: number;
  walkMaxEntries?: number;
  walkMaxDepth?: number;
  identity?: Identity;
}

export const LS_DEFAULTS = { procBudgetMs: 2_000, walkBudgetMs: 1_000, walkMaxEntries: 100_000, walkMaxDepth: 5 } as const;

const TYPE_NAME: Record<number, SocketType> = { 1: 'stream', 2: 'dgram', 5: 'seqpacket' };

/** The kernel's dev_t (major << 20 | minor) of a stat's glibc-encoded dev. */
export function kernelDev(dev: number): number {
  const hi = Math.floor(dev / 2 ** 32);
  const lo = dev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

const fileKey = (dev: number, ino: number) => `${dev}:${ino}`;

/** One LsProcess a holder, shared by its sockets (one process often holds thousands). */
const lsProcesses = new WeakMap<HolderProcess, LsProcess>();
function lsProcess(p: HolderProcess): LsProcess {
  let l = lsProcesses.get(p);
  if (!l) lsProcesses.set(p, (l = { ...p, user: p.uid === null ? null : userName(p.uid) }));
  return l;
}

function processesOf(inode: number, scan: HolderScan): LsProcess[] {
  return (scan.byInode.get(inode) ?? []).map((pid) => lsProcess(scan.processes.get(pid)!)).sort((a, b) => a.pid - b.pid);
}

function processNote(found: LsProcess[], uid: number | null, scan: HolderScan, who: Identity, procHidden: string | null): string | null {
  if (found.length > 0) return null;
  const owner = uid === null ? '' : ` (the socket belongs to ${userName(uid)})`;
  if (scan.truncated) return `process not found within the /proc scan's bound${owner}`;
  if (procHidden && uid !== who.uid) return `process not visible to ${who.describe}${owner}: /proc is mounted with ${procHidden}, which leaves other users' processes out; run as root to name it`;
  if (scan.hidden !== 0 && who.uid !== 0) return `process not visible to ${who.describe}${owner}: run as root to name it`;
  return `no process found holding it${owner}`;
}

const ABSTRACT_ACCESS: PathAccess = { allowed: true, reason: 'an abstract name has no file permissions: any process in this network namespace may connect' };
const TCP_ACCESS: PathAccess = { allowed: true, reason: 'TCP: no file permissions (a firewall may still say no)' };

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sort in place: by `sort`, then by name. */
export function sortEntries(entries: LsEntry[], sort: LsSort = 'name'): LsEntry[] {
  const num = (e: LsEntry): number => {
    switch (sort) {
      case 'pid':
        return e.processes[0]?.pid ?? Number.MAX_SAFE_INTEGER;
      case 'queue':
        return -(e.queue ?? -1);
      case 'clients':
        return -(e.clients ?? -1);
      default:
        return 0;
    }
  };
  const text = (e: LsEntry): string => {
    switch (sort) {
      case 'type':
        return e.type ?? '~';
      case 'user':
        return e.processes[0]?.user ?? e.user ?? e.file?.owner ?? '~';
      case 'service':
        return e.service?.service ?? '~';
      default:
        return '';
    }
  };
  // Each entry's keys once (not twice a comparison: ls sorts thousands), then back in place.
  const keyed = entries.map((e) => ({ e, n: num(e), t: text(e), d: e.display }));
  keyed.sort((a, b) => a.n - b.n || byText(a.t, b.t) || byText(a.d, b.d));
  for (let i = 0; i < keyed.length; i++) entries[i] = keyed[i].e;
  return entries;
}

/** List the machine's listening sockets and stale socket files (see the module comment). */
export function listSockets(o: LsOptions = {}): LsReport {
  const env = o.env ?? process.env;
  const who = o.identity ?? currentIdentity();
  const report: LsReport = { available: false, entries: [], sockets: 0, roots: [], identity: who, hiddenProcesses: 0, procHidden: null, limits: [] };
  const t = dumpUnixSockets();
  if (t instanceof SockDiagUnavailable) {
    report.reason = t.reason;
    return report;
  }
  report.available = true;
  report.sockets = t.length;
  if (t.truncated) report.limits.push(`only the first ${t.length} sockets the kernel listed were read`);
  if (t.inconsistent) report.limits.push('the socket table changed during the dump: a socket may be missing or listed twice');

  const idx = indexServers(t);
  const tcp = o.tcp ? dumpTcpSockets() : [];
  if (tcp instanceof SockDiagUnavailable) report.limits.push(`TCP listeners not read: ${tcp.reason}`);
  const tcpLoop = Array.isArray(tcp) ? tcp.filter((s) => isLoopbackOrAny(s.address)) : [];
  // A listener's clients are the established connections on its address and port: a dump of their own,
  // so that a machine with very many connections loses the counts (said), never the listeners.
  const established = tcpLoop.length ? dumpTcpSockets(1 << TCP_ESTABLISHED) : [];
  if (established instanceof SockDiagUnavailable) report.limits.push(`TCP clients not counted: ${established.reason}`);
  const tcpClients = Array.isArray(established) ? tcpConnections(tcpLoop, established) : null;

  const want = new Set<number>();
  for (const i of idx.rows) want.add(t.inode[i]);
  for (const s of tcpLoop) want.add(s.inode);
  const scan = scanHolders(want, { budgetMs: o.procBudgetMs ?? LS_DEFAULTS.procBudgetMs });
  report.hiddenProcesses = Math.max(0, scan.hidden);
  report.procHidden = procHidePid(who);
  if (scan.truncated) report.limits.push('the /proc scan for the listening processes stopped at its bound: some are not named');

  const dirs: DirVerdicts = new Map();
  const listenedFiles = new Set<string>();
  /** Listeners whose file is not at their bound name, by the file's dev:ino: linked into place elsewhere (serve --group) or deleted. */
  const elsewhere = new Map<string, { e: LsEntry; state: LsState; dev: number; ino: number }>();
  const listenedPaths = new Set<string>();
  for (let k = 0; k < idx.rows.length; k++) {
    const i = idx.rows[k];
    const inode = t.inode[i];
    const name = Buffer.from(t.name(i));
    const text = decodeKeepingBytes(name);
    const abstract = t.nameKind[i] === NAME_ABSTRACT;
    const procs = processesOf(inode, scan);
    const uid = t.uid[i] === NONE ? null : t.uid[i];
    const listening = t.state[i] === TCP_LISTEN;
    const e: LsEntry = {
      kind: abstract ? 'abstract' : 'path',
      name,
      display: abstract ? `@${text}` : text,
      absolute: null,
      type: TYPE_NAME[t.type[i]] ?? null,
      state: listening ? 'listening' : 'bound',
      inode,
      uid,
      user: uid === null ? null : userName(uid),
      processes: procs,
      processNote: processNote(procs, uid, scan, who, report.procHidden),
      file: null,
      access: ABSTRACT_ACCESS,
      queue: listening && t.rqueue[i] !== NONE ? t.rqueue[i] : null,
      backlog: listening && t.wqueue[i] !== NONE ? t.wqueue[i] : null,
      clients: idx.clients[k],
      service: null,
    };
    if (t.nameKind[i] === NAME_PATH) {
      if (path.isAbsolute(text)) e.absolute = path.normalize(text);
      else {
        const cwd = procs.length ? readCwd(procs[0].pid) : null;
        e.absolute = cwd ? path.resolve(cwd, text) : null;
      }
      if (t.vfsIno[i] !== NONE) listenedFiles.add(fileKey(t.vfsDev[i], t.vfsIno[i]));
      placeFile(e, t.vfsDev[i], t.vfsIno[i], who, dirs);
      if (e.state === 'deleted' && t.vfsIno[i] !== NONE) {
        elsewhere.set(fileKey(t.vfsDev[i], t.vfsIno[i]), { e, state: listening ? 'listening' : 'bound', dev: t.vfsDev[i], ino: t.vfsIno[i] });
      }
      if (e.state === 'listening' || e.state === 'bound') listenedPaths.add(e.absolute ?? '');
    }
    e.service = recogniseEntry(e.absolute ?? e.display, e.type === 'tcp' ? null : e.type, procs, env);
    report.entries.push(e);
  }

  for (const s of tcpLoop) {
    const procs = processesOf(s.inode, scan);
    const display = s.family === AF_INET ? `${s.address}:${s.port}` : `[${s.address}]:${s.port}`;
    report.entries.push({
      kind: 'tcp',
      name: Buffer.from(display),
      display,
      absolute: null,
      type: 'tcp',
      state: 'listening',
      inode: s.inode,
      uid: s.uid,
      user: userName(s.uid),
      processes: procs,
      processNote: processNote(procs, s.uid, scan, who, report.procHidden),
      file: null,
      access: TCP_ACCESS,
      queue: s.rqueue,
      backlog: s.wqueue,
      clients: tcpClients ? (tcpClients.get(s) ?? 0) : null,
      service: recogniseEntry(display, 'stream', procs, env, s.port),
    });
  }

  // Stale files: socket files under the roots that no listener is bound to.
  const filters = o.paths?.length ? splitPaths(o.paths) : null;
  report.roots = filters ? filters.dirs : defaultRoots(env);
  const walk = walkSockets(report.roots, o.walkMaxDepth ?? LS_DEFAULTS.walkMaxDepth, o.walkMaxEntries ?? LS_DEFAULTS.walkMaxEntries, o.walkBudgetMs ?? LS_DEFAULTS.walkBudgetMs, filters !== null);
  if (walk.limit) report.limits.push(walk.limit);
  const files = filters ? [...walk.files, ...filters.files] : walk.files;
  const seenStale = new Set<string>();
  for (const p of files) {
    // A path a listener was found bound to (its file checked by placeFile): no need to look again.
    if (listenedPaths.has(p)) continue;
    let st: Stats;
    try {
      st = lstatSync(fsPath(p));
    } catch {
      continue; // gone meanwhile, or a given path that is not there
    }
    if (!st.isSocket()) continue;
    const f = { path: p, st };
    const k = fileKey(kernelDev(f.st.dev), f.st.ino);
    const moved = elsewhere.get(k);
    if (moved) {
      // The listener's very file, under another name than it was bound by (bound in a private folder, then linked here).
      elsewhere.delete(k);
      const { e } = moved;
      e.display = e.absolute = f.path;
      e.state = moved.state;
      placeFile(e, moved.dev, moved.ino, who, dirs);
      e.service = recogniseEntry(f.path, e.type === 'tcp' ? null : e.type, e.processes, env);
      continue;
    }
    if (listenedFiles.has(k) || seenStale.has(k)) continue;
    seenStale.add(k);
    const insp = inspectSocketSync(f.path, who, dirs, f.st);
    const reason = 'no process in this network namespace listens on it: a stale file (a server that ended without removing it)';
    report.entries.push({
      kind: 'path',
      name: keptBytes(f.path),
      display: f.path,
      absolute: f.path,
      type: null,
      state: 'stale',
      inode: null,
      uid: f.st.uid,
      user: userName(f.st.uid),
      processes: [],
      processNote: null,
      file: insp.file ?? null,
      access: { allowed: false, reason: insp.access.allowed === false ? `${insp.access.reason}; besides, ${reason}` : reason, fix: `start its server, or remove it (rm ${f.path}); a server in another network namespace (a container) is not seen from here: look there before removing it` },
      queue: null,
      backlog: null,
      clients: null,
      service: recogniseEntry(f.path, null, [], env),
    });
  }

  report.entries = report.entries.filter((e) => {
    if (!matchesPaths(e, filters)) return false;
    if (o.types?.length && !(o.types as readonly string[]).includes(e.type ?? '')) return false;
    if (o.service && !serviceMatches(e.service, o.service)) return false;
    if (o.staleOnly && e.state !== 'stale' && e.state !== 'deleted') return false;
    return true;
  });
  sortEntries(report.entries, o.sort);
  return report;
}

const WILDCARD = new Set(['0.0.0.0', '::']);

/**
 * Each TCP listener's accepted connections: the established sockets on its
 * port and address (any address for a wildcard listener; a `::` one takes
 * IPv4 too), less those still waiting in its accept queue, which are
 * established as well (a Unix listener's CONN counts accepted ones only).
 */
function tcpConnections(listeners: InetSocket[], established: InetSocket[]): Map<InetSocket, number> {
  const out = new Map<InetSocket, number>();
  const byPort = new Map<number, InetSocket[]>();
  for (const l of listeners) byPort.set(l.port, [...(byPort.get(l.port) ?? []), l]);
  for (const c of established) {
    const ls = byPort.get(c.port);
    if (!ls) continue;
    // The most specific listener takes it, as the kernel's lookup does.
    const l =
      ls.find((x) => x.family === c.family && x.address === c.address) ??
      ls.find((x) => x.family === c.family && WILDCARD.has(x.address)) ??
      ls.find((x) => x.address === '::');
    if (l) out.set(l, (out.get(l) ?? 0) + 1);
  }
  for (const [l, n] of out) out.set(l, Math.max(0, n - l.rqueue));
  return out;
}

/** The listener's file: there (owner, mode, may we connect), or gone (deleted, or replaced by another file). */
function placeFile(e: LsEntry, vfsDev: number, vfsIno: number, who: Identity, dirs: DirVerdicts): void {
  if (e.absolute === null) {
    e.access = { allowed: null, reason: 'a relative name, and its process is not visible to us: the folder it is in is not known' };
    return;
  }
  let st: Stats | undefined;
  try {
    st = statSync(fsPath(e.absolute));
  } catch {
    st = undefined;
  }
  const insp = inspectSocketSync(e.absolute, who, dirs, st);
  e.file = insp.file ?? null;
  e.access = insp.access;
  if (insp.state === 'unreachable') return; // cannot look: the listener may well be there
  if (!st || vfsIno === NONE || kernelDev(st.dev) !== vfsDev || st.ino !== vfsIno) {
    e.state = 'deleted';
    e.access = {
      allowed: false,
      reason: st ? 'the file at this path is another one: the listener\'s file was deleted and the name reused' : "the socket's file was deleted: no client can reach it by its path",
      fix: 'restart the server (it binds the path again), or connect through its process another way',
    };
  }
}

function readCwd(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/** 127.0.0.0/8, ::1, ::ffff:127.x, and the any-addresses (they take loopback connections too). */
export function isLoopbackOrAny(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '0.0.0.0' || address === '::' || address.startsWith('::ffff:127.') || address.startsWith('::ffff:7f');
}
