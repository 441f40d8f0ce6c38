import { unescapeText } from '../core/escape.js';
import { type Fault, type ReadMode, type ServeOptions, UdsServer } from '../core/server.js';
import { parseTarget } from '../core/target.js';
import { EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';
import { connectionLine } from '../render/serve.js';
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
  json?: boolean;
  quiet?: boolean;
}

/**
 * `udsctl serve`: run the reference server until --count connections are done
 * or SIGINT/SIGTERM; resolves with the exit status.
 */
export async function runServe(targetSpec: string, flags: ServeFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  const options: ServeOptions = {
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
  };
  const c = errColor;
  const say = (line: string) => void io.stderr.write(line + '\n');
  const event = (obj: Record<string, unknown>) => say(JSON.stringify(obj));

  // Signal handlers go in before the socket exists: a supervisor that sees the
  // socket and sends SIGTERM at once must get a graceful stop, not the default kill.
  const server = new UdsServer(target, options);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal: stop waiting for in-flight exchanges.
    if (++signals > 1) return server.abort();
    if (!flags.quiet && !flags.json) say(`udsctl serve: ${sig}: finishing in-flight connections, then exiting`);
    void server.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const done = new Promise<void>((resolve) => server.once('done', resolve));
    server.on('warning', (msg) => (flags.json ? event({ event: 'warning', message: msg }) : say(`${c.yellow('udsctl serve:')} ${msg}`)));
    if (!flags.quiet) {
      server.on('connection', (log) => (flags.json ? event({ event: 'connection', ...log }) : say(connectionLine(log, c))));
    }
    await server.listen();
    const where = server.address();
    if (flags.json) event({ event: 'listening', target: where, replacedStale: server.replacedStale, pid: process.pid });
    else if (!flags.quiet) {
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${where} (no server was listening)`);
      say(`${c.green('udsctl serve:')} listening on ${where}${flags.fault ? ` (fault: ${flags.fault})` : ''}`);
    }
    if (signals > 0) void server.close();
    await done;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (flags.json) event({ event: 'stopped' });
  return EXIT.OK;
}
