/**
 * The message tap's options and records (message-tap.ts): one record per
 * message or datagram relayed (or not: a fault, a full queue), one when a
 * seqpacket connection or a dgram sender's relay socket opens and one when it
 * ends. Apart from the relays so the renderers can name them without
 * importing the poll loop.
 */
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../defaults.js';
import type { NamedPeer } from '../socket/peer.js';
import type { Target } from '../socket/target.js';
import type { Fault } from './options.js';
import { faultsFor } from './engines.js';
import type { SideEnd } from './tap-records.js';

/** The faults a message tap applies (the others mean nothing without a byte stream's end): the engines table's rows. */
export const MESSAGE_TAP_FAULTS: Readonly<Record<'dgram' | 'seqpacket', readonly Fault[]>> = {
  seqpacket: faultsFor('tap', 'seqpacket', 'message'),
  dgram: faultsFor('tap', 'dgram', 'message'),
};

export const MESSAGE_TAP_DEFAULTS = {
  connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS,
  /** dgram: a sender's relay socket is closed after this long without traffic when --idle-timeout is 0. */
  dgramIdle: 60_000,
  /** dgram: senders with a relay socket of their own at once when --max-conns is not given. */
  dgramSenders: 256,
} as const;

export interface MessageTapOptions {
  /** The listener's type, which is the upstream's (tap-type.ts). */
  type: 'dgram' | 'seqpacket';
  upstream: Target;
  /** seqpacket: bound on connecting to the upstream (a full backlog retried until then). Default 5s. */
  connectTimeout?: number;
  /** See MESSAGE_TAP_FAULTS; they apply to the upstream's replies. */
  fault?: Fault;
  /** Delay each reply (default 1s with fault 'slow'). */
  delay?: number;
  /** seqpacket: connections; dgram: datagrams from clients. Then stop. */
  count?: number;
  /** seqpacket: connections at once (the excess closed at once); dgram: senders with a relay socket at once (the one idle longest is evicted). */
  maxConns?: number;
  /** Largest message kept whole; a longer one is cut by the kernel (logged so). Default 1 MiB. */
  maxBytes?: number;
  /** Close a connection, or a dgram sender's relay socket, after this long without traffic (dgram: 0 means 60s). */
  idleTimeout?: number;
  backlog?: number;
  perm?: number;
  /** Group of the socket file (name or gid), as serve --group sets it. */
  group?: string | number;
  /** How long stop waits; also how long --count's end waits for the last replies (dgram). Default 5s. */
  graceTimeout?: number;
}

/** One message (seqpacket) or datagram (dgram) on its way through the tap. */
export interface MessageTapTraffic {
  event: 'message' | 'datagram';
  /** The seqpacket connection's id, or the dgram sender's (0: an unbound sender). */
  id: number;
  time: Date;
  /** up: client to upstream; down: upstream to client. */
  dir: 'up' | 'down';
  /** dgram: the sender's bound address ('' when it bound none). */
  from?: string;
  /** dgram, up: the sender's process (SCM_CREDENTIALS, Linux), bound or not; absent when not known. */
  peer?: NamedPeer | null;
  /** The whole message's size (more than was relayed when cut at maxBytes). */
  bytes: number;
  /** Its first TRAFFIC_PREVIEW bytes (a copy). */
  data: Buffer;
  /** Cut by the kernel at maxBytes + 1 bytes of buffer: only maxBytes were relayed. */
  truncated: boolean;
  /** Whether it went on (false: a fault swallowed it, a queue was full, the far side is gone). */
  relayed: boolean;
  /** Why not, or what the tap did to it. */
  note?: string;
}

/** A seqpacket connection (kind 'conn') or a dgram sender's relay socket (kind 'sender') opened or ended. */
export interface MessageTapPeerLog {
  event: 'open' | 'close';
  kind: 'conn' | 'sender';
  id: number;
  time: Date;
  /** conn: the client from SO_PEERCRED. */
  peer?: NamedPeer | null;
  /** sender: its bound address. */
  from?: string;
  /** close: messages each way. */
  messagesUp?: number;
  messagesDown?: number;
  /** close, conn: which side ended first; 'tap' for a fault, a limit, shutdown. */
  first?: 'client' | 'upstream' | 'tap';
  clientEnd?: SideEnd;
  upstreamEnd?: SideEnd;
  reason?: string;
}
