/**
 * --fastcgi against a real php-fpm (ping.path, pm.status_path, PHP scripts in
 * the temp dir) in send, probe and bench, and against FastCGI fault servers
 * (test/fixtures/fastcgi-faults.py): a record cut short, a server that never
 * sends END_REQUEST, an HTTP answer, a refused request. Each fault is a
 * precise finding within --timeout.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnChild, waitForOutput } from '../helpers/children.js';
import { startPhpFpm } from '../helpers/php-fpm.js';
import { FIXTURES } from '../helpers/peers.js';
import { runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { check, cleanup, expectFinding, probe, probeJson } from '../fixtures/probe-helpers.js';

afterEach(cleanup);

/** php-fpm with two scripts beside it: echo.php (body, query, a param, a header) and fail.php (500 and a message on STDERR). */
async function fpmWithScripts() {
  const dir = tmpDir();
  writeFileSync(
    join(dir, 'echo.php'),
    "<?php header('X-Udsctl: yes'); echo strtoupper(file_get_contents('php://input')), '|', $_GET['q'] ?? '', '|', $_SERVER['HTTP_X_TEST'] ?? '', '|', $_SERVER['REQUEST_METHOD'];\n",
  );
  writeFileSync(join(dir, 'fail.php'), "<?php http_response_code(500); error_log('boom from php'); echo 'failed';\n");
  return startPhpFpm(dir);
}

// Named fault-MODE.sock: a name such as http.sock is itself evidence of HTTP to probe's recognition, and these tests judge the replies.
async function faultServer(mode: string): Promise<string> {
  const sock = join(tmpDir(), `fault-${mode}.sock`);
  const p = spawnChild('python3', [join(FIXTURES, 'fastcgi-faults.py'), mode, sock], { timeoutMs: 30_000 });
  await waitForOutput(p, /ready/);
  return sock;
}

describe('php-fpm', () => {
  it('probe --fastcgi /ping --expect pong: the php-fpm health check, one-shot (php-fpm closes after END_REQUEST)', async () => {
    const fpm = await fpmWithScripts();
    const [res, human, nagios] = await Promise.all([
      probeJson(['--fastcgi', '/ping', '--expect', 'pong', fpm.sock]),
      probe(['--fastcgi', '/ping', '--expect', 'pong', fpm.sock]),
      probe(['--fastcgi', '/ping', '--format', 'nagios', fpm.sock]),
    ]);
    expectFinding(res, 'OK', 0);
    expect(res.t.until).toBe('fastcgi');
    expect(res.t.contract).toBe('one-shot');
    expect(check(res.t, 'reply').detail).toMatch(/STDOUT "pong".*Status: 200/);
    expect(check(res.t, 'close')).toMatchObject({ status: 'ok', detail: 'server closed after the reply' });
    expect(res.t.exchange.frame).toMatchObject({ status: 200, failed: false });
    expect(human.status).toBe(0);
    // The records are framing: no hex dump of them for a text body.
    expect(human.stdout).not.toContain('hexdump');
    expect(nagios.stdout).toMatch(/^OK: .* healthy in /);
    // A wrong --expect is a MISMATCH quoting the body, not the records.
    const wrong = await probeJson(['--fastcgi', '/ping', '--expect', 'nope', fpm.sock]);
    expectFinding(wrong, 'MISMATCH', 2);
    expect(wrong.t.detail).toContain('reply "pong" does not contain "nope"');
    // send -v: the timeline shows the application's STDOUT, not the records; stdout is the body.
    const verbose = await runCli(['send', '-v', '--fastcgi', '/ping', fpm.sock]);
    expect(verbose.stdout).toBe('pong');
    expect(verbose.stderr).toMatch(/reply complete \(\d+ bytes STDOUT "Content-type: text\/plain/);
    expect(verbose.stderr).not.toContain('hexdump');
  });

  it('--fastcgi /status shows the pool; --keep-alive asks php-fpm to keep the connection (FCGI_KEEP_CONN)', async () => {
    const fpm = await fpmWithScripts();
    const [send, kept] = await Promise.all([
      runCli(['send', '--fastcgi', '/status', fpm.sock]),
      probeJson(['--fastcgi', '/status', '--keep-alive', '--expect', 'pool:', fpm.sock]),
    ]);
    expect(send.status).toBe(0);
    expect(send.stdout).toMatch(/^pool:\s+www$/m);
    expect(send.stdout).toMatch(/^process manager:\s+static$/m);
    expectFinding(kept, 'OK', 0);
    expect(kept.t.exchange.end).toBe('open');
  });

  it('a script that does not exist: Status 404 and STDERR "Primary script unknown": HTTP_STATUS WARNING; send exits 10', async () => {
    const fpm = await fpmWithScripts();
    const [res, send] = await Promise.all([
      probeJson(['--fastcgi', join(fpm.dir, 'missing.php'), fpm.sock]),
      runCli(['send', '--fastcgi', join(fpm.dir, 'missing.php'), fpm.sock]),
    ]);
    expectFinding(res, 'HTTP_STATUS', 1);
    expect(res.t.detail).toContain('Status: 404 Not Found, not a 2xx; STDERR "Primary script unknown"');
    expect(send.status).toBe(10);
    expect(send.stdout).toBe('File not found.\n');
    expect(send.stderr).toContain('STDERR from the application (22 bytes): "Primary script unknown"');
    expect(send.stderr).toContain('Status: 404 Not Found');
    // --expect-status makes the 404 the healthy answer.
    expectFinding(await probeJson(['--fastcgi', join(fpm.dir, 'missing.php'), '--expect-status', '404', fpm.sock]), 'OK', 0);
  });

  it('a PHP script: the body from --data or the message (STDIN), the query, --param, -i for the CGI head; 500 is CRITICAL', async () => {
    const fpm = await fpmWithScripts();
    const script = join(fpm.dir, 'echo.php');
    const [data, message, stdin, head, fail] = await Promise.all([
      runCli(['send', '--fastcgi', `${script}?q=7`, '--data', 'hello', '--param', 'HTTP_X_TEST=t1', fpm.sock]),
      runCli(['send', '--fastcgi', script, fpm.sock, 'from\\targ']),
      runCli(['send', '--fastcgi', script, fpm.sock, '-'], { input: 'piped' }),
      runCli(['send', '-i', '--fastcgi', script, '--param', 'REQUEST_METHOD=PUT', fpm.sock]),
      probeJson(['--fastcgi', join(fpm.dir, 'fail.php'), fpm.sock]),
    ]);
    expect(data.stdout).toBe('HELLO|7|t1|POST');
    expect(data.status).toBe(0);
    expect(message.stdout).toBe('FROM\tARG|||POST');
    expect(stdin.stdout).toBe('PIPED|||POST');
    expect(head.stdout).toMatch(/^X-Udsctl: yes\r\n(.*\r\n)*\r\n\|\|\|PUT$/);
    expectFinding(fail, 'HTTP_STATUS', 2);
    expect(fail.t.status).toBe('CRITICAL');
    expect(fail.t.detail).toMatch(/Status: 500.*STDERR ".*boom from php/);
  });

  it('bench --fastcgi /ping: oneshot and persistent (FCGI_KEEP_CONN), every reply framed and expected', async () => {
    const fpm = await fpmWithScripts();
    for (const mode of ['oneshot', 'persistent']) {
      const r = await runCli(['bench', '--fastcgi', '/ping', '--expect', 'pong', '-m', mode, '-n', '300', '-c', '2', '--workers', '1', '--json', fpm.sock], { timeoutMs: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.errors).toEqual([]);
      expect(doc.requests.ok).toBeGreaterThanOrEqual(300);
    }
  });

  it('usage: --param needs --fastcgi; --fastcgi with --http, --send or --method is refused in one line', async () => {
    const sock = join(tmpDir(), 'x.sock');
    const cases: [string[], RegExp][] = [
      [['send', '--param', 'A=1', sock], /--param needs --fastcgi SCRIPT/],
      [['send', '--fastcgi', '/ping', '--http', '/', sock], /--http and --fastcgi contradict each other/],
      [['probe', '--fastcgi', '/ping', '--send', 'x', sock], /--fastcgi makes the request and frames the reply: leave out --send/],
      [['send', '--fastcgi', '/ping', '-X', 'POST', sock], /-X\/--method goes with --http/],
      [['send', '--fastcgi', 'ping', sock], /--fastcgi takes a script path starting with \//],
      [['send', '--fastcgi', '/x.php', '--data', 'a', sock, 'b'], /give --data or a message, not both/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.status).toBe(args[0] === 'probe' ? 3 : 2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('FastCGI fault servers: precise findings within --timeout', () => {
  it('a record cut short, the connection left open: PARTIAL_REPLY naming the record, after --timeout', async () => {
    const sock = await faultServer('cut');
    const started = performance.now();
    const [res, send] = await Promise.all([
      probeJson(['--fastcgi', '/ping', '--timeout', '500ms', sock]),
      runCli(['send', '--fastcgi', '/ping', '--timeout', '500ms', sock]),
    ]);
    expect(performance.now() - started).toBeLessThan(10_000);
    expectFinding(res, 'PARTIAL_REPLY', 2);
    expect(res.t.detail).toContain('a STDOUT record cut short (11 of 100 content bytes)');
    expect(send.status).toBe(7);
    expect(send.stderr).toContain('a STDOUT record cut short (11 of 100 content bytes)');
  });

  it('a record cut short, then closed: PARTIAL_REPLY (closed before END_REQUEST)', async () => {
    const sock = await faultServer('cut-close');
    const res = await probeJson(['--fastcgi', '/ping', '--timeout', '2s', sock]);
    expectFinding(res, 'PARTIAL_REPLY', 2);
    expect(res.t.detail).toMatch(/closed after .*before the end rule \(fastcgi\).*STDOUT record cut short/);
  });

  it('complete STDOUT records but never END_REQUEST: PARTIAL_REPLY saying so, bounded by --timeout', async () => {
    const sock = await faultServer('no-end');
    const res = await probeJson(['--fastcgi', '/ping', '--timeout', '500ms', sock]);
    expectFinding(res, 'PARTIAL_REPLY', 2);
    expect(res.t.detail).toContain('2 records (22 bytes of STDOUT, 0 of STDERR) and no END_REQUEST');
  });

  it('an HTTP answer on a FastCGI path: MISMATCH, not FastCGI; a refused request (OVERLOADED): MISMATCH', async () => {
    const [http, overloaded] = await Promise.all([faultServer('http'), faultServer('overloaded')]);
    const [a, b, send] = await Promise.all([
      probeJson(['--fastcgi', '/ping', http]),
      probeJson(['--fastcgi', '/ping', overloaded]),
      runCli(['send', '--fastcgi', '/ping', overloaded]),
    ]);
    expectFinding(a, 'MISMATCH', 2);
    expect(a.t.detail).toMatch(/not FastCGI: a record starts with version byte 72 .*an HTTP server\?/);
    expectFinding(b, 'MISMATCH', 2);
    expect(b.t.detail).toContain('refused the request: END_REQUEST OVERLOADED');
    expect(send.status).toBe(10);
    expect(send.stderr).toContain('the server refused the request: OVERLOADED');
  });

  it('bench --fastcgi: refused requests (OVERLOADED) are MISMATCH errors, a non-FastCGI answer BAD_FRAME; exit 10', async () => {
    const [overloaded, http] = await Promise.all([faultServer('overloaded'), faultServer('http')]);
    for (const [sock, code] of [[overloaded, 'MISMATCH'], [http, 'BAD_FRAME']]) {
      const r = await runCli(['bench', '--fastcgi', '/ping', '-n', '20', '-c', '1', '--workers', '1', '--json', sock], { timeoutMs: 60_000 });
      expect(r.status, r.stderr).toBe(10);
      expect(JSON.parse(r.stdout).errors[0].code).toBe(code);
    }
  });

  it('--expect finds text split across two STDOUT records in bench as in probe (the records are framing, not content)', async () => {
    const sock = await faultServer('split');
    expectFinding(await probeJson(['--fastcgi', '/ping', '--expect', 'pong', sock]), 'OK', 0);
    const r = await runCli(['bench', '--fastcgi', '/ping', '--expect', 'pong', '-n', '20', '-c', '2', '--workers', '1', '--json', sock], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).requests).toMatchObject({ ok: 20, errors: 0 });
    const miss = await runCli(['bench', '--fastcgi', '/ping', '--expect', 'pang', '-n', '5', '-c', '1', '--workers', '1', '--json', sock], { timeoutMs: 60_000 });
    expect(miss.status).toBe(10);
    const err = JSON.parse(miss.stdout).errors[0];
    expect(err.code).toBe('MISMATCH');
    // The first bytes shown are STDOUT's (the CGI head), not a record header's.
    expect(err.message).toContain('Status: 200 OK');
  });

  it('the well-behaved Python FastCGI server is healthy (the faults are the faults, not the client)', async () => {
    const sock = await faultServer('ok');
    expectFinding(await probeJson(['--fastcgi', '/ping', '--expect', 'pong', sock]), 'OK', 0);
  });
});
