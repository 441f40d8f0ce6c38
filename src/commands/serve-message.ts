/**
 * `udsctl serve --type dgram | seqpacket`: the message-socket server
 * (core/serve/message-server.ts) and its log, apart from the stream engines.
 */
import { UdsError } from '../core/errors.js';
import { escapeText, unescapeText } from '../core/escape.js';
import { MessageServer } from '../core/serve/message-server.js';
import type { Target } from '../core/socket/target.js';
import { EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';
import { messageConnJson, messageConnLine, messageJson, messageLine } from '../render/serve-message.js';
import { messageTapPeerJson, messageTapPeerLine, messageTapTrafficJson, messageTapTrafficLines } from '../render/message-tap.js';
import { MessageTap, type MessageTapPeerLog, type MessageTapTraffic, messageTapFaultError } from '../core/serve/message-tap.js';
import type { Fault } from '../core/serve/options.js';
import type { LineWriter } from '../core/line-writer.js';
import { droppedLine, droppedText } from '../render/serve.js';
import { ServeLog } from './serve-log.js';
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
  const { log, say } = boundedLog(io, flags.json === true, c);
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
    // Through the bounded log: a reader that stalls gets lines dropped and counted, never a growing queue.
    const line = (text: string, out: LineWriter) => {
      out.text(text);
      out.end();
    };
    server.on('message', (m) => log.record(line, flags.json ? JSON.stringify(messageJson(m, pid)) : messageLine(m, c)));
    server.on('conn', (l) => log.record(line, flags.json ? JSON.stringify(messageConnJson(l, pid)) : messageConnLine(l, c)));
  }
  server.on('warning', (msg) => say(flags.json ? JSON.stringify({ event: 'warning', message: msg }) : `${c.yellow('udsctl serve:')} ${escapeText(msg)}`));
  return runToEnd(server, flags, log, say, () => {
    const where = server.address();
    if (flags.json) say(JSON.stringify({ event: 'listening', target: where, socketType: type, replacedStale: server.replacedStale, pid }));
    else {
      if (server.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${escapeText(where)} (no server was bound)`);
      say(`${c.green('udsctl serve:')} listening on ${escapeText(where)} (${type})`);
    }
  });
}

type Say = ((line: string) => void) & { drain: () => Promise<void> };

/**
 * serve's bounded log (ServeLog, as the stream serve's): the records dropped
 * and counted while the reader lags; serve's own lines kept; at the end, what
 * is left written within FINAL_FLUSH_MS, then given up (a reader that never
 * reads must not keep serve from exiting).
 */
function boundedLog(io: Io, json: boolean, c: Awaited<ReturnType<typeof errColor>>): { log: ServeLog; say: Say } {
  const stderrFd = (io.stderr as { fd?: unknown }).fd;
  const log = new ServeLog(io.stderr, droppedLine(json, c), io.stderr === process.stderr && typeof stderrFd === 'number' ? stderrFd : undefined);
  const say = Object.assign((line: string) => log.line(line), {
    drain: async () => {
      if (!(await log.flush(FINAL_FLUSH_MS))) log.abandon();
    },
  });
  return { log, say };
}

interface Runnable {
  listen(): Promise<void>;
  close(): Promise<void>;
  once(event: 'done', fn: () => void): unknown;
}

/** Listen, say so, run until done or SIGINT/SIGTERM/SIGHUP (the loop stops within a poll slice). */
async function runToEnd(server: Runnable, flags: { json?: boolean; quiet?: boolean }, log: ServeLog, say: Say, listening: () => void): Promise<number> {
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
    listening();
    await done;
    log.noteDropped();
    if (flags.json) say(JSON.stringify({ event: 'stopped', dropped: log.droppedTotal }));
    else if (log.droppedTotal > 0) say(`udsctl serve: stopped; ${droppedText(log.droppedTotal).replace(' dropped,', ' dropped in all,')}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    await say.drain();
  }
  return EXIT.OK;
}

/** The flags of serve a message tap reads. */
export interface MessageTapFlags extends MessageServeFlags {
  hexdump?: boolean;
  connectTimeout?: number;
  grace?: number;
  read?: string;
}

/** The bound on writing serve's last lines to a log reader that does not read. */
const FINAL_FLUSH_MS = 5_000;

/**
 * `udsctl serve --upstream TARGET LISTEN` when TARGET is a dgram or seqpacket
 * socket: the message tap (core/serve/message-tap.ts) and its log, written
 * through serve's bounded log (lines dropped and counted for a reader that
 * does not keep up).
 */
export async function runMessageTap(target: Target, type: 'dgram' | 'seqpacket', upstream: Target, flags: MessageTapFlags, io: Io): Promise<number> {
  const refuse = (name: string, why: string) => {
    throw new UdsError('BAD_OPTION', `${name}: ${why}`);
  };
  if (flags.reply !== undefined || flags.echo) refuse(flags.echo ? '--echo' : '--reply', "does not apply with --upstream (the tap relays the upstream's replies)");
  if (flags.keepAlive) refuse('--keep-alive', "does not apply with --upstream (the tap relays the upstream's replies)");
  if (flags.read !== undefined && flags.read !== 'once') refuse('--read', `does not apply to a ${type} tap (each message is relayed whole)`);
  if (flags.engine !== undefined && flags.engine !== 'auto') refuse('--engine', `a ${type} tap runs its own poll loop (no engine to choose)`);
  if ((flags.workers ?? 1) > 1) refuse('--workers', `a ${type} tap runs one loop`);
  const bad = messageTapFaultError(type, flags.fault);
  if (bad) throw new UdsError('BAD_OPTION', bad);
  const c = await errColor();
  const { log, say } = boundedLog(io, flags.json === true, c);
  const tap = new MessageTap(target, {
    type,
    upstream,
    connectTimeout: flags.connectTimeout,
    fault: flags.fault as Fault | undefined,
    delay: flags.delay,
    count: flags.count,
    maxConns: flags.maxConns,
    maxBytes: flags.maxBytes,
    idleTimeout: flags.idleTimeout,
    backlog: flags.backlog,
    perm: flags.perm,
    group: flags.group,
    graceTimeout: flags.grace,
  });
  const pid = process.pid;
  if (!flags.quiet) {
    const traffic = (m: MessageTapTraffic, out: LineWriter) => {
      for (const line of flags.json ? [JSON.stringify(messageTapTrafficJson(m, pid))] : messageTapTrafficLines(m, c, { hexdump: flags.hexdump })) {
        out.text(line);
        out.end();
      }
    };
    const peer = (l: MessageTapPeerLog, out: LineWriter) => {
      out.text(flags.json ? JSON.stringify(messageTapPeerJson(l, pid)) : messageTapPeerLine(l, c));
      out.end();
    };
    tap.on('traffic', (m) => log.record(traffic, m));
    tap.on('peer', (l) => log.record(peer, l));
  }
  tap.on('warning', (msg) => say(flags.json ? JSON.stringify({ event: 'warning', message: msg }) : `${c.yellow('udsctl serve:')} ${escapeText(msg)}`));
  return runToEnd(tap, flags, log, say, () => {
    const where = tap.address();
    if (flags.json) say(JSON.stringify({ event: 'listening', target: where, socketType: type, upstream: upstream.display, replacedStale: tap.replacedStale, pid, ...(flags.fault ? { fault: flags.fault } : {}) }));
    else {
      if (tap.replacedStale) say(`${c.yellow('udsctl serve:')} replaced a stale socket file at ${escapeText(where)} (no server was bound)`);
      const extra = flags.fault ? `, fault: ${flags.fault}` : '';
      say(`${c.green('udsctl serve:')} listening on ${escapeText(where)} (${type} tap to ${escapeText(upstream.display)}${extra})`);
    }
  });
}
