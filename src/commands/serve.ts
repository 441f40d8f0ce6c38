import { type ChildProcess, fork } from 'node:child_process';
import type net from 'node:net';
import { findBuilt } from '../core/built-file.js';
import { escapeText, unescapeText } from '../core/escape.js';
import { type Fault, type ReadMode, type ServeOptions, UdsServer } from '../core/server.js';
import { EpollServer, epollUnsupported } from '../core/serve-epoll/server.js';
import type { ServeEngine, ThreadLogSpec } from '../core/serve-epoll/shared.js';
import { UdsError } from '../core/errors.js';
import { parseTarget } from '../core/target.js';
import { EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';
import {
  connectionJsonRenderer,
  connectionLineRenderer,
  droppedLine,
  droppedText,
  requestJsonRenderer,
  requestLineRenderer,
} from '../render/serve.js';
import { LOG_HOLD_MS } from '../core/serve-epoll/thread-log.js';
import { ServeLog } from './serve-log.js';
import { errColor } from '../render/style.js';

export interface ServeFlags {
  reply?: string;
  echo?: boolean;
  keepAlive?: boolean;
  read: ReadMode;
  fault?: Fault;
  delay?: number;
  perm?: number;
  group?: string;
  count?: number;
  maxConns?: number;
  maxBytes: number;
  idleTimeout: number;
  backlog: number;
  grace: number;
  workers: number;
  engine?: ServeEngine;
  json?: boolean;
  quiet?: boolean;
}

/** Set in the environment of the processes `--workers` forks. */
const WORKER_ENV = 'UDSCTL_SERVE_WORKER';
type WorkerMessage = { type: 'listen' } | { type: 'stop' } | { type: 'handled' } | { type: 'dropped'; count: number };

/**
 * Where the engine threads load the log's renderers from: the compiled module
 * beside the bundle (dist/udsctl.cjs), beside dist/commands (tsc layout), or
 * under dist when this runs from sources (tests). Null when it is not there:
 * the main thread renders the log then, as for the net engine.
 */
function threadRenderers(): string | null {
  return findBuilt(import.meta.url, ['./render/serve-thread.js', '../render/serve-thread.js', '../../dist/render/serve-thread.js'])?.href ?? null;
}

/**
 * `udsctl serve`: run the reference server until --count connections are done
 * or SIGINT/SIGTERM; resolves with the exit status. With --workers N, this
 * process binds the socket and N-1 forked copies of it accept on it too.
 */
export async function runServe(targetSpec: string, flags: ServeFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  const worker = io.env[WORKER_ENV] === '1' && typeof process.send === 'function';
  const workers = worker ? 1 : flags.workers;
  let options: ServeOptions = {
    reply: flags.reply === undefined ? undefined : unescapeText(flags.reply),
    echo: flags.echo,
    keepAlive: flags.keepAlive,
    read: flags.read,
    fault: flags.fault,
    delay: flags.delay,
    perm: flags.perm,
    group: flags.group,
    // With workers the count is over all processes: the primary keeps it.
    count: workers > 1 || worker ? undefined : flags.count,
    maxConns: flags.maxConns,
    maxBytes: flags.maxBytes,
    idleTimeout: flags.idleTimeout,
    backlog: flags.backlog,
    graceTimeout: flags.grace,
  };
  // epoll where it can serve these options (auto), else node:net; with epoll, --workers are threads.
  const why = worker || flags.engine === 'net' ? 'net asked' : epollUnsupported(target, options);
  if (flags.engine === 'epoll' && why) throw new UdsError('NOT_SUPPORTED', `--engine epoll: ${why}; use --engine net (or auto)`);
  const epoll = why === null;
  if (epoll) options = { ...options, count: flags.count };
  const c = await errColor();
  const stderrFd = (io.stderr as { fd?: unknown }).fd;
  // The process's own stderr is written directly, never blocking; another stream (a test's) as a stream.
  const log = new ServeLog(io.stderr, droppedLine(flags.json === true, c), io.stderr === process.stderr && typeof stderrFd === 'number' ? stderrFd : undefined);
  // On the epoll engine, the threads write the connection log to stderr themselves (no record
  // crosses to this thread), when stderr is this process's own and the renderers can be loaded.
  let logTo: ThreadLogSpec | undefined;
  const fd = (io.stderr as { fd?: unknown }).fd;
  const renderers = epoll && !flags.quiet && io.stderr === process.stderr && typeof fd === 'number' ? threadRenderers() : null;
  if (renderers) {
    logTo = {
      fd: fd as number,
      module: renderers,
      ...(flags.json ? { factory: 'jsonLines', args: [process.pid] } : { factory: 'humanLines', args: [c.level, flags.keepAlive === true] }),
    };
  }
  const say = (line: string) => log.line(line);
  /** serve's own lines wait this long at most for a log reader that does not read, at the end. */
  const FINAL_FLUSH_MS = 5_000;
  const event = (obj: Record<string, unknown>) => say(JSON.stringify(obj));
  const children: ChildProcess[] = [];

  // Signal handlers go in before the socket exists: a supervisor that sees the
  // socket and sends SIGTERM at once must get a graceful stop, not the default kill.
  const server = epoll ? new EpollServer(target, { ...options, threads: workers, logTo }) : new UdsServer(target, options);
  let stopping = 0;
  const stop = () => {
    for (const child of children) if (child.connected) child.send({ type: 'stop' } satisfies WorkerMessage);
    void server.close();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal: stop waiting for in-flight exchanges.
    if (++stopping > 1) {
      for (const child of children) child.kill('SIGKILL');
      return server.abort();
    }
    if (!flags.quiet && !flags.json && !worker) say(`udsctl serve: ${sig}: finishing in-flight connections, then exiting`);
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The terminal closed: stop as for SIGTERM, not with the default kill (socket file left, requests reset).
  process.on('SIGHUP', onSignal);
  const onParentMessage = (msg: WorkerMessage, handle?: net.Server) => {
    if (msg?.type === 'listen' && handle && server instanceof UdsServer) server.adopt(handle);
    if (msg?.type === 'stop') onSignal('SIGTERM');
  };
  if (worker) {
    process.on('message', onParentMessage);
    // The primary is gone: finish what is in flight and leave.
    process.once('disconnect', () => onSignal('SIGTERM'));
  }
  try {
    const done = new Promise<void>((resolve) => server.once('done', resolve));
    server.on('warning', (msg) => (flags.json ? event({ event: 'warning', message: msg }) : say(`${c.yellow('udsctl serve:')} ${escapeText(msg)}`)));
    if (!flags.quiet && !logTo) {
      const render = flags.json ? connectionJsonRenderer(process.pid) : connectionLineRenderer(c, { keepAlive: flags.keepAlive });
      server.on('connection', (entry) => log.record(render, entry));
      if (flags.keepAlive) {
        const renderRequest = flags.json ? requestJsonRenderer(process.pid) : requestLineRenderer(c);
        server.on('request', (entry) => log.record(renderRequest, entry));
      }
    }
    if (worker) {
      server.on('connection', () => process.send!({ type: 'handled' } satisfies WorkerMessage));
      await done;
      // The log lines this process dropped count in the primary's stopped record.
      log.noteDropped();
      if (log.droppedTotal > 0 && process.connected) process.send!({ type: 'dropped', count: log.droppedTotal } satisfies WorkerMessage);
      process.removeAllListeners('disconnect');
      // The IPC channel would keep this process alive.
      process.disconnect();
      return EXIT.OK;
    }

    await server.listen();
    let handled = 0;
    let workersDropped = 0;
    const countOne = () => {
      if (flags.count !== undefined && ++handled === flags.count) stop();
    };
    if (workers > 1 && server instanceof UdsServer) {
      server.on('connection', countOne);
      for (let i = 1; i < workers; i++) children.push(startWorker(server.listener, countOne, (n) => (workersDropped += n), io));
    }
    const where = server.address();
    const engine = epoll ? 'epoll' : 'net';
    if (flags.json) event({ event: 'listening', target: where, replacedStale: server.replacedStale, workers, engine, pid: process.pid });
    else {
      // Printed even with --quiet (which silences the per-connection log): scripts wait for it.
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${where} (no server was listening)`);
      const extra = [flags.fault ? `fault: ${flags.fault}` : '', workers > 1 ? `${workers} ${epoll ? 'threads' : 'processes'}` : ''].filter(Boolean).join(', ');
      say(`${c.green('udsctl serve:')} listening on ${where}${extra ? ` (${extra})` : ''}`);
    }
    // What this thread printed comes first; then the threads' log lines.
    if (server instanceof EpollServer) {
      await log.flush(LOG_HOLD_MS);
      server.openLog();
    }
    if (stopping > 0) stop();
    await done;
    await Promise.all(children.map((child) => waitChild(child, flags.grace + 2_000)));
    // Lines dropped because the log's reader was too slow: this thread's and the engine threads'.
    log.noteDropped();
    const dropped = log.droppedTotal + workersDropped + (server instanceof EpollServer ? server.logDropped : 0);
    if (flags.json) event({ event: 'stopped', dropped });
    else if (dropped > 0) say(`${c.yellow('udsctl serve:')} stopped; ${droppedText(dropped).replace(' dropped,', ' dropped in all,')}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    if (worker) process.removeListener('message', onParentMessage);
    // Bounded: a reader that never reads must not keep serve from exiting.
    if (!(await log.flush(FINAL_FLUSH_MS))) log.abandon();
  }
  return EXIT.OK;
}

/** Fork a copy of this CLI that serves on our listening socket. */
function startWorker(listener: net.Server, onHandled: () => void, onDropped: (count: number) => void, io: Io): ChildProcess {
  const child = fork(process.argv[1], process.argv.slice(2), {
    env: { ...io.env, [WORKER_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (msg: WorkerMessage) => {
    if (msg?.type === 'handled') onHandled();
    if (msg?.type === 'dropped' && Number.isSafeInteger(msg.count)) onDropped(msg.count);
  });
  child.send({ type: 'listen' } satisfies WorkerMessage, listener);
  return child;
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
