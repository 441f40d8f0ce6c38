/**
 * `udsctl ls --watch`: samples of every listener's accept queue, connected
 * clients and new connections per second. Each sample is one sock_diag dump
 * into a reused table and one pass over it; the /proc scan that names the
 * processes runs only for listeners not seen before, at most every 10 s.
 * New connections are the connected sockets whose inode the previous sample
 * did not have: a connection that opens and closes between two samples is
 * not seen (the kernel keeps no count for Unix sockets).
 */
import { decodeKeepingBytes } from '../escape.js';
import type { SocketType } from '../socket/socket-type.js';
import { DEFAULT_MAX_SOCKETS, NAME_ABSTRACT, NONE, SockDiagUnavailable, TCP_LISTEN, UDIAG_SHOW_NAME, UDIAG_SHOW_PEER, UDIAG_SHOW_RQLEN, UDIAG_SHOW_VFS, UnixSockTable, dumpUnixSockets } from '../socket/sock-diag.js';
import { type HolderProcess, scanHolders } from './holders.js';
import { indexServers } from './server-index.js';
import { type LsService, recogniseEntry } from './service.js';

export interface WatchRow {
  inode: number;
  kind: 'path' | 'abstract';
  name: Buffer;
  display: string;
  type: SocketType;
  queue: number | null;
  backlog: number | null;
  clients: number;
  /** New connections a second since the last sample; null on the first. */
  newPerSecond: number | null;
  process: HolderProcess | null;
  /** Queue, clients or new connections differ from the last sample (or it is new). */
  changed: boolean;
}

export interface WatchFrame {
  /** HH:MM:SS of the sample. */
  time: string;
  intervalMs: number;
  /** Unix sockets the kernel listed. */
  sockets: number;
  rows: WatchRow[];
}

export interface WatchOptions {
  intervalMs: number;
  /** Keep a listener whose shown name passes (kind: a file path or an abstract name). */
  keep?: (display: string, type: SocketType, service: LsService | null, kind: 'path' | 'abstract') => boolean;
  /** The environment recognition reads ($SSH_AUTH_SOCK); default process.env. */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  maxRows?: number;
}

const TYPE_NAME: Record<number, SocketType> = { 1: 'stream', 2: 'dgram', 5: 'seqpacket' };
const RESCAN_MS = 10_000;

const hhmmss = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

export class SocketWatcher {
  private readonly table: UnixSockTable;
  private prevClients = new Map<number, Set<number>>();
  private prevSig = new Map<number, string>();
  private prevAt: number | null = null;
  private readonly holders = new Map<number, HolderProcess | null>();
  private lastScan = -Infinity;
  private readonly now: () => number;

  constructor(private readonly o: WatchOptions) {
    this.table = new UnixSockTable(1024, o.maxRows ?? DEFAULT_MAX_SOCKETS);
    this.now = o.now ?? Date.now;
  }

  /** One sample; SockDiagUnavailable when the kernel's list cannot be read. */
  sample(): WatchFrame | SockDiagUnavailable {
    const t = dumpUnixSockets({ into: this.table, show: UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN });
    if (t instanceof SockDiagUnavailable) return t;
    const at = this.now();
    const dt = this.prevAt === null ? null : Math.max(1, at - this.prevAt) / 1000;
    const idx = indexServers(t, true);
    this.nameHolders(idx.rows.map((i) => t.inode[i]), at);
    const rows: WatchRow[] = [];
    const clientsNow = new Map<number, Set<number>>();
    for (let k = 0; k < idx.rows.length; k++) {
      const i = idx.rows[k];
      const inode = t.inode[i];
      const name = Buffer.from(t.name(i));
      const abstract = t.nameKind[i] === NAME_ABSTRACT;
      const display = abstract ? `@${decodeKeepingBytes(name)}` : decodeKeepingBytes(name);
      const type = TYPE_NAME[t.type[i]] ?? 'stream';
      const proc = this.holders.get(inode) ?? null;
      if (this.o.keep && !this.o.keep(display, type, recogniseEntry(display, type, proc ? [proc] : [], this.o.env ?? process.env), abstract ? 'abstract' : 'path')) continue;
      const set = new Set(idx.clientInodes![k]);
      clientsNow.set(inode, set);
      let fresh: number | null = null;
      if (dt !== null) {
        const before = this.prevClients.get(inode);
        fresh = 0;
        for (const c of set) if (!before?.has(c)) fresh++;
        fresh /= dt;
      }
      const listening = t.state[i] === TCP_LISTEN;
      const row: WatchRow = {
        inode,
        kind: abstract ? 'abstract' : 'path',
        name,
        display,
        type,
        queue: listening && t.rqueue[i] !== NONE ? t.rqueue[i] : null,
        backlog: listening && t.wqueue[i] !== NONE ? t.wqueue[i] : null,
        clients: set.size,
        newPerSecond: fresh,
        process: proc,
        changed: false,
      };
      const sig = `${row.queue}/${row.backlog}/${row.clients}/${fresh ? 1 : 0}`;
      row.changed = this.prevSig.get(inode) !== sig;
      this.prevSig.set(inode, sig);
      rows.push(row);
    }
    // Forget the listeners that are gone: memory follows the machine, not the watch's age.
    for (const inode of this.prevSig.keys()) if (!clientsNow.has(inode)) this.prevSig.delete(inode);
    for (const inode of this.holders.keys()) if (!clientsNow.has(inode)) this.holders.delete(inode);
    this.prevClients = clientsNow;
    this.prevAt = at;
    rows.sort((a, b) => fill(b) - fill(a) || (b.queue ?? 0) - (a.queue ?? 0) || b.clients - a.clients || (a.display < b.display ? -1 : a.display > b.display ? 1 : 0));
    return { time: hhmmss(at), intervalMs: this.o.intervalMs, sockets: t.length, rows };
  }

  private nameHolders(inodes: number[], at: number): void {
    const unknown = inodes.filter((i) => !this.holders.has(i));
    if (unknown.length === 0 || at - this.lastScan < RESCAN_MS) return;
    this.lastScan = at;
    const scan = scanHolders(new Set(unknown), { budgetMs: 500 });
    for (const i of unknown) {
      const pid = scan.byInode.get(i)?.[0];
      this.holders.set(i, pid === undefined ? null : (scan.processes.get(pid) ?? null));
    }
  }
}

const fill = (w: WatchRow) => (w.queue !== null && w.backlog ? w.queue / w.backlog : 0);
