/**
 * Hostile text for the "untrusted text never reaches the terminal raw" tests:
 * bytes of every class a terminal acts on, peers that carry them (a server
 * that replies with them, a listener whose process name and command line hold
 * them), and the check that an output holds none of them raw.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { FIXTURES } from './peers.js';

/** One of each class, with what escapeText shows for it. */
export const CLASSES: ReadonlyArray<{ name: string; bytes: Buffer; shown: string }> = [
  { name: 'ESC (OSC 0: window title)', bytes: Buffer.from('\x1b]0;owned\x07'), shown: '\\x1b]0;owned\\x07' },
  { name: 'OSC 52 (clipboard)', bytes: Buffer.from('\x1b]52;c;cGF3bmVk\x07'), shown: '\\x1b]52;c;cGF3bmVk\\x07' },
  { name: 'CR, LF, TAB', bytes: Buffer.from('a\rb\nINJECTED\tc'), shown: 'a\\rb\\nINJECTED\\tc' },
  { name: 'DEL', bytes: Buffer.from('d\x7fe'), shown: 'd\\x7fe' },
  { name: 'C1 CSI (U+009B)', bytes: Buffer.from('\u009b31m'), shown: '\\u009b31m' },
  { name: 'bidi override (U+202E)', bytes: Buffer.from('\u202etxt.exe'), shown: '\\u202etxt.exe' },
  { name: 'bidi isolates (U+2066..2069)', bytes: Buffer.from('\u2066\u2067\u2068\u2069'), shown: '\\u2066\\u2067\\u2068\\u2069' },
  { name: 'zero width space, BOM', bytes: Buffer.from('z\u200bw\ufeff'), shown: 'z\\u200bw\\ufeff' },
  { name: 'not UTF-8', bytes: Buffer.from([0x78, 0xff, 0x9b, 0xfe, 0x79]), shown: 'x\\xff\\x9b\\xfey' },
];

/** All classes in one run of bytes. */
export const HOSTILE = Buffer.concat(CLASSES.map((c) => c.bytes));

/**
 * Throw unless `out` is safe on a terminal: valid UTF-8, no control character
 * but the newlines that end lines, no format (bidi, zero-width) or separator
 * character, and no line a peer started (INJECTED at a line's start).
 */
export function expectTerminalSafe(out: Buffer, what: string): void {
  const text = out.toString('utf8');
  expect(Buffer.from(text, 'utf8').equals(out), `${what}: not valid UTF-8`).toBe(true);
  const bad = [...text].filter((ch) => ch !== '\n' && /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(ch));
  expect(bad.map((ch) => `U+${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`), `${what}: raw control/format characters in:\n${text}`).toEqual([]);
  expect(text, `${what}: a peer started a line`).not.toMatch(/^INJECTED/m);
}

export interface ReplyServer {
  path: string;
  /** Every request received, whole (the connection's bytes until it ended). */
  requests: Buffer[];
  /** Resolves with the nth request (1-based) once its connection has ended. */
  request(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves with the first request (old or new) that `match` accepts. */
  requestLike(match: (b: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
}

/**
 * A one-shot server that answers every connection with `reply` and closes,
 * and records what each client sent. After its first data it waits `settleMs`
 * for more before replying (a client that does not half-close still gets its
 * reply).
 */
export async function startReplyServer(path: string, reply: Buffer, settleMs = 50): Promise<ReplyServer> {
  const requests: Buffer[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const answer = () => {
      if (!s.destroyed && s.writable) s.end(reply);
    };
    s.on('data', (c) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(answer, settleMs);
    });
    s.on('end', answer);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      sockets.delete(s);
      requests.push(Buffer.concat(chunks));
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    path,
    requests,
    request(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no request #${n} within ${timeoutMs}ms (got ${requests.length})`)), timeoutMs);
        const check = () => {
          if (requests.length >= n) {
            clearTimeout(timer);
            resolve(requests[n - 1]);
          } else waiters.push(check);
        };
        check();
      });
    },
    requestLike(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such request within ${timeoutMs}ms; got ${JSON.stringify(requests.map(String))}`)), timeoutMs);
        const check = () => {
          const found = requests.find(match);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** The process name (comm: the name of the file executed, 15 bytes at most) and argv[0] of startHostileListener. */
export const HOSTILE_COMM = 'n\x1b]0;x\x07\nINJECTED';
export const HOSTILE_ARGV0 = '\x1b]52;c;cGF3bmVk\x07\u009b31m\u202eFORGED\nINJECTED';
export const HOSTILE_ARG = 'arg\x1b[2J\u2066\x7f\tend';

/**
 * A listener (node running fixtures/listen-and-wait.mjs, replying `hi`) whose
 * process name and command line are hostile: it is executed through a symlink
 * named HOSTILE_COMM, with argv[0] HOSTILE_ARGV0 and an argument HOSTILE_ARG,
 * as another user on the machine could name theirs.
 */
export async function startHostileListener(dir: string, socketPath: string): Promise<ChildProcess> {
  const exe = join(dir, HOSTILE_COMM);
  symlinkSync(process.execPath, exe);
  const child = spawn(exe, [join(FIXTURES, 'listen-and-wait.mjs'), socketPath, HOSTILE_ARG], {
    argv0: HOSTILE_ARGV0,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hostile listener: no "ready" within 10s')), 10_000);
    let acc = '';
    child.stdout!.on('data', (c: Buffer) => {
      acc += c.toString();
      if (acc.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hostile listener exited (${code})`));
    });
  });
  return child;
}
