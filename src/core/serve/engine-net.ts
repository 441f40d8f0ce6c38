/**
 * The net engine: serve's connection protocol (protocol.ts) over node:net, on
 * the listening socket listener.ts makes. Serves every option, fault modes,
 * --delay and TCP included; --workers forks processes (start.ts). The faults
 * and --delay are the reply shaper's (reply-shaper.ts): each reply, whole, is
 * handed to it and its action carried out here, as every engine does.
 *
 * Over ~400 lines because handle() is one connection's state machine (framing,
 * backpressure, end reasons) kept in one closure per connection on purpose:
 * node:net's per-socket callbacks share that state, and splitting it into
 * objects cost a measurable share of one-shot throughput.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { nowUs } from '../clock.js';
import { hasUnreadData, peerClosed } from '../socket/fd.js';
import { socketFd } from '../socket/net-fd.js';
import { type NamedPeer, namedPeer } from '../socket/peer.js';
import { type Target, parseTarget } from '../socket/target.js';
import { closeNet, configureNetServer, listenNet } from './listener.js';
import { type ReadMode, SERVE_DEFAULTS } from './options.js';
import { CLOSE, DELAY, HOLD_OPEN, ReplyShaper, SWALLOW } from './reply-shaper.js';
import {
  type ConnEnd,
  type ConnIds,
  FD_CLEAR_MARGIN,
  FD_WARN_MARGIN,
  MAX_DELAYED,
  REASON_NO_REQUEST_TEXT,
  type ServeOptions,
  type Server,
  type ServerEvents,
  currentReply,
  endAtClose,
  errnoEnd,
  faultReason,
  fdLimit,
  fdPressureText,
  oneshotRequestEnd,
  openFds,
  preview,
  reasonIdle,
  reasonMaxBytes,
  reasonMaxConns,
  reasonUnread,
  requestAtEnd,
  withNewline,
} from './protocol.js';

/**
 * The reference server. Emits one `connection` log per connection; never
 * prints, never exits. Use startServer() to create and listen.
 */
export class UdsServer extends EventEmitter<ServerEvents> implements Server {
  readonly engine = 'net' as const;
  /** The net engine writes no log itself. */
  readonly logDropped = 0;
  readonly target: Target;
  readonly options: ServeOptions;
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private nextId: number;
  /** Ids go up by the number of processes (--workers), each starting at its index + 1: unique over all of them. */
  private readonly idStep: number;
  private handled = 0;
  private ownedPath?: { path: string; ino: number };
  private closing?: Promise<void>;
  private emfileWarned = false;
  /** --reply with its newline (the reply rule), made once. */
  private readonly fixedReply?: Buffer;
  /** --fault and --delay: each reply's action (reply-shaper.ts); a reply is whole, so no state per connection. */
  private readonly shaper: ReplyShaper;
  /** A fault keeps the client open after the last reply (never-close, silent): the shaper's HOLD_OPEN. */
  private readonly holdOpen: boolean;
  /** Open descriptors beyond our connections, and the soft limit (Linux; else Infinity). */
  private fdBase = 0;
  private fdLimit = Infinity;
  /** Whether listen() replaced a stale socket file left by a dead server. */
  replacedStale = false;

  constructor(target: Target, options: ServeOptions = {}, ids: ConnIds = { first: 1, step: 1 }) {
    super();
    this.target = target;
    this.options = options;
    this.nextId = ids.first;
    this.idStep = ids.step;
    this.fixedReply = options.reply === undefined ? undefined : withNewline(options.reply);
    this.shaper = new ReplyShaper({ fault: options.fault, delay: options.delay });
    this.holdOpen = this.shaper.upstreamEnd() === HOLD_OPEN;
    this.server = this.attach(net.createServer());
  }

  /** Configure a net.Server (ours, or one received from another process) to serve. */
  private attach(server: net.Server): net.Server {
    const max = this.options.maxConns;
    configureNetServer(server, (s) => this.handle(s), max, () =>
      this.log(this.takeId(), Date.now(), nowUs(), 0, 0, 0, undefined, undefined, 'over-max-conns', reasonMaxConns(max ?? 0)),
    );
    server.on('error', (err: NodeJS.ErrnoException) => {
      // EMFILE/ENFILE on accept: libuv keeps the listener and retries; say so once per episode.
      if (err.code === 'EMFILE' || err.code === 'ENFILE') return this.fdPressure(true);
      this.emit('warning', `server error: ${err.message}`);
    });
    return server;
  }

  /** Number of connections currently open. */
  get active(): number {
    return this.sockets.size;
  }

  /** Bind and listen; handles stale files, refuses live servers and non-sockets. */
  async listen(): Promise<{ replacedStale: boolean }> {
    const { replacedStale } = await listenNet(this.server, this.target, this.options, (b) => (this.ownedPath = b.ownedPath), () => this.close());
    this.replacedStale = replacedStale;
    this.measureFds();
    this.emit('listening', { target: this.address(), replacedStale });
    return { replacedStale };
  }


  /** The listening net.Server, to hand to worker processes (child.send(msg, handle)). */
  get listener(): net.Server {
    return this.server;
  }

  /**
   * Serve on a listening socket made by another process and received over IPC
   * (serve --workers): the kernel spreads connections over every process that
   * accepts on it. The received server is used as it is: listening again on
   * its descriptor would register it twice with epoll (EEXIST). The socket
   * file stays the owner's to remove.
   */
  adopt(listener: net.Server): void {
    this.server = this.attach(listener);
    this.measureFds();
  }

  /** The bound address as a target string (TCP port 0 resolved). */
  address(): string {
    const a = this.server.address();
    if (this.target.kind === 'tcp' && a && typeof a === 'object') {
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    }
    return this.target.display;
  }

  /**
   * Stop accepting, let in-flight exchanges finish within graceTimeout, then
   * destroy the rest and remove our own socket file. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await closeNet(this.server, this.options, this.ownedPath, () => this.nextId, this.sockets, {
        // Idle keep-alive and fault connections would hold close() for the full grace period.
        held: () => this.sockets.forEach((s) => (s as SocketState).idleBetweenRequests && s.destroy()),
        all: () => this.sockets.forEach((s) => s.destroy()),
      });
      this.emit('done');
    })();
    return this.closing;
  }

  /**
   * libuv answers EMFILE on accept by accepting and closing the excess at once
   * (its reserve-descriptor trick) without telling Node, so the server would
   * shed connections silently. We watch our own count against the limit: warn
   * once when it is reached, and say when descriptors are free again.
   */
  private fdPressure(hit: boolean): void {
    const open = this.sockets.size + this.fdBase;
    if (!this.emfileWarned && (hit || open >= this.fdLimit - FD_WARN_MARGIN)) {
      this.emfileWarned = true;
      this.emit('warning', fdPressureText(true, open, this.fdLimit));
    } else if (this.emfileWarned && !hit && open < this.fdLimit - FD_CLEAR_MARGIN) {
      this.emfileWarned = false;
      this.emit('warning', fdPressureText(false, open, this.fdLimit));
    }
  }

  private measureFds(): void {
    this.fdLimit = fdLimit();
    this.fdBase = openFds();
  }

  /** The net engine's log goes through its events: nothing to open. */
  openLog(): void {}

  private peerGone(socket: net.Socket): boolean {
    if (this.target.kind === 'tcp') return false; // a FIN looks the same either way
    const fd = socketFd(socket);
    return fd !== undefined && fd >= 0 && peerClosed(fd);
  }

  /** Destroy every open connection now (a second Ctrl-C); close() then completes at once. */
  abort(): void {
    for (const s of this.sockets) s.destroy();
  }

  private log(
    id: number,
    wallStart: number,
    start: number,
    bytesIn: number,
    bytesOut: number,
    requests: number,
    request: Buffer | undefined,
    reply: Buffer | undefined,
    end: ConnEnd,
    reason?: string,
    peer?: NamedPeer | null,
  ): void {
    if (this.listenerCount('connection') > 0) {
      this.emit('connection', {
        id,
        at: new Date(wallStart).toISOString(),
        bytesIn,
        bytesOut,
        requests,
        request: preview(request),
        reply: preview(reply),
        durationUs: Math.round(nowUs() - start),
        end,
        ...(this.options.fault ? { fault: this.options.fault } : {}),
        ...(reason ? { reason } : {}),
        ...(peer ? { peer } : {}),
      });
    }
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId += this.idStep;
    return id;
  }

  private handle(socket: net.Socket): void {
    const o = this.options;
    const id = this.takeId();
    const wallStart = Date.now();
    const start = nowUs();
    // Who connected (SO_PEERCRED), read at once: after the close there is no descriptor to ask.
    const peer = this.target.kind !== 'tcp' && this.listenerCount('connection') > 0 ? namedPeer(socketFd(socket)) : null;
    const st = socket as SocketState;
    this.sockets.add(socket);
    this.fdPressure(false);

    let bytesIn = 0;
    let bytesOut = 0;
    let requests = 0;
    let firstRequest: Buffer | undefined;
    let lastReply: Buffer | undefined;
    let end: ConnEnd | undefined;
    let reason: string | undefined;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let replied = false;
    const timers: NodeJS.Timeout[] = [];
    /** --keep-alive with --delay: the logs of requests whose reply waits for its time. */
    const waiting: (() => void)[] = [];
    const maxBytes = o.maxBytes ?? SERVE_DEFAULTS.maxBytes;
    const idle = o.idleTimeout ?? SERVE_DEFAULTS.idleTimeout;
    const readMode: ReadMode = o.read ?? 'once';
    const shaper = this.shaper;
    const holdOpen = this.holdOpen;

    const setEnd = (e: ConnEnd, why?: string) => {
      if (end === undefined) {
        end = e;
        reason = why;
      }
    };

    socket.on('error', (err: NodeJS.ErrnoException) => {
      setEnd(errnoEnd(err.code), err.code ?? err.message);
    });
    socket.on('close', () => {
      for (const t of timers) clearTimeout(t);
      this.sockets.delete(socket);
      if (this.emfileWarned) this.fdPressure(false);
      setEnd(endAtClose(this.closing !== undefined, replied));
      // Requests whose delayed reply never went: logged unanswered, before the connection.
      for (const unanswered of waiting.splice(0)) unanswered();
      if (o.keepAlive) this.log(id, wallStart, start, bytesIn, bytesOut, requests, undefined, undefined, end!, reason, peer);
      else this.log(id, wallStart, start, bytesIn, bytesOut, requests, firstRequest, lastReply, end!, reason, peer);
      this.handled++;
      if (o.count !== undefined && this.handled >= o.count) void this.close();
    });
    if (idle > 0) {
      // Reading stops while replies wait untaken (see backpressure()), so a client that writes
      // and never reads goes quiet too, and is ended here like one that sends nothing.
      socket.setTimeout(idle, () => {
        setEnd('idle-timeout', socket.writableLength > 0 ? reasonUnread(idle) : reasonIdle(idle));
        socket.destroy();
      });
    }

    // A client that writes requests and never reads its replies: stop reading from it until
    // they are taken (drain), so what waits for it is one read's replies, not all it sends.
    // Likewise with --delay, while MAX_DELAYED replies wait for their timers.
    let held = false;
    let delayed = 0;
    const backlogged = () => socket.writableNeedDrain || delayed >= MAX_DELAYED;
    const backpressure = () => {
      if (!o.keepAlive || held || socket.destroyed || !backlogged()) return;
      held = true;
      socket.pause();
    };
    const release = () => {
      if (!held || backlogged()) return;
      held = false;
      if (!socket.destroyed) socket.resume();
    };
    // Only keep-alive writes before the last reply (one-shot writes once, then ends).
    if (o.keepAlive) socket.on('drain', release);

    /** --keep-alive: the log of request `seq`, to be called once with its reply (or none). */
    const requestLogger = (request: Buffer, seq: number): ((reply?: Buffer) => void) | null => {
      if (!o.keepAlive || this.listenerCount('request') === 0) return null;
      const at = new Date().toISOString();
      return (rep) =>
        this.emit('request', { id, seq, at, bytesIn: request.length, bytesOut: rep?.length ?? 0, request: preview(request), reply: preview(rep) });
    };

    /** SEND (or DELAY, at its time): the shaped reply, then the end, unless a fault holds the client open. */
    const send = (body: Buffer, last: boolean, logRequest: ((reply?: Buffer) => void) | null) => {
      if (socket.destroyed) return logRequest?.();
      logRequest?.(body);
      lastReply = body;
      bytesOut += body.length;
      replied = true;
      if (last && !holdOpen) return void socket.end(body);
      socket.write(body);
      st.idleBetweenRequests = holdOpen || pendingLen === 0;
      backpressure();
      if (holdOpen) setEnd('left-open', faultReason(o.fault!));
    };

    const respond = (request: Buffer, last: boolean) => {
      requests++;
      firstRequest ??= request;
      const logRequest = requestLogger(request, requests);
      const body = o.echo ? request : (this.fixedReply ?? currentReply());
      const now = performance.now();
      // A reply is whole (a message to the shaper). RESET never comes here: its request is left unread (resetWhenRequestQueued).
      const act = shaper.reply(0, body, body.length, now, true);
      if (act === SWALLOW) {
        st.idleBetweenRequests = true;
        return logRequest?.();
      }
      if (act === CLOSE) {
        logRequest?.();
        setEnd('closed', faultReason(o.fault!));
        return void socket.end();
      }
      const out = shaper.len === body.length ? body : body.subarray(0, shaper.len);
      if (act !== DELAY) return send(out, last, logRequest);
      if (logRequest) waiting.push(logRequest);
      delayed++;
      const t = setTimeout(() => {
        delayed--;
        const k = timers.indexOf(t);
        if (k >= 0) timers.splice(k, 1);
        if (logRequest) waiting.splice(waiting.indexOf(logRequest), 1);
        send(out, last, logRequest);
        release();
      }, shaper.at - now);
      timers.push(t);
    };

    const take = (): Buffer => {
      const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      return all;
    };

    let doneReading = false;
    socket.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      if (doneReading) return; // one-shot: what follows the request is ignored, as a one-read server does
      st.idleBetweenRequests = false;
      if (!o.keepAlive) {
        // One-shot framing (--read), as every engine applies it: what came before held no end.
        const end = oneshotRequestEnd(readMode, chunk, chunk.length);
        if (end >= 0) {
          doneReading = true;
          if (pendingLen === 0) return respond(chunk.subarray(0, end), true);
          pending.push(chunk.subarray(0, end));
          pendingLen += end;
          return respond(take(), true);
        }
        pending.push(chunk);
        pendingLen += chunk.length;
      } else {
        pending.push(chunk);
        pendingLen += chunk.length;
        let buf = take();
        let nl: number;
        // Pipelined lines in one chunk get their replies in one write.
        socket.cork();
        while ((nl = buf.indexOf(0x0a)) >= 0) {
          respond(buf.subarray(0, nl + 1), false);
          buf = buf.subarray(nl + 1);
        }
        socket.uncork();
        backpressure();
        if (buf.length > 0) {
          pending.push(buf);
          pendingLen = buf.length;
        }
      }
      if (pendingLen > maxBytes) {
        setEnd('max-bytes', reasonMaxBytes(maxBytes));
        socket.destroy();
      }
    });
    socket.on('end', () => {
      // The client half-closed, or closed for good: Node cannot tell which.
      if (socket.destroyed) return;
      if (doneReading) {
        // The request was taken and its (maybe delayed) reply will close. Only a
        // holding fault whose client is gone for good frees its slot now.
        if (holdOpen && this.peerGone(socket)) socket.end();
        return;
      }
      doneReading = true;
      // eof framing: the request is complete.
      if (pendingLen > 0 && requestAtEnd(readMode, o.keepAlive === true)) return respond(take(), true);
      if (requests === 0) setEnd('client-closed', REASON_NO_REQUEST_TEXT);
      // A holding fault keeps a half-closed client waiting (that is the fault), but
      // a client that is gone for good must not hold a slot until --idle-timeout.
      if (!holdOpen || this.peerGone(socket)) socket.end();
    });
    if (shaper.resetsAtReply) {
      setEnd('reset', faultReason(o.fault!));
      return this.resetWhenRequestQueued(socket, idle, (t) => timers.push(t));
    }
    socket.resume();
  }

  /**
   * TCP has a real RST. A Unix socket has none: its peer sees ECONNRESET only when
   * we close while its bytes sit unread in our receive queue. So the request is
   * never read: wait until it is queued (peeked, not consumed), then close: the
   * shaper's RESET at the reply, which --delay does not hold (as on every engine).
   */
  private resetWhenRequestQueued(socket: net.Socket, idle: number, track: (t: NodeJS.Timeout) => void): void {
    const fd = socketFd(socket);
    const deadline = Date.now() + (idle > 0 ? idle : SERVE_DEFAULTS.idleTimeout);
    const poll = () => {
      if (socket.destroyed) return;
      const queued = fd === undefined || fd < 0 ? true : hasUnreadData(fd);
      if (!queued && Date.now() < deadline) return track(setTimeout(poll, 2));
      if (this.target.kind === 'tcp') socket.resetAndDestroy();
      else socket.destroy();
    };
    poll();
  }

}

interface SocketState extends net.Socket {
  idleBetweenRequests?: boolean;
}

/** Create a server on a target and start listening. */
export async function startServer(target: Target | string, options: ServeOptions = {}): Promise<UdsServer> {
  const t = typeof target === 'string' ? parseTarget(target) : target;
  const server = new UdsServer(t, options);
  await server.listen();
  return server;
}
