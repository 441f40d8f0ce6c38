/**
 * serve against peers that would make it bloat or stall: a client that writes
 * requests and never reads the replies, and a log reader that never reads.
 * Both engines; memory is the serve process's peak RSS (VmHWM).
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp-dir.js';
import { collectStderr, killAll, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';

const ENGINES = ['epoll', 'net'] as const;
afterEach(() => killAll());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded) until check() holds; polls, for output that may already be there. */
async function until(check: () => boolean, boundMs: number): Promise<void> {
  const end = Date.now() + boundMs;
  while (!check() && Date.now() < end) await sleep(25);
}

/** Peak resident memory of a live process, in MB (Linux). */
function peakRssMb(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * A client that writes request lines as fast as the server takes them and
 * never reads a byte. Resolves once the server stops taking them (no drain
 * for stallMs) or after floodMs at most; `closed` resolves when the server has
 * ended the connection (the writes fail), bounded by the caller.
 */
function neverReadingClient(sock: string, opts: { floodMs: number; stallMs: number }) {
  const c = net.connect({ path: sock });
  c.pause(); // never read: not even the end of the connection
  let sent = 0;
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.on('error', () => {});
  const chunk = Buffer.from('x\n'.repeat(32 * 1024));
  const flood = new Promise<{ sent: number; stalled: boolean }>((resolve) => {
    c.once('connect', async () => {
      const until = Date.now() + opts.floodMs;
      while (Date.now() < until && !c.destroyed) {
        if (c.write(chunk)) {
          sent += chunk.length;
          continue;
        }
        sent += chunk.length;
        const drained = await Promise.race([new Promise((r) => c.once('drain', () => r(true))), sleep(opts.stallMs).then(() => false)]);
        if (!drained) return resolve({ sent, stalled: true });
      }
      resolve({ sent, stalled: false });
    });
  });
  return { flood, closed, destroy: () => c.destroy() };
}

const NEVER_READS: Array<[string, string[]]> = [
  ['epoll', []],
  ['net', []],
  // Replies waiting for their --delay count too: reading stops at MAX_DELAYED of them.
  ['net', ['--delay', '5ms']],
];

describe.each(NEVER_READS)('--engine %s %s', (engine, extra) => {
  it('--keep-alive, a client that writes and never reads: reading stops, memory stays flat, the connection ends at --idle-timeout', { timeout: 50_000 }, async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--engine', engine, '--keep-alive', '--idle-timeout', '1s', '--json', ...extra, sock]);
    const log = collectStderr(child);
    await waitForStderr(child, /listening/);
    const peer = neverReadingClient(sock, { floodMs: 3_000, stallMs: 700 });
    const { sent, stalled } = await peer.flood;
    // Today's server took everything (about 1 GB in 4 s) and kept the replies.
    expect(stalled).toBe(true);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    // The replies to what was read go out first (with --delay, up to a read's worth of timers, some
    // 100 000 of them, each a write): on a loaded 2-core machine that has taken 7 s before the quiet 1 s.
    await until(() => log.text().includes('"end":"idle-timeout"'), 25_000);
    const rec = log
      .text()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.event === 'connection');
    expect(rec).toMatchObject({ end: 'idle-timeout', reason: 'replies not read for 1000ms' });
    // The connection is gone for the client too (its blocked write fails).
    expect(await Promise.race([peer.closed.then(() => true), sleep(5_000).then(() => false)])).toBe(true);
    expect(peakRssMb(child.pid!)).toBeLessThan(150);
    peer.destroy();
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
  });
});

/**
 * One one-shot exchange, bounded: the reply, or '' when there was none in time. A
 * refused connect is tried again (the socket file exists from bind(2), before
 * listen(2)); a refused connection was never accepted, so it is never counted.
 */
function oneShot(sock: string, payload: string, boundMs = 5_000): Promise<string> {
  const until = Date.now() + boundMs;
  return new Promise((resolve) => {
    const attempt = () => {
      const c = net.connect({ path: sock });
      const chunks: Buffer[] = [];
      let connected = false;
      const finish = () => {
        clearTimeout(timer);
        c.destroy();
        resolve(Buffer.concat(chunks).toString());
      };
      const timer = setTimeout(finish, Math.max(0, until - Date.now()));
      c.once('connect', () => (connected = true));
      c.on('data', (d: Buffer) => chunks.push(d));
      c.on('end', finish);
      c.on('error', (e: NodeJS.ErrnoException) => {
        if (!connected && e.code === 'ECONNREFUSED' && Date.now() < until) {
          clearTimeout(timer);
          c.destroy();
          setTimeout(attempt, 10);
        } else finish();
      });
      c.write(payload);
    };
    attempt();
  });
}

type Event = Record<string, unknown> & { event: string };

/**
 * serve with its stderr a pipe this test does not read until the end (Node
 * takes its first 16 KiB at most): `total` one-shot connections, each must be
 * served; then the log is read. Long requests, echoed: the log outgrows its
 * 1 MiB buffer quickly.
 */
async function serveUnreadLog(engine: string, args: string[], total: number) {
  const sock = join(tmpDir(), 's.sock');
  const child = startCli(['serve', '--engine', engine, '--echo', ...args, sock]);
  await until(() => existsSync(sock), 10_000);
  const request = `${'x'.repeat(300)}\n`;
  const wrong: string[] = [];
  for (let k = 0; k < total; k += 50) {
    const replies = await Promise.all(Array.from({ length: 50 }, () => oneShot(sock, request)));
    for (const r of replies) if (r !== request) wrong.push(r);
    // Today's epoll engine stops serving once the pipe is full: stop early rather than wait out every bound.
    if (wrong.length > 50) break;
  }
  expect(wrong.length).toBe(0);
  // Now read: the backlog comes out, then the note of what was dropped.
  const log = collectStderr(child);
  await until(() => /lines dropped, reader too slow/.test(log.text()), 10_000);
  child.kill('SIGTERM');
  expect(await waitExit(child)).toBe(0);
  return log.text();
}

describe.each(ENGINES)('--engine %s, a log reader that never reads', (engine) => {
  const total = 5_000;

  it('--json: every connection is served; lines past the log buffer are dropped, counted and said', async () => {
    const text = await serveUnreadLog(engine, ['--json'], total);
    const events = text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Event);
    const notes = events.filter((e) => e.event === 'warning' && typeof e.dropped === 'number');
    expect(notes.length).toBeGreaterThan(0);
    expect(notes[0].message).toMatch(/^log: \d+ lines dropped, reader too slow$/);
    const stopped = events.at(-1)!;
    expect(stopped.event).toBe('stopped');
    const dropped = stopped.dropped as number;
    expect(dropped).toBeGreaterThan(0);
    expect(notes.reduce((sum, e) => sum + (e.dropped as number), 0)).toBe(dropped);
    // Nothing is lost silently: each connection has its line, or is counted as dropped.
    const logged = events.filter((e) => e.event === 'connection').length;
    expect(logged + dropped).toBe(total);
  }, 120_000);

  it('SIGTERM with the reader still not reading: serve exits 0 within a bound, its socket removed', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--engine', engine, sock]);
    await until(() => existsSync(sock), 10_000);
    // Enough lines to fill the pipe, so serve's own last lines cannot be written.
    for (let k = 0; k < 2_000; k += 50) await Promise.all(Array.from({ length: 50 }, () => oneShot(sock, `${'z'.repeat(100)}\n`)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await waitExit(child, 20_000)).toBe(0);
    // serve's own lines wait at most 5 s for the reader (the threads' 1 s more).
    expect(Date.now() - t0).toBeLessThan(12_000);
    expect(existsSync(sock)).toBe(false);
  }, 60_000);

  it('human log: the same, and the last line says the total', async () => {
    // A human line is shorter (~150 bytes): more connections to outgrow the buffer.
    const many = 2 * total;
    const lines = (await serveUnreadLog(engine, [], many)).trimEnd().split('\n');
    // Every line whole: a connection's, or serve's own.
    expect(lines.filter((l) => !/ #\d+ in=\d+B .* closed( peer=pid \d+ .* uid \d+ gid \d+)?$/.test(l) && !l.startsWith('udsctl serve: '))).toEqual([]);
    const notes = lines.filter((l) => /^udsctl serve: log: \d+ lines dropped, reader too slow$/.test(l));
    expect(notes.length).toBeGreaterThan(0);
    const noted = notes.reduce((sum, l) => sum + Number(/(\d+) lines/.exec(l)![1]), 0);
    expect(lines.at(-1)).toBe(`udsctl serve: stopped; log: ${noted} lines dropped in all, reader too slow`);
    const logged = lines.filter((l) => / #\d+ in=/.test(l)).length;
    expect(logged + noted).toBe(many);
  }, 120_000);
});
