/**
 * The one way to make a server: the engine choice (`--engine auto`: epoll
 * where it can serve the options, else node:net) and, on the net engine, the
 * worker processes of `--workers`. `serve`, bench's embedded server and library
 * users all come here; what they get is a Server, whichever engine runs.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { UdsError } from '../errors.js';
import { type Target, checkTarget } from '../socket/target.js';
import { UdsServer } from './engine-net.js';
import { TapServer } from './tap.js';
import { EpollServer, epollUnsupported } from './epoll/server.js';
import type { ThreadLogSpec } from './epoll/shared.js';
import { SERVE_DEFAULTS, type ServeEngine, checkServeOptions } from './options.js';
import type { ConnIds, ConnectionLog, EngineName, RequestLog, ServeOptions, Server, ServerEvents } from './protocol.js';
import type { TrafficLog } from './tap-records.js';

export interface StartServeOptions extends ServeOptions {
  /** Engine: 'auto' (default) is epoll where it can serve these options, else net. */
  engine?: ServeEngine;
  /**
   * Epoll: engine threads. Net: processes, this one and workers-1 forked
   * copies of the running script (process.argv), which must call startServe
   * (createServe) with the same options: they find WORKER_ENV in their
   * environment and serve on this process's socket. Default 1.
   */
  workers?: number;
  /** Epoll only: the threads write the log themselves (EpollServeOptions.logTo). */
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

/** The engine startServe would run for these options: the engine's name, or an error for --engine epoll that cannot. */
export function chooseEngine(target: Target, options: StartServeOptions): EngineName {
  if (options.upstream !== undefined) {
    // The epoll relay (every fault and --delay too): its log written by its threads (logTo) or none
    // (-q), a Unix listener, a Unix or numeric TCP upstream.
    if (isServeWorker() || options.engine === 'net') return 'net';
    let why =
      options.quiet === true || options.logTo !== undefined
        ? epollUnsupported(target, { ...options, upstream: checkTarget(options.upstream) })
        : "the tap's epoll relay writes its log from its threads (logTo) and sends no 'connection' or 'traffic' events: it needs quiet or logTo";
    if (why === null) return 'epoll';
    if (options.engine === 'epoll') throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${why}; use --engine net (or auto)`);
    return 'net';
  }
  if (isServeWorker() || options.engine === 'net') return 'net';
  const why = epollUnsupported(target, options as ServeOptions);
  if (options.engine === 'epoll' && why) throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${why}; use --engine net (or auto)`);
  return why === null ? 'epoll' : 'net';
}

/**
 * Make a server, not yet listening: listeners for 'connection' and 'request'
 * must be in place before listen() (the epoll engine makes records only for
 * them). Throws NOT_SUPPORTED for engine 'epoll' where it cannot serve.
 */
export function createServe(target: Target | string, options: StartServeOptions = {}): Server {
  const t = checkTarget(target);
  checkServeOptions(options);
  const workers = Math.max(1, options.workers ?? 1);
  const { engine: _engine, workers: _workers, logTo, logDropped, upstream, connectTimeout, quiet: _quiet, ...serve } = options;
  if (upstream !== undefined) {
    if (chooseEngine(t, options) === 'epoll') return new EpollServer(t, { ...serve, threads: workers, upstream: checkTarget(upstream), connectTimeout, logTo });
    const tap = { ...serve, upstream: checkTarget(upstream), connectTimeout };
    if (isServeWorker()) return new NetWorkerProcess(t, () => new TapServer(t, { ...tap, count: undefined }, workerIds(workers)), serve.count !== undefined, logDropped);
    if (workers === 1) return new TapServer(t, tap);
    return new NetPrimary(t, serve, workers, () => new TapServer(t, { ...tap, count: undefined }, { first: 1, step: workers }));
  }
  if (chooseEngine(t, options) === 'epoll') return new EpollServer(t, { ...serve, threads: workers, logTo });
  if (isServeWorker()) return new NetWorkerProcess(t, () => new UdsServer(t, { ...serve, count: undefined }, workerIds(workers)), serve.count !== undefined, logDropped);
  if (workers === 1) return new UdsServer(t, serve);
  return new NetPrimary(t, serve, workers, () => new UdsServer(t, { ...serve, count: undefined }, { first: 1, step: workers }));
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
  readonly target: Target;
  private readonly own: ForkableServer;
  private readonly children: ChildProcess[] = [];
  private handled = 0;
  private childDropped = 0;
  private closing?: Promise<void>;

  constructor(
    target: Target,
    private readonly options: ServeOptions,
    private readonly workers: number,
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
    for (let i = 1; i < this.workers; i++) this.children.push(this.fork(this.own.listener, i));
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
