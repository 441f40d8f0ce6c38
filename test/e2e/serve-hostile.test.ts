/**
 * serve against peers that would make it bloat or stall: a client that writes
 * requests and never reads the replies, and a log reader that never reads.
 * Both engines; memory is the serve process's peak RSS (VmHWM).
 */
import { readFileSync } from 'node:fs';
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

describe.each(ENGINES)('--engine %s', (engine) => {
  it('--keep-alive, a client that writes and never reads: reading stops, memory stays flat, the connection ends at --idle-timeout', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--engine', engine, '--keep-alive', '--idle-timeout', '1s', '--json', sock]);
    const log = collectStderr(child);
    await waitForStderr(child, /listening/);
    const peer = neverReadingClient(sock, { floodMs: 3_000, stallMs: 700 });
    const { sent, stalled } = await peer.flood;
    // Today's server took everything (about 1 GB in 4 s) and kept the replies.
    expect(stalled).toBe(true);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    await until(() => log.text().includes('"end":"idle-timeout"'), 8_000);
    const rec = log
      .text()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.event === 'connection');
    expect(rec).toMatchObject({ end: 'idle-timeout', reason: 'replies not read for 1000ms' });
    await Promise.race([peer.closed, sleep(5_000)]);
    expect(peakRssMb(child.pid!)).toBeLessThan(150);
    peer.destroy();
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
  });
});
