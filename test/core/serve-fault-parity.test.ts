/**
 * One serve policy (src/core/serve/reply-shaper.ts): every fault, with and
 * without --delay, as a client sees it (the reply's bytes, then an end, a
 * reset, or a connection left open) is the same on the net engine (serve's
 * own reply), the net tap and the epoll relay (an upstream's real reply).
 * In-process through createServe, on real sockets in a fresh folder; the
 * reply is `OK\r\n`, so no-newline shows it takes CR and LF alike.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../src/core/serve/options.js';
import type { Server } from '../../src/core/serve/protocol.js';
import { createServe } from '../../src/core/serve/start.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const REPLY = Buffer.from('OK\r\n');
/** How long a connection a fault holds open is watched for an end that must not come (the upstream replies at once). */
const HELD_WINDOW_MS = 400;
const DELAY_MS = 150;
/** --delay with a fault that replaces the reply: long, so that one holding the fault would show (the test stays fast when none does). */
const LONG_DELAY_MS = 3_000;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0).reverse()) await s.close();
});

async function serve(path: string, o: Parameters<typeof createServe>[1]): Promise<Server> {
  const s = createServe(path, o);
  await s.listen();
  servers.push(s);
  return s;
}

type End = 'eof' | 'reset' | 'open';
interface Seen {
  data: string;
  end: End | string;
  ms: number;
}

/** Connect, send a line, and read until an end or a reset, or until windowMs passes ('open'). */
function see(path: string, windowMs: number): Promise<Seen> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = net.connect(path, () => sock.write('hi\n'));
    const done = (end: Seen['end']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), end, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => done('open'), windowMs);
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('end', () => done('eof'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNRESET' ? 'reset' : `error ${e.code}`));
  });
}

/** What a client sees under each fault: the same on every engine. */
const WANT: Record<Fault | 'none', { data: string; end: End }> = {
  none: { data: 'OK\r\n', end: 'eof' },
  'never-close': { data: 'OK\r\n', end: 'open' },
  silent: { data: '', end: 'open' },
  'no-newline': { data: 'OK', end: 'eof' },
  'close-without-reply': { data: '', end: 'eof' },
  reset: { data: '', end: 'reset' },
  slow: { data: 'OK\r\n', end: 'eof' },
};

type Engine = 'net engine' | 'net tap' | 'epoll relay';
const ENGINES: Engine[] = ['net engine', 'net tap', 'epoll relay'];

/** A listening server on `engine` with this fault and delay; its path. */
async function under(engine: Engine, fault: Fault | undefined, delay: number | undefined): Promise<string> {
  const dir = tmpDir();
  const path = join(dir, 's.sock');
  if (engine === 'net engine') {
    const s = await serve(path, { engine: 'net', reply: REPLY, fault, delay });
    expect(s.engine).toBe('net');
    return path;
  }
  const up = join(dir, 'up.sock');
  await serve(up, { engine: 'net', reply: REPLY });
  const tapEngine = engine === 'net tap' ? 'net' : 'epoll';
  const s = await serve(path, { upstream: up, engine: tapEngine, fault, delay, ...(tapEngine === 'epoll' ? { quiet: true } : {}) });
  expect(s.engine).toBe(tapEngine);
  return path;
}

const CASES: { fault: Fault | undefined; delay?: number }[] = [
  { fault: undefined },
  { fault: 'never-close' },
  { fault: 'silent' },
  { fault: 'no-newline' },
  { fault: 'close-without-reply' },
  { fault: 'reset' },
  { fault: 'slow', delay: DELAY_MS },
  { fault: undefined, delay: DELAY_MS },
  { fault: 'never-close', delay: DELAY_MS },
  { fault: 'no-newline', delay: DELAY_MS },
  // --delay holds a reply, never the end or the reset a fault gives instead of it (the shaper's CLOSE and RESET are at the reply).
  { fault: 'close-without-reply', delay: LONG_DELAY_MS },
  { fault: 'reset', delay: LONG_DELAY_MS },
];

describe('every fault is one behaviour on the net engine, the net tap and the epoll relay', () => {
  for (const { fault, delay } of CASES) {
    const name = `${fault ?? 'no fault'}${delay ? ` --delay ${delay}ms` : ''}`;
    it(name, async () => {
      const want = WANT[fault ?? 'none'];
      const window = want.end === 'open' ? HELD_WINDOW_MS + (delay ?? 0) : 10_000;
      const seen: Record<string, { data: string; end: string }> = {};
      for (const engine of ENGINES) {
        const path = await under(engine, fault, delay);
        const r = await see(path, window);
        seen[engine] = { data: r.data, end: r.end };
        // A delayed reply is late on every engine (a generous bound: timers never fire early by much).
        if (delay && want.data !== '') expect(r.ms, `${engine}: the reply came after ${Math.round(r.ms)}ms`).toBeGreaterThanOrEqual(delay - 20);
        if (delay && want.data === '' && want.end !== 'open') expect(r.ms, `${engine}: the ${want.end} came after ${Math.round(r.ms)}ms`).toBeLessThan(delay);
      }
      expect(seen).toEqual({ 'net engine': want, 'net tap': want, 'epoll relay': want });
    });
  }
});
