import { fstatSync, readFileSync } from 'node:fs';
import { decodeKeepingBytes } from './core/escape.js';

/**
 * The process's arguments with their exact bytes. Node decodes argv as UTF-8
 * and turns each byte that is not into U+FFFD, so a message or a path given as
 * `$(printf 'A\xff')` would change; Linux keeps the bytes in
 * /proc/self/cmdline. An argument that is not UTF-8 is replaced by its bytes
 * decoded with decodeKeepingBytes (each such byte a stand-in U+DC80..U+DCFF
 * that keptBytes() and target paths turn back into the byte); any other
 * argument, and every argument where cmdline cannot be read or does not
 * match, stays as Node gave it.
 */
export function exactArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  if (process.platform !== 'linux' || !argv.slice(2).some((a) => a.includes('\ufffd'))) return out;
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return out;
  }
  const parts: Buffer[] = [];
  for (let at = 0; at < raw.length; ) {
    let end = raw.indexOf(0, at);
    if (end < 0) end = raw.length;
    parts.push(raw.subarray(at, end));
    at = end + 1;
  }
  // Our arguments are cmdline's last ones (before them: node, its options, the script).
  const first = parts.length - (argv.length - 2);
  if (first < 0) return out;
  for (let i = 2; i < argv.length; i++) {
    const bytes = parts[first + i - 2];
    if (argv[i].includes('\ufffd') && bytes.toString('utf8') === argv[i]) out[i] = decodeKeepingBytes(bytes);
  }
  return out;
}

/** The streams a command talks to; tests may pass their own. */
export interface Io {
  /** `columns`: a terminal's width (the renderers fit it; 80 when not a terminal). */
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /**
   * The fd behind `stdin` (0 for the process's): a command may read it itself
   * (send streams it through reused buffers) without building process.stdin.
   */
  stdinFd?: number;
  /**
   * Set by a command whose stdout never took its last write (a reader that
   * stopped reading): the pending write would keep the process alive, so the
   * CLI exits without waiting for it.
   */
  outputStuck?: boolean;
  /**
   * stdout was closed by our caller (`>&-`): Node has put /dev/null in its
   * place, which cannot be told from a /dev/null a parent handed over; the
   * launcher (bin/udsctl.cjs, read by sh first) saw the closed fd and said so.
   * Run by node directly (`node bin/udsctl.cjs`), no launcher said anything:
   * then a read-write /dev/null (what Node reopens a closed fd 1 as) counts
   * as closed, and a write-only one (a shell's `>/dev/null`) as discarding.
   */
  stdoutClosed?: boolean;
}

/** The process's streams. stdin is a getter: touching process.stdin builds a stream (a cost every start would pay). */
export const processIo = (): Io => ({
  stdout: process.stdout,
  stderr: process.stderr,
  get stdin() {
    return process.stdin;
  },
  env: process.env,
  stdinFd: 0,
  get stdoutClosed() {
    return stdoutWasClosed();
  },
});

/**
 * Once per process: the launcher's word ("1" closed, "0" open), taken out of
 * the environment so that nothing we start inherits it; without it (node ran
 * bin/udsctl.cjs itself), whether fd 1 is /dev/null opened read-write.
 */
let closedStdout: boolean | undefined;
function stdoutWasClosed(): boolean {
  if (closedStdout === undefined) {
    const word = process.env.UDSCTL_STDOUT_CLOSED;
    delete process.env.UDSCTL_STDOUT_CLOSED;
    closedStdout = word === '1' || (word !== '0' && readWriteDevNull(1));
  }
  return closedStdout;
}

/** Whether `fd` is /dev/null (char device 1:3) opened read-write (Linux: /proc/self/fdinfo). */
function readWriteDevNull(fd: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice() || st.rdev !== makedev(1, 3)) return false;
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return flags !== null && (parseInt(flags[1], 8) & 3) === 2; // O_ACCMODE == O_RDWR
  } catch {
    return false;
  }
}

/** glibc's dev_t of a major and minor number. */
const makedev = (major: number, minor: number) => ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);

/** Write and wait until the stream took it (so a following exit loses nothing); resolves with the write's error, if any. */
export function writeAll(stream: NodeJS.WritableStream, data: string | Buffer): Promise<Error | null | undefined> {
  return new Promise((resolve) => {
    if (data.length === 0) return resolve(undefined);
    stream.write(data, (err) => resolve(err));
  });
}

/** Columns a renderer may fill on stdout: the terminal's width, or 80 when stdout is not a terminal. */
export function stdoutColumns(io: Io): number {
  const cols = io.stdout.isTTY ? io.stdout.columns : undefined;
  return typeof cols === 'number' && cols > 0 ? cols : 80;
}

/**
 * Columns for a note on stderr: a terminal's width, or Infinity when stderr is
 * not a terminal (a log or a pipe keeps each note on one line, for grep).
 */
export function stderrColumns(io: Io): number {
  const cols = io.stderr.isTTY ? io.stderr.columns : undefined;
  return typeof cols === 'number' && cols > 0 ? cols : Infinity;
}

/**
 * Whether a stream has written everything it was given, waiting at most `ms`.
 * Polled: 'drain' comes only after a write that returned false.
 */
export function drained(stream: NodeJS.WritableStream & { writableLength?: number }, ms: number): Promise<boolean> {
  if (!stream.writableLength) return Promise.resolve(true);
  const until = Date.now() + ms;
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (!stream.writableLength || Date.now() >= until) {
        clearInterval(poll);
        resolve(!stream.writableLength);
      }
    }, 5);
  });
}
