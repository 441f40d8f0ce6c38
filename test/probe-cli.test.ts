/**
 * The CI contract of `udsctl probe`, end to end: default target, several
 * targets at once, --wait, --json / --format nagios / --quiet, colour, payload
 * options, and usage errors exiting 3 (UNKNOWN).
 */
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, waitExit, waitForStderr } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { check, cleanup, expectFinding, probe, probeJson, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

const FAST = ['--timeout', '300ms', '--close-timeout', '200ms', '--connect-timeout', '300ms'];

describe('targets', () => {
  it('no target: $UDSCTL_SOCKET', async () => {
    const sock = join(tmpDir(), 'env.sock');
    await serve(sock);
    const res = await probeJson([], { env: { UDSCTL_SOCKET: sock } });
    expectFinding(res, 'OK', 0);
    expect(res.t.target).toBe(sock);
  });

  it('no target and no $UDSCTL_SOCKET: /tmp/odc_ws.sock, the reference setup', async () => {
    const { doc } = await probeJson(FAST, { env: { UDSCTL_SOCKET: '' } });
    expect(doc.targets).toHaveLength(1);
    expect(doc.targets[0].target).toBe('/tmp/odc_ws.sock');
  });

  it('several targets at once: one object each, in order; the exit status is the worst', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'ok.sock'));
    await serve(join(dir, 'nc.sock'), ['--fault', 'never-close']);
    await serve(join(dir, 'nn.sock'), ['--fault', 'no-newline']);
    const [all, warnOnly, human] = await Promise.all([
      probeJson([...FAST, join(dir, 'ok.sock'), join(dir, 'nc.sock'), join(dir, 'missing.sock'), join(dir, 'nn.sock')]),
      probeJson([...FAST, join(dir, 'ok.sock'), join(dir, 'nn.sock')]),
      probe([...FAST, join(dir, 'ok.sock'), join(dir, 'missing.sock')]),
    ]);
    expect(all.r.status).toBe(2);
    expect(all.doc).toMatchObject({ status: 'CRITICAL', exitStatus: 2 });
    expect(all.doc.targets.map((t: { code: string }) => t.code)).toEqual(['OK', 'NEVER_CLOSED', 'NOT_FOUND', 'NO_NEWLINE']);

    expect(warnOnly.r.status).toBe(1);
    expect(warnOnly.doc.status).toBe('WARNING');
    expect(human.status).toBe(2);
    expect(human.stdout.split('\n')[0]).toBe('CRITICAL 1 of 2 targets not OK');
  });

  it('several targets are probed concurrently, not one after another', async () => {
    const dir = tmpDir();
    const socks = ['a', 'b', 'c'].map((n) => join(dir, `${n}.sock`));
    for (const s of socks) await serve(s, ['--fault', 'silent']);
    const started = performance.now();
    const res = await probeJson(['--timeout', '1500ms', ...socks]);
    // One after another would take 4.5s; all at once about 1.5s. A generous bound in between.
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(res.doc.targets.map((t: { code: string }) => t.code)).toEqual(['SILENT', 'SILENT', 'SILENT']);
  });

  it('a symlink to a socket is followed, and said', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'real.sock'));
    symlinkSync(join(dir, 'real.sock'), join(dir, 'link.sock'));
    const res = await probeJson([join(dir, 'link.sock')]);
    expectFinding(res, 'OK', 0);
    expect(res.t.path.symlinkTo).toBe(join(dir, 'real.sock'));
  });
});

describe('--wait', () => {
  it('waits for a server that starts late, and reports the attempts', async () => {
    const sock = join(tmpDir(), 'late.sock');
    const child = startCli(['probe', '--wait', '15s', '--interval', '100ms', sock]);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    // The first attempt failed and said so on stderr: only now start the server.
    const err = await waitForStderr(child, /attempt 1: CRITICAL NOT_FOUND/);
    expect(err).toContain('retrying every 100ms');
    await serve(sock);
    expect(await waitExit(child, 15_000)).toBe(0);
    expect(out.split('\n')[0]).toBe(`OK ${sock}: healthy [OK]`);
    expect(out).toMatch(/waited: \d+ attempts over .* \(until healthy\)/);
  });

  it('--json: attempts and the wait settings in the report', async () => {
    const sock = join(tmpDir(), 'late2.sock');
    const child = startCli(['probe', '--json', '--wait', '15s', '--interval', '100ms', sock]);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    setTimeout(() => void serve(sock).catch(() => {}), 600);
    expect(await waitExit(child, 15_000)).toBe(0);
    const t = JSON.parse(out).targets[0];
    expect(t.code).toBe('OK');
    expect(t.attempts).toBeGreaterThanOrEqual(1);
    expect(t.wait).toEqual({ ms: 15_000, intervalMs: 100, gaveUp: false });
  });

  it('gives up at the deadline with the last finding', async () => {
    const sock = join(tmpDir(), 'never.sock');
    const [res, human] = await Promise.all([
      probeJson(['--wait', '400ms', '--interval', '100ms', sock]),
      probe(['--wait', '300ms', '--interval', '100ms', sock]),
    ]);
    expectFinding(res, 'NOT_FOUND', 2);
    expect(res.t.attempts).toBeGreaterThanOrEqual(2);
    expect(res.t.wait.gaveUp).toBe(true);
    expect(human.status).toBe(2);
    expect(human.stdout).toMatch(/waited: \d+ attempts over .* \(gave up after --wait 300ms\)/);
  });

  it('stops at a WARNING: the service is up', async () => {
    const sock = join(tmpDir(), 'nn.sock');
    await serve(sock, ['--fault', 'no-newline']);
    const res = await probeJson(['--wait', '10s', '--interval', '100ms', sock]);
    expectFinding(res, 'NO_NEWLINE', 1);
    expect(res.t.attempts).toBe(1);
  });
});

describe('output formats', () => {
  it('--json: the documented schema', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(sock);
    const { doc, t } = await probeJson([sock]);
    expect(Object.keys(doc)).toEqual(['schema', 'status', 'exitStatus', 'targets']);
    for (const k of ['target', 'kind', 'status', 'exitStatus', 'code', 'title', 'detail', 'cause', 'fix', 'findings', 'checks',
      'contract', 'until', 'responseMs', 'attempts', 'elapsedMs', 'wait', 'path', 'listener', 'exchange']) {
      expect(t, k).toHaveProperty(k);
    }
    expect(t.checks.map((c: { name: string }) => c.name)).toEqual(['path', 'listener', 'connect', 'send', 'reply', 'close']);
    for (const c of t.checks) {
      expect(typeof c.ms).toBe('number');
      expect(typeof c.detail).toBe('string');
    }
    expect(t.findings).toEqual([expect.objectContaining({ code: 'OK', severity: 'OK', check: null })]);
    expect(t).toMatchObject({ kind: 'unix', contract: 'one-shot', until: 'line', attempts: 1, wait: null });
    expect(t.exchange).toMatchObject({ bytesSent: 13, end: 'closed', ruleMet: true });
    expect(t.path.mode).toMatch(/^0[0-7]{3}$/);
  });

  it('--format nagios: one line STATUS: text | perfdata', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'ok.sock'));
    await serve(join(dir, 'nc.sock'), ['--fault', 'never-close']);
    const [ok, bad] = await Promise.all([
      probe(['--format', 'nagios', '--warn', '200ms', '--crit', '1s', join(dir, 'ok.sock')]),
      probe([...FAST, '--format', 'nagios', join(dir, 'nc.sock')]),
    ]);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^OK: \S+ok\.sock healthy in [\d.]+(us|ms) \| time=\d+\.\d{6}s;0\.200000;1\.000000;0 size=16B;;;0\n$/);
    expect(bad.status).toBe(2);
    expect(bad.stdout.split('\n')).toHaveLength(2);
    expect(bad.stdout).toMatch(/^CRITICAL: \S+nc\.sock replied but never closed \(NEVER_CLOSED\): .* \| time=/);
  });

  it('--quiet: nothing at all, the exit status only', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'ok.sock'));
    const [ok, bad] = await Promise.all([
      probe(['--quiet', join(dir, 'ok.sock')]),
      probe(['-q', '--wait', '200ms', '--interval', '50ms', join(dir, 'missing.sock')]),
    ]);
    expect(ok).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(bad).toMatchObject({ status: 2, stdout: '', stderr: '' });
  });

  it('colour only when asked for or on a terminal: none through a pipe', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(sock);
    const [plain, forced, json] = await Promise.all([
      probe([sock], { env: { NO_COLOR: '', FORCE_COLOR: '0' } }),
      probe([sock], { env: { NO_COLOR: '', FORCE_COLOR: '1' } }),
      probe(['--json', sock], { env: { NO_COLOR: '', FORCE_COLOR: '1' } }),
    ]);
    expect(plain.stdout).not.toMatch(/\x1b\[/);
    expect(forced.stdout).toMatch(/\x1b\[/);
    expect(json.stdout).not.toMatch(/\x1b\[/);
  });
});

describe('payload options', () => {
  it('--send with escapes, --hex, and an empty --send for a server that speaks first', async () => {
    const sock = join(tmpDir(), 'echo.sock');
    await serve(sock, ['--echo']);
    const [text, hex, none] = await Promise.all([
      probeJson(['--send', 'ping\\tpong\\n', '--expect', 'ping\\tpong', sock]),
      probeJson(['--hex', '--send', '68 69 0a', '--expect', 'hi', sock]),
      probeJson([...FAST, '--send', '', sock]),
    ]);
    expectFinding(text, 'OK', 0);
    expect(text.t.exchange.reply).toBe('ping\tpong\n');
    expectFinding(hex, 'OK', 0);
    expect(hex.t.exchange.bytesSent).toBe(3);
    expectFinding(none, 'SILENT', 2);
    expect(check(none.t, 'send').status).toBe('skip');
  });

  it('--until bytes:N and idle:', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(sock);
    const [bytes, idle] = await Promise.all([
      probeJson(['--until', 'bytes:3', '--expect', 'OK+', sock]),
      probeJson(['--until', 'idle:100ms', sock]),
    ]);
    expectFinding(bytes, 'OK', 0);
    expectFinding(idle, 'OK', 0);
  });
});

describe('usage errors exit 3 (UNKNOWN), with a message on stderr and nothing on stdout', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown option', ['--bogus'], /unknown option/],
    ['a bad duration', ['--timeout', 'soon'], /--timeout must be a duration/],
    ['a bad end rule', ['--until', 'never'], /--until must be one of/],
    ['--keep-alive with --expect-close', ['--keep-alive', '--expect-close'], /cannot be used with/],
    ['--keep-alive with --until eof', ['--keep-alive', '--until', 'eof'], /--until eof waits for the server to close/],
    ['a bad regular expression', ['--expect-regex', '(unclosed'], /--expect-regex/],
    ['--crit below --warn', ['--warn', '2s', '--crit', '1s'], /--crit .* must not be below --warn/],
    ['--json with --format nagios', ['--json', '--format', 'nagios'], /contradict/],
    ['a bad --format', ['--format', 'xml'], /Allowed choices are human, json, nagios/],
    ['bad hex', ['--hex', '--send', 'zz'], /--hex needs pairs of hex digits/],
    ['--hex without --send', ['--hex'], /--hex needs --send with hex digits/],
    ['--interval 0 with --wait', ['--wait', '1s', '--interval', '0'], /--interval must be above 0/],
    ['a path over the sun_path limit', [`/tmp/${'x'.repeat(120)}.sock`], /limit is 107 bytes/],
  ];
  it(cases.map((c) => c[0]).join('; '), async () => {
    // All at once (each is a separate process); the options are refused before any target is touched.
    const results = await Promise.all(
      cases.map(([, args]) => probe(args[0].startsWith('/') ? args : [...args, '/tmp/udsctl-probe-usage-never-used.sock'])),
    );
    results.forEach((r, i) => {
      const [what, , message] = cases[i];
      expect(r.status, what).toBe(3);
      expect(r.stdout, what).toBe('');
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).toMatch(/usage: udsctl probe/);
    });
  });

  it('--help exits 0 and lists every finding code', async () => {
    const r = await probe(['--help']);
    expect(r.status).toBe(0);
    for (const code of ['NEVER_CLOSED', 'STALE_SOCKET', 'BACKLOG_FULL', 'NO_NEWLINE', 'SLOW']) expect(r.stdout).toContain(code);
  });
});
