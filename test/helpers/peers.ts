/**
 * Misbehaving peers the udsctl server cannot play, as small named helpers.
 * Each one is cleaned up when the test ends (onTestFinished), and every wait
 * on it is bounded.
 */
import { existsSync, lstatSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { run, spawnChild, waitForOutput } from './children.js';
import { AS_NOBODY, requireRoot, worldDir } from './requirements.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const REPO = join(FIXTURES, '..', '..');
export const DIST_INDEX = join(REPO, 'dist', 'index.js');

/** `OK+ at HH:MM:SS\n`, the reference one-shot reply. */
export const OK_REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;

export interface DripServer {
  path: string;
  close(): Promise<void>;
}

/**
 * A "slow drip" server: on each connection writes `chunks` one by one,
 * `gapMs` apart (each its own write, so a client sees separate reads), then
 * either closes or keeps the connection open (left to the client or cleanup).
 */
export async function startDripServer(
  path: string,
  chunks: (string | Buffer)[],
  opts: { gapMs?: number; then?: 'close' | 'stay-open' } = {},
): Promise<DripServer> {
  const gap = opts.gapMs ?? 30;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.resume();
    let i = 0;
    const next = () => {
      if (s.destroyed) return;
      if (i < chunks.length) {
        s.write(chunks[i++]);
        const t = setTimeout(next, gap);
        timers.add(t);
      } else if (opts.then !== 'stay-open') s.end();
    };
    next();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
  onTestFinished(close);
  return { path, close };
}

/**
 * A listener whose queue is full and that never accepts (python3 listen(0),
 * filled by connecting to itself). Unix and abstract targets: the next connect
 * fails at once with EAGAIN. TCP: the next SYN is dropped, so a connect hangs.
 * Returns the target to use: the path, the @name, or 127.0.0.1:PORT.
 */
export async function startFullBacklogListener(kind: 'unix' | 'abstract' | 'tcp', where = ''): Promise<string> {
  const peer = spawnChild('python3', [join(FIXTURES, 'backlog-listener.py'), kind, where], { timeoutMs: 30_000 });
  await waitForOutput(peer, /^ready/m);
  if (kind === 'tcp') {
    const port = /^ready (\d+)/m.exec(peer.stdout())?.[1];
    return `127.0.0.1:${port}`;
  }
  return where;
}

/**
 * A Unix listener whose backlog is full (a connect fails with EAGAIN) for
 * `delayMs`, and that then accepts and answers every line with "OK\n".
 */
export async function startLateAcceptListener(path: string, delayMs: number): Promise<void> {
  const peer = spawnChild('python3', [join(FIXTURES, 'late-accept-listener.py'), path, String(delayMs)], { timeoutMs: 30_000 });
  await waitForOutput(peer, /^ready/m);
}

/**
 * Leave a stale socket file at `path`, as a crashed server does: a node child
 * listens there and is killed with SIGKILL, so nothing unlinks the file.
 */
export async function makeStaleSocket(path: string): Promise<void> {
  const peer = spawnChild(process.execPath, [join(FIXTURES, 'listen-and-wait.mjs'), path], { timeoutMs: 10_000 });
  await waitForOutput(peer, /^ready/m);
  peer.child.kill('SIGKILL');
  await peer.exited;
  if (!lstatSync(path).isSocket()) throw new Error(`makeStaleSocket: ${path} is not a socket after the kill`);
}

/** A TCP port on 127.0.0.1 with nobody listening (bound, then released). */
export async function closedTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface NobodyResult {
  uid: number;
  gid: number;
  ok: boolean;
  code: string | null;
  reply?: string;
}

/**
 * Run exchange() or startServer() from the built library (dist/) as uid/gid
 * 65534 through setpriv, because root passes every permission check. Needs
 * root (skips otherwise) and a world-traversable path to the target; the
 * library and the script are loaded from the world-readable copy of the build
 * (worldDir()), since the checkout may be in a 0700 folder.
 */
export async function runAsNobody(what: 'exchange' | 'serve', target: string): Promise<NobodyResult> {
  requireRoot('setpriv to uid 65534, because root passes every permission check');
  if (!existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run npm run build before the tests`);
  const world = worldDir();
  const r = await run(
    AS_NOBODY[0],
    [...AS_NOBODY.slice(1), process.execPath, join(world, 'test', 'fixtures', 'as-nobody.mjs'), join(world, 'dist', 'index.js'), what, target],
    { timeoutMs: 10_000, cwd: '/' },
  );
  if (r.code !== 0) throw new Error(`as-nobody ${what} failed (${r.code ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as NobodyResult;
}
