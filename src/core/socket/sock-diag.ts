/**
 * The kernel's own list of sockets, from sock_diag netlink (NETLINK_SOCK_DIAG,
 * SOCK_DIAG_BY_FAMILY): AF_UNIX with each socket's name as BYTES, the file it
 * is bound to (device, inode), its queues, owner uid and state; and TCP
 * listeners (inet_diag). One dump, one netlink socket, bounded in time and in
 * the number of sockets kept.
 *
 * Never /proc/net/unix: that file is text, one socket a line, with the name
 * printed raw, so any user can bind an abstract name holding a newline and a
 * whole forged row (issue 19 item 6). Here a name is a length-prefixed
 * attribute: it cannot spill into another socket's record.
 *
 * The reply is parsed by pure functions (parseUnixDiag, parseInetDiag) into a
 * columnar table of typed arrays that grows by doubling, names in one byte
 * pool: no object per socket, so 50,000 sockets cost a few hundred kB and no
 * garbage. Malformed lengths end the parse (never a loop, never a read past
 * the bytes received).
 */
import { nowMs } from '../clock.js';
import { SOCK_CLOEXEC } from './ffi.js';
import { type Libc, libc } from './libc.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
const AF_NETLINK = 16;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DGRAM = 2;
const SOCK_DIAG_BY_FAMILY = 20;
const NLMSG_HDR = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
/** The kernel's dump was interrupted by a change to the table: what we have may miss or repeat a socket. */
const NLM_F_DUMP_INTR = 0x10;
const IPPROTO_TCP = 6;

/** TCP_* states, which sock_diag uses for every family. */
export const TCP_ESTABLISHED = 1;
export const TCP_CLOSE = 7;
export const TCP_LISTEN = 10;
/** Every state. */
export const ALL_STATES = 0xffffffff;

// struct unix_diag_req's show bits and the reply's attribute types (linux/unix_diag.h).
export const UDIAG_SHOW_NAME = 0x01;
export const UDIAG_SHOW_VFS = 0x02;
export const UDIAG_SHOW_PEER = 0x04;
export const UDIAG_SHOW_RQLEN = 0x10;
export const UDIAG_SHOW_UID = 0x40;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_VFS = 1;
const UNIX_DIAG_PEER = 2;
const UNIX_DIAG_ICONS = 3;
const UNIX_DIAG_RQLEN = 4;
const UNIX_DIAG_UID = 7;

/** No value: a uid, peer or queue the kernel did not send. */
export const NONE = 0xffffffff;

/** Name kinds. */
export const NAME_NONE = 0;
export const NAME_PATH = 1;
export const NAME_ABSTRACT = 2;

/** Most sockets kept by default (beyond: the dump says `truncated`). */
export const DEFAULT_MAX_SOCKETS = 1_000_000;

function grow<T extends Uint8Array | Uint32Array>(a: T, n: number): T {
  const b = new (a.constructor as { new (n: number): T })(n);
  b.set(a);
  return b;
}

/**
 * The Unix sockets of one dump, column by column: row i is inode[i], type[i],
 * ... A value the kernel did not send is NONE (uid, peer, queues, vfs).
 */
export class UnixSockTable {
  length = 0;
  /** The kernel dropped part of the dump (NLM_F_DUMP_INTR) or the row cap was hit. */
  inconsistent = false;
  truncated = false;
  inode: Uint32Array;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  type: Uint8Array;
  /** TCP_LISTEN 10, TCP_ESTABLISHED 1, TCP_CLOSE 7, ... */
  state: Uint8Array;
  /** NAME_NONE, NAME_PATH, NAME_ABSTRACT. */
  nameKind: Uint8Array;
  /** Where the name's bytes are in `pool` (without the abstract name's leading NUL, without a path's trailing NUL). */
  nameStart: Uint32Array;
  nameLen: Uint8Array;
  vfsDev: Uint32Array;
  vfsIno: Uint32Array;
  peer: Uint32Array;
  /** A listener: connections waiting in its accept queue; other sockets: bytes waiting to be read. */
  rqueue: Uint32Array;
  /** A listener: its backlog (listen(2)'s, capped by somaxconn); other sockets: bytes not yet read by the peer. */
  wqueue: Uint32Array;
  uid: Uint32Array;
  /** A listener: how many connections wait in its accept queue (UNIX_DIAG_ICONS entries). */
  icons: Uint32Array;
  pool: Uint8Array;
  poolUsed = 0;

  constructor(
    capacity = 1024,
    readonly maxRows = DEFAULT_MAX_SOCKETS,
  ) {
    this.inode = new Uint32Array(capacity);
    this.type = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.nameKind = new Uint8Array(capacity);
    this.nameStart = new Uint32Array(capacity);
    this.nameLen = new Uint8Array(capacity);
    this.vfsDev = new Uint32Array(capacity);
    this.vfsIno = new Uint32Array(capacity);
    this.peer = new Uint32Array(capacity);
    this.rqueue = new Uint32Array(capacity);
    this.wqueue = new Uint32Array(capacity);
    this.uid = new Uint32Array(capacity);
    this.icons = new Uint32Array(capacity);
    this.pool = new Uint8Array(capacity * 16);
  }

  /** Room for one more row; false at the cap. */
  reserve(): boolean {
    if (this.length >= this.maxRows) {
      this.truncated = true;
      return false;
    }
    if (this.length < this.inode.length) return true;
    const n = Math.min(this.inode.length * 2, this.maxRows);
    this.inode = grow(this.inode, n);
    this.type = grow(this.type, n);
    this.state = grow(this.state, n);
    this.nameKind = grow(this.nameKind, n);
    this.nameStart = grow(this.nameStart, n);
    this.nameLen = grow(this.nameLen, n);
    this.vfsDev = grow(this.vfsDev, n);
    this.vfsIno = grow(this.vfsIno, n);
    this.peer = grow(this.peer, n);
    this.rqueue = grow(this.rqueue, n);
    this.wqueue = grow(this.wqueue, n);
    this.uid = grow(this.uid, n);
    this.icons = grow(this.icons, n);
    return true;
  }

  addName(src: Uint8Array, start: number, len: number): number {
    if (this.poolUsed + len > this.pool.length) this.pool = grow(this.pool, Math.max(this.pool.length * 2, this.poolUsed + len));
    const at = this.poolUsed;
    this.pool.set(src.subarray(start, start + len), at);
    this.poolUsed += len;
    return at;
  }

  /** Row i's name bytes (a view into the pool: copy to keep it past the table). */
  name(i: number): Uint8Array {
    return this.pool.subarray(this.nameStart[i], this.nameStart[i] + this.nameLen[i]);
  }

  /** Whether row i's name is exactly these bytes. */
  nameEquals(i: number, bytes: Uint8Array): boolean {
    const n = this.nameLen[i];
    if (n !== bytes.length) return false;
    const p = this.pool;
    const s = this.nameStart[i];
    for (let k = 0; k < n; k++) if (p[s + k] !== bytes[k]) return false;
    return true;
  }

  /** A socket a server receives on: a listening stream/seqpacket socket, or a bound datagram socket that is not connected. */
  isServer(i: number): boolean {
    if (this.nameKind[i] === NAME_NONE) return false;
    if (this.state[i] === TCP_LISTEN) return true;
    return this.type[i] === SOCK_DGRAM && this.peer[i] === NONE;
  }
}

export type ParseStatus = 'more' | 'done' | 'malformed' | { errno: number };

/**
 * The netlink messages of one recv's worth of a sock_diag reply: each socket's
 * message of at least `size` bytes after the header goes to `row` (`m`: where
 * the struct starts, `mend`: where the message ends). Pure. Returns 'more'
 * (read on), 'done' (NLMSG_DONE), 'malformed' (a length that does not fit: the
 * rest is not trusted), or the kernel's errno. Messages whose seq is not `seq`
 * are skipped (not ours); `intr` is told of one flagged NLM_F_DUMP_INTR.
 */
function eachDiagMessage(buf: Uint8Array, len: number, seq: number | undefined, size: number, row: (v: DataView, m: number, mend: number) => void, intr?: () => void): ParseStatus {
  const end = Math.min(len, buf.length);
  const v = new DataView(buf.buffer, buf.byteOffset, end);
  for (let off = 0; off + NLMSG_HDR <= end; ) {
    const mlen = v.getUint32(off, true);
    const mtype = v.getUint16(off + 4, true);
    if (mlen < NLMSG_HDR || mlen > end - off) return 'malformed';
    if (seq === undefined || v.getUint32(off + 8, true) === seq) {
      if (v.getUint16(off + 6, true) & NLM_F_DUMP_INTR) intr?.();
      if (mtype === NLMSG_DONE) return 'done';
      if (mtype === NLMSG_ERROR) return { errno: mlen >= 20 ? -v.getInt32(off + 16, true) : 0 };
      if (mtype === SOCK_DIAG_BY_FAMILY && mlen >= NLMSG_HDR + size) row(v, off + NLMSG_HDR, off + mlen);
    }
    off += (mlen + 3) & ~3;
  }
  return 'more';
}

/** Parse one recv's worth of sock_diag reply for AF_UNIX into `t` (eachDiagMessage's statuses). Pure: bytes in, rows out. */
export function parseUnixDiag(buf: Uint8Array, len: number, t: UnixSockTable, seq?: number): ParseStatus {
  // struct unix_diag_msg: family, type, state, pad, ino, cookie[2] (16 bytes).
  return eachDiagMessage(buf, len, seq, 16, (v, m, mend) => {
    if (!t.reserve()) return;
    const i = t.length++;
    t.type[i] = buf[m + 1];
    t.state[i] = buf[m + 2];
    t.inode[i] = v.getUint32(m + 4, true);
    t.nameKind[i] = NAME_NONE;
    t.nameStart[i] = 0;
    t.nameLen[i] = 0;
    t.vfsDev[i] = NONE;
    t.vfsIno[i] = NONE;
    t.peer[i] = NONE;
    t.rqueue[i] = NONE;
    t.wqueue[i] = NONE;
    t.uid[i] = NONE;
    t.icons[i] = 0;
    for (let a = m + 16; a + 4 <= mend; ) {
      const alen = v.getUint16(a, true);
      const atype = v.getUint16(a + 2, true) & 0x3fff;
      if (alen < 4 || alen > mend - a) break; // a bad attribute: the rest of this message is not trusted
      const p = a + 4;
      const plen = alen - 4;
      if (atype === UNIX_DIAG_NAME && plen > 0) {
        if (buf[p] === 0) {
          // Abstract: every byte after the leading NUL is the name, NULs and newlines included.
          const n = Math.min(plen - 1, 255);
          t.nameKind[i] = NAME_ABSTRACT;
          t.nameStart[i] = t.addName(buf, p + 1, n);
          t.nameLen[i] = n;
        } else {
          // A path: up to its terminating NUL.
          let n = 0;
          while (n < plen && n < 255 && buf[p + n] !== 0) n++;
          t.nameKind[i] = NAME_PATH;
          t.nameStart[i] = t.addName(buf, p, n);
          t.nameLen[i] = n;
        }
      } else if (atype === UNIX_DIAG_VFS && plen >= 8) {
        t.vfsIno[i] = v.getUint32(p, true);
        t.vfsDev[i] = v.getUint32(p + 4, true);
      } else if (atype === UNIX_DIAG_PEER && plen >= 4) {
        t.peer[i] = v.getUint32(p, true);
      } else if (atype === UNIX_DIAG_RQLEN && plen >= 8) {
        t.rqueue[i] = v.getUint32(p, true);
        t.wqueue[i] = v.getUint32(p + 4, true);
      } else if (atype === UNIX_DIAG_UID && plen >= 4) {
        t.uid[i] = v.getUint32(p, true);
      } else if (atype === UNIX_DIAG_ICONS) {
        t.icons[i] = plen >>> 2;
      }
      a += (alen + 3) & ~3;
    }
  }, () => (t.inconsistent = true));
}

/** A TCP socket (inet_diag). Few (listeners), so plain objects. */
export interface InetSocket {
  family: typeof AF_INET | typeof AF_INET6;
  state: number;
  /** The local address as text (`127.0.0.1`, `::1`), and port. */
  address: string;
  port: number;
  inode: number;
  uid: number;
  /** A listener: connections waiting to be accepted; its backlog. */
  rqueue: number;
  wqueue: number;
}

function ipText(buf: Uint8Array, at: number, family: number): string {
  if (family === AF_INET) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  const groups: string[] = [];
  for (let k = 0; k < 16; k += 2) groups.push(((buf[at + k] << 8) | buf[at + k + 1]).toString(16));
  // The longest run of zero groups (2 or more) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let s = 0; s < 8; ) {
    if (groups[s] !== '0') {
      s++;
      continue;
    }
    let e = s;
    while (e < 8 && groups[e] === '0') e++;
    if (e - s > bestLen) {
      best = s;
      bestLen = e - s;
    }
    s = e;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parse one recv's worth of inet_diag reply (struct inet_diag_msg); as parseUnixDiag. `max` bounds `out`. */
export function parseInetDiag(buf: Uint8Array, len: number, out: InetSocket[], seq?: number, max = 65_536): ParseStatus {
  // struct inet_diag_msg: family, state, timer, retrans, id (sport, dport big-endian, src[16], dst[16], if, cookie[2]),
  // expires, rqueue, wqueue, uid, inode: 72 bytes.
  return eachDiagMessage(buf, len, seq, 72, (v, m) => {
    const family = buf[m];
    if (out.length >= max || (family !== AF_INET && family !== AF_INET6)) return;
    out.push({
      family,
      state: buf[m + 1],
      port: (buf[m + 4] << 8) | buf[m + 5],
      address: ipText(buf, m + 8, family),
      rqueue: v.getUint32(m + 56, true),
      wqueue: v.getUint32(m + 60, true),
      uid: v.getUint32(m + 64, true),
      inode: v.getUint32(m + 68, true),
    });
  });
}

/** A dump request of `size` bytes: its nlmsghdr filled in, then `family` and `states` (the same place in both families' structs). */
function diagRequest(size: number, seq: number, family: number, states: number): { req: Uint8Array; v: DataView } {
  const req = new Uint8Array(size);
  const v = new DataView(req.buffer);
  v.setUint32(0, size, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  v.setUint32(8, seq, true);
  req[16] = family;
  v.setUint32(20, states >>> 0, true);
  return { req, v };
}

/** The request for a dump of AF_UNIX sockets in `states`, with the `show` attributes. */
function unixDiagRequest(states: number, show: number, seq: number): Uint8Array {
  // nlmsghdr (16) + unix_diag_req: family, protocol, pad(2), states, ino, show, cookie[2] (24).
  const { req, v } = diagRequest(40, seq, AF_UNIX, states);
  v.setUint32(28, show, true);
  v.setUint32(32, NONE, true);
  v.setUint32(36, NONE, true);
  return req;
}

/** The request for a dump of TCP sockets of `family` in `states`. */
function inetDiagRequest(family: number, states: number, seq: number): Uint8Array {
  // nlmsghdr (16) + inet_diag_req_v2: family, protocol, ext, pad, states, id (48): 56 bytes.
  const { req, v } = diagRequest(72, seq, family, states);
  req[17] = IPPROTO_TCP;
  // id.idiag_cookie: INET_DIAG_NOCOOKIE
  v.setUint32(64, NONE, true);
  v.setUint32(68, NONE, true);
  return req;
}

/** Why a dump gave nothing: sock_diag is not there (not Linux, no koffi, no unix_diag), or it failed. */
export class SockDiagUnavailable {
  constructor(readonly reason: string) {}
}

let lib: Libc | null | undefined;
/** libc, bound on first use (koffi is loaded then, not when this module is). */
function loadLibc(): Libc | null {
  if (lib !== undefined) return lib;
  if (process.platform !== 'linux') return (lib = null);
  try {
    lib = libc();
  } catch {
    lib = null;
  }
  return lib;
}

/** The netlink I/O of one dump: send `req`, feed each datagram to `parse` until done; bounded by `budgetMs`. */
function dump(nl: Libc, req: Uint8Array, parse: (buf: Uint8Array, n: number) => ParseStatus, budgetMs: number, what: string): SockDiagUnavailable | null {
  const fd = nl.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return new SockDiagUnavailable(`no sock_diag netlink socket (errno ${nl.errno()})`);
  try {
    if (nl.send(fd, req, req.length, 0) !== req.length) return new SockDiagUnavailable(`sock_diag refused the ${what} request (errno ${nl.errno()})`);
    // The kernel fills up to 32 KiB per datagram for a reader with room for it.
    const buf = new Uint8Array(64 * 1024);
    const pfd = new Uint8Array(8);
    const pv = new DataView(pfd.buffer);
    const deadline = nowMs() + budgetMs;
    for (;;) {
      const left = Math.ceil(deadline - nowMs());
      if (left <= 0) return new SockDiagUnavailable(`the ${what} dump took longer than ${budgetMs} ms`);
      pv.setInt32(0, fd, true);
      pv.setInt16(4, 1 /* POLLIN */, true);
      pv.setInt16(6, 0, true);
      if (nl.poll(pfd, 1, left) <= 0) return new SockDiagUnavailable(`the ${what} dump took longer than ${budgetMs} ms`);
      const n = nl.recv(fd, buf, buf.length, 0x40 /* MSG_DONTWAIT */);
      if (n <= 0) return new SockDiagUnavailable(`reading the ${what} dump failed (errno ${nl.errno()})`);
      const st = parse(buf, n);
      if (st === 'done') return null;
      if (st === 'malformed') return new SockDiagUnavailable(`the kernel's ${what} reply did not parse`);
      if (typeof st === 'object') return new SockDiagUnavailable(st.errno === 2 ? `no ${what} in this kernel (unix_diag/inet_diag not available)` : `sock_diag ${what}: errno ${st.errno}`);
    }
  } finally {
    nl.close(fd);
  }
}

let seqNo = 0;

export interface UnixDumpOptions {
  /** Bit mask of TCP_* states (1 << TCP_LISTEN, ...); default all. */
  states?: number;
  /** UDIAG_SHOW_* bits; default name, vfs, peer, rqlen, uid. */
  show?: number;
  budgetMs?: number;
  maxRows?: number;
  /** Reuse this table (a --watch loop): its rows are replaced. */
  into?: UnixSockTable;
}

export const DEFAULT_SHOW = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;

/**
 * One sock_diag dump of the machine's (this network namespace's) Unix sockets.
 * Synchronous: the kernel answers 10,000 sockets in a few ms, and a caller
 * (probe, ls) wants one consistent picture, not one interleaved with its own work.
 * A SockDiagUnavailable says why there is none (not Linux, no unix_diag, the
 * time budget ran out); it never throws for what the OS says.
 */
export function dumpUnixSockets(o: UnixDumpOptions = {}): UnixSockTable | SockDiagUnavailable {
  const nl = loadLibc();
  if (!nl) return new SockDiagUnavailable(process.platform === 'linux' ? 'libc could not be loaded (koffi)' : 'sock_diag exists only on Linux');
  const t = o.into ?? new UnixSockTable(1024, o.maxRows ?? DEFAULT_MAX_SOCKETS);
  t.length = 0;
  t.poolUsed = 0;
  t.inconsistent = false;
  t.truncated = false;
  const seq = (seqNo = (seqNo + 1) >>> 0);
  const err = dump(nl, unixDiagRequest(o.states ?? ALL_STATES, o.show ?? DEFAULT_SHOW, seq), (b, n) => parseUnixDiag(b, n, t, seq), o.budgetMs ?? 2_000, 'unix_diag');
  return err ?? t;
}

/** TCP sockets in `states` (default: listening), IPv4 and IPv6; bounded by `budgetMs`. */
export function dumpTcpSockets(states = 1 << TCP_LISTEN, budgetMs = 1_000): InetSocket[] | SockDiagUnavailable {
  const nl = loadLibc();
  if (!nl) return new SockDiagUnavailable(process.platform === 'linux' ? 'libc could not be loaded (koffi)' : 'sock_diag exists only on Linux');
  const out: InetSocket[] = [];
  for (const family of [AF_INET, AF_INET6]) {
    const seq = (seqNo = (seqNo + 1) >>> 0);
    const err = dump(nl, inetDiagRequest(family, states, seq), (b, n) => parseInetDiag(b, n, out, seq), budgetMs, 'inet_diag');
    // No IPv6 in this kernel: the IPv4 sockets are all there is.
    if (err && family === AF_INET) return err;
  }
  return out;
}
