import { type EndRule } from '../core/end-rule.js';
import { UdsError } from '../core/errors.js';
import { escapeText, parseHex, parseMessage } from '../core/escape.js';
import { exchange } from '../core/exchange.js';
import { parseTarget } from '../core/target.js';
import { EXIT, exitStatusFor } from '../exit-codes.js';
import { type Io, writeAll } from '../io.js';
import { exchangeTimeline, exchangeToJson } from '../render/exchange.js';
import { errColor } from '../render/style.js';

export interface SendFlags {
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
}

export const SEND_DEFAULTS = { timeout: 5_000, connectTimeout: 5_000, until: 'eof' } as const;

/** `udsctl send`: one exchange; the reply bytes to stdout, diagnostics to stderr. */
export async function runSend(targetSpec: string, message: string | undefined, flags: SendFlags, io: Io): Promise<number> {
  const target = parseTarget(targetSpec);
  let payload = await readMessage(message, flags, io);
  if (flags.newline) payload = Buffer.concat([payload, Buffer.from('\n')]);

  const record = await exchange(target, {
    payload,
    until: flags.until,
    timeout: flags.timeout,
    connectTimeout: flags.connectTimeout,
    halfClose: flags.halfClose,
  });

  if (flags.json) {
    await writeAll(io.stdout, JSON.stringify(exchangeToJson(record)) + '\n');
  } else {
    await writeAll(io.stdout, record.reply);
  }
  if (flags.verbose) await writeAll(io.stderr, exchangeTimeline(record, await errColor()).join('\n') + '\n');
  if (record.error && !flags.json) {
    const hint =
      record.error.code === 'NEVER_CLOSED'
        ? '\n  clients that read until end-of-file block forever here; the server must close after replying (Go: defer conn.Close())'
        : '';
    await writeAll(io.stderr, `${(await errColor()).red('udsctl send:')} ${escapeText(record.error.message)}${hint}\n`);
  }
  return record.ok ? EXIT.OK : exitStatusFor(record.error?.code);
}

/**
 * The message: an argument's escapes (\n \r \t \0 \\ \xHH) are understood
 * unless --literal, as probe --send and bench --payload understand them;
 * stdin's bytes go as they are (a file is sent as it is), unless -e.
 */
async function readMessage(message: string | undefined, flags: SendFlags, io: Io): Promise<Buffer> {
  if (flags.literal && (flags.escapes || flags.hex)) {
    throw new UdsError('BAD_OPTION', `--literal and ${flags.hex ? '--hex' : '--escapes'} contradict each other`);
  }
  if (message === '-' || (message === undefined && !io.stdin.isTTY)) {
    const text = await readStdin(io.stdin, flags.timeout, message === '-');
    if (flags.hex) return parseHex(text.toString('utf8'));
    return flags.escapes ? parseMessage(text.toString('utf8')) : text;
  }
  if (flags.hex) return parseHex(message ?? '');
  return parseMessage(message ?? '', flags.literal);
}

/**
 * Read stdin to its end. Bounded: if no bytes come for `idleMs`, give up, so a
 * CI job whose stdin is an open pipe that never ends cannot hang us.
 */
function readStdin(stdin: NodeJS.ReadableStream, idleMs: number, explicit: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
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
      chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
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
