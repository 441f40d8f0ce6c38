import { Transform, Writable } from 'node:stream';
import { isatty } from 'node:tty';
import { PooledFdReader } from '../core/fd-reader.js';
import { type EndRule } from '../core/framing/end-rule.js';
import { UdsError } from '../core/errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from '../core/defaults.js';
import { escapeText, parseHex, parseMessage } from '../core/escape.js';
import { DEFAULT_MAX_REPLY, type ExchangeRecord, type PayloadSource, exchange } from '../core/exchange.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { parseTarget } from '../core/socket/target.js';
import { EXIT, exitStatusFor } from '../exit-codes.js';
import { type Io, drained, writeAll } from '../io.js';
import { exchangeTimeline, exchangeToJson } from '../render/exchange.js';
import { serviceReplyEnd } from './send-service.js';
import { errColor } from '../render/style.js';
import { HttpBodyDecoder } from '../core/framing/http-message.js';
import { RespRenderer } from '../core/framing/resp-render.js';
import { PROTOCOL_STATUS, decodeFastcgiReply } from '../core/framing/fastcgi.js';
import { type ProtocolFlags, type ProtocolRequest, protocolRequest } from '../protocol-options.js';

export interface SendFlags extends ProtocolFlags {
  hex?: boolean;
  /** Escapes in stdin too (in a message argument they are understood anyway); kept from when they were not. */
  escapes?: boolean;
  /** Send the message argument as written: no escapes. */
  literal?: boolean;
  newline?: boolean;
  until: EndRule;
  timeout: number;
  connectTimeout: number;
  halfClose?: boolean;
  verbose?: boolean;
  json?: boolean;
  /** Bytes of reply kept for --json and -v (the streamed reply on stdout is not limited). */
  maxReply?: number;
  // The interactive session (send-session.ts).
  interactive?: boolean;
  crlf?: boolean;
  /** --type: the Unix socket type (default: found out). */
  type?: SocketType;
  /** --until was given (not its default): on a message socket it replaces "one message", and a dgram send waits for a reply. */
  untilGiven?: boolean;
}

export const SEND_DEFAULTS = { timeout: DEFAULT_TIMEOUT_MS, connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS, until: 'eof', maxReply: DEFAULT_MAX_REPLY } as const;

/** With --hex or --escapes a message from stdin is read whole to be decoded: at most this much of it. */
export const MAX_DECODED_STDIN = 16 * 1024 * 1024;

/**
 * After a complete reply on a connection the server kept open, both readings: a persistent
 * protocol (HTTP/1.1 keep-alive, Redis) is right to stay open and the client must frame the
 * reply; a one-shot server must close.
 */
export const KEPT_OPEN_ADVICE =
  '  clients that read until end-of-file block forever here. If the protocol is persistent, end the reply with --until line / idle: / len: or a protocol flag;\n' +
  '  if it should close, the server must close (Go: defer conn.Close())';

/** Silence after a message with no newline at its end: the commonest reason, said (nc leaves you guessing). */
export const NO_NEWLINE_ADVICE =
  '  the message went without a newline at its end, and a line-based server (Redis inline commands, memcached, SMTP...) waits for one:\n' +
  "  add --newline (or --escapes 'PING\\r\\n'), or -N if the server reads until the client's end";

/** How long stdout may take the last of its output after the deadline (before it, the deadline's rest). */
const STDOUT_GRACE_MS = 100;

/**
 * `udsctl send`: one exchange; the reply bytes to stdout as they arrive
 * (like nc: memory stays flat whatever the server sends), diagnostics to stderr.
 */
export async function runSend(targetSpec: string, message: string | undefined, flags: SendFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  if (io.stdoutClosed) {
    await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} standard output is closed (>&-): the reply would be lost; to discard it, >/dev/null\n`);
    return EXIT.INTERNAL;
  }
  const protoFlag = flags.http !== undefined ? 'http' : flags.resp !== undefined ? 'resp' : flags.fastcgi !== undefined ? 'fastcgi' : null;
  if (flags.interactive && protoFlag) throw new UdsError('BAD_OPTION', `--interactive sends typed lines as they are: it cannot be combined with --${protoFlag}`);
  // --fastcgi: the message argument ("-": stdin, read whole) is the request body (STDIN), unless --data.
  // Only when given: a health check run with an open stdin (cron, CI) must not wait on it.
  const body = flags.fastcgi !== undefined && flags.data === undefined && message !== undefined ? await readMessage(message, flags, io) : undefined;
  // A conversation: --interactive, or a terminal and no message (or "-": the terminal) (send-session.ts).
  // A protocol flag makes one request: on a terminal with no message too.
  const proto = protocolRequest(flags, { stdin: body });
  if (flags.interactive || ((message === undefined || message === '-') && stdinIsTTY(io) && !proto && !oneMessageFlag(flags))) {
    const { checkSessionFlags, runSendSession } = await import('./send-session.js');
    checkSessionFlags(message, flags);
    return runSendSession(targetSpec, flags, io);
  }
  const { payload, stream, cleanup } = proto ? { payload: proto.payload, stream: undefined, cleanup: () => {} } : await messageSource(message, flags, io);
  const stdout = io.stdout as NodeJS.WritableStream & { writableLength?: number };

  // --http streams the body to stdout as it comes, as curl does (any size, flat memory).
  const http = proto?.protocol === 'http' && !flags.json ? httpToStdout(proto.until.kind === 'http' && proto.until.head, Boolean(flags.include), stdout) : undefined;
  // A recognised service ends its replies by its protocol (src/core/service).
  const service = proto ? {} : await serviceReplyEnd(target, flags, io);
  let record: ExchangeRecord;
  try {
    record = await exchange(target, {
      payload,
      payloadStream: stream,
      // On a message socket an --until not given means "one message".
      until: proto?.until ?? service.until ?? flags.until,
      lateUntil: service.lateUntil,
      messageUntil: flags.untilGiven === false && !proto && !service.until ? 'message' : undefined,
      socketType: flags.type,
      wantReply: Boolean(flags.untilGiven || flags.json || proto),
      timeout: flags.timeout,
      connectTimeout: flags.connectTimeout,
      halfClose: flags.halfClose,
      maxReply: flags.maxReply ?? SEND_DEFAULTS.maxReply,
      // RESP values and a FastCGI reply are decoded whole before they are shown: kept (--max-reply), not streamed.
      replyTo: flags.json ? undefined : (http?.sink ?? (proto ? undefined : stdout)),
    });
  } finally {
    cleanup();
  }

  let status = record.ok ? EXIT.OK : exitStatusFor(record.error?.code);
  // The deadline holds against a reader that stopped reading too, and a reply slow to show: what is
  // still to show or pending gets the rest of --timeout (at least 100ms), then send says what was not delivered.
  const t = record.timings;
  const rest = t.connectedUs === undefined ? 0 : flags.timeout - (t.totalUs - t.connectedUs) / 1000;
  if (flags.json) {
    stdout.write(JSON.stringify(exchangeToJson(record)) + '\n');
    // The record holds what --max-reply kept: a longer reply is cut there, and the exit status says so too.
    if (record.truncated) {
      await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} the reply was ${record.replyBytes} bytes, more than --max-reply (${record.reply.length}): the record keeps the first ${record.reply.length} ("truncated": true); raise --max-reply\n`);
      if (status === EXIT.OK) status = EXIT.RESOURCES;
    }
  }
  else if (http) {
    if (record.frame && record.frame.status >= 400) {
      await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} ${escapeText(http.decoder.statusLine)}\n`);
      if (status === EXIT.OK) status = EXIT.MISMATCH;
    }
  } else if (proto && record.reply.length > 0) {
    const shown = await showProtocolReply(proto, record, flags, io, Date.now() + Math.max(STDOUT_GRACE_MS, rest));
    if (status === EXIT.OK) status = shown;
  }
  await http?.done(Math.max(STDOUT_GRACE_MS, rest));
  if (!(await drained(stdout, Math.max(STDOUT_GRACE_MS, rest)))) {
    const left = stdout.writableLength ?? 0;
    io.outputStuck = true;
    await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} standard output took no more within --timeout; ${left} bytes ${flags.json ? 'of the JSON record' : 'of the reply'} were not written\n`);
    if (status === EXIT.OK) status = EXIT.INTERNAL;
  }
  if (flags.verbose) await writeAll(io.stderr, exchangeTimeline(record, await errColor()).join('\n') + '\n');
  // The reader of stdout went away (`send ... | head -c 10`): stop quietly, like nc on SIGPIPE.
  const readerGone = record.error?.code === 'IO_ERROR' && (record.error.cause as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
  if (record.error && !flags.json && !readerGone) {
    const hint =
      record.error.code === 'NEVER_CLOSED'
        ? `\n${KEPT_OPEN_ADVICE}`
        : record.error.code === 'REPLY_TIMEOUT' && record.bytesReceived === 0 && !proto && !flags.halfClose && payload.length > 0 && payload[payload.length - 1] !== 0x0a
          ? `\n${NO_NEWLINE_ADVICE}`
          : '';
    await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} ${escapeText(record.error.message)}${hint}\n`);
  }
  return status;
}

/**
 * A framed protocol reply on stdout: the HTTP body (with -i its head first, as
 * received), or a RESP reply as redis-cli shows it (escaped: a terminal is its
 * reader). An error status (HTTP 4xx/5xx, RESP -ERR) is said on stderr, exit 10.
 */
async function showProtocolReply(proto: ProtocolRequest, r: ExchangeRecord, flags: SendFlags, io: Io, untilMs: number): Promise<number> {
  const c = await errColor();
  if (proto.protocol === 'fastcgi') return showFastcgiReply(r, flags, io);
  if (r.truncated) return cutReply(r, io);
  // redis-cli's choice: its layout on a terminal, the values themselves to a pipe (INFO's text, GET's bytes).
  const display = (flags.raw ?? !io.stdout.isTTY) ? 'raw' : 'human';
  const view = new RespRenderer(r.reply, { display, shown: (l) => escapeText(l) });
  const written = await writePieces(() => view.next(), io.stdout, untilMs);
  if (written !== null) {
    // A reply nested deep is shown at a few hundred times its size: bounded by --timeout like the exchange.
    await writeAll(io.stderr, `${c.red('udsctl send:')} showing the RESP reply took longer than --timeout: cut after ${written} bytes (--json or --raw show it faster)\n`);
    return EXIT.REPLY_TIMEOUT;
  }
  if (view.stopped !== null) {
    await writeAll(io.stderr, `${c.red('udsctl send:')} the reply could not be read to its end: ${escapeText(view.stopped)}\n`);
    return EXIT.MISMATCH;
  }
  if (r.frame?.failed) {
    await writeAll(io.stderr, `${c.red('udsctl send:')} the server answered with an error reply\n`);
    return EXIT.MISMATCH;
  }
  return EXIT.OK;
}

/**
 * Write pieces from `next` (null: no more) while --timeout lasts, waiting for
 * stdout to take each when it is slow; null when all were written, else the
 * bytes written before the time ran out.
 */
async function writePieces(next: () => Buffer | null, out: NodeJS.WritableStream, untilMs: number): Promise<number | null> {
  let written = 0;
  for (;;) {
    if (Date.now() >= untilMs) return written;
    const piece = next();
    if (piece === null) return null;
    written += piece.length;
    if (!out.write(piece)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), Math.max(0, untilMs - Date.now()));
        function done(ok: boolean) {
          clearTimeout(timer);
          out.removeListener('drain', onDrain);
          resolve(ok);
        }
        const onDrain = () => done(true);
        out.once('drain', onDrain);
      });
      if (!drained) return written;
    }
  }
}

/**
 * A FastCGI reply: the CGI body on stdout (with -i the CGI head first), the
 * STDERR records on stderr (escaped), an error Status: (4xx/5xx) or a refused
 * request (END_REQUEST OVERLOADED...) said on stderr, exit 10.
 */
async function showFastcgiReply(r: ExchangeRecord, flags: SendFlags, io: Io): Promise<number> {
  const c = await errColor();
  if (r.truncated) return cutReply(r, io);
  const v = decodeFastcgiReply(r.reply);
  if (flags.include) io.stdout.write(v.head);
  io.stdout.write(v.body);
  if (v.stderr.length > 0) {
    await writeAll(io.stderr, `${c.yellow('udsctl send:')} STDERR from the application (${v.stderr.length} bytes): ${escapeText(v.stderr, { quote: true, max: 400 })}\n`);
  }
  if (v.end && v.end.protocolStatus !== 0) {
    await writeAll(io.stderr, `${c.red('udsctl send:')} the server refused the request: ${PROTOCOL_STATUS[v.end.protocolStatus] ?? `protocol status ${v.end.protocolStatus}`}\n`);
    return EXIT.MISMATCH;
  }
  if (v.status >= 400) {
    await writeAll(io.stderr, `${c.red('udsctl send:')} Status: ${escapeText(v.statusText)}\n`);
    return EXIT.MISMATCH;
  }
  return EXIT.OK;
}

/**
 * A reply decoded whole (RESP, FastCGI) that was longer than --max-reply: it
 * is not shown cut as if it were whole. Said on stderr, exit 12 (a limit).
 */
async function cutReply(r: ExchangeRecord, io: Io): Promise<number> {
  const c = await errColor();
  await writeAll(io.stderr, `${c.red('udsctl send:')} the reply was ${r.replyBytes} bytes, more than --max-reply (${r.reply.length}): not shown; raise --max-reply\n`);
  return EXIT.RESOURCES;
}

/**
 * The sink of send --http: the reply's bytes in, the body (with -i the head
 * first) out to stdout as they come. Its write waits for stdout's room, so the
 * exchange's backpressure reaches the socket. stdout's error (EPIPE) is the
 * sink's, so the exchange stops as it does for a plain reply.
 */
function httpToStdout(head: boolean, include: boolean, out: NodeJS.WritableStream & { writableNeedDrain?: boolean }) {
  const decoder = new HttpBodyDecoder(head, (h) => include && out.write(h), (piece) => out.write(piece));
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, cb) {
      decoder.push(chunk);
      if (out.writableNeedDrain) out.once('drain', () => cb());
      else cb();
    },
  });
  const onError = (err: Error) => sink.destroy(err);
  out.on('error', onError);
  /** The body's last bytes to stdout (bounded: a reader that stopped is then said by the caller). */
  const done = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(finish, ms);
      function finish() {
        clearTimeout(timer);
        out.removeListener('error', onError);
        resolve();
      }
      if (sink.destroyed) return finish();
      sink.end(finish);
    });
  return { decoder, sink, done };
}

interface MessageSource {
  payload: Buffer;
  /** stdin, streamed to the socket as it comes (no --hex/--escapes). */
  stream?: PayloadSource;
  /** Let go of stdin, so a pipe that never ends cannot keep us running. */
  cleanup: () => void;
}

/** A flag that only makes sense for one message: with it, a terminal and no message is not a session. */
const oneMessageFlag = (f: SendFlags): boolean => Boolean(f.hex || f.escapes || f.json || f.newline || f.halfClose);

/** Is stdin a terminal? Asked of the fd when there is one, so process.stdin is not built for nothing. */
const stdinIsTTY = (io: Io): boolean => (io.stdinFd !== undefined ? isatty(io.stdinFd) : Boolean(io.stdin.isTTY));

const fromStdin = (message: string | undefined, io: Io): boolean => message === '-' || (message === undefined && !stdinIsTTY(io));

async function messageSource(message: string | undefined, flags: SendFlags, io: Io): Promise<MessageSource> {
  const nl = flags.newline ? Buffer.from('\n') : Buffer.alloc(0);
  if (fromStdin(message, io) && !flags.hex && !flags.escapes) {
    // The fd read through reused buffers (memory flat at any speed); else the stream.
    const pooled = io.stdinFd !== undefined ? PooledFdReader.open(io.stdinFd) : undefined;
    if (pooled) return { payload: Buffer.alloc(0), stream: pooled.appendAtEnd(nl), cleanup: () => pooled.unref() };
    const stdin = io.stdin;
    const stream = nl.length > 0 ? stdin.pipe(appendAtEnd(nl)) : stdin;
    const cleanup = () => {
      if (stream !== stdin) stdin.unpipe(stream as NodeJS.WritableStream);
      stdin.pause();
      (stdin as { unref?: () => void }).unref?.();
    };
    return { payload: Buffer.alloc(0), stream, cleanup };
  }
  const payload = await readMessage(message, flags, io);
  return { payload: nl.length > 0 ? Buffer.concat([payload, nl]) : payload, cleanup: () => {} };
}

/** A pass-through that adds `tail` after the last byte (--newline on a streamed message). */
function appendAtEnd(tail: Buffer): Transform {
  return new Transform({
    transform(chunk, _enc, cb) {
      cb(null, chunk);
    },
    flush(cb) {
      cb(null, tail);
    },
  });
}

/**
 * The message: an argument's escapes (\n \r \t \0 \\ \xHH) are understood
 * unless --literal, as probe --send and bench --payload understand them;
 * stdin's bytes go as they are (a file is sent as it is), unless --escapes.
 */
async function readMessage(message: string | undefined, flags: SendFlags, io: Io): Promise<Buffer> {
  if (flags.literal && (flags.escapes || flags.hex)) {
    throw new UdsError('BAD_OPTION', `--literal and ${flags.hex ? '--hex' : '--escapes'} contradict each other`);
  }
  if (message === '-' || (message === undefined && !io.stdin.isTTY)) {
    const text = await readStdin(io.stdin, flags.timeout, message === '-', MAX_DECODED_STDIN);
    if (flags.hex) return parseHex(text.toString('utf8'));
    return flags.escapes ? parseMessage(text.toString('utf8')) : text;
  }
  if (flags.hex) return parseHex(message ?? '');
  return parseMessage(message ?? '', flags.literal);
}

/**
 * Read stdin to its end (to decode it whole). Bounded in size, and in time: if no bytes come for `idleMs`, give up, so a
 * CI job whose stdin is an open pipe that never ends cannot hang us.
 */
function readStdin(stdin: NodeJS.ReadableStream, idleMs: number, explicit: boolean, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        cleanup();
        if (!explicit && chunks.length === 0) return resolve(Buffer.alloc(0));
        reject(
          new UdsError(
            'BAD_OPTION',
            `stdin sent nothing for ${idleMs}ms and did not end; pass the message as an argument, or close stdin`,
          ),
        );
      }, idleMs);
    };
    const onData = (c: Buffer | string) => {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
      size += b.length;
      if (size > max) {
        cleanup();
        return reject(
          new UdsError('BAD_OPTION', `with --hex or --escapes the message is read whole and may be at most ${max} bytes; without them stdin is streamed`),
        );
      }
      chunks.push(b);
      arm();
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onError);
      stdin.pause();
      (stdin as { unref?: () => void }).unref?.();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    arm();
  });
}
