/**
 * The tap for message sockets (`serve --upstream TARGET LISTEN` where TARGET
 * is a seqpacket or dgram socket; tap-type.ts decides): relays whole
 * messages, boundaries kept end to end, and reports each one ('traffic') and
 * each connection or dgram sender ('peer'). One poll(2) loop on koffi's worker
 * threads (pollAsync in slices, as message-server.ts), over the bound
 * socket (message-listen.ts, shared with serve --type) and what the relay
 * polls:
 * - seqpacket (message-tap-seqpacket.ts): per accepted connection one
 *   seqpacket connection to the upstream; each message relayed whole each
 *   way, ends relayed (shutdown), backpressure by not reading the other side.
 * - dgram (message-tap-dgram.ts): per sender that bound an address one
 *   autobound socket connected to the upstream, whose replies go back to
 *   that sender; unbound senders relayed one way through a shared socket.
 * Memory: one receive buffer of maxBytes+1, bounded queues.
 */
import { EventEmitter } from 'node:events';
import { nowMs } from '../clock.js';
import { UdsError } from '../errors.js';
import { type Target, checkTarget } from '../socket/target.js';
import type { MessageSocket } from '../socket/message.js';
import { DgramTapRelay } from './message-tap-dgram.js';
import type { MessageTapOptions, MessageTapPeerLog, MessageTapTraffic } from './message-tap-records.js';
import { SeqpacketTapRelay } from './message-tap-seqpacket.js';
import { type BoundMessageSocket, bindMessageSocket, releaseMessageSocket } from './message-listen.js';
import { type MessageTapHost, type MessageTapRelay, POLLIN, PollSet } from './message-tap-poll.js';
import { SERVE_DEFAULTS, checkServeOptions } from './options.js';
import type { Server, ServerEvents } from './protocol.js';
import { faultsFor, rowUnsupported, enginesFor } from './engines.js';

const SLICE_MS = 100;

export * from './message-tap-records.js';
export type { MessageTapHost, MessageTapRelay } from './message-tap-poll.js';

/** The reason a fault cannot apply to a message tap of this type, or null (the engines table's row). */
export function messageTapFaultError(type: 'dgram' | 'seqpacket', fault: string | undefined): string | null {
  if (fault === undefined || faultsFor('tap', type, 'message').includes(fault as never)) return null;
  return rowUnsupported(enginesFor('tap', type)[0], { fault: fault as never });
}

/**
 * The message engine's tap, a Server as the stream taps are (createServe
 * makes it for a dgram or seqpacket upstream): its records come as
 * 'messageTraffic' and 'messagePeer' events.
 */
export class MessageTap extends EventEmitter<ServerEvents> implements MessageTapHost, Server {
  readonly engine = 'message' as const;
  /** Its lines go through the caller's log: none dropped here. */
  readonly logDropped = 0;
  readonly buf: Buffer;
  readonly maxBytes: number;
  replacedStale = false;
  stopping = false;
  private bound?: BoundMessageSocket;
  private relay?: MessageTapRelay;
  private loop?: Promise<void>;
  private readonly ps = new PollSet();

  constructor(
    readonly target: Target,
    readonly o: MessageTapOptions,
  ) {
    super();
    checkServeOptions(o);
    if (target.kind === 'tcp') throw new UdsError('BAD_OPTION', `${target.display}: a ${o.type} tap listens on a Unix socket (a path or @name)`);
    if (o.upstream.kind === 'tcp') throw new UdsError('BAD_OPTION', `${o.upstream.display}: a TCP upstream is a stream; a ${o.type} tap relays to a Unix socket`);
    const bad = messageTapFaultError(o.type, o.fault);
    if (bad) throw new UdsError('BAD_OPTION', bad);
    this.maxBytes = o.maxBytes ?? SERVE_DEFAULTS.maxBytes;
    // Off the V8 heap and never pooled: the receivers' msghdrs hold its address.
    this.buf = Buffer.alloc(Math.max(128, this.maxBytes + 1));
  }

  get listener(): MessageSocket {
    return this.bound!.sock;
  }

  get tracing(): boolean {
    return this.listenerCount('messageTraffic') > 0;
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

  traffic(log: MessageTapTraffic): void {
    this.emit('messageTraffic', log);
  }

  peer(log: MessageTapPeerLog): void {
    this.emit('messagePeer', log);
  }

  warn(message: string): void {
    this.emit('warning', message);
  }

  /** Bind (and listen, seqpacket) and start relaying; ADDRESS_IN_USE, UNSAFE_PATH and bind's errors typed. */
  async listen(): Promise<{ replacedStale: boolean }> {
    this.bound = await bindMessageSocket(this.target, this.o.type, { perm: this.o.perm, backlog: this.o.backlog, group: this.o.group });
    this.replacedStale = this.bound.replacedStale;
    this.relay = this.o.type === 'dgram' ? new DgramTapRelay(this) : new SeqpacketTapRelay(this);
    this.loop = this.run()
      .catch((err) => this.warn(`stopped: ${(err as Error).message}`))
      .then(() => this.finish());
    this.emit('listening', { target: this.address(), replacedStale: this.replacedStale });
    return { replacedStale: this.replacedStale };
  }

  /** Stop: the loop ends within a poll slice; every relay socket is closed, the socket file removed. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async finish(): Promise<void> {
    this.relay?.closeAll('shutdown');
    if (this.bound) await releaseMessageSocket(this.bound);
    this.emit('done');
  }

  private async run(): Promise<void> {
    const relay = this.relay!;
    const ps = this.ps;
    const listenFd = this.listener.fd;
    while (!this.stopping) {
      const now = nowMs();
      const wait = Math.max(0, Math.min(SLICE_MS, relay.tick(now)));
      if (relay.finished(now)) break;
      ps.reset();
      ps.add(listenFd, relay.accepting(now) ? POLLIN : 0);
      relay.addPolls(ps, now);
      const n = await ps.poll(Math.ceil(wait));
      if (this.stopping) break;
      if (n > 0) {
        if (ps.revents(0) & POLLIN) await relay.onListener();
        relay.onPolled(ps);
      }
    }
  }
}

/** Make a message tap and start it (the library's entry for a dgram or seqpacket upstream). */
export async function startMessageTap(target: Target | string, options: Omit<MessageTapOptions, 'upstream'> & { upstream: Target | string }): Promise<MessageTap> {
  const tap = new MessageTap(checkTarget(target), { ...options, upstream: checkTarget(options.upstream) });
  await tap.listen();
  return tap;
}
