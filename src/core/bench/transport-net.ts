/**
 * The net transport: node:net sockets opened with the core's connectOnce (its
 * typed connect errors), event-driven on the worker's own event loop. Portable
 * where the epoll transport is not, and several times slower per request. It
 * only moves bytes: every decision is the load loop's (loop.ts).
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectOnce } from '../socket/connect.js';
import { UdsError, codeOfErrno } from '../errors.js';
import type { Target } from '../socket/target.js';
import type { Transport, TransportEvents } from './transport.js';
import type { WorkerConfig } from './worker-stats.js';

export class NetTransport implements Transport {
  private readonly target: Target;
  private readonly connectTimeoutMs: number;
  private readonly sockets: (net.Socket | null)[];
  /** Bumped for every connection, so the events of a finished one are dropped. */
  private readonly gen: Uint32Array;
  /** The payload repeated `pipeline` times: a batch of requests is one write. */
  private readonly payloads: Buffer;
  private resolveWait: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** An event arrived while no wait was open. */
  private woken = false;
  private readonly fire = (): void => {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const r = this.resolveWait;
    this.resolveWait = null;
    this.on.now = performance.now();
    r?.();
  };

  constructor(
    cfg: WorkerConfig,
    private readonly on: TransportEvents,
  ) {
    const t = cfg.target;
    this.target = t.kind === 'tcp' ? { ...t, host: t.address ?? t.host } : t.kind === 'abstract' ? { ...t, name: Buffer.from(t.name) } : t;
    this.connectTimeoutMs = cfg.connectTimeoutMs;
    this.sockets = new Array<net.Socket | null>(cfg.slots).fill(null);
    this.gen = new Uint32Array(cfg.slots);
    const plen = cfg.payload.length;
    this.payloads = Buffer.alloc(Math.max(1, plen * cfg.pipeline));
    for (let j = 0; j < cfg.pipeline; j++) this.payloads.set(cfg.payload, j * plen);
  }

  /**
   * An event was reported: end the current wait once this turn's I/O events are all handled
   * (setImmediate runs after the poll phase), so the loop takes them as one batch, as it
   * does epoll's, instead of one pass (and one timer) per event.
   */
  private wake(): void {
    if (this.resolveWait) {
      if (this.immediate === undefined) this.immediate = setImmediate(this.fire);
    } else this.woken = true;
  }

  connect(i: number): void {
    const g = ++this.gen[i];
    connectOnce(this.target, this.connectTimeoutMs, this.connectTimeoutMs).then(
      (socket) => {
        if (this.gen[i] !== g) return void socket.destroy();
        this.opened(i, g, socket);
      },
      (err: unknown) => {
        if (this.gen[i] !== g) return;
        this.on.now = performance.now();
        const typed = err instanceof UdsError;
        this.on.connectFailed(i, typed ? err.code : 'IO_ERROR', 0, typed ? err.message : null);
        this.wake();
      },
    );
  }

  private opened(i: number, g: number, socket: net.Socket): void {
    this.sockets[i] = socket;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.gen[i] !== g) return;
      this.on.now = performance.now();
      this.on.data(i, chunk, 0, chunk.length);
      this.wake();
    });
    socket.on('end', () => {
      if (this.gen[i] !== g) return;
      this.on.now = performance.now();
      this.on.end(i);
      this.wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.gen[i] !== g) return;
      this.on.now = performance.now();
      this.on.failed(i, codeOfErrno(err.code) === 'RESET' ? 'RESET' : 'IO_ERROR', 0);
      this.wake();
    });
    this.on.now = performance.now();
    this.on.connected(i);
    this.wake();
  }

  send(i: number, bytes: number): void {
    const s = this.sockets[i];
    if (!s || bytes === 0) return;
    s.write(bytes === this.payloads.length ? this.payloads : this.payloads.subarray(0, bytes));
    this.on.sent(i, bytes);
  }

  endWrite(i: number): void {
    this.sockets[i]?.end();
  }

  close(i: number): void {
    this.gen[i]++;
    const s = this.sockets[i];
    if (!s) return;
    this.sockets[i] = null;
    s.removeAllListeners();
    s.on('error', () => {});
    s.destroy();
  }

  poll(timeoutMs: number): Promise<void> {
    if (this.woken) {
      // Events came while the loop was busy (only the event loop delivers them, so this cannot spin).
      this.woken = false;
      this.on.now = performance.now();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.resolveWait = resolve;
      this.timer = setTimeout(this.fire, timeoutMs);
    });
  }

  dispose(): void {
    for (let i = 0; i < this.sockets.length; i++) this.close(i);
    this.fire();
  }
}
