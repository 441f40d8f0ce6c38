/** bench on real sockets, engine-independent parts; see bench-suite.ts. */
import { describe, expect, it } from 'vitest';
import { runBench } from '../src/core/bench/run.js';
import { ENGINES, base, cleanupAfterEach } from './bench-suite.js';
import { serve } from './helpers/servers.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { join } from 'node:path';

cleanupAfterEach();

describe('bench, engine-independent', () => {
  it('embedded default: no target benchmarks udsctl\'s own server, and ticks come once a second', async () => {
    const ticks: number[] = [];
    let embedded = false;
    const r = await runBench({
      duration: 1_200,
      connections: 2,
      onStart: (i) => (embedded = i.embedded),
      onTick: (t) => ticks.push(t.last.second),
    });
    expect(embedded).toBe(true);
    expect(r.embedded).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBeGreaterThan(0);
    expect(ticks[0]).toBe(0);
    expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
    // The timeline is the ticks, but for a drain sliver of under 100 ms folded into the second before.
    expect(r.timeline.map((t) => t.second)).toEqual(ticks.slice(0, r.timeline.length));
    expect(ticks.length - r.timeline.length).toBeLessThanOrEqual(1);
  });

  it('progress is live: the running totals move between whole seconds, and ticks carry them', async () => {
    const progress: { elapsedMs: number; requests: number; errors: number }[] = [];
    const ticks: { requests: number; finished: number }[] = [];
    let finished = 0;
    const r = await runBench({
      duration: 2_500,
      connections: 2,
      mode: 'persistent',
      onProgress: (p) => progress.push(p),
      onTick: (t) => {
        finished += t.last.requests;
        ticks.push({ requests: t.requests, finished });
      },
    });
    expect(r.errors).toEqual([]);
    const first = r.timeline[0].requests;
    // Well inside the second second, the count is past the first second's (the old line still showed it).
    const mid = progress.filter((p) => p.elapsedMs >= 1_300 && p.elapsedMs <= 1_900);
    expect(mid.length).toBeGreaterThan(0);
    for (const p of mid) expect(p.requests).toBeGreaterThan(first);
    for (let k = 1; k < progress.length; k++) expect(progress[k].requests).toBeGreaterThanOrEqual(progress[k - 1].requests);
    expect(progress.at(-1)!.requests).toBeLessThanOrEqual(r.requests.ok);
    for (const t of ticks) expect(t.requests).toBeGreaterThanOrEqual(t.finished);
  });

  it('oneshot --half-close against a server that reads to end-of-file', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { read: 'eof', echo: true });
    const r = await runBench(base({ target: s.address(), requests: 20, connections: 2, halfClose: true, payload: Buffer.from('abc'), expect: Buffer.from('abc') }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(20);
  });

  it('abstract names', async () => {
    if (process.platform !== 'linux') return;
    const name = `@udsctl-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    await serve(name, { keepAlive: true, idleTimeout: 0 });
    for (const engine of ENGINES) {
      const r = await runBench(base({ target: name, engine, mode: 'persistent', requests: 100, connections: 2 }));
      expect(r.errors).toEqual([]);
      expect(r.requests.ok).toBe(100);
    }
  });

  it('--engine epoll where it cannot run is a clear NOT_SUPPORTED; bad options are BAD_OPTION', async () => {
    await expect(runBench({ mode: 'oneshot', pipeline: 4 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    if (process.platform !== 'linux') {
      await expect(runBench({ engine: 'epoll', duration: 100 })).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
    }
  });
});
