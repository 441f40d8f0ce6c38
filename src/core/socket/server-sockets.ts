/**
 * The Unix sockets a server receives on, as the kernel lists them: from
 * sock_diag (names as bytes, the bound file's device and inode) and, for
 * library callers, /proc/net/unix; and a file's identity (device, inode),
 * which ties a socket file on disk to its listener. Never prints, never
 * throws for what the OS says.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { decodeKeepingBytes } from '../escape.js';
import { NAME_ABSTRACT, NONE, SockDiagUnavailable, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, UDIAG_SHOW_NAME, UDIAG_SHOW_PEER, UDIAG_SHOW_VFS, dumpUnixSockets } from './sock-diag.js';
import { fsPath } from './target.js';

const SOCK_DGRAM = 2;

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

async function readOnce(file: string): Promise<UnixSocketEntry[] | null> {
  try {
    return parseProcNetUnix(await fsp.readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Per file: the read under way, and the one the callers that came meanwhile share. */
const reads = new Map<string, { running: Promise<unknown> | null; next: Promise<UnixSocketEntry[] | null> | null }>();

/**
 * The rows of /proc/net/unix, or null where there is none (not Linux, /proc
 * not mounted). Callers that ask while a read is under way share the next one,
 * begun after they asked: probe's targets at once read and parsed the file
 * each, all together (beside 10,000 sockets, 100 targets held 350 MB).
 * The rows are shared: not to be changed.
 */
export function readProcNetUnix(file = '/proc/net/unix'): Promise<UnixSocketEntry[] | null> {
  let q = reads.get(file);
  if (!q) reads.set(file, (q = { running: null, next: null }));
  const queue = q;
  if (queue.next) return queue.next;
  const wait = queue.running ? queue.running.then(() => undefined, () => undefined) : Promise.resolve();
  const next = wait.then(() => {
    queue.next = null;
    const r = readOnce(file);
    queue.running = r;
    void r.then(() => {
      if (queue.running === r) queue.running = null;
    });
    return r;
  });
  queue.next = next;
  return next;
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

/** A bound socket that serves (listening, or a bound datagram socket), as sock_diag gives it: its name as bytes. */
export interface ServerSocket extends UnixSocketEntry {
  /** The name's exact bytes (an abstract name without its leading NUL). */
  name: Uint8Array;
  abstract: boolean;
  /**
   * The file it is bound to (a path name), when the kernel says (UNIX_DIAG_VFS, which /proc/net/unix
   * does not give): what ties a socket file to its listener whatever name it was bound by (relative,
   * through a symlink), and tells a listener whose file was deleted from one whose file is there.
   */
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

/** A socket a server receives on: a listening stream or seqpacket socket, or a bound datagram socket. */
export function isServerSocket(e: UnixSocketEntry): boolean {
  return e.path !== '' && (e.listening || e.type === SOCK_DGRAM);
}
