/**
 * The fast serving engine, main-thread side: the same listening socket
 * UdsServer makes (bindListener), served by worker threads that each run an
 * epoll loop over it (thread.ts). This thread keeps the socket, the shutdown
 * and the log: threads send connection records in batches and they come out
 * here as the same `connection` events UdsServer emits.
 *
 * It serves the plain one-shot contract and --keep-alive, with --reply,
 * --echo, --read, --max-bytes, --max-conns, --idle-timeout and --count. Fault
 * modes, --delay and TCP stay with the net engine (the engines table, engines.ts).
 * With `upstream` its threads relay instead (the tap's epoll relay,
 * relay-thread.ts), writing the tap's log themselves (logTo) or none.
 */
import { EventEmitter } from 'node:events';
import { findBuilt } from '../../built-file.js';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UdsError } from '../../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../../defaults.js';
import { type BoundListener, bindListener, setSocketGroup } from '../listener.js';
import { ReplyShaper } from '../reply-shaper.js';
import { SERVE_DEFAULTS } from '../options.js';
import { enginesFor, rowUnsupported } from '../engines.js';
import { LOG_HOLD_MS } from './thread-log.js';
import { type ConnectionLog, type RequestLog, type ServeOptions, type Server, type ServerEvents, drainAcceptQueue, fdLimit, fdPressureText, openFds, withNewline } from '../protocol.js';
import { removeSocketFile } from '../../socket/socket-file.js';
import { type Target, fsPath, parseTarget } from '../../socket/target.js';
import { ownSocketFile } from '../self-upstream.js';
import {
  ABORT,
  C_FD_BASE,
  C_LOG_DROPPED,
  C_LOG_OPEN,
  C_STATE,
  C_STOP_ACKS,
  CLOSING,
  STOP,
  type ReasonLimits,
  RecordReader,
  type ThreadConfig,
  type ThreadLogSpec,
  type ThreadMessage,
  type RelayUpstream,
  acceptedWord,
  controlWords,
} from './shared.js';
import { epollLibc } from '../../socket/libc.js';
import { AF_INET, AF_INET6, AF_UNIX } from '../../socket/ffi.js';
import { sockaddrAbstract, sockaddrInet, sockaddrPath } from '../../socket/sockaddr.js';

export interface EpollServeOptions extends ServeOptions {
  /** Engine threads, each with its own epoll set on the listening socket. Default 1. */
  threads?: number;
  /**
   * Have the threads write the connection log themselves, to this descriptor,
   * rendered by the module named (see ThreadLogSpec): the cheapest log, as no
   * record crosses threads. Lines wait until openLog() (so that what the
   * caller prints after listen() comes first), at most LOG_HOLD_MS. Serving
   * never waits on the log: while a reader that does not keep up leaves
   * LOG_BUFFER unwritten, a thread drops lines, says how many once it can
   * (the renderers' `dropped` line), and counts them (logDropped).
   * 'connection' events still come for listeners present at listen().
   */
  logTo?: ThreadLogSpec;
  /**
   * The tap's epoll relay (relay-thread.ts): relay each connection to this
   * server instead of replying. Its records (the net tap's, relay-log.ts) are
   * rendered and written by its threads (logTo names the tap's renderers), never
   * sent here: nobody may listen for 'connection' or 'traffic' (start.ts chooses).
   */
  upstream?: Target;
  /** The relay: bound on connecting to the upstream. Default 5s. */
  connectTimeout?: number;
}

/** The relay's upstream as its threads take it, or why it cannot be relayed here. */
export function relayUpstream(up: Target, connectMs: number): RelayUpstream | string {
  if (up.kind === 'unix') return { addr: sockaddrPath(up.path), family: AF_UNIX, tcp: false, connectMs, listenTcp: false, display: up.display, delayMs: 0, path: fsPath(up.path) };
  if (up.kind === 'abstract') return { addr: sockaddrAbstract(up.name), family: AF_UNIX, tcp: false, connectMs, listenTcp: false, display: up.display, delayMs: 0 };
  const v6 = up.host.includes(':');
  const addr = sockaddrInet(v6, up.host, up.port);
  if (addr === null) return `an upstream host name (${up.host}) needs the net engine (it resolves names)`;
  return { addr, family: v6 ? AF_INET6 : AF_INET, tcp: true, connectMs, listenTcp: false, display: up.display, delayMs: 0 };
}

/** Bound on the threads starting (loading modules and koffi). */
const THREAD_START_MS = 10_000;
/** After --grace, how long threads may take to close what is left before they are terminated. */
const THREAD_END_SLACK_MS = 2_000;

/** Why the epoll engine cannot serve these options here, or null when it can. */
export function epollUnsupported(target: Target, options: EpollServeOptions): string | null {
  // The faults, --delay and TCP: the engines table's epoll row for this role (the relay runs every fault, serve's engine none).
  const row = enginesFor(options.upstream === undefined ? 'server' : 'tap', 'stream').find((r) => r.engine === 'epoll')!;
  const why = rowUnsupported(row, { fault: options.fault, delay: options.delay, tcp: target.kind === 'tcp' });
  if (why) return why;
  const up = options.upstream;
  if (up !== undefined) {
    const r = relayUpstream(up, 0);
    if (typeof r === 'string') return r;
  }
  try {
    epollLibc();
  } catch (err) {
    return `not available here (${(err as Error).message})`;
  }
  return null;
}

/** Where the thread script is: beside this module (tsc layout), under dist (bundled CLI), or built from sources (tests). */
function threadUrl(): URL {
  const u = findBuilt(import.meta.url, ['./worker.js', './core/serve/epoll/worker.js', '../../../../dist/core/serve/epoll/worker.js']);
  if (u) return u;
  throw new UdsError('IO_ERROR', `serve: the engine thread script was not found beside ${fileURLToPath(import.meta.url)} (run npm run build)`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Live {
  worker: Worker;
  ready: boolean;
  done: boolean;
}

/**
 * The reference server on the epoll engine. Same events, same log records and
 * the same listen/close/abort as UdsServer; never prints, never exits.
 */
export class EpollServer extends EventEmitter<ServerEvents> implements Server {
  readonly engine = 'epoll' as const;
  readonly target: Target;
  readonly options: EpollServeOptions;
  /** Whether listen() replaced a stale socket file left by a dead server. */
  replacedStale = false;
  private bound?: BoundListener;
  private threads: Live[] = [];
  private readonly control: Int32Array;
  private readonly ids: BigInt64Array;
  private starting?: Promise<unknown>;
  private closing?: Promise<void>;
  private allDone?: Promise<void>;
  private emfileLimit = Infinity;
  private readonly limits: ReasonLimits;
  private readonly records: RecordReader;
  private listenFdOpen = false;

  constructor(target: Target, options: EpollServeOptions = {}) {
    super();
    this.target = target;
    this.options = options;
    const n = Math.max(1, options.threads ?? 1);
    this.control = new Int32Array(new SharedArrayBuffer(4 * controlWords(n)));
    this.ids = new BigInt64Array(new SharedArrayBuffer(8));
    this.ids[0] = 1n;
    this.limits = {
      idleMs: options.idleTimeout ?? SERVE_DEFAULTS.idleTimeout,
      maxBytes: options.maxBytes ?? SERVE_DEFAULTS.maxBytes,
      maxConns: options.maxConns ?? 0,
    };
    this.records = new RecordReader(this.limits);
  }

  /** Engine threads serving the socket. */
  get workers(): number {
    return Math.max(1, this.options.threads ?? 1);
  }

  /** With logTo the threads write the log themselves, held until openLog() (at most LOG_HOLD_MS). */
  get ownLog(): { holdMs: number } | undefined {
    return this.options.logTo ? { holdMs: LOG_HOLD_MS } : undefined;
  }

  /** Let the threads write the log (logTo) from now on. */
  openLog(): void {
    Atomics.store(this.control, C_LOG_OPEN, 1);
  }

  /** Bind, start the threads, listen; handles stale files, refuses live servers and non-sockets. */
  listen(): Promise<{ replacedStale: boolean }> {
    const p = this.start();
    this.starting = p;
    return p;
  }

  private async start(): Promise<{ replacedStale: boolean }> {
    const t = this.target;
    const why = epollUnsupported(t, this.options);
    if (why) throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${why}`);
    const bound = await bindListener(t, this.options);
    this.bound = bound;
    this.listenFdOpen = true;
    try {
      if (bound.ownedPath && bound.gid !== undefined) await setSocketGroup(bound.ownedPath.path, bound.gid, t);
      await this.startThreads(bound.fd!, bound.socketType);
    } catch (err) {
      this.stopNow();
      if (bound.ownedPath) await removeSocketFile(bound.ownedPath.path, bound.ownedPath.ino);
      throw err;
    }
    Atomics.store(this.control, C_FD_BASE, openFds());
    this.replacedStale = bound.replacedStale;
    this.emit('listening', { target: this.address(), replacedStale: bound.replacedStale });
    return { replacedStale: bound.replacedStale };
  }

  private startThreads(listenFd: number, socketType: number): Promise<void> {
    const o = this.options;
    const n = Math.max(1, o.threads ?? 1);
    this.emfileLimit = fdLimit();
    let reply: Uint8Array | null = null;
    if (o.reply !== undefined) {
      reply = withNewline(o.reply);
    }
    let upstream: RelayUpstream | undefined;
    if (o.upstream !== undefined) {
      if (this.listenerCount('connection') > 0 || this.listenerCount('traffic') > 0 || this.listenerCount('request') > 0) {
        throw new UdsError('NOT_SUPPORTED', "--engine epoll: the tap's epoll relay writes its log from its threads (logTo) and emits no 'connection' or 'traffic' events (use --engine net for them)");
      }
      const r = relayUpstream(o.upstream, o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS);
      if (typeof r === 'string') throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${r}`);
      upstream = {
        ...r,
        own: ownSocketFile(this.target),
        delayMs: new ReplyShaper({ fault: o.fault, delay: o.delay }).delayMs,
        ...(o.fault ? { fault: o.fault } : {}),
      };
    }
    const url = threadUrl();
    let fail: (err: Error) => void;
    let ok: () => void;
    const started = new Promise<void>((resolve, reject) => {
      ok = resolve;
      fail = reject;
    });
    let doneCount = 0;
    let settleDone: () => void;
    this.allDone = new Promise<void>((resolve) => (settleDone = resolve));
    for (let i = 0; i < n; i++) {
      const cfg: ThreadConfig = {
        index: i,
        threads: n,
        listenFd,
        socketType,
        reply,
        echo: o.echo === true,
        keepAlive: o.keepAlive === true,
        read: o.read ?? 'once',
        ...this.limits,
        count: o.count ?? 0,
        // Records are made only when somebody listens for them (serve --quiet: nobody).
        log: this.listenerCount('connection') > 0 || this.listenerCount('request') > 0,
        logTo: o.logTo ?? null,
        fdLimit: this.emfileLimit,
        control: this.control.buffer as SharedArrayBuffer,
        ids: this.ids.buffer as SharedArrayBuffer,
        ...(upstream ? { upstream } : {}),
      };
      const live: Live = { worker: new Worker(url, { workerData: cfg }), ready: false, done: false };
      this.threads.push(live);
      const finished = () => {
        if (live.done) return;
        live.done = true;
        if (++doneCount === n) settleDone();
      };
      live.worker.on('message', (m: ThreadMessage) => {
        switch (m.type) {
          case 'ready':
            live.ready = true;
            if (this.threads.every((l) => l.ready)) ok();
            return;
          case 'logs':
            return this.onLogs(m.count, m.nums, m.text);
          case 'count':
            return void this.close();
          case 'fd-pressure':
            return this.emit(
              'warning',
              fdPressureText(m.hit, m.open, this.emfileLimit),
            );
          case 'warning':
            return this.emit('warning', m.message);
          case 'fatal':
            if (!live.ready) return fail(new UdsError('IO_ERROR', `serve: engine thread ${i}: ${m.message}`));
            return this.emit('warning', `engine thread ${i} stopped: ${m.message}`);
          case 'done':
            return finished();
        }
      });
      live.worker.on('error', (err) => {
        if (!live.ready) fail(new UdsError('IO_ERROR', `serve: engine thread ${i}: ${err.message}`, { cause: err }));
        else this.emit('warning', `engine thread ${i} failed: ${err.message}`);
      });
      live.worker.on('exit', () => {
        if (!live.ready) fail(new UdsError('IO_ERROR', `serve: engine thread ${i} exited before it was ready`));
        finished();
      });
    }
    const timer = setTimeout(() => fail(new UdsError('IO_ERROR', `serve: the engine threads did not start within ${THREAD_START_MS}ms`)), THREAD_START_MS);
    return started.finally(() => clearTimeout(timer));
  }

  private onLogs(count: number, nums: Float64Array, text: Uint8Array): void {
    // The listeners fetched once per batch and called directly: emit() per record was a visible share of the log's cost.
    const listeners = this.rawListeners('connection') as Array<(log: ConnectionLog) => void>; // raw: once() wrappers fire once
    const onRequest = this.rawListeners('request') as Array<(log: RequestLog) => void>;
    if (listeners.length === 0 && onRequest.length === 0) return;
    this.records.read(
      count,
      nums,
      text,
      (entry) => {
        for (const l of listeners) l.call(this, entry);
      },
      undefined,
      onRequest.length === 0
        ? undefined
        : (entry) => {
            for (const l of onRequest) l.call(this, entry);
          },
    );
  }

  /** Log lines the threads dropped (logTo) because the log's reader was too slow; final once 'done' has come. */
  get logDropped(): number {
    return Atomics.load(this.control, C_LOG_DROPPED);
  }

  /** The bound address as a target string. */
  address(): string {
    return this.target.display;
  }

  private setState(s: number): void {
    if (Atomics.load(this.control, C_STATE) < s) Atomics.store(this.control, C_STATE, s);
  }

  private closeListenFd(): void {
    if (!this.listenFdOpen || this.bound?.fd === undefined) return;
    this.listenFdOpen = false;
    epollLibc().close(this.bound.fd);
  }

  /** Setup failed: end the threads and close the socket now. */
  private stopNow(): void {
    this.setState(ABORT);
    for (const l of this.threads) void l.worker.terminate();
    this.closeListenFd();
  }

  /**
   * Stop accepting, let in-flight exchanges finish within graceTimeout, then
   * close the rest and remove our own socket file. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.starting?.catch(() => undefined);
      if (!this.allDone) {
        // Never listened (or failed to): nothing to wait for.
        this.emit('done');
        return;
      }
      const ctl = this.control;
      const n = this.threads.length;
      this.setState(CLOSING);
      // Unlink first (no new client can reach us), drain the accept queue, then stop accepting.
      const owned = this.bound?.ownedPath;
      if (owned) await removeSocketFile(owned.path, owned.ino);
      const grace = this.options.graceTimeout ?? SERVE_DEFAULTS.graceTimeout;
      const acceptedSoFar = () => {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += Atomics.load(ctl, acceptedWord(i));
        return sum;
      };
      await drainAcceptQueue(acceptedSoFar, grace, () => Atomics.load(ctl, C_STATE) < STOP);
      this.setState(STOP);
      const timer = setTimeout(() => this.setState(ABORT), grace);
      timer.unref();
      // The listener is closed once no thread can be inside accept4() on it.
      const ackUntil = Date.now() + 1_000;
      while (Atomics.load(ctl, C_STOP_ACKS) < this.threads.filter((l) => !l.done).length && Date.now() < ackUntil) await sleep(5);
      this.closeListenFd();
      let slack: NodeJS.Timeout | undefined;
      await Promise.race([
        this.allDone,
        new Promise<void>((resolve) => {
          slack = setTimeout(() => {
            for (const l of this.threads) if (!l.done) void l.worker.terminate();
            resolve();
          }, grace + THREAD_END_SLACK_MS);
        }),
      ]);
      clearTimeout(timer);
      clearTimeout(slack);
      this.emit('done');
    })();
    return this.closing;
  }

  /** Close every open connection now (a second Ctrl-C); close() then completes at once. */
  abort(): void {
    this.setState(ABORT);
  }
}

/**
 * Create a server on the epoll engine and start listening. Connection records
 * are made only for 'connection' listeners present at listen(): to log, make
 * the server with `new EpollServer(...)`, listen for 'connection', then listen().
 */
export async function startEpollServer(target: Target | string, options: EpollServeOptions = {}): Promise<EpollServer> {
  const server = new EpollServer(typeof target === 'string' ? parseTarget(target) : target, options);
  await server.listen();
  return server;
}
