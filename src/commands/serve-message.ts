/**
 * `udsctl serve --type dgram | seqpacket`: the message-socket server
 * (core/serve/message-server.ts) and its log, apart from the stream engines.
 */
import { UdsError } from '../core/errors.js';
import { escapeText, unescapeText } from '../core/escape.js';
import { MessageServer } from '../core/serve/message-server.js';
import type { Target } from '../core/socket/target.js';
import { EXIT } from '../exit-codes.js';
import { type Io, writeAll } from '../io.js';
import { messageConnJson, messageConnLine, messageJson, messageLine } from '../render/serve-message.js';
import { errColor } from '../render/style.js';

/** Options of the stream engines that mean nothing on a message socket. */
const STREAM_ONLY = ['keepAlive', 'fault', 'delay', 'engine'] as const;

/** The flags of serve that a message socket's server reads (serve.ts's ServeFlags has them all). */
export interface MessageServeFlags {
  reply?: string;
  echo?: boolean;
  perm?: number;
  count?: number;
  maxConns?: number;
  maxBytes: number;
  idleTimeout: number;
  backlog: number;
  workers?: number;
  json?: boolean;
  quiet?: boolean;
  group?: string;
  /** Stream-only flags: refused here when given. */
  keepAlive?: boolean;
  fault?: string;
  engine?: string;
  delay?: number;
}

export async function runMessageServe(target: Target, type: 'dgram' | 'seqpacket', flags: MessageServeFlags, io: Io): Promise<number> {
  for (const k of STREAM_ONLY) {
    const v = flags[k];
    if (v !== undefined && v !== false && !(k === 'engine' && v === 'auto')) {
      const name = `--${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;
      throw new UdsError('BAD_OPTION', `${name} is for stream sockets; serve --type ${type} does not take it`);
    }
  }
  if ((flags.workers ?? 1) > 1) throw new UdsError('BAD_OPTION', `--workers is for stream sockets; serve --type ${type} runs one loop`);
  const c = await errColor();
  const lines: string[] = [];
  let writing: Promise<void> | null = null;
  // Lines are written in order, one write at a time; a reader that stops reading stalls only the log.
  const say = (line: string) => {
    lines.push(line);
    writing ??= (async () => {
      while (lines.length > 0) await writeAll(io.stderr, lines.splice(0).join('\n') + '\n');
      writing = null;
    })();
  };
  const server = new MessageServer(target, {
    type,
    reply: flags.reply === undefined ? undefined : unescapeText(flags.reply),
    echo: flags.echo,
    count: flags.count,
    maxBytes: flags.maxBytes,
    maxConns: flags.maxConns,
    idleTimeout: flags.idleTimeout,
    backlog: flags.backlog,
    perm: flags.perm,
    group: flags.group,
  });
  const pid = process.pid;
  if (!flags.quiet) {
    server.on('message', (m) => say(flags.json ? JSON.stringify(messageJson(m, pid)) : messageLine(m, c)));
    server.on('conn', (l) => say(flags.json ? JSON.stringify(messageConnJson(l, pid)) : messageConnLine(l, c)));
  }
  server.on('warning', (msg) => say(flags.json ? JSON.stringify({ event: 'warning', message: msg }) : `${c.yellow('udsctl serve:')} ${escapeText(msg)}`));
  const done = new Promise<void>((resolve) => server.once('done', resolve));
  let stopping = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++stopping === 1 && !flags.quiet && !flags.json) say(`udsctl serve: ${sig}: stopping`);
    void server.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    await server.listen();
    const where = server.address();
    if (flags.json) say(JSON.stringify({ event: 'listening', target: where, socketType: type, replacedStale: server.replacedStale, pid }));
    else {
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${escapeText(where)} (no server was bound)`);
      say(`${c.green('udsctl serve:')} listening on ${escapeText(where)} (${type})`);
    }
    await done;
    if (flags.json) say(JSON.stringify({ event: 'stopped' }));
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    while (writing) await writing;
  }
  return EXIT.OK;
}
