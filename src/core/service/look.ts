/**
 * A look at a server whose process we cannot see (another user's, when we are
 * not root): connect, read SO_PEERCRED (the kernel names the listener's pid
 * whoever owns it; /proc/PID/comm and cmdline are readable by all), and wait
 * briefly for a banner (bytes a server sends before any request: MySQL's
 * greeting). Nothing is sent. Bounded in time and bytes.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { nowMs } from '../clock.js';
import { openConnection } from '../socket/connect.js';
import { socketFd } from '../socket/net-fd.js';
import { peerCredOf } from '../socket/peer.js';
import type { Target } from '../socket/target.js';
import { processNames } from '../socket/processes.js';
import type { ProcessFacts } from './types.js';

/** Bytes of a banner kept. */
export const MAX_BANNER = 4096;
/** How long a look waits for a banner by default. */
export const BANNER_WAIT_MS = 300;

export interface Look {
  process: ProcessFacts | null;
  /** The pid SO_PEERCRED gave, gone: `process` is the one whose command line names the socket. */
  heir?: number;
  /** Bytes the server sent on its own (empty: none within the wait). */
  banner: Buffer;
  /** The server closed the connection during the wait (without a byte: a connection limit, a crash). */
  closed: boolean;
  /** The connection failed: the check that follows will say how. */
  failed: boolean;
}

/** Connect, name the peer, wait up to waitMs for a banner, close. Never rejects. */
export async function lookAtServer(t: Target, o: { connectTimeout: number; waitMs?: number; signal?: AbortSignal }): Promise<Look> {
  const wait = o.waitMs ?? BANNER_WAIT_MS;
  const start = nowMs();
  const sock = await openConnection(t, { connectTimeout: o.connectTimeout, signal: o.signal }).catch(() => null);
  if (!sock) return { process: null, banner: Buffer.alloc(0), closed: false, failed: true };
  const cred = t.kind === 'tcp' ? null : peerCredOf(socketFd(sock));
  const parts: Buffer[] = [];
  let kept = 0;
  let closed = false;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, wait - (nowMs() - start)));
    o.signal?.addEventListener('abort', done, { once: true });
    sock.on('data', (b: Buffer) => {
      if (kept < MAX_BANNER) {
        parts.push(Buffer.from(b.subarray(0, MAX_BANNER - kept)));
        kept += Math.min(b.length, MAX_BANNER - kept);
      }
      // A banner arrives in one write, as a rule: a short grace for the rest of it, then done.
      clearTimeout(timer);
      setTimeout(done, 20);
    });
    sock.on('end', () => {
      closed = true;
      done();
    });
    sock.on('error', () => {
      closed = true;
      done();
    });
  });
  sock.on('error', () => {});
  sock.destroy();
  const named = cred ? await peerProcess(t, cred) : { process: null };
  return { ...named, banner: Buffer.concat(parts), closed, failed: false };
}

/**
 * The process SO_PEERCRED names (the one that called listen()), by its
 * /proc names; when that pid is gone (a daemon that forked after binding:
 * dbus-daemon --fork, haproxy -D), the one process of its uid whose command
 * line names the socket (`heir`: the gone pid).
 */
export async function peerProcess(t: Target, cred: { pid: number; uid: number }): Promise<Pick<Look, 'process' | 'heir'>> {
  const names = await processNames(cred.pid);
  if (names) return { process: { pid: cred.pid, ...names } };
  const heir = t.kind === 'unix' ? await processNamingPath(path.resolve(t.path), cred.uid) : null;
  return heir ? { process: heir, heir: cred.pid } : { process: null };
}

/** Processes looked at, at most, for a command line naming the socket. */
const MAX_SCANNED = 4096;

/**
 * The one process of this uid whose command line names the socket's path (`--address=unix:path=P`, `-s P`),
 * or null when none or several do (a client such as `redis-cli -s P` names it too; then nothing is guessed).
 */
export async function processNamingPath(abs: string, uid: number, proc = '/proc'): Promise<ProcessFacts | null> {
  const pids = (await fsp.readdir(proc).catch(() => [] as string[])).filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid).slice(0, MAX_SCANNED);
  const found: ProcessFacts[] = [];
  for (const pid of pids) {
    const st = await fsp.stat(`${proc}/${pid}`).catch(() => null);
    if (!st || st.uid !== uid) continue;
    const raw = await fsp.readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!raw.split('\0').some((arg) => arg === abs || arg.endsWith(`=${abs}`) || arg.endsWith(`:${abs}`))) continue;
    const names = await processNames(Number(pid), proc);
    if (names) found.push({ pid: Number(pid), ...names });
    if (found.length > 1) return null;
  }
  return found[0] ?? null;
}

/** How the look named the process, for a recognition's evidence. */
export function lookEvidence(look: Pick<Look, 'heir'>): string {
  return look.heir === undefined ? '(SO_PEERCRED)' : `(its command line names the socket; pid ${look.heir}, which SO_PEERCRED gave, has exited)`;
}
