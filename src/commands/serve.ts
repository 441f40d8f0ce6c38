import { findBuilt } from '../core/built-file.js';
import { escapeText, unescapeText } from '../core/escape.js';
import type { Fault, ReadMode, ServeEngine } from '../core/serve/options.js';
import { type StartServeOptions, createServe, isServeWorker } from '../core/serve/start.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { parseTarget } from '../core/socket/target.js';
import { refuseSelfTcpUpstream, refuseSelfUpstream } from '../core/serve/self-upstream.js';
import { EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';
import { droppedLine, droppedText } from '../render/serve.js';
import { ServeLog, logRecords } from './serve-log.js';
import { errColor } from '../render/style.js';
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
  /** Not given: the chosen engine's default (the core's 'auto': the net tap, the cores up to 4; else 1). */
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
  /** --type: the listener's socket type (dgram and seqpacket: the core's message engine). */
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
  if (upstream) {
    refuseSelfUpstream(target, upstream);
    await refuseSelfTcpUpstream(target, upstream);
  }
  // The core chooses the engine from its table: the socket type (--type; a tap's is its upstream's, found when it listens), the options.
  const worker = isServeWorker(io.env);
  const c = await errColor();
  const json = flags.json === true;
  const stderrFd = (io.stderr as { fd?: unknown }).fd;
  const ownStderr = io.stderr === process.stderr && typeof stderrFd === 'number';
  // The process's own stderr is written directly, never blocking; another stream (a test's) as a stream.
  const log = new ServeLog(io.stderr, droppedLine(json, c), ownStderr ? (stderrFd as number) : undefined);
  // An engine that can write the log from its threads (epoll: no record crosses to this thread) is
  // given where and with which renderers; the core chooses the engine, and the others ignore it.
  const renderers = !flags.quiet && ownStderr ? threadRenderers() : null;
  const factory = upstream
    ? json
      ? { factory: 'tapJsonLines', args: [process.pid] }
      : { factory: 'tapHumanLines', args: [c.level, flags.hexdump === true] }
    : json
      ? { factory: 'jsonLines', args: [process.pid] }
      : { factory: 'humanLines', args: [c.level, flags.keepAlive === true] };
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
    workers: flags.workers ?? 'auto',
    socketType: flags.type,
    ...(upstream ? { upstream, connectTimeout: flags.connectTimeout, quiet: flags.quiet === true } : {}),
    ...(renderers ? { logTo: { fd: stderrFd as number, module: renderers, ...factory } } : {}),
    logDropped: () => {
      log.noteDropped();
      return log.droppedTotal;
    },
  };
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
    server.on('warning', (msg) => (json ? event({ event: 'warning', message: msg }) : say(`${c.yellow('udsctl serve:')} ${escapeText(msg)}`)));
    if (!flags.quiet) logRecords(server, log, { json, c, pid: process.pid, tap: upstream !== undefined, keepAlive: flags.keepAlive, hexdump: flags.hexdump, stream: server.ownLog === undefined });
    await server.listen();
    if (worker) {
      // The primary says where it listens; this process serves until told to stop.
      await done;
      return EXIT.OK;
    }
    const where = escapeText(server.address());
    const type = server.socketType ?? 'stream';
    const workers = server.workers ?? 1;
    const epoll = server.engine === 'epoll';
    if (json)
      event({
        event: 'listening',
        target: server.address(),
        replacedStale: server.replacedStale,
        workers,
        engine: server.engine,
        pid: process.pid,
        ...(type !== 'stream' ? { socketType: type } : {}),
        ...(upstream ? { upstream: upstream.display } : {}),
        ...(flags.fault ? { fault: flags.fault } : {}),
      });
    else {
      // Printed even with --quiet (which silences the per-connection log): scripts wait for it.
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${where} (no server was ${type === 'stream' ? 'listening' : 'bound'})`);
      const kind = type === 'stream' ? '' : `${type} `;
      const extra = [
        upstream ? `${kind}tap to ${escapeText(upstream.display)}${type === 'stream' ? `, ${server.engine} engine` : ''}` : type !== 'stream' ? type : '',
        flags.fault ? `fault: ${flags.fault}` : '',
        workers > 1 ? `${workers} ${epoll ? 'threads' : 'processes'}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      say(`${c.green('udsctl serve:')} listening on ${where}${extra ? ` (${extra})` : ''}`);
    }
    // What this thread printed comes first; then the engine's own log lines.
    if (server.ownLog) await log.flush(server.ownLog.holdMs);
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
