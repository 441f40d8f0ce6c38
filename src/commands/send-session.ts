/**
 * `udsctl send` as a conversation (`--interactive`, or a terminal and no
 * message): stdin to the socket as it comes, the reply to stdout as it comes.
 * On a terminal the reply is rendered (escaped, timed in a dim margin) and
 * what is typed is read for the whole session, then whatever is left unread is
 * discarded, so a typed line never runs as a shell command after we exit.
 * Elsewhere the bytes go through as they are, both ways at once (nc).
 */
import { isatty } from 'node:tty';
import type { ChalkInstance } from 'chalk';
import { PooledFdReader } from '../core/fd-reader.js';
import { UdsError } from '../core/errors.js';
import { escapeText } from '../core/escape.js';
import type { PayloadSource } from '../core/exchange-record.js';
import { CopyPool, recyclesBuffers } from '../core/exchange-sink.js';
import { type ReplyTiming, type SessionRecord, startSession } from '../core/session.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { parseTarget } from '../core/socket/target.js';
import { discardTypedInput } from '../core/terminal.js';
import { EXIT, exitStatusFor } from '../exit-codes.js';
import { type Io, drained, writeAll } from '../io.js';
import { ReplyView, sessionStatusLine, sessionSummary } from '../render/session.js';
import { errColor } from '../render/style.js';

export interface SessionFlags {
  crlf?: boolean;
  timeout: number;
  connectTimeout: number;
  verbose?: boolean;
  /** --type: the Unix socket type (default: found out). */
  type?: SocketType;
}

/** A line the peer has not ended is shown after this long without more of it. */
const HOLD_LINE_MS = 100;

/** Colour for stdout (the margin), decided once as errColor decides it for stderr. */
async function outColor(io: Io): Promise<ChalkInstance> {
  const { Chalk, default: chalk } = await import('chalk');
  return io.env.NO_COLOR || !io.stdout.isTTY ? new Chalk({ level: 0 }) : chalk;
}

export async function runSendSession(targetSpec: string, flags: SessionFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  const stdinFd = io.stdinFd;
  const onTerminal = stdinFd !== undefined ? isatty(stdinFd) : Boolean(io.stdin.isTTY);
  const rendered = Boolean(io.stdout.isTTY);
  const err = await errColor();
  const stdout = io.stdout;
  // Status lines for someone watching (a terminal on stdin or stderr) or asking (-v); a script gets errors only.
  const showStatus = onTerminal || Boolean(io.stderr.isTTY) || Boolean(flags.verbose);
  const status = (line: string | undefined) => {
    if (line !== undefined && showStatus) io.stderr.write(`${line}\n`);
  };

  // stdin: a terminal's stream (line mode: the kernel echoes and edits the line; Ctrl-D ends it), or
  // the fd through reused buffers (a pipe or file at any speed, memory flat), or the stream.
  const pooled = !onTerminal && stdinFd !== undefined ? PooledFdReader.open(stdinFd) : undefined;
  const input: PayloadSource = pooled ?? io.stdin;
  const releaseStdin = () => {
    if (pooled) return pooled.unref();
    io.stdin.pause();
    (io.stdin as { unref?: () => void }).unref?.();
  };
  // Typed but unread input is discarded on every way out, at exit too (what is typed while we end).
  const discard = () => {
    if (onTerminal && stdinFd !== undefined) discardTypedInput(stdinFd);
  };
  if (onTerminal) process.once('exit', discard);

  const ac = new AbortController();
  let why: 'signal' | 'output-gone' | undefined;
  const onSignal = () => {
    why ??= 'signal';
    ac.abort();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  const onStdoutError = () => {
    why ??= 'output-gone';
    ac.abort();
  };
  stdout.on('error', onStdoutError);

  const view = rendered ? new ReplyView(await outColor(io), { crlf: flags.crlf }) : undefined;
  const pool = new CopyPool(recyclesBuffers(stdout));
  let holdTimer: NodeJS.Timeout | undefined;
  const flushHeld = () => {
    clearTimeout(holdTimer);
    holdTimer = undefined;
    const text = view?.flush();
    if (text) stdout.write(text);
  };

  // seqpacket, dgram: each message is one block on a terminal (its boundaries seen); elsewhere its bytes as they are.
  let messages = false;
  const onData = (chunk: Buffer, timing: ReplyTiming): boolean => {
    if (!view) return stdout.write(pool.copy(chunk), pool.written);
    if (messages) return stdout.write(view.message(chunk, timing));
    const text = view.chunk(chunk, timing);
    clearTimeout(holdTimer);
    if (view.holding) holdTimer = setTimeout(flushHeld, HOLD_LINE_MS);
    return text ? stdout.write(text) : true;
  };

  let record: SessionRecord;
  try {
    const handle = startSession(target, {
      connectTimeout: flags.connectTimeout,
      timeout: flags.timeout,
      crlf: flags.crlf,
      socketType: flags.type,
      input,
      signal: ac.signal,
      onData: (chunk, timing) => {
        const more = onData(chunk, timing);
        if (!more) stdout.once('drain', handle.outputDrained);
        return more;
      },
      onEvent: (event) => {
        // A reset ends the session with its error line (and the bytes it came after): said once, there.
        if (event.type === 'reset') return flushHeld();
        if (event.type === 'connected') messages = event.socketType !== 'stream';
        else flushHeld();
        status(sessionStatusLine(event, err, onTerminal));
      },
    });
    record = await handle.done;
  } finally {
    flushHeld();
    for (const s of signals) process.removeListener(s, onSignal);
    stdout.removeListener('error', onStdoutError);
    releaseStdin();
    discard();
  }

  if (why === 'output-gone') return EXIT.INTERNAL; // the reader of stdout went away: stop quietly, like nc on SIGPIPE
  // What stdout has not taken yet gets --timeout; a reader that stopped reading must not keep us alive.
  if (!(await drained(stdout as NodeJS.WritableStream & { writableLength?: number }, flags.timeout))) {
    io.outputStuck = true;
    if (!record.error) {
      await writeAll(io.stderr, `${err.red('udsctl send:')} standard output took no more within --timeout; the end of the reply was not written\n`);
      return EXIT.INTERNAL;
    }
  }
  if (record.end === 'interrupted') {
    if (onTerminal) io.stderr.write('\n'); // after the ^C the terminal echoed
    status(record.timings.connectedUs !== undefined ? sessionSummary(record, err) : undefined);
    return EXIT.INTERRUPTED;
  }
  if (record.error) {
    await writeAll(io.stderr, `${err.red('udsctl send:')} ${escapeText(record.error.message)}\n`);
    return exitStatusFor(record.error.code);
  }
  status(sessionSummary(record, err));
  return EXIT.OK;
}


/** Flags a session cannot honour: a clear usage error rather than a silent difference. */
export function checkSessionFlags(message: string | undefined, flags: { hex?: boolean; escapes?: boolean; json?: boolean; newline?: boolean; halfClose?: boolean }): void {
  if (message !== undefined && message !== '-') {
    throw new UdsError('BAD_OPTION', '--interactive sends what stdin gives, as it comes: drop the message argument (or pipe it in)');
  }
  const bad = (['hex', 'escapes', 'json', 'newline', 'halfClose'] as const).find((f) => flags[f]);
  if (bad) {
    const name = { hex: '--hex', escapes: '--escapes', json: '--json', newline: '--newline', halfClose: '--half-close' }[bad];
    throw new UdsError('BAD_OPTION', `${name} applies to one message, not to a session (--interactive, or a terminal and no message)`);
  }
}
