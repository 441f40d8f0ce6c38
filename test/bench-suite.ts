/**
 * The bench suite on real sockets, for both engines (run by bench-epoll.test.ts,
 * bench-net.test.ts and bench-run.test.ts): counts agree with a server that
 * counts what it received, errors land in their class against misbehaving
 * servers, open loop keeps its schedule and shows a stalled server in the
 * latency. No assertion on speed; time-based checks have generous bounds.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBench } from '../src/core/bench/run.js';
import type { BenchOptions, BenchResult } from '../src/core/bench/types.js';
import { UdsError } from '../src/core/errors.js';
import { rmSync } from 'node:fs';
import { type Spawned, killChildren, spawnChild, waitForOutput } from './helpers/children.js';
import { makeStaleSocket, startLateAcceptListener } from './helpers/peers.js';
import { serve } from './helpers/servers.js';
import { tmpDir } from './helpers/tmp-dir.js';

export const ENGINES = ['epoll', 'net'] as const;
const servers: net.Server[] = [];

/** Register the cleanup in the test file that uses these helpers. */
export function cleanupAfterEach(): void {
  afterEach(async () => {
    await killChildren();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
}

interface Counter {
  path: string;
  /** Requests received: newline-terminated lines. */
  requests: () => number;
  connections: () => number;
}

/**
 * An independent counting server (plain node:net, none of udsctl's code):
 * replies "OK <n>\n" to every line; oneshot closes after the first reply.
 */
async function countingServer(dir: string, oneshot: boolean): Promise<Counter> {
  let requests = 0;
  let connections = 0;
  const path = join(dir, 'count.sock');
  const srv = net.createServer((s) => {
    connections++;
    let carry = 0;
    s.on('data', (chunk: Buffer) => {
      let replies = '';
      for (const b of chunk) {
        carry++;
        if (b === 0x0a) {
          requests++;
          replies += `OK ${requests}\n`;
          carry = 0;
          if (oneshot) break;
        }
      }
      if (replies) {
        if (oneshot) s.end(replies);
        else s.write(replies);
      }
    });
    s.on('error', () => {});
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  return { path, requests: () => requests, connections: () => connections };
}

/** A server that accepts and then does whatever `onConn` says. */
async function rawServer(dir: string, onConn: (s: net.Socket) => void): Promise<string> {
  const path = join(dir, 'raw.sock');
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  return path;
}

/** A plain node:net line server ("OK\n" per line) in a child process: its own CPU, and it can be killed. */
async function childLineServer(path: string): Promise<Spawned> {
  const child = spawnChild(
    process.execPath,
    ['-e', `const s=require('net').createServer(c=>{c.on('error',()=>{});c.on('data',d=>{for(const b of d)if(b===10)c.write('OK\\n')})});s.listen(process.argv[1],()=>console.log('listening'))`, path],
    { timeoutMs: 60_000 },
  );
  await waitForOutput(child, /listening/);
  return child;
}

export const base = (o: BenchOptions): BenchOptions => ({ workers: 1, timeout: 2_000, connectTimeout: 2_000, ...o });

function codes(r: BenchResult): Record<string, number> {
  return Object.fromEntries(r.errors.map((e) => [e.code, e.count]));
}

/** The engine-specific suite: test/bench-epoll.test.ts and test/bench-net.test.ts run it (in parallel). */
export function engineSuite(engine: (typeof ENGINES)[number]): void {
describe(`bench (${engine} engine)`, () => {
  it('oneshot: -n requests are exactly the requests the server received', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, true);
    const r = await runBench(base({ target: srv.path, engine, mode: 'oneshot', connections: 4, requests: 300, workers: 2 }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(300);
    expect(r.requests.total).toBe(300);
    expect(srv.requests()).toBe(300);
    // One unmeasured connection checks the target first; it sends nothing.
    expect(srv.connections()).toBe(301);
    expect(r.bytes.out).toBe(300 * 5);
    expect(r.latency!.count).toBe(300);
    expect(r.connect!.count).toBe(300);
    expect(r.exchange!.count).toBe(300);
    expect(r.engine).toBe(engine);
  });

  it('persistent with pipelining: counts agree, on every connection', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, false);
    const r = await runBench(base({ target: srv.path, engine, mode: 'persistent', connections: 5, pipeline: 3, requests: 1000, workers: 2, expect: Buffer.from('OK') }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(1000);
    expect(srv.requests()).toBe(1000);
    expect(srv.connections()).toBe(5);
    expect(r.bytes.out).toBe(1000 * 5);
  });

  it('a duration run: what the server counted is what bench counted, warmup apart', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, false);
    const r = await runBench(base({ target: srv.path, engine, mode: 'persistent', connections: 3, duration: 600, warmup: 200 }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBeGreaterThan(0);
    expect(r.requests.warmup).toBeGreaterThan(0);
    expect(srv.requests()).toBe(r.requests.ok + r.requests.warmup);
    expect(r.timeline.length).toBeGreaterThan(0);
    // The timeline is the window's; what completed after it (the drain) is counted apart.
    expect(r.timeline.reduce((a, t) => a + t.requests, 0) + r.drain.ok).toBe(r.requests.ok);
  });

  it('REPLY_TIMEOUT against a silent server', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { fault: 'silent', idleTimeout: 0 });
    const r = await runBench(base({ target: s.address(), engine, connections: 2, requests: 2, timeout: 300 }));
    expect(codes(r)).toEqual({ REPLY_TIMEOUT: 2 });
    expect(r.requests.ok).toBe(0);
    expect(r.errors[0].message).toMatch(/no reply within 300ms/);
  });

  it('NEVER_CLOSED against a server that replies and keeps the connection open', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { fault: 'never-close', idleTimeout: 0 });
    const r = await runBench(base({ target: s.address(), engine, connections: 2, requests: 2, timeout: 300 }));
    expect(codes(r)).toEqual({ NEVER_CLOSED: 2 });
  });

  it('--until line against the same server succeeds: the reply ends at its newline', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { fault: 'never-close', idleTimeout: 0 });
    const r = await runBench(base({ target: s.address(), engine, connections: 2, requests: 20, until: { kind: 'line' } }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(20);
  });

  it('RESET against a resetting server', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { fault: 'reset' });
    const r = await runBench(base({ target: s.address(), engine, connections: 2, requests: 6 }));
    expect(codes(r)).toEqual({ RESET: 6 });
  });

  it('CLOSED_EARLY: closed without a reply, and closed before the end rule', async () => {
    const dir = tmpDir('udsctl-b-');
    const s = await serve(join(dir, 's.sock'), { fault: 'close-without-reply' });
    const r = await runBench(base({ target: s.address(), engine, connections: 2, requests: 6 }));
    expect(codes(r)).toEqual({ CLOSED_EARLY: 6 });
    expect(r.errors[0].message).toMatch(/without replying/);

    const t = await serve(join(dir, 't.sock'), { fault: 'no-newline' });
    const r2 = await runBench(base({ target: t.address(), engine, connections: 2, requests: 6, until: { kind: 'line' } }));
    expect(codes(r2)).toEqual({ CLOSED_EARLY: 6 });
    expect(r2.errors[0].message).toMatch(/before the end of the reply/);
  });

  it('MISMATCH when a reply lacks --expect; the rest still count', async () => {
    const dir = tmpDir('udsctl-b-');
    let n = 0;
    const path = await rawServer(dir, (s) => s.once('data', () => s.end(++n % 2 === 0 ? 'ERR busy\n' : 'OK fine\n')));
    const r = await runBench(base({ target: path, engine, connections: 1, requests: 10, expect: Buffer.from('OK') }));
    expect(codes(r)).toEqual({ MISMATCH: 5 });
    expect(r.requests.ok).toBe(5);
    expect(r.errors[0].message).toMatch(/did not contain "OK"/);
  });

  it('a persistent connection the server closes is reopened; the lost requests are errors', async () => {
    const dir = tmpDir('udsctl-b-');
    let lines = 0;
    const path = await rawServer(dir, (s) =>
      s.on('data', (c: Buffer) => {
        for (const b of c) {
          if (b !== 0x0a) continue;
          // Every 10th request: close instead of replying.
          if (++lines % 10 === 0) return void s.destroy();
          s.write('OK\n');
        }
      }),
    );
    const r = await runBench(base({ target: path, engine, mode: 'persistent', connections: 1, requests: 50 }));
    expect(r.requests.total).toBe(50);
    expect(codes(r)).toEqual({ CLOSED_EARLY: 5 });
    expect(r.reconnects).toBe(5);
  });

  it('a server that dies mid-run: the failed reconnects are REFUSED, then NOT_FOUND, errors in the dead seconds, backed off', async () => {
    const dir = tmpDir('udsctl-b-');
    const path = join(dir, 'dying.sock');
    // A line server in a child process, so it can die by SIGKILL (its socket file stays: REFUSED).
    const child = await childLineServer(path);
    const C = 2;
    const r = await runBench(
      base({
        target: path,
        engine,
        mode: 'persistent',
        connections: C,
        duration: 3_500,
        onTick: (t) => {
          if (t.last.second === 0) child.child.kill('SIGKILL');
          // Then the file goes too: NOT_FOUND.
          if (t.last.second === 1) rmSync(path, { force: true });
        },
      }),
    );
    const c = codes(r);
    expect(r.requests.ok).toBeGreaterThan(0);
    expect(c.REFUSED).toBeGreaterThan(0);
    expect(c.NOT_FOUND).toBeGreaterThan(0);
    expect(r.errors.find((e) => e.code === 'REFUSED')!.message).toMatch(/refused/i);
    // Every dead second shows its errors; the whole seconds after the kill have no successes.
    const dead = r.timeline.filter((t) => t.second >= 1);
    expect(dead.length).toBeGreaterThanOrEqual(3);
    for (const t of dead) expect(t.errors, `second ${t.second}`).toBeGreaterThan(0);
    for (const t of dead.slice(1)) expect(t.requests, `second ${t.second}`).toBe(0);
    expect(r.timeline.reduce((a, t) => a + t.errors, 0) + r.drain.errors).toBe(r.requests.errors);
    expect(r.requests.total).toBe(r.requests.ok + r.requests.errors);
    // Each failed attempt is a reconnect attempt, and they back off (no 1 ms spin: that would be ~1000/s each).
    expect(r.reconnects).toBeGreaterThanOrEqual((c.REFUSED ?? 0) + (c.NOT_FOUND ?? 0));
    expect((c.REFUSED ?? 0) + (c.NOT_FOUND ?? 0)).toBeLessThan(C * 3.5 * 30);
    // Named as a finding, with the second where it happened.
    const collapse = r.findings.find((f) => f.code === 'RATE_COLLAPSE');
    expect(collapse?.detail).toMatch(/req\/s to 0 req\/s at second 1 and did not recover/);
  });

  it('oneshot, a server that dies mid-run: each slot backs off after a failed connect as reconnects do (no 1 ms spin)', async () => {
    const path = join(tmpDir('udsctl-b-'), 'dying.sock');
    const child = await childLineServer(path);
    const C = 2;
    const r = await runBench(
      base({
        target: path,
        engine,
        mode: 'oneshot',
        until: { kind: 'line' },
        connections: C,
        duration: 2_500,
        onTick: (t) => {
          if (t.last.second === 0) child.child.kill('SIGKILL');
        },
      }),
    );
    const c = codes(r);
    expect(r.requests.ok).toBeGreaterThan(0);
    expect(c.REFUSED).toBeGreaterThan(0);
    // 10 ms doubling to 250 ms: about ten attempts per slot in the dead 1.5 s; a 1 ms pause made hundreds.
    expect(c.REFUSED).toBeLessThan(C * 2.5 * 30);
    expect(r.requests.total).toBe(r.requests.ok + r.requests.errors);
  });

  it('short runs against a fast server: each worker under 100% of its core, no generator-bound alarm', async () => {
    const path = join(tmpDir('udsctl-b-'), 'fast.sock');
    await childLineServer(path);
    // A few milliseconds each: the window where start-up work used to read as >100% and "the bottleneck".
    for (let k = 0; k < 6; k++) {
      const r = await runBench(base({ target: path, engine, mode: 'persistent', connections: 1, requests: 10 }));
      expect(r.errors).toEqual([]);
      expect(r.cpu.generatorBound).toBe(false);
      for (const w of r.cpu.workers) expect(w.percent).toBeLessThanOrEqual(100);
      for (const t of r.timeline) if (t.cpuPercent !== null) expect(t.cpuPercent).toBeLessThanOrEqual(100);
      for (const w of r.cpu.workers) expect(w.wallMs).toBeLessThanOrEqual(r.elapsedMs + 1);
    }
  });

  it('REFUSED and NOT_FOUND are typed errors before any load', async () => {
    const dir = tmpDir('udsctl-b-');
    await expect(runBench(base({ target: join(dir, 'none.sock'), engine }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A stale socket file: its server was killed, nothing listens.
    const stale = join(dir, 'stale.sock');
    await makeStaleSocket(stale);
    await expect(runBench(base({ target: stale, engine }))).rejects.toMatchObject({ code: 'REFUSED' });
    const err = await runBench(base({ target: stale, engine, mode: 'persistent' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UdsError);
    expect((err as UdsError).code).toBe('REFUSED');
  });

  it('--rate keeps its schedule (generous bounds) and records no made-up samples', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, false);
    const r = await runBench(base({ target: srv.path, engine, mode: 'persistent', connections: 4, rate: 400, duration: 2_000, workers: 2 }));
    expect(r.errors).toEqual([]);
    expect(r.schedule!.scheduled).toBeGreaterThanOrEqual(760);
    expect(r.schedule!.scheduled).toBeLessThanOrEqual(840);
    expect(r.requests.ok + r.schedule!.unsent).toBe(r.schedule!.scheduled);
    expect(r.latency!.count).toBe(r.requests.ok);
    expect(srv.requests()).toBe(r.requests.ok);
  });

  it('--rate in oneshot mode: one connection per scheduled request', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, true);
    const r = await runBench(base({ target: srv.path, engine, mode: 'oneshot', connections: 4, rate: 300, duration: 1_000 }));
    expect(r.errors).toEqual([]);
    expect(r.schedule!.scheduled).toBeGreaterThanOrEqual(285);
    expect(r.schedule!.scheduled).toBeLessThanOrEqual(315);
    expect(r.requests.ok + r.schedule!.unsent).toBe(r.schedule!.scheduled);
    expect(srv.requests()).toBe(r.requests.ok);
  });

  it('open loop: a stalled server shows in the latency, measured from each scheduled start', async () => {
    const dir = tmpDir('udsctl-b-');
    // One connection, replies 100 ms after each request: at most ~10 req/s, asked for 50.
    const s = await serve(join(dir, 's.sock'), { keepAlive: true, delay: 100, idleTimeout: 0 });
    const r = await runBench(base({ target: s.address(), engine, mode: 'persistent', connections: 1, rate: 50, duration: 1_500 }));
    expect(r.errors).toEqual([]);
    expect(r.schedule!.unsent).toBeGreaterThan(0);
    expect(r.schedule!.late).toBeGreaterThan(0);
    // A closed-loop tool would say ~100 ms; requests that waited for the connection say much more.
    expect(r.latency!.p90Us).toBeGreaterThan(300_000);
    expect(r.latency!.count).toBe(r.requests.ok);
  });

  it('many persistent connections at once (a small-scale 10 000)', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, false);
    const r = await runBench(base({ target: srv.path, engine, mode: 'persistent', connections: 500, duration: 500, workers: 2 }));
    expect(r.errors).toEqual([]);
    expect(srv.connections()).toBe(500);
    expect(r.requests.ok).toBeGreaterThan(0);
  });

  it('a full listen backlog is retried (connectRetries, no error) until the server accepts', async () => {
    const path = join(tmpDir('udsctl-b-'), 'late.sock');
    // Full for longer than a worker takes to start on a loaded machine, well within the connect timeout.
    await startLateAcceptListener(path, 2_000);
    const r = await runBench(base({ target: path, engine, mode: 'persistent', connections: 2, requests: 20, connectTimeout: 10_000 }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(20);
    expect(r.connectRetries).toBeGreaterThan(0);
  });

  it('TCP targets', async () => {
    const srv = net.createServer((s) => s.once('data', () => s.end('OK\n')));
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const r = await runBench(base({ target: `127.0.0.1:${port}`, engine, requests: 50, connections: 2 }));
    expect(r.errors).toEqual([]);
    expect(r.requests.ok).toBe(50);
  });

  it('an abort signal ends the run early and reports what was measured', async () => {
    const dir = tmpDir('udsctl-b-');
    const srv = await countingServer(dir, false);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 700);
    const r = await runBench(base({ target: srv.path, engine, mode: 'persistent', connections: 2, duration: 30_000, signal: ac.signal }));
    expect(r.interrupted).toBe(true);
    expect(r.elapsedMs).toBeLessThan(10_000);
    // The requests abandoned at the abort were sent, unanswered: this process's server may not have read them yet.
    const sent = r.requests.ok + r.requests.errors + r.requests.abandoned + r.requests.warmup;
    for (const end = Date.now() + 3_000; srv.requests() < sent && Date.now() < end; ) await new Promise((res) => setTimeout(res, 10));
    expect(srv.requests()).toBe(sent);
  });
});
}

