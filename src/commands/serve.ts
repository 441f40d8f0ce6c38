import { findBuilt } from '../core/built-file.js';
import { escapeText, unescapeText } from '../core/escape.js';
import type { Fault, ReadMode, ServeEngine } from '../core/serve/options.js';
import type { ThreadLogSpec } from '../core/serve/epoll/shared.js';
import { type StartServeOptions, chooseEngine, createServe, isServeWorker } from '../core/serve/start.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { parseTarget } from '../core/socket/target.js';
import { refuseSelfUpstream } from '../core/serve/self-upstream.js';
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
import { LOG_HOLD_MS } from '../core/serve/epoll/thread-log.js';
import { ServeLog } from './serve-log.js';
import { errColor } from '../render/style.js';
import { tapConnectionJsonRenderer, tapConnectionLineRenderer, trafficJsonRenderer, trafficLineRenderer } from '../render/tap.js';
import { TAP_DEFAULTS, type TapConnectionLog, tapDefaultWorkers } from '../core/serve/tap.js';
import { UdsError } from '../core/errors.js';

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
  /** Default 1; with --upstream tapDefaultWorkers() (processes). */
  workers?: number;
  engine?: ServeEngine;
  json?: boolean;
  quiet?: boolean;
  /** The tap: relay each connection to this target. */
  upstream?: string;
  /** The tap: binary chunks as hex dumps. */
  hexdump?: boolean;
  /** The tap: bound on connecting to the upstream. */
  connectTimeout?: number;
  /** --type: dgram and seqpacket are served by their own small server (serve-message.ts). */
  type?: SocketType;
}

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
 * or SIGINT/SIGTERM; resolves with the exit status. flags -> options ->
 * createServe (the core picks the engine and runs --workers) -> the log.
 */
export async function runServe(targetSpec: string, flags: ServeFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  if (flags.upstream === undefined) {
    if (flags.hexdump) throw new UdsError('BAD_OPTION', '--hexdump: only with --upstream (it shows the relayed traffic)');
    if (flags.connectTimeout !== undefined) throw new UdsError('BAD_OPTION', '--connect-timeout: only with --upstream (the tap connects to it)');
  }
  const upstream = flags.upstream === undefined ? undefined : parseTarget(flags.upstream);
  if (upstream) refuseSelfUpstream(target, upstream);
  // The tap listens as its upstream is (dgram, seqpacket: the message tap); --type forces it, a mismatch is refused.
  // A forked worker of the stream tap serves at once (its primary found the type): no await before its listener.
  if (upstream) {
    if (!isServeWorker(io.env)) {
      const { tapSocketType } = await import('../core/serve/tap-type.js');
      const { type } = await tapSocketType(upstream, flags.type, flags.connectTimeout ?? TAP_DEFAULTS.connectTimeout);
      if (type === 'dgram' || type === 'seqpacket') {
        const { runMessageTap } = await import('./serve-message.js');
        return runMessageTap(target, type, upstream, flags, io);
      }
    }
  } else if (flags.type === 'dgram' || flags.type === 'seqpacket') {
    const { runMessageServe } = await import('./serve-message.js');
    return runMessageServe(target, flags.type, flags, io);
  }
  // The net tap relays on node:net, one core a process: several processes by default (the same in each
  // forked worker). The epoll relay is one thread by default: see options.workers below.
  let workers = flags.workers ?? (upstream ? tapDefaultWorkers() : 1);
  const worker = isServeWorker(io.env);
  const c = await errColor();
  const stderrFd = (io.stderr as { fd?: unknown }).fd;
  // The process's own stderr is written directly, never blocking; another stream (a test's) as a stream.
  const log = new ServeLog(io.stderr, droppedLine(flags.json === true, c), io.stderr === process.stderr && typeof stderrFd === 'number' ? stderrFd : undefined);
  const options: StartServeOptions = {
    reply: flags.reply === undefined ? undefined : unescapeText(flags.reply),
    echo: flags.echo,
    keepAlive: flags.keepAlive,
    read: flags.read,
    fault: flags.fault,
    delay: flags.delay,
    perm: flags.perm,
    group: flags.group,
    count: flags.count,
    maxConns: flags.maxConns,
    maxBytes: flags.maxBytes,
    idleTimeout: flags.idleTimeout,
    backlog: flags.backlog,
    graceTimeout: flags.grace,
    engine: flags.engine,
    workers,
    ...(upstream ? { upstream, connectTimeout: flags.connectTimeout, quiet: flags.quiet === true } : {}),
    logDropped: () => {
      log.noteDropped();
      return log.droppedTotal;
    },
  };
  // On the epoll engine, the threads write the log to stderr themselves (no record crosses to this
  // thread), when stderr is this process's own and the renderers can be loaded; the tap's epoll
  // relay logs only so (chooseEngine picks it with logTo or -q).
  const renderers = !flags.quiet && io.stderr === process.stderr && typeof stderrFd === 'number' ? threadRenderers() : null;
  if (renderers) {
    const json = flags.json === true;
    const factory = upstream
      ? json
        ? { factory: 'tapJsonLines', args: [process.pid] }
        : { factory: 'tapHumanLines', args: [c.level, flags.hexdump === true] }
      : json
        ? { factory: 'jsonLines', args: [process.pid] }
        : { factory: 'humanLines', args: [c.level, flags.keepAlive === true] };
    options.logTo = { fd: stderrFd as number, module: renderers, ...factory } satisfies ThreadLogSpec;
  }
  const epoll = chooseEngine(target, options) === 'epoll';
  if (!epoll) delete options.logTo;
  // The epoll relay: one thread relays ~3x what a net tap process does; on the 2-core perf VM a second
  // thread only took cores from the upstream and its clients (0.43x of direct with 2, 0.54x with 1).
  if (epoll && upstream && flags.workers === undefined) options.workers = workers = 1;
  const say = (line: string) => log.line(line);
  /** serve's own lines wait this long at most for a log reader that does not read, at the end. */
  const FINAL_FLUSH_MS = 5_000;
  const event = (obj: Record<string, unknown>) => say(JSON.stringify(obj));

  // Signal handlers go in before the socket exists: a supervisor that sees the
  // socket and sends SIGTERM at once must get a graceful stop, not the default kill.
  const server = createServe(target, options);
  let stopping = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal: stop waiting for in-flight exchanges.
    if (++stopping > 1) return server.abort();
    if (!flags.quiet && !flags.json && !worker) say(`udsctl serve: ${sig}: finishing in-flight connections, then exiting`);
    void server.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The terminal closed: stop as for SIGTERM, not with the default kill (socket file left, requests reset).
  process.on('SIGHUP', onSignal);
  try {
    const done = new Promise<void>((resolve) => server.once('done', resolve));
    server.on('warning', (msg) => (flags.json ? event({ event: 'warning', message: msg }) : say(`${c.yellow('udsctl serve:')} ${escapeText(msg)}`)));
    if (!flags.quiet && upstream && !options.logTo) {
      const traffic = flags.json ? trafficJsonRenderer(process.pid) : trafficLineRenderer(c, { hexdump: flags.hexdump });
      const conn = flags.json ? tapConnectionJsonRenderer(process.pid) : tapConnectionLineRenderer(c);
      server.on('traffic', (entry) => log.record(traffic, entry));
      server.on('connection', (entry) => log.record(conn, entry as TapConnectionLog));
    } else if (!flags.quiet && !options.logTo) {
      const render = flags.json ? connectionJsonRenderer(process.pid) : connectionLineRenderer(c, { keepAlive: flags.keepAlive });
      server.on('connection', (entry) => log.record(render, entry));
      if (flags.keepAlive) {
        const renderRequest = flags.json ? requestJsonRenderer(process.pid) : requestLineRenderer(c);
        server.on('request', (entry) => log.record(renderRequest, entry));
      }
    }
    await server.listen();
    if (worker) {
      // The primary says where it listens; this process serves until told to stop.
      await done;
      return EXIT.OK;
    }
    const where = server.address();
    if (flags.json)
      event({ event: 'listening', target: where, replacedStale: server.replacedStale, workers, engine: server.engine, pid: process.pid, ...(upstream ? { upstream: upstream.display } : {}) });
    else {
      // Printed even with --quiet (which silences the per-connection log): scripts wait for it.
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${where} (no server was listening)`);
      const extra = [upstream ? `tap to ${escapeText(upstream.display)}, ${epoll ? 'epoll' : 'net'} engine` : '', flags.fault ? `fault: ${flags.fault}` : '', workers > 1 ? `${workers} ${epoll ? 'threads' : 'processes'}` : ''].filter(Boolean).join(', ');
      say(`${c.green('udsctl serve:')} listening on ${where}${extra ? ` (${extra})` : ''}`);
    }
    // What this thread printed comes first; then the engine's own log lines.
    if (options.logTo) await log.flush(LOG_HOLD_MS);
    server.openLog();
    if (stopping > 0) void server.close();
    await done;
    // Lines dropped because the log's reader was too slow: this thread's, and the engine's (threads, worker processes).
    log.noteDropped();
    const dropped = log.droppedTotal + server.logDropped;
    if (flags.json) event({ event: 'stopped', dropped });
    else if (dropped > 0) say(`${c.yellow('udsctl serve:')} stopped; ${droppedText(dropped).replace(' dropped,', ' dropped in all,')}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    // Bounded: a reader that never reads must not keep serve from exiting.
    if (!(await log.flush(FINAL_FLUSH_MS))) log.abandon();
  }
  return EXIT.OK;
}
