/**
 * The tap (`serve --upstream TARGET LISTEN`): a Server that relays each
 * connection it accepts to a real upstream server and reports the traffic of
 * both directions ('traffic' records) and how each side ended ('connection').
 * serve's faults apply to the upstream's real reply on its way back; its
 * limits (--max-conns, --idle-timeout, --count, --grace) apply as in serve.
 *
 * Engine: node:net for the listener (made by listener.ts, as serve's) and for
 * the upstream (openConnection: every stream target form). With its log
 * written by serve's threads (logTo) or none (-q), start.ts's chooseEngine
 * picks the epoll engine's relay instead (epoll/relay-thread.ts; the same
 * shaper, the same records, relay-log.ts).
 * Several processes (--workers) as for serve's net engine (start.ts): each
 * one a TapServer on the same listening socket (adopt), with ids of its own.
 *
 * A connection's relay is tap-connection.ts's; this file is the listener,
 * the limits, shutdown, and the reply shaper (reply-shaper.ts: --fault and
 * --delay, one for all connections, a slot each).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Target } from '../socket/target.js';
import { closeNet, configureNetServer, listenNet } from './listener.js';
import { type ConnIds, type Server, type ServerEvents, reasonMaxConns } from './protocol.js';
import { ReplyShaper } from './reply-shaper.js';
import { type FileIdentity, ownSocketFile } from './self-upstream.js';
import { TapConnection, type TapConnectionLog, type TapHost, type TapOptions } from './tap-connection.js';
import { type TrafficLog, shapedReplyNote } from './tap-records.js';

export { TAP_DEFAULTS, type TapConnectionLog, type TapOptions } from './tap-connection.js';

/** Like serve's net engine, on the listening socket serve makes, relaying instead of replying. */
export class TapServer extends EventEmitter<ServerEvents> implements Server, TapHost {
  readonly engine = 'net' as const;
  readonly logDropped = 0;
  readonly target: Target;
  readonly options: TapOptions;
  replacedStale = false;
  private server: net.Server;
  readonly conns = new Set<TapConnection>();
  private nextId: number;
  /** Ids go up by the number of processes, each starting at its index + 1: unique over all of them. */
  private readonly idStep: number;
  private handled = 0;
  private ownedPath?: { path: string; ino: number };
  ownFile: FileIdentity | null = null;
  private closing?: Promise<void>;
  readonly shaper: ReplyShaper;
  readonly replyNote: string | undefined;
  /** The shaper's slots: only no-newline keeps state in one (its held line ends); every other fault shares slot 0. */
  private readonly freeSlots: number[] = [];
  private slots = 0;

  constructor(target: Target, options: TapOptions, ids: ConnIds = { first: 1, step: 1 }) {
    super();
    this.target = target;
    this.options = options;
    this.shaper = new ReplyShaper({ fault: options.fault, delay: options.delay });
    this.replyNote = shapedReplyNote(options.fault, this.shaper.delayMs);
    this.nextId = ids.first;
    this.idStep = ids.step;
    this.server = this.attach(net.createServer());
  }

  /** Configure a net.Server (ours, or one received from the primary process) to relay. */
  private attach(server: net.Server): net.Server {
    const max = this.options.maxConns;
    configureNetServer(server, (s) => this.accept(s), max, () => {
      const id = this.takeId();
      if (this.listenerCount('connection') === 0) return;
      const log: TapConnectionLog = {
        id,
        at: new Date().toISOString(),
        bytesIn: 0,
        bytesOut: 0,
        requests: 0,
        durationUs: 0,
        end: 'over-max-conns',
        reason: reasonMaxConns(max ?? 0),
        upstream: this.options.upstream.display,
        first: 'tap',
        clientEnd: 'closed',
        upstreamEnd: 'never-connected',
        ...(this.options.fault ? { fault: this.options.fault } : {}),
      };
      this.emit('connection', log);
    });
    server.on('error', (err) => this.emit('warning', `server error: ${err.message}`));
    return server;
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId += this.idStep;
    return id;
  }

  /** The listening net.Server, to hand to worker processes. */
  get listener(): net.Server {
    return this.server;
  }

  /** Relay on a listening socket received from the primary process (its socket file stays the primary's). */
  adopt(listener: net.Server): void {
    this.server = this.attach(listener);
  }

  get tracing(): boolean {
    return this.listenerCount('traffic') > 0;
  }

  get recording(): boolean {
    return this.listenerCount('connection') > 0;
  }

  traffic(log: TrafficLog): void {
    this.emit('traffic', log);
  }

  get closingNow(): boolean {
    return this.closing !== undefined;
  }

  takeSlot(): number {
    if (this.shaper.headroom === 0) return 0;
    return this.freeSlots.pop() ?? this.slots++;
  }

  freeSlot(slot: number): void {
    if (this.shaper.headroom === 0) return;
    this.shaper.release(slot);
    this.freeSlots.push(slot);
  }

  async listen(): Promise<{ replacedStale: boolean }> {
    const { replacedStale } = await listenNet(this.server, this.target, this.options, (b) => (this.ownedPath = b.ownedPath), () => this.close());
    // Every process of the tap (workers too: they did not bind it) knows its socket file.
    this.ownFile = ownSocketFile(this.target);
    this.replacedStale = replacedStale;
    this.emit('listening', { target: this.address(), replacedStale });
    return { replacedStale };
  }


  address(): string {
    const a = this.server.address();
    if (this.target.kind === 'tcp' && a && typeof a === 'object') return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    return this.target.display;
  }

  openLog(): void {}

  close(): Promise<void> {
    this.closing ??= (async () => {
      await closeNet(this.server, this.options, this.ownedPath, () => this.nextId, this.conns, {
        // A connection a fault holds open would hold close() for the whole grace period.
        held: () => this.conns.forEach((c) => c.holding && c.shutdown()),
        all: () => this.abort(),
      });
      this.emit('done');
    })();
    return this.closing;
  }

  abort(): void {
    for (const c of this.conns) c.shutdown();
  }

  private accept(socket: net.Socket): void {
    const c = new TapConnection(this, socket, this.takeId());
    this.conns.add(c);
    c.start();
  }

  /** A connection's end: its record (made only when somebody listens), and --count. */
  finished(c: TapConnection): void {
    this.conns.delete(c);
    if (this.listenerCount('connection') > 0) this.emit('connection', c.record());
    this.handled++;
    if (this.options.count !== undefined && this.handled >= this.options.count) void this.close();
  }
}
