/**
 * The one way to make a server: the engine choice, read from the engines
 * table (engines.ts: `--engine auto` takes the first engine of the role and
 * socket type that can serve the options), the tap's socket type (its
 * upstream's: tap-type.ts), and on the net engine the worker processes of
 * `--workers`. `serve`, bench's embedded server and library users all come
 * here; what they get is a Server, whichever engine runs: net, epoll, or the
 * message engine of dgram and seqpacket sockets.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import os from 'node:os';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../defaults.js';
import { UdsError } from '../errors.js';
import type { SocketType } from '../socket/socket-type.js';
import { type Target, checkTarget } from '../socket/target.js';
import { UdsServer } from './engine-net.js';
import { type EngineAsk, type EngineRow, enginesFor, rowUnsupported } from './engines.js';
import { TapServer } from './tap.js';
import { EpollServer, epollUnsupported } from './epoll/server.js';
import type { ThreadLogSpec } from './epoll/shared.js';
import { LOG_HOLD_MS } from './epoll/thread-log.js';
import { MessageServer } from './message-server.js';
import { MessageTap } from './message-tap.js';
import { SERVE_DEFAULTS, type ServeEngine, checkServeOptions } from './options.js';
import type { ConnIds, ConnectionLog, EngineName, RequestLog, ServeOptions, Server, ServerEvents } from './protocol.js';
import type { TrafficLog } from './tap-records.js';
import { tapSocketType } from './tap-type.js';

export interface StartServeOptions extends ServeOptions {
  /** Engine: 'auto' (default) is the first in the engines table that can serve these options (epoll, else net). */
  engine?: ServeEngine;
  /**
   * Epoll: engine threads. Net: processes, this one and workers-1 forked
   * copies of the running script (process.argv), which must call startServe
   * (createServe) with the same options: they find WORKER_ENV in their
   * environment and serve on this process's socket. Default 1; 'auto': the
   * chosen engine's default for the CLI (the net tap: the cores, at most 4).
   */
  workers?: number | 'auto';
  /**
   * The listener's socket type (serve --type): dgram and seqpacket are
   * served by the message engine. With upstream, the tap listens as its
   * upstream is (found when listening); given, it must match.
   */
  socketType?: SocketType;
  /** Epoll only (other engines ignore it): the threads write the log themselves (EpollServeOptions.logTo). */
  logTo?: ThreadLogSpec;
  /** A forked net worker: log lines its caller dropped, reported to the primary at the end. */
  logDropped?: () => number;
  /** The tap: relay each connection to this server instead of replying (tap.ts; net engine; workers: processes). */
  upstream?: Target | string;
  /** The tap: bound on connecting to the upstream. Default 5s. */
  connectTimeout?: number;
  /**
   * The tap: nobody will listen for 'connection' or 'traffic' (serve -q). The
   * epoll relay (epoll/relay-thread.ts) sends no records to this thread: it
   * writes the log itself (`logTo`, serve's log) or none (quiet), so only then
   * can `engine: 'auto'` relay on it; otherwise the tap is the net one.
   */
  quiet?: boolean;
}

/** Set in the environment of the processes the net engine's --workers forks. */
export const WORKER_ENV = 'UDSCTL_SERVE_WORKER';
/** A forked worker's index (1 to workers-1; the primary is 0): the net engine's and the tap's connection ids are striped by it. */
const WORKER_INDEX_ENV = 'UDSCTL_SERVE_WORKER_INDEX';

/** Whether this process is a net worker forked by a primary's startServe. */
export function isServeWorker(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[WORKER_ENV] === '1' && typeof process.send === 'function';
}

/** What a row of the engines table is checked against. */
function askOf(target: Target, o: StartServeOptions): EngineAsk {
  return { fault: o.fault, delay: o.delay, keepAlive: o.keepAlive, read: o.read, workers: o.workers, tcp: target.kind === 'tcp' };
}

/** What the table cannot say about epoll here: the platform, the upstream's address, and the relay's log. */
function epollWhy(target: Target, o: StartServeOptions): string | null {
  if (o.upstream === undefined) return epollUnsupported(target, o as ServeOptions);
  if (o.quiet !== true && o.logTo === undefined) {
    return "the tap's epoll relay writes its log from its threads (logTo) and sends no 'connection' or 'traffic' events: it needs quiet or logTo";
  }
  return epollUnsupported(target, { ...o, upstream: checkTarget(o.upstream) } as ServeOptions & { upstream: Target });
}

/** The row of the engines table startServe would run for these options, or a typed error saying why none can. */
function chooseRow(target: Target, options: StartServeOptions): EngineRow {
  const role = options.upstream === undefined ? 'server' : 'tap';
  const type = options.socketType ?? 'stream';
  const rows = enginesFor(role, type);
  const wanted = options.engine ?? 'auto';
  // A forked worker of the net engine (or net tap): its primary chose.
  if (isServeWorker() && type === 'stream') return rows.find((r) => r.engine === 'net')!;
  const ask = askOf(target, options);
  if (type !== 'stream') {
    if (wanted !== 'auto') throw new UdsError('BAD_OPTION', `--engine ${wanted}: a ${type} ${role} has one engine (message): drop --engine`);
    const why = rowUnsupported(rows[0], ask);
    if (why) throw new UdsError('BAD_OPTION', why);
    return rows[0];
  }
  let last = '';
  for (const row of wanted === 'auto' ? rows : rows.filter((r) => r.engine === wanted)) {
    const why = rowUnsupported(row, ask) ?? (row.engine === 'epoll' ? epollWhy(target, options) : null);
    if (why === null) return row;
    if (wanted === 'epoll') throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${why}; use --engine net (or auto)`);
    last = why;
  }
  throw new UdsError('BAD_OPTION', `serve: ${last}`);
}

/** The engine startServe would run for these options (socketType as given: stream when absent), or a typed error. */
export function chooseEngine(target: Target, options: StartServeOptions): EngineName {
  return chooseRow(target, options).engine;
}

/**
 * Make a server, not yet listening: listeners for the record events must be
 * in place before listen() (the epoll engine makes records only for them).
 * Throws NOT_SUPPORTED for engine 'epoll' where it cannot serve, BAD_OPTION
 * for what no engine of the socket type serves. A tap (upstream) finds its
 * upstream's socket type when it listens, and its engine then.
 */
export function createServe(target: Target | string, options: StartServeOptions = {}): Server {
  const t = checkTarget(target);
  checkServeOptions(options);
  // A forked worker serves at once (its primary found the type): nothing to wait for before its listener.
  if (options.upstream !== undefined && !isServeWorker()) return new TypedTap(t, options);
  return createTyped(t, options);
}

/** createServe once the socket type is known. */
function createTyped(t: Target, options: StartServeOptions): Server {
  const row = chooseRow(t, options);
  const workers = options.workers === 'auto' ? (row.cliWorkers?.(os.availableParallelism()) ?? 1) : Math.max(1, options.workers ?? 1);
  const { engine: _engine, workers: _workers, socketType, logTo, logDropped, upstream, connectTimeout, quiet: _quiet, ...serve } = options;
  if (row.engine === 'message') {
    const type = socketType as 'dgram' | 'seqpacket';
    if (upstream !== undefined) return new MessageTap(t, { ...serve, type, upstream: checkTarget(upstream), connectTimeout });
    return new MessageServer(t, { ...serve, type });
  }
  if (upstream !== undefined) {
    if (row.engine === 'epoll') return new EpollServer(t, { ...serve, threads: workers, upstream: checkTarget(upstream), connectTimeout, logTo });
    const tap = { ...serve, upstream: checkTarget(upstream), connectTimeout };
    if (isServeWorker()) return new NetWorkerProcess(t, () => new TapServer(t, { ...tap, count: undefined }, workerIds(workers)), serve.count !== undefined, logDropped);
    if (workers === 1) return new TapServer(t, tap);
    return new NetPrimary(t, serve, workers, () => new TapServer(t, { ...tap, count: undefined }, { first: 1, step: workers }));
  }
  if (row.engine === 'epoll') return new EpollServer(t, { ...serve, threads: workers, logTo });
  if (isServeWorker()) return new NetWorkerProcess(t, () => new UdsServer(t, { ...serve, count: undefined }, workerIds(workers)), serve.count !== undefined, logDropped);
  if (workers === 1) return new UdsServer(t, serve);
  return new NetPrimary(t, serve, workers, () => new UdsServer(t, { ...serve, count: undefined }, { first: 1, step: workers }));
}

const SERVER_EVENTS = ['connection', 'request', 'traffic', 'message', 'conn', 'messageTraffic', 'messagePeer'] as const;

/**
 * The tap before it knows its upstream's socket type: listen() finds it
 * (tap-type.ts: sock_diag, else by connecting; --type must agree), makes
 * the tap of that type's engine and forwards its events. Until then it
 * answers as the stream tap would be (its engine, whether it writes its own log).
 */
class TypedTap extends EventEmitter<ServerEvents> implements Server {
  readonly target: Target;
  private inner?: Server;
  /** The stream tap's engine for these options, or why there is none (said when the upstream is a stream). */
  private readonly stream: { engine: EngineName } | { error: unknown };
  private starting?: Promise<unknown>;

  constructor(
    target: Target,
    private readonly options: StartServeOptions,
  ) {
    super();
    this.target = target;
    try {
      this.stream = { engine: chooseEngine(target, { ...options, socketType: 'stream' }) };
    } catch (error) {
      this.stream = { error };
    }
  }

  get engine(): EngineName {
    return this.inner?.engine ?? ('engine' in this.stream ? this.stream.engine : 'net');
  }

  get replacedStale(): boolean {
    return this.inner?.replacedStale ?? false;
  }

  get logDropped(): number {
    return this.inner?.logDropped ?? 0;
  }

  get workers(): number | undefined {
    return this.inner?.workers;
  }

  get socketType(): SocketType | undefined {
    return this.inner?.socketType;
  }

  get ownLog(): { holdMs: number } | undefined {
    if (this.inner) return this.inner.ownLog;
    return this.engine === 'epoll' && this.options.logTo !== undefined ? { holdMs: LOG_HOLD_MS } : undefined;
  }

  listen(): Promise<{ replacedStale: boolean }> {
    const p = this.start();
    this.starting = p.catch(() => undefined);
    return p;
  }

  private async start(): Promise<{ replacedStale: boolean }> {
    const o = this.options;
    const upstream = checkTarget(o.upstream!);
    const { type } = await tapSocketType(upstream, o.socketType, o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS);
    if (type === 'stream' && 'error' in this.stream) throw this.stream.error;
    const inner = createTyped(this.target, { ...o, socketType: type });
    this.inner = inner;
    inner.on('listening', (info) => this.emit('listening', info));
    inner.on('warning', (m) => this.emit('warning', m));
    inner.once('done', () => this.emit('done'));
    // Only the record events somebody listens to: an engine makes records only for them.
    const wired = new Set<string>();
    const wire = (name: string | symbol) => {
      if (typeof name !== 'string' || wired.has(name) || !(SERVER_EVENTS as readonly string[]).includes(name)) return;
      wired.add(name);
      (inner as EventEmitter).on(name, (l: unknown) => (this as EventEmitter).emit(name, l));
    };
    for (const name of SERVER_EVENTS) if (this.listenerCount(name) > 0) wire(name);
    (this as EventEmitter).on('newListener', wire);
    return inner.listen();
  }

  address(): string {
    return this.inner?.address() ?? this.target.display;
  }

  openLog(): void {
    this.inner?.openLog();
  }

  async close(): Promise<void> {
    // Closed while finding the type or binding: once the tap is made, close it.
    await this.starting;
    if (this.inner) return this.inner.close();
    this.emit('done');
  }

  abort(): void {
    this.inner?.abort();
  }
}

/** A forked net worker's connection ids, striped by its index (the primary's are 1, 1+N, ...). */
function workerIds(workers: number): ConnIds {
  const index = Number(process.env[WORKER_INDEX_ENV] ?? 1);
  return { first: Number.isSafeInteger(index) && index > 0 && index < workers ? index + 1 : 1, step: workers };
}

/** Create a server (createServe) and listen. */
export async function startServe(target: Target | string, options: StartServeOptions = {}): Promise<Server> {
  const server = createServe(target, options);
  await server.listen();
  return server;
}

type WorkerMessage = { type: 'listen' } | { type: 'stop' } | { type: 'handled' } | { type: 'dropped'; count: number };

/** What runs in each process of --workers: serve's net engine or the tap, on a listening socket it can hand over. */
type ForkableServer = UdsServer | TapServer;

/**
 * Forwards an inner server's events, except 'done', which the wrapper emits
 * when it is really done. The record events are forwarded only once somebody
 * listens to them: the inner server makes records only then (-q makes none).
 */
function forward(from: ForkableServer, to: EventEmitter<ServerEvents>): void {
  from.on('listening', (info) => to.emit('listening', info));
  from.on('warning', (m) => to.emit('warning', m));
  const wired = new Set<string>();
  const wire = (name: string) => {
    if (wired.has(name)) return;
    wired.add(name);
    if (name === 'connection') from.on('connection', (l: ConnectionLog) => to.emit('connection', l));
    else if (name === 'request') from.on('request', (l: RequestLog) => to.emit('request', l));
    else if (name === 'traffic') from.on('traffic', (l: TrafficLog) => to.emit('traffic', l));
  };
  for (const name of ['connection', 'request', 'traffic']) if ((to as EventEmitter).listenerCount(name) > 0) wire(name);
  (to as EventEmitter).on('newListener', wire);
}

/**
 * The net engine (or the tap) over several processes: this one binds the
 * socket and accepts on it, forked copies accept on it too (the kernel
 * spreads the connections); --count is over all of them, kept here.
 */
class NetPrimary extends EventEmitter<ServerEvents> implements Server {
  readonly engine = 'net' as const;
  get workers(): number {
    return this.nWorkers;
  }
  readonly target: Target;
  private readonly own: ForkableServer;
  private readonly children: ChildProcess[] = [];
  private handled = 0;
  private childDropped = 0;
  private closing?: Promise<void>;

  constructor(
    target: Target,
    private readonly options: ServeOptions,
    private readonly nWorkers: number,
    make: () => ForkableServer,
  ) {
    super();
    this.target = target;
    this.own = make();
    forward(this.own, this);
    // Records are made for --count only: without it, -q makes none.
    if (options.count !== undefined) this.own.on('connection', () => this.countOne());
  }

  get replacedStale(): boolean {
    return this.own.replacedStale;
  }

  get logDropped(): number {
    return this.childDropped;
  }

  private countOne(): void {
    if (this.options.count !== undefined && ++this.handled === this.options.count) void this.close();
  }

  async listen(): Promise<{ replacedStale: boolean }> {
    const r = await this.own.listen();
    for (let i = 1; i < this.nWorkers; i++) this.children.push(this.fork(this.own.listener, i));
    return r;
  }

  private fork(listener: net.Server, index: number): ChildProcess {
    const child = fork(process.argv[1], process.argv.slice(2), {
      env: { ...process.env, [WORKER_ENV]: '1', [WORKER_INDEX_ENV]: String(index) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (msg: WorkerMessage) => {
      if (msg?.type === 'handled') this.countOne();
      if (msg?.type === 'dropped' && Number.isSafeInteger(msg.count)) this.childDropped += msg.count;
    });
    child.send({ type: 'listen' } satisfies WorkerMessage, listener);
    return child;
  }

  address(): string {
    return this.own.address();
  }

  openLog(): void {}

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const child of this.children) if (child.connected) child.send({ type: 'stop' } satisfies WorkerMessage);
      await this.own.close();
      const bound = (this.options.graceTimeout ?? SERVE_DEFAULTS.graceTimeout) + 2_000;
      await Promise.all(this.children.map((child) => waitChild(child, bound)));
      this.emit('done');
    })();
    return this.closing;
  }

  abort(): void {
    for (const child of this.children) child.kill('SIGKILL');
    this.own.abort();
  }
}

/**
 * A forked net worker: serves on the primary's listening socket (received
 * over IPC), tells it of each connection (for --count), stops when told or
 * when the primary is gone.
 */
class NetWorkerProcess extends EventEmitter<ServerEvents> implements Server {
  readonly engine = 'net' as const;
  readonly target: Target;
  readonly replacedStale = false;
  readonly logDropped = 0;
  private readonly own: ForkableServer;

  constructor(
    target: Target,
    make: () => ForkableServer,
    counted: boolean,
    private readonly dropped?: () => number,
  ) {
    super();
    this.target = target;
    this.own = make();
    forward(this.own, this);
    // A message a connection only when the primary counts them (--count).
    if (counted) this.own.on('connection', () => process.send?.({ type: 'handled' } satisfies WorkerMessage));
  }

  /** Resolves once the primary's socket has come (the primary reports listening). */
  listen(): Promise<{ replacedStale: boolean }> {
    return new Promise((resolve) => {
      const onMessage = (msg: WorkerMessage, handle?: net.Server) => {
        if (msg?.type === 'listen' && handle) {
          this.own.adopt(handle);
          resolve({ replacedStale: false });
        }
        if (msg?.type === 'stop') void this.close();
      };
      const onDisconnect = () => void this.close();
      process.on('message', onMessage);
      // The primary is gone: finish what is in flight and leave.
      process.once('disconnect', onDisconnect);
      this.own.once('done', () => {
        process.removeListener('message', onMessage);
        process.removeListener('disconnect', onDisconnect);
        const n = this.dropped?.() ?? 0;
        if (n > 0 && process.connected) process.send!({ type: 'dropped', count: n } satisfies WorkerMessage);
        // The IPC channel would keep this process alive.
        if (process.connected) process.disconnect();
        this.emit('done');
      });
    });
  }

  address(): string {
    return this.own.address();
  }

  openLog(): void {}

  close(): Promise<void> {
    return this.own.close();
  }

  abort(): void {
    this.own.abort();
  }
}

/** Wait for a worker to exit, killing it past the bound. */
function waitChild(child: ChildProcess, boundMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
