/**
 * From one sock_diag dump: which rows are servers (listening, bound dgram)
 * and how many sockets are connected to each (accepted connections, datagram
 * senders connected to it). Shared by the list and --watch.
 */
import { NAME_NONE, NONE, TCP_ESTABLISHED, TCP_LISTEN, type UnixSockTable } from '../socket/sock-diag.js';

/** The servers' rows and their connected clients, from one dump. */
export interface ServerIndex {
  rows: number[];
  /** Connected sockets of each server (by its position in `rows`): accepted connections, or datagram senders connected to it. */
  clients: Uint32Array;
  /** Their inodes, when asked for (watch: new connections are the inodes not seen before). */
  clientInodes?: number[][];
}

/** Which rows serve (listening, bound dgram), and how many sockets are connected to each. */
export function indexServers(t: UnixSockTable, keepInodes = false): ServerIndex {
  const rows: number[] = [];
  const byKey = new Map<string, number>();
  const byInode = new Map<number, number>();
  const pool = Buffer.from(t.pool.buffer, t.pool.byteOffset, t.poolUsed);
  const key = (i: number) => `${t.nameKind[i]}:${t.type[i]}:${t.vfsDev[i]}:${t.vfsIno[i]}:${pool.toString('latin1', t.nameStart[i], t.nameStart[i] + t.nameLen[i])}`;
  for (let i = 0; i < t.length; i++) {
    if (!t.isServer(i)) continue;
    const k = rows.length;
    rows.push(i);
    if (t.state[i] === TCP_LISTEN) byKey.set(key(i), k);
    else byInode.set(t.inode[i], k);
  }
  const clients = new Uint32Array(rows.length);
  const inodes: number[][] | undefined = keepInodes ? rows.map(() => []) : undefined;
  for (let i = 0; i < t.length; i++) {
    if (t.nameKind[i] !== NAME_NONE && t.state[i] === TCP_ESTABLISHED && t.type[i] !== 2) {
      // An accepted socket carries its listener's name and file.
      const k = byKey.get(key(i));
      if (k !== undefined) {
        clients[k]++;
        inodes?.[k].push(t.inode[i]);
      }
    } else if (t.type[i] === 2 && t.peer[i] !== NONE && byInode.size > 0) {
      const k = byInode.get(t.peer[i]);
      if (k !== undefined && !t.isServer(i)) {
        clients[k]++;
        inodes?.[k].push(t.inode[i]);
      }
    }
  }
  return { rows, clients, clientInodes: inodes };
}
