/**
 * probe with long user input and many targets (issue 19 item 10): a
 * 79,000-character --expect-regex is shown shortened (wrapping it into the
 * report took 8 s), compiled once; many targets are probed a pool at a time.
 */
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { wrap, truncate } from '../../src/render/width.js';

afterEach(() => killAll());

async function lineServer(): Promise<{ path: string; close: () => void }> {
  const path = join(tmpDir(), 's.sock');
  const server = net.createServer((c) => c.once('data', () => c.end('OK+ at 00:00:00\n')).on('error', () => {}));
  server.listen(path);
  await once(server, 'listening');
  return { path, close: () => server.close() };
}

describe('probe: long input shown shortened, many targets bounded', { timeout: 120_000 }, () => {
  it('a 79,000-character --expect-regex: MISMATCH at once, the pattern shortened with its length', async () => {
    const srv = await lineServer();
    try {
      const re = '(a|b)'.repeat(15_800);
      const t0 = performance.now();
      const r = await runCli(['probe', '-t', '3s', '-E', re, srv.path], { timeoutMs: 60_000 });
      const ms = performance.now() - t0;
      expect(r.status).toBe(2);
      expect(r.stdout).toMatch(/does not match/);
      expect(r.stdout).toMatch(/…\/ \(79000 characters\)/);
      expect(r.stdout.length).toBeLessThan(4000);
      // Compiling the pattern takes a moment on a loaded machine; wrapping it took 8 s, then 37.
      expect(ms).toBeLessThan(20_000);
      const j = JSON.parse((await runCli(['probe', '--json', '-t', '3s', '-E', re, srv.path], { timeoutMs: 60_000 })).stdout);
      expect(j.targets[0].detail.length).toBeLessThan(1000);
    } finally {
      srv.close();
    }
  });

  it('wrap and truncate stay linear on a long word (display width of ASCII is its length)', () => {
    const word = 'x'.repeat(200_000);
    const t0 = performance.now();
    const lines = wrap(word, 78, '  ');
    expect(lines).toHaveLength(Math.ceil((200_000 - 78) / 76) + 1);
    expect(lines[1]).toBe(`  ${'x'.repeat(76)}`);
    expect(truncate(word, 10)).toBe(`${'x'.repeat(9)}…`);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('300 targets: every one reported, in order', async () => {
    const srv = await lineServer();
    try {
      const r = await runCli(['probe', '--json', '-w', '0', ...Array.from({ length: 300 }, () => srv.path)], { timeoutMs: 90_000 });
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.targets).toHaveLength(300);
      expect(j.targets.every((t: { status: string }) => t.status === 'OK')).toBe(true);
    } finally {
      srv.close();
    }
  });
});
