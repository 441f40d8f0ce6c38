import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServeOptions } from '../../src/index.js';
import { killChildren, run } from '../helpers/children.js';
import { requirePeers } from '../helpers/requirements.js';
import { FIXTURES, OK_REPLY_RE } from '../helpers/peers.js';
import { collectLogs, serve } from '../helpers/servers.js';
import { tmpDir } from '../helpers/tmp-dir.js';

// Not installed: these tests skip (one summary line at the end); UDSCTL_TEST_STRICT=1 makes that a failure.
beforeEach(() => requirePeers('php'));
afterEach(killChildren);

const LINE_CLIENT = join(FIXTURES, 'php-line-client.php');
const EOF_CLIENT = join(FIXTURES, 'php-eof-client.php');

// Linux errno values as PHP's socket_last_error() reports them.
const EINTR = 4;
const EAGAIN = 11;
const ECONNRESET = 104;

interface PhpResult {
  ok: boolean;
  line?: string;
  reply?: string;
  errno?: number | null;
  error?: string | null;
  deadline?: boolean;
}

/**
 * Run a PHP client against a fresh udsctl server. SO_RCVTIMEO is rcvMs; the
 * line client's hard deadline (pcntl_alarm) is 1s; the child itself is killed
 * after 10s, so nothing here can hang.
 */
async function php(script: string, opts: ServeOptions, rcvMs = 300): Promise<PhpResult & { ms: number }> {
  const path = join(tmpDir(), 's.sock');
  await serve(path, opts);
  const args = script === LINE_CLIENT ? [script, path, String(rcvMs), '1'] : [script, path, String(rcvMs)];
  const r = await run('php', args, { timeoutMs: 10_000 });
  expect(r.signal, `php was killed: ${r.stderr}`).toBeNull();
  expect(r.stderr).toBe('');
  return { ...(JSON.parse(r.stdout) as PhpResult), ms: r.ms };
}

describe('PHP socket_read(..., PHP_NORMAL_READ) against udsctl startServer()', () => {
  it('reads the default reply line', async () => {
    const r = await php(LINE_CLIENT, {});
    expect(r).toMatchObject({ ok: true, line: expect.stringMatching(OK_REPLY_RE) });
  });

  it('the request arrives as PHP sent it', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    const r = await run('php', [LINE_CLIENT, path, '300', '1'], { timeoutMs: 10_000 });
    expect(JSON.parse(r.stdout).ok).toBe(true);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ request: 'hello from php\n', end: 'closed' });
  });

  it('never-close: a line reader is fine, it does not wait for the close', async () => {
    const r = await php(LINE_CLIENT, { fault: 'never-close' });
    expect(r).toMatchObject({ ok: true, line: expect.stringMatching(OK_REPLY_RE) });
  });

  it('no-newline: the reply is lost; PHP reports ECONNRESET at the close', async () => {
    // php_read() gives up after 200 zero-byte reads at EOF and calls it a reset.
    const r = await php(LINE_CLIENT, { fault: 'no-newline' });
    expect(r).toMatchObject({ ok: false, errno: ECONNRESET, deadline: false });
  });

  it('no-newline on a keep-alive connection: PHP_NORMAL_READ hangs; SO_RCVTIMEO does not stop it', async () => {
    const r = await php(LINE_CLIENT, { fault: 'no-newline', keepAlive: true }, 200);
    // Only the 1s alarm ended the read, long after the 200ms SO_RCVTIMEO.
    expect(r).toMatchObject({ ok: false, errno: EINTR, deadline: true });
    expect(r.ms).toBeGreaterThanOrEqual(900);
  });

  it('silent: same hang; SO_RCVTIMEO is retried inside PHP_NORMAL_READ, not reported', async () => {
    const r = await php(LINE_CLIENT, { fault: 'silent' }, 200);
    expect(r).toMatchObject({ ok: false, errno: EINTR, deadline: true });
  });

  it('slow (400ms) with SO_RCVTIMEO 100ms: PHP_NORMAL_READ still gets the line, late', async () => {
    const r = await php(LINE_CLIENT, { fault: 'slow', delay: 400 }, 100);
    expect(r).toMatchObject({ ok: true, line: expect.stringMatching(OK_REPLY_RE) });
    expect(r.ms).toBeGreaterThanOrEqual(350);
  });

  it('reset: PHP sees ECONNRESET', async () => {
    const r = await php(LINE_CLIENT, { fault: 'reset' });
    expect(r).toMatchObject({ ok: false, errno: ECONNRESET });
  });
});

describe('PHP reading to EOF (PHP_BINARY_READ) against udsctl startServer()', () => {
  it('reads the default reply and the close', async () => {
    const r = await php(EOF_CLIENT, {});
    expect(r).toMatchObject({ ok: true, reply: expect.stringMatching(OK_REPLY_RE) });
  });

  it('echo with read once', async () => {
    const r = await php(EOF_CLIENT, { echo: true });
    expect(r).toMatchObject({ ok: true, reply: 'hello from php\n' });
  });

  it('no-newline: an EOF reader gets the reply without its newline, and is fine', async () => {
    const r = await php(EOF_CLIENT, { fault: 'no-newline' });
    expect(r.ok).toBe(true);
    expect(r.reply).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
  });

  it('never-close: the reply arrives, then SO_RCVTIMEO ends the wait for EOF with EAGAIN', async () => {
    const r = await php(EOF_CLIENT, { fault: 'never-close' }, 500);
    expect(r).toMatchObject({ ok: false, errno: EAGAIN, reply: expect.stringMatching(OK_REPLY_RE) });
  });

  it('silent: SO_RCVTIMEO ends the wait with EAGAIN and nothing read', async () => {
    const r = await php(EOF_CLIENT, { fault: 'silent' }, 200);
    expect(r).toMatchObject({ ok: false, errno: EAGAIN, reply: '' });
  });

  it('close-without-reply: an empty reply and a clean EOF', async () => {
    const r = await php(EOF_CLIENT, { fault: 'close-without-reply' });
    expect(r).toMatchObject({ ok: true, reply: '' });
  });
});
