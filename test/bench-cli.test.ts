/**
 * `udsctl bench` end to end: the real CLI, stdout, stderr and exit status
 * asserted apart; the JSON document against its documented schema.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run } from './helpers/children.js';
import { AS_NOBODY, IS_ROOT, worldDir } from './helpers/requirements.js';
import { BIN, collectStderr, killAll, runCli, startCli, waitExit } from './helpers/run-cli.js';
import { serve } from './helpers/servers.js';
import { tmpDir } from './helpers/tmp-dir.js';

afterEach(async () => {
  await killChildren();
  killAll();
});

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/** The documented JSON schema (docs/bench-section.md), checked field by field. */
function checkSchema(j: Record<string, any>): void {
  expect(j.schema).toBe('udsctl-bench/1');
  for (const k of ['target', 'mode', 'engine', 'until', 'startedAt']) expect(typeof j[k], k).toBe('string');
  for (const k of ['connections', 'pipeline', 'workers', 'payloadBytes', 'warmupMs', 'timeoutMs', 'connectTimeoutMs', 'elapsedMs', 'reconnects', 'connectRetries']) {
    expect(isNum(j[k]), k).toBe(true);
  }
  for (const k of ['embedded', 'interrupted']) expect(typeof j[k], k).toBe('boolean');
  for (const k of ['total', 'ok', 'errors', 'warmup', 'abandoned']) expect(isNum(j.requests[k]), `requests.${k}`).toBe(true);
  for (const k of ['requestsPerSec', 'bytesInPerSec', 'bytesOutPerSec']) expect(isNum(j.throughput[k]), `throughput.${k}`).toBe(true);
  expect(isNum(j.bytes.in) && isNum(j.bytes.out)).toBe(true);
  for (const name of ['latency', 'connect', ...(j.mode === 'oneshot' ? ['exchange'] : [])]) {
    const s = j[name];
    for (const k of ['count', 'minUs', 'p50Us', 'p90Us', 'p99Us', 'p999Us', 'maxUs', 'meanUs', 'stdevUs']) expect(isNum(s[k]), `${name}.${k}`).toBe(true);
    expect(s.minUs).toBeLessThanOrEqual(s.p50Us);
    expect(s.p50Us).toBeLessThanOrEqual(s.p99Us);
    expect(s.p99Us).toBeLessThanOrEqual(s.maxUs);
    expect(s.percentiles.every((p: any) => isNum(p.percentile) && isNum(p.us))).toBe(true);
  }
  expect(Array.isArray(j.distribution) && j.distribution.length > 0).toBe(true);
  for (const b of j.distribution) expect(isNum(b.fromUs) && isNum(b.toUs) && isNum(b.count)).toBe(true);
  expect(j.distribution.reduce((a: number, b: any) => a + b.count, 0)).toBe(j.latency.count);
  expect(Array.isArray(j.errors)).toBe(true);
  expect(Array.isArray(j.timeline) && j.timeline.length > 0).toBe(true);
  for (const t of j.timeline) {
    for (const k of ['second', 'durationMs', 'requests', 'errors', 'bytesIn', 'bytesOut']) expect(isNum(t[k]), `timeline.${k}`).toBe(true);
    for (const k of ['p50Us', 'p99Us', 'maxUs', 'cpuPercent']) expect(t[k] === null || isNum(t[k]), `timeline.${k}`).toBe(true);
  }
  expect(['thread', 'process']).toContain(j.cpu.scope);
  expect(typeof j.cpu.generatorBound).toBe('boolean');
  expect(isNum(j.cpu.processPercent)).toBe(true);
  expect(j.cpu.workers.every((w: any) => isNum(w.userMs) && isNum(w.systemMs) && isNum(w.percent))).toBe(true);
  expect(j.memory.peakRssBytes).toBeGreaterThan(0);
}

describe('udsctl bench', () => {
  it('with no target benchmarks its own server, says so on stderr, and prints the report', async () => {
    const r = await runCli(['bench', '-d', '700ms', '-c', '2'], { timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/no target given: benchmarking udsctl's own server \(udsctl serve\) on \/.*bench\.sock/);
    expect(r.status).toBe(0);
    for (const part of ['Requests', 'req/s', 'Latency', 'request', 'connect', 'exchange', 'Distribution', 'Timeline', 'Generator CPU']) {
      expect(r.stdout).toContain(part);
    }
    // Not a terminal: no spinner, no escape sequences.
    expect(r.stderr).not.toMatch(/\x1b\[/);
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('--json: the whole result on stdout, nothing else there, schema as documented', async () => {
    const r = await runCli(['bench', '--json', '-m', 'persistent', '-d', '1200ms', '-c', '3', '--payload', 'hi'], { timeoutMs: 30_000 });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    checkSchema(j);
    expect(j.embedded).toBe(true);
    expect(j.mode).toBe('persistent');
    expect(j.payloadBytes).toBe(3); // "hi" and the newline a line protocol needs
    expect(j.exchange).toBeNull();
    expect(j.rate).toBeNull();
    expect(j.schedule).toBeNull();
  });

  it('--json with --rate has the schedule', async () => {
    const r = await runCli(['bench', '--json', '--rate', '200', '-d', '1s', '-c', '2'], { timeoutMs: 30_000 });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    checkSchema(j);
    expect(j.rate).toBe(200);
    for (const k of ['scheduled', 'unsent', 'late']) expect(isNum(j.schedule[k])).toBe(true);
  });

  it('exit status is the most frequent error class, with the reason on stderr', async () => {
    const dir = tmpDir('udsctl-bc-');
    const silent = await serve(join(dir, 'silent.sock'), { fault: 'silent', idleTimeout: 0 });
    const r = await runCli(['bench', '-n', '2', '-c', '2', '-t', '200ms', silent.address()], { timeoutMs: 30_000 });
    expect(r.status).toBe(7);
    expect(r.stderr).toMatch(/2 of 2 requests failed; most often REPLY_TIMEOUT: .*no reply within 200ms/);
    expect(r.stdout).toMatch(/Errors/);
    expect(r.stdout).toMatch(/REPLY_TIMEOUT\s+2/);

    const ok = await serve(join(dir, 'ok.sock'));
    const m = await runCli(['bench', '-n', '5', '-c', '1', '--expect', 'NOPE', '--json', ok.address()], { timeoutMs: 30_000 });
    expect(m.status).toBe(10);
    const j = JSON.parse(m.stdout);
    expect(j.errors).toEqual([{ code: 'MISMATCH', count: 5, message: expect.stringMatching(/did not contain "NOPE" \(got "OK\+ at/) }]);
  });

  it('interrupted (SIGINT) before any request finished: exit 130, says nothing was measured', async () => {
    const dir = tmpDir('udsctl-bc-');
    const path = join(dir, 'mute.sock');
    // Reads every request and never replies; tells the test when the first request arrived.
    let arrived: () => void = () => {};
    const conns: net.Socket[] = [];
    const srv = net.createServer((s) => {
      conns.push(s);
      s.on('error', () => {});
      s.on('data', () => arrived());
    });
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      for (const json of [false, true]) {
        const got = new Promise<void>((r) => (arrived = r));
        const child = startCli(['bench', '-m', 'persistent', '-c', '1', '-d', '30s', '-t', '30s', ...(json ? ['--json'] : []), path]);
        const err = collectStderr(child);
        let out = '';
        child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        await got;
        child.kill('SIGINT');
        expect(await waitExit(child, 20_000)).toBe(130);
        expect(err.text()).toMatch(/interrupted before any request finished: nothing was measured/);
        if (json) {
          const j = JSON.parse(out);
          expect(j.interrupted).toBe(true);
          expect(j.requests.total).toBe(0);
          expect(j.requests.abandoned).toBe(1);
        } else expect(out).toMatch(/interrupted/);
      }
    } finally {
      for (const s of conns) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  it('a very short run: Generator CPU is per worker thread, and no "bottleneck" alarm', async () => {
    const dir = tmpDir('udsctl-bc-');
    const ok = await serve(join(dir, 'ok.sock'), { keepAlive: true, idleTimeout: 0 });
    for (let k = 0; k < 3; k++) {
      const r = await runCli(['bench', '-m', 'persistent', '-n', '10', '-c', '1', ok.address()], { timeoutMs: 30_000 });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Generator CPU +w1 \d+% \(each worker thread, of one core\)/);
      expect(r.stdout).not.toMatch(/bottleneck/);
    }
  });

  it('a target nobody listens on: the typed error and its exit status, no report', async () => {
    const dir = tmpDir('udsctl-bc-');
    const r = await runCli(['bench', '-d', '500ms', join(dir, 'none.sock')], { timeoutMs: 30_000 });
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no such socket/);
  });

  it('usage errors exit 2 and name the flag', async () => {
    const a = await runCli(['bench', '--pipeline', '2', '-d', '100ms']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--pipeline needs --mode persistent/);
    const b = await runCli(['bench', '--rate', 'fast']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--rate must be/);
    const c = await runCli(['bench', '--payload', 'x', '--size', '10', '-d', '100ms']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--payload or --size/);
    const d = await runCli(['bench', '--mode', 'both']);
    expect(d.status).toBe(2);
  });

  it('on a terminal: the live progress line; a terminal that reports no width gets none (and no runaway output)', async () => {
    if (spawnSync('script', ['--version']).status !== 0) return; // util-linux script(1) makes the pseudo-terminal
    // 1.5 s where the live line's counts are read second by second; the runs that must show no live line are short (CPU).
    const cmd = (cols: number, d = '1500ms') => `stty cols ${cols} rows 40; exec ${process.execPath} ${BIN} bench -d ${d} -c 2`;
    const { CI: _ci, ...env } = process.env; // CI runs set CI, and like ora, bench draws no live line then
    const term = { ...env, NO_COLOR: '1', TERM: 'xterm' };
    const tty = await run('script', ['-qec', cmd(100), '/dev/null'], { timeoutMs: 30_000, env: term });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toMatch(/bench \d\.\ds\/\ds {2}[\d,]+ req\/s {2}p50 /);
    // Live counts: within one second the ok count moves (it used to change only once a second).
    const bySecond = new Map<number, Set<number>>();
    for (const m of tty.stdout.matchAll(/bench (\d)\.\ds\/\ds .*?([\d,]+) ok/g)) {
      const set = bySecond.get(Number(m[1])) ?? new Set<number>();
      set.add(Number(m[2].replace(/,/g, '')));
      bySecond.set(Number(m[1]), set);
    }
    expect([...bySecond.values()].some((counts) => counts.size > 1), JSON.stringify([...bySecond].map(([k, v]) => [k, [...v]]))).toBe(true);
    expect(tty.stdout).toMatch(/Requests +[\d,]+ ok/);
    const narrow = await run('script', ['-qec', cmd(0, '400ms'), '/dev/null'], { timeoutMs: 30_000, env: term });
    expect(narrow.code).toBe(0);
    expect(narrow.stdout).not.toMatch(/req\/s {2}p50 /);
    expect(narrow.stdout.length).toBeLessThan(50_000);
    for (const quiet of [{ ...term, CI: 'true' }, { ...term, TERM: 'dumb' }]) {
      const r = await run('script', ['-qec', cmd(100, '400ms'), '/dev/null'], { timeoutMs: 30_000, env: quiet });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/req\/s {2}p50 |- starting/);
      expect(r.stdout).toMatch(/Requests +[\d,]+ ok/);
    }
  });

  it('raises the open-file limit itself where allowed (a soft limit below the hard one)', async () => {
    const r = await run('prlimit', ['--nofile=128:4096', process.execPath, BIN, 'bench', '--json', '-m', 'persistent', '-c', '300', '-d', '300ms'], {
      timeoutMs: 30_000,
    });
    expect(r.stderr).not.toMatch(/ulimit/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).errors).toEqual([]);
  });

  it('too few file descriptors and no right to raise the limit: a clear error naming ulimit -n, exit 12', async () => {
    // An ordinary user cannot raise a hard limit; root can, so root drops to uid 65534 first
    // (running the world-readable copy of the build: the checkout may be in a 0700 folder).
    const bench = ['bench', '-m', 'persistent', '-c', '300', '-d', '300ms'];
    const limited = ['prlimit', '--nofile=128:128', process.execPath];
    const r = IS_ROOT
      ? await run(AS_NOBODY[0], [...AS_NOBODY.slice(1), ...limited, join(worldDir(), 'bin', 'udsctl.cjs'), ...bench], { timeoutMs: 30_000, cwd: '/' })
      : await run(limited[0], [...limited.slice(1), BIN, ...bench], { timeoutMs: 30_000, cwd: '/' });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/300 connections need about \d+ open files, but the limit is 128 .*ulimit -n \d+/);
    expect(r.stdout).toBe('');
  });
});
