/**
 * serve --type dgram | seqpacket: a small server for message sockets, apart
 * from the stream engines (engine-net.ts, epoll/), which move byte streams.
 * One poll(2) loop on koffi's worker threads (libc pollAsync, in slices, so
 * close() is seen within a slice) over the bound socket and, for seqpacket,
 * the accepted connections. Each datagram or message is one record:
 * - dgram: logged (sender address if it bound one, its pid/uid/gid and
 *   process name from SCM_CREDENTIALS on Linux, size, the bytes); with
 *   --reply / --echo, answered to a sender that bound an address. This is
 *   how a service's sd_notify READY=1 / STATUS=... is captured.
 * - seqpacket: each message answered (the reply, or --echo), boundaries kept;
 *   each connection's peer named from SO_PEERCRED.
 * Memory is bounded: one receive buffer of maxBytes+1 (a longer message is
 * cut by the kernel and logged as such), at most maxConns connections.
 */
import { EventEmitter } from 'node:events';
import { nowMs } from '../clock.js';
import { UdsError } from '../errors.js';
import { E, POLLERR, POLLHUP, POLLIN, SOCK_CLOEXEC, SOCK_NONBLOCK } from '../socket/ffi.js';
import { epollLibc, libc } from '../socket/libc.js';
import { MessageSocket } from '../socket/message.js';
import { MessageReceiver, RECV_END, RECV_NONE } from '../socket/message-recv.js';
import { type NamedPeer, namedPeer } from '../socket/peer.js';
import { removeSocketFile } from '../socket/socket-file.js';
import type { Target } from '../socket/target.js';
import { bindMessageSocket } from './message-listen.js';
import { SERVE_DEFAULTS, checkServeOptions } from './options.js';
import { type Server, type ServerEvents, currentReply, withNewline } from './protocol.js';

const SLICE_MS = 100;

export interface MessageServeOptions {
  type: 'dgram' | 'seqpacket';
  /** Reply text (a newline added unless it ends with one). dgram: only with reply or echo is anything sent back. */
  reply?: Buffer;
  echo?: boolean;
  /** Stop after this many datagrams (dgram) or connections (seqpacket). */
  count?: number;
  /** Largest message kept whole; longer ones are cut (and logged so). Default 1 MiB. */
  maxBytes?: number;
  /** seqpacket: connections open at once; the excess are closed at once. */
  maxConns?: number;
  /** seqpacket: close a connection idle this long (0: never). */
  idleTimeout?: number;
  backlog?: number;
  perm?: number;
  /** Group of the socket file (name or gid), set once it exists, as the stream engines set it (listener.ts). */
  group?: string | number;
}

/** One datagram or seqpacket message received. */
export interface MessageLog {
  event: 'datagram' | 'message';
  /** Received so far, this one included. */
  n: number;
  time: Date;
  /** dgram: the sender's bound address ('' when it bound none: it cannot be answered). */
  from?: string;
  /** seqpacket: the connection's number. */
  conn?: number;
  /** seqpacket: the connection's peer (SO_PEERCRED); dgram: the sender (SCM_CREDENTIALS, Linux), absent when not known. */
  peer?: NamedPeer | null;
  /** The whole message's size (more than data.length when cut at maxBytes). */
  bytes: number;
  data: Buffer;
  truncated: boolean;
  /** Bytes sent back; null when not answered (and why). */
  replied: number | null;
  note?: string;
}

/** A seqpacket connection opened or ended. */
export interface MessageConnLog {
  event: 'connect' | 'close';
  conn: number;
  time: Date;
  peer: NamedPeer | null;
  messages: number;
  reason?: string;
}

interface Conn {
  id: number;
  sock: MessageSocket;
  rx: MessageReceiver;
  peer: NamedPeer | null;
  messages: number;
  lastAt: number;
}

/**
 * The message engine's server, a Server as the stream engines are
 * (createServe makes it for socketType dgram or seqpacket): its records come
 * as 'message' and 'conn' events.
 */
export class MessageServer extends EventEmitter<ServerEvents> implements Server {
  readonly engine = 'message' as const;
  /** Its lines go through the caller's log: none dropped here. */
  readonly logDropped = 0;
  private sock?: MessageSocket;
  private owned?: { path: string; ino: number };
  private readonly conns = new Map<number, Conn>();
  private nextConn = 1;
  private received = 0;
  private handled = 0;
  private stopping = false;
  private loop?: Promise<void>;
  replacedStale = false;
  /** Out of descriptors: the listener is left out of poll until then (else a queued connection wakes the loop at once, forever). */
  private acceptPausedUntil = 0;
  private readonly buf: Buffer;
  /** dgram: each datagram with its sender's address and (Linux) pid, uid, gid. */
  private rx: MessageReceiver | null = null;

  constructor(
    readonly target: Target,
    private readonly o: MessageServeOptions,
  ) {
    super();
    checkServeOptions(o);
    if (target.kind === 'tcp') throw new UdsError('BAD_OPTION', `${target.display}: --type ${o.type} is for Unix sockets (a path or @name)`);
    // Off the V8 heap and never pooled: the credentials' msghdr holds its address.
    this.buf = Buffer.alloc(Math.max(128, (o.maxBytes ?? SERVE_DEFAULTS.maxBytes) + 1));
  }

  get socketType(): 'dgram' | 'seqpacket' {
    return this.o.type;
  }

  address(): string {
    return this.target.display;
  }

  openLog(): void {}

  /** The loop ends within a poll slice whatever is in flight: as close(). */
  abort(): void {
    void this.close();
  }

  /** Bind (and listen, seqpacket); a live server at the path is ADDRESS_IN_USE, a non-socket UNSAFE_PATH, a stale file replaced. */
  async listen(): Promise<{ replacedStale: boolean }> {
    const bound = await bindMessageSocket(this.target, this.o.type, { perm: this.o.perm, backlog: this.o.backlog, group: this.o.group });
    const sock = bound.sock;
    this.replacedStale = bound.replacedStale;
    this.owned = bound.owned;
    this.sock = sock;
    if (this.o.type === 'dgram') this.rx = new MessageReceiver(sock, this.buf);
    this.loop = this.run()
      .catch((err) => {
        this.emit('warning', `stopped: ${(err as Error).message}`);
      })
      .then(() => this.finish());
    this.emit('listening', { target: this.address(), replacedStale: this.replacedStale });
    return { replacedStale: this.replacedStale };
  }

  /** Stop: the loop ends within a poll slice; connections are closed, the socket file removed. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async finish(): Promise<void> {
    for (const c of this.conns.values()) this.endConn(c, 'shutdown');
    this.sock?.close();
    if (this.owned) await removeSocketFile(this.owned.path, this.owned.ino);
    this.emit('done');
  }

  private async run(): Promise<void> {
    const c = libc();
    const listener = this.sock!;
    const idle = this.o.idleTimeout ?? 0;
    while (!this.stopping) {
      const list = [...this.conns.values()];
      const pfds = Buffer.alloc(8 * (1 + list.length));
      pfds.writeInt32LE(listener.fd, 0);
      pfds.writeInt16LE(nowMs() < this.acceptPausedUntil ? 0 : POLLIN, 4);
      list.forEach((conn, i) => {
        pfds.writeInt32LE(conn.sock.fd, 8 * (i + 1));
        pfds.writeInt16LE(POLLIN, 8 * (i + 1) + 4);
      });
      const n = await c.pollAsync(pfds, 1 + list.length, SLICE_MS);
      if (this.stopping) break;
      if (n > 0) {
        if (pfds.readInt16LE(6) & POLLIN) {
          if (this.o.type === 'dgram') await this.drainDatagrams();
          else await this.acceptAll();
        }
        for (let i = 0; i < list.length; i++) {
          const rev = pfds.readInt16LE(8 * (i + 1) + 6);
          if (rev & (POLLIN | POLLHUP | POLLERR)) await this.readConn(list[i]);
        }
      }
      if (idle > 0) {
        const now = nowMs();
        for (const conn of this.conns.values()) if (now - conn.lastAt >= idle) this.endConn(conn, `no message for ${idle}ms`);
      }
      if (this.o.count !== undefined && this.handled >= this.o.count && this.conns.size === 0) break;
    }
  }

  private reply(data: Buffer): Buffer {
    return this.o.echo ? data : withNewline(this.o.reply ?? currentReply());
  }

  private async drainDatagrams(): Promise<void> {
    const sock = this.sock!;
    const rx = this.rx!;
    for (let i = 0; i < 64 && !this.stopping; i++) {
      const n = rx.recv(this.target.display);
      if (n === RECV_NONE) return;
      const from = rx.fromAddress();
      const data = Buffer.from(this.buf.subarray(0, Math.min(n, this.buf.length - 1)));
      const log: MessageLog = { event: 'datagram', n: ++this.received, time: new Date(), from, bytes: n, data, truncated: n > data.length, replied: null };
      const sender = rx.namedSender();
      if (sender) log.peer = sender;
      if (this.o.reply !== undefined || this.o.echo) {
        if (from === '') log.note = 'not answered: the sender bound no address';
        else {
          const out = this.reply(data);
          try {
            const sent = sock.trySend(out, from, rx.fromSockaddr());
            if (sent >= 0) log.replied = sent;
            else log.note = 'not answered: the sender\'s queue is full';
          } catch (err) {
            log.note = `not answered: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
          }
        }
      }
      this.handled++;
      this.emit('message', log);
      if (this.o.count !== undefined && this.handled >= this.o.count) {
        this.stopping = true;
        return;
      }
    }
  }

  private async acceptAll(): Promise<void> {
    const c = epollLibc();
    const listener = this.sock!;
    for (;;) {
      const fd = c.accept4(listener.fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const errno = c.errno();
        if (errno === E.EMFILE || errno === E.ENFILE) {
          if (this.acceptPausedUntil === 0) this.emit('warning', 'out of file descriptors: connections wait in the backlog (raise ulimit -n)');
          this.acceptPausedUntil = nowMs() + SLICE_MS;
        }
        return;
      }
      const sock = MessageSocket.adopt(fd, 'seqpacket');
      const peer = namedPeer(fd);
      const conn: Conn = { id: this.nextConn++, sock, rx: new MessageReceiver(sock, this.buf), peer, messages: 0, lastAt: nowMs() };
      this.emit('conn', { event: 'connect', conn: conn.id, time: new Date(), peer, messages: 0 });
      if (this.o.maxConns !== undefined && this.conns.size >= this.o.maxConns) {
        this.conns.set(conn.id, conn);
        this.endConn(conn, `over --max-conns ${this.o.maxConns}: closed at once`);
        continue;
      }
      this.conns.set(conn.id, conn);
    }
  }

  private async readConn(conn: Conn): Promise<void> {
    for (let i = 0; i < 64; i++) {
      let n: number;
      try {
        n = conn.rx.recv(this.target.display);
      } catch (err) {
        return this.endConn(conn, `client reset (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (n === RECV_NONE) return;
      // A 0-length message is a message: only the client's end ends the connection.
      if (n === RECV_END) return this.endConn(conn, 'client closed');
      conn.messages++;
      conn.lastAt = nowMs();
      const data = Buffer.from(this.buf.subarray(0, Math.min(n, this.buf.length - 1)));
      const log: MessageLog = { event: 'message', n: ++this.received, time: new Date(), conn: conn.id, peer: conn.peer, bytes: n, data, truncated: n > data.length, replied: null };
      try {
        const out = this.reply(data);
        const sent = conn.sock.trySend(out, this.target.display);
        if (sent >= 0) log.replied = sent;
        else log.note = 'not answered: the client does not read (its queue is full)';
      } catch (err) {
        log.note = `not answered: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      }
      this.emit('message', log);
    }
  }

  private endConn(conn: Conn, reason: string): void {
    if (!this.conns.delete(conn.id)) return;
    conn.sock.close();
    this.handled++;
    this.emit('conn', { event: 'close', conn: conn.id, time: new Date(), peer: conn.peer, messages: conn.messages, reason });
  }
}
