/**
 * send --resp shows any valid reply in time and memory linear in it (issue 19
 * items 4 and 9): deep nesting (every line prefixed at every level), 90,000
 * chained attributes (a recursion that overflowed and was swallowed as
 * "(incomplete)", exit 0), a 16-digit length (too large, not "not a number").
 * And raw values to a pipe, as redis-cli (issue 22). The peer is a canned
 * server that answers the request with fixed bytes and stays open.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => killAll());

async function canned(reply: Buffer): Promise<{ path: string; close: () => void }> {
  const path = join(tmpDir(), 'r.sock');
  const server = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.write(reply));
  });
  server.listen(path);
  await once(server, 'listening');
  return { path, close: () => server.close() };
}

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  peakKb: number;
  ms: number;
}

/** Run the CLI, counting stdout (not kept beyond 1 MiB) and polling its peak RSS (VmHWM). */
async function measured(args: string[]): Promise<Run> {
  const t0 = performance.now();
  const child = startCli(args);
  child.stdin!.end();
  const kept: Buffer[] = [];
  let size = 0;
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    if (size < 1 << 20) kept.push(c);
    size += c.length;
  });
  child.stderr!.on('data', (c: Buffer) => (err += c));
  let peakKb = 0;
  const poll = setInterval(() => {
    try {
      peakKb = Math.max(peakKb, Number(/VmHWM:\s*(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0));
    } catch {
      /* exited */
    }
  }, 20);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  clearInterval(poll);
  return { status, stdout: Buffer.concat(kept), stderr: err, peakKb, ms: performance.now() - t0 };
}

const DEEP = Buffer.from('*1\r\n'.repeat(62) + '*300000\r\n' + '_\r\n'.repeat(300_000)); // 0.9 MB, 63 levels
const CHAINED = Buffer.from('|1\r\n+k\r\n+v\r\n'.repeat(90_000) + '+end\r\n');

describe('send --resp: any valid reply shown in bounded time and memory', { timeout: 120_000 }, () => {
  it('63 nested arrays around 300,000 nulls: -t 1s holds (cut and said, exit 7, or done), memory stays small', async () => {
    const srv = await canned(DEEP);
    try {
      const r = await measured(['send', '--no-raw', '-t', '1s', '--resp', 'GET k', srv.path]);
      if (r.status === 0) expect(r.stderr).toBe('');
      else {
        expect(r.status, r.stderr).toBe(7);
        expect(r.stderr).toMatch(/showing the RESP reply took longer than --timeout: cut after \d+ bytes/);
      }
      expect(r.stdout.subarray(0, 12).toString()).toBe('1) 1) 1) 1) ');
      // The exchange and the rendering share the one second; the rest is start-up and a loaded machine.
      expect(r.ms).toBeLessThan(15_000);
      if (r.peakKb > 0) expect(r.peakKb).toBeLessThan(400 * 1024);
      // Raw (the default to a pipe): a line per null, at once.
      const raw = await measured(['send', '-t', '5s', '--resp', 'GET k', srv.path]);
      expect(raw.status, raw.stderr).toBe(0);
      expect(raw.stdout.length).toBe(Math.min(1 << 20, 300_000));
    } finally {
      srv.close();
    }
  });

  it('90,000 chained attributes: the reply is shown to its end, exit 0 (no "(incomplete)")', async () => {
    const srv = await canned(CHAINED);
    try {
      const human = await measured(['send', '--no-raw', '--max-reply', '4MiB', '--resp', 'GET k', srv.path]);
      expect(human.status, human.stderr).toBe(0);
      expect(human.stdout.subarray(0, 34).toString()).toBe('(attribute)\n1# k => v\n(attribute)\n');
      const raw = await measured(['send', '--max-reply', '4MiB', '--resp', 'GET k', srv.path]);
      expect([raw.status, raw.stdout.toString(), raw.stderr]).toEqual([0, 'end\n', '']);
    } finally {
      srv.close();
    }
  });

  it.each([
    ['a 16-digit length', '$1234567890123456\r\nx\r\n', /a RESP length too large \(over 15 digits\)/],
    ['a length that is not a number', '*1x\r\n', /a RESP length that is not a number/],
  ])('%s is named', async (_name, reply, re) => {
    const srv = await canned(Buffer.from(reply));
    try {
      const r = await measured(['send', '-t', '2s', '--resp', 'GET k', srv.path]);
      expect(r.status).toBe(10);
      expect(r.stderr).toMatch(re);
    } finally {
      srv.close();
    }
  });

  it('raw to a pipe (redis-cli --raw), --no-raw for the terminal layout; --raw without --resp is a usage error', async () => {
    const srv = await canned(Buffer.from('*3\r\n$11\r\nhello world\r\n:3\r\n%1\r\n+k\r\n$2\r\n\xffv\r\n', 'latin1'));
    try {
      const raw = await measured(['send', '--resp', 'X', srv.path]);
      expect(raw.status, raw.stderr).toBe(0);
      expect(raw.stdout.toString('latin1')).toBe('hello world\n3\nk \xffv\n');
      const human = await measured(['send', '--no-raw', '--resp', 'X', srv.path]);
      expect(human.stdout.toString()).toBe('1) "hello world"\n2) (integer) 3\n3) (map)\n   1# k => "\ufffdv"\n');
      const bad = await measured(['send', '--raw', srv.path, 'hi']);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--raw goes with --resp/);
    } finally {
      srv.close();
    }
  });
});
