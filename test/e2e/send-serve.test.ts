import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync, lstatSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectStderr, killAll, runCli, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';

const REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'udsctl-e2e-'));
});
afterEach(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[], sock = join(dir, 's.sock')) {
  const child = startCli(['serve', ...args, sock]);
  await waitForStderr(child, 'listening on');
  return { child, sock };
}

describe('send <-> serve', () => {
  it('one-shot contract: prints the reply, exits 0, stderr quiet', async () => {
    const { sock } = await serve([]);
    const r = await runCli(['send', sock, 'hi']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(REPLY_RE);
    expect(r.stderr).toBe('');
  });

  it('--json prints the record', async () => {
    const { sock } = await serve([]);
    const r = await runCli(['send', '--json', sock, 'hi']);
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ ok: true, code: 'OK', end: 'closed', bytesSent: 2, bytesReceived: 16, until: 'eof' });
    expect(rec.reply).toMatch(REPLY_RE);
    // Connected before the first byte came, and it took some time (a zero would be a clock not read).
    expect(rec.timings.connectedUs).toBeGreaterThan(0);
    expect(rec.timings.connectedUs).toBeLessThanOrEqual(rec.timings.firstByteUs);
    expect(rec.timings.closedUs).toBeGreaterThanOrEqual(rec.timings.firstByteUs);
  });

  it('-v prints the timeline to stderr, reply stays on stdout', async () => {
    const { sock } = await serve([]);
    const r = await runCli(['send', '-v', sock, 'hi']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(REPLY_RE);
    expect(r.stderr).toMatch(/connected to/);
    expect(r.stderr).toMatch(/server closed the connection/);
  });

  it('reads the message from stdin with "-" and when piped; --newline appends \\n', async () => {
    const { sock } = await serve(['--echo']);
    const r1 = await runCli(['send', sock, '-'], { input: 'from stdin' });
    expect(r1.stdout).toBe('from stdin');
    const r2 = await runCli(['send', sock], { input: 'piped' });
    expect(r2.stdout).toBe('piped');
    const r3 = await runCli(['send', '--newline', sock, 'x']);
    expect(r3.stdout).toBe('x\n');
  });

  it('is binary-safe: --hex in, raw bytes out', async () => {
    const { sock } = await serve(['--echo']);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await runCli(['send', '--hex', sock, bytes.toString('hex')]);
    expect(r.status).toBe(0);
    expect(r.stdoutBytes.equals(bytes)).toBe(true);
  });

  it('--keep-alive server: a reply per line, --until line returns', async () => {
    const { sock } = await serve(['--keep-alive']);
    const r = await runCli(['send', '--until', 'line', '--escapes', sock, 'a\\n']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(REPLY_RE);
  });

  it('--half-close against a server that reads to end-of-file', async () => {
    const { sock } = await serve(['--read', 'eof', '--echo']);
    const r = await runCli(['send', '--half-close', sock, 'whole request']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('whole request');
  });
});

describe('fault modes seen by send', () => {
  it('never-close: send returns after --timeout, prints the reply, says why, exits 8', async () => {
    const { sock } = await serve(['--fault', 'never-close']);
    const r = await runCli(['send', '--timeout', '500ms', sock, 'hi']);
    expect(r.status).toBe(8);
    expect(r.stdout).toMatch(REPLY_RE);
    expect(r.stderr).toMatch(/did not close the connection/);
    expect(r.stderr).toMatch(/defer conn\.Close\(\)/);
  });

  it('silent: no reply within --timeout exits 7', async () => {
    const { sock } = await serve(['--fault', 'silent']);
    const r = await runCli(['send', '-t', '300ms', sock, 'hi']);
    expect(r.status).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no reply within 300ms/);
  });

  it('no-newline: --until line sees the close before the newline, exits 9', async () => {
    const { sock } = await serve(['--fault', 'no-newline']);
    const r = await runCli(['send', '--until', 'line', sock, 'hi']);
    expect(r.status).toBe(9);
    expect(r.stdout).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
    expect(r.stderr).toMatch(/before the end of reply \(line\)/);
  });

  it('no-newline with --keep-alive: a line reader times out with a partial reply', async () => {
    const { sock } = await serve(['--fault', 'no-newline', '--keep-alive']);
    const r = await runCli(['send', '--json', '--until', 'line', '-t', '300ms', sock, 'hi\n']);
    expect(r.status).toBe(7);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 'REPLY_TIMEOUT', end: 'timeout', ruleMet: false });
  });

  it('close-without-reply exits 9', async () => {
    const { sock } = await serve(['--fault', 'close-without-reply']);
    const r = await runCli(['send', sock, 'hi']);
    expect(r.status).toBe(9);
    expect(r.stderr).toMatch(/without replying/);
  });

  it('reset exits 9 with RESET', async () => {
    const { sock } = await serve(['--fault', 'reset']);
    const r = await runCli(['send', '--json', sock, 'hi']);
    expect(r.status).toBe(9);
    expect(JSON.parse(r.stdout).code).toBe('RESET');
  });

  it('slow: replies after --delay', async () => {
    const { sock } = await serve(['--fault', 'slow', '--delay', '300ms']);
    const r = await runCli(['send', '--json', sock, 'hi']);
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.timings.firstByteUs - rec.timings.writtenUs).toBeGreaterThanOrEqual(250_000);
    const fast = await runCli(['send', '-t', '100ms', sock, 'hi']);
    expect(fast.status).toBe(7);
  });
});

describe('serve: the socket file', () => {
  it('replaces a stale socket file and says so', async () => {
    const sock = join(dir, 'stale.sock');
    const first = await serve([], sock);
    first.child.kill('SIGKILL');
    await waitExit(first.child);
    expect(lstatSync(sock).isSocket()).toBe(true);
    const refused = await runCli(['send', sock, 'hi']);
    expect(refused.status).toBe(5);
    const second = startCli(['serve', sock]);
    const text = await waitForStderr(second, 'listening on');
    expect(text).toMatch(/replaced a stale socket file/);
    expect((await runCli(['send', sock, 'hi'])).stdout).toMatch(REPLY_RE);
  });

  it('refuses a path where a live server listens', async () => {
    const { sock } = await serve([]);
    const r = await runCli(['serve', sock]);
    expect(r.status).toBe(11);
    expect(r.stderr).toMatch(/in use/);
    expect((await runCli(['send', sock, 'hi'])).status).toBe(0);
  });

  it.each(['file', 'directory', 'symlink'])('never deletes a %s at the path', async (kind) => {
    const path = join(dir, `thing-${kind}`);
    if (kind === 'file') writeFileSync(path, 'precious');
    if (kind === 'directory') mkdirSync(path);
    if (kind === 'symlink') symlinkSync(join(dir, 'elsewhere'), path);
    const r = await runCli(['serve', path]);
    expect(r.status).toBe(11);
    expect(r.stderr).toMatch(/not a socket; refusing/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path) || lstatSync(path).isSymbolicLink()).toBe(true);
  });

  it('--perm sets the mode at creation', async () => {
    const { sock } = await serve(['--perm', '0600']);
    expect(lstatSync(sock).mode & 0o777).toBe(0o600);
  });

  it('--count exits 0 after N connections and removes its socket', async () => {
    const { child, sock } = await serve(['--count', '2']);
    await runCli(['send', sock, 'a']);
    await runCli(['send', sock, 'b']);
    expect(await waitExit(child)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  /** A raw client: connected and request written before it resolves; `reply` ends at EOF. */
  async function connectAndSend(sock: string, msg: string) {
    const net = await import('node:net');
    const c = net.connect(sock);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    const reply = new Promise<{ text: string; how: string }>((resolve) => {
      c.on('end', () => resolve({ text: Buffer.concat(chunks).toString(), how: 'end' }));
      c.on('error', (e: NodeJS.ErrnoException) => resolve({ text: Buffer.concat(chunks).toString(), how: e.code ?? 'error' }));
    });
    await new Promise((r) => c.once('connect', r));
    await new Promise((r) => c.write(msg, r));
    return { reply }; // wrapped: an async function returning the promise itself would wait for it
  }

  it('SIGTERM: in-flight exchange finishes, socket removed, exit 0', async () => {
    const { child, sock } = await serve(['--fault', 'slow', '--delay', '500ms']);
    const { reply } = await connectAndSend(sock, 'hi');
    child.kill('SIGTERM');
    const r = await reply;
    expect(r.how).toBe('end');
    expect(r.text).toMatch(REPLY_RE);
    expect(await waitExit(child)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('SIGTERM with a connection held open: bounded by --grace', async () => {
    const { child, sock } = await serve(['--fault', 'never-close', '--grace', '300ms']);
    const { reply } = await connectAndSend(sock, 'hi');
    child.kill('SIGTERM');
    expect(await waitExit(child, 5_000)).toBe(0);
    expect((await reply).text).toMatch(REPLY_RE);
  });

  it('--json logs one JSON line per connection on stderr', async () => {
    const sock = join(dir, 'j.sock');
    const child = startCli(['serve', '--json', '--count', '1', sock]);
    const log = collectStderr(child);
    await waitForStderr(child, '"listening"');
    await runCli(['send', sock, 'hi']);
    await waitExit(child);
    const events = log.text().trim().split('\n').map((l) => JSON.parse(l));
    const conn = events.find((e) => e.event === 'connection');
    expect(conn).toMatchObject({ bytesIn: 2, bytesOut: 16, request: 'hi', end: 'closed' });
  });

  it('survives garbage and early disconnects', async () => {
    const { sock } = await serve(['--keep-alive']);
    const net = await import('node:net');
    for (let i = 0; i < 20; i++) {
      const c = net.connect(sock);
      c.on('error', () => {});
      if (i % 2) c.write(Buffer.from([0, 255, 10, 13, 0]));
      c.destroy();
    }
    const r = await runCli(['send', '-u', 'line', sock, 'still there\n']);
    expect(r.status).toBe(0);
  });
});

describe('bad input: one line, usage, no stack trace', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['unknown option', ['send', '--bogus', 'x'], 2, /unknown option '--bogus'/],
    ['missing target', ['send'], 2, /missing required argument 'target'/],
    ['bad duration', ['send', '-t', '5x', '/tmp/x.sock'], 2, /--timeout must be a duration like 500ms/],
    ['bad until', ['send', '-u', 'never', '/tmp/x.sock'], 2, /--until must be one of/],
    ['path too long', ['send', `/tmp/${'a'.repeat(120)}`, 'x'], 2, /limit is 107 bytes/],
    ['bad perm', ['serve', '--perm', '999', '/tmp/x.sock'], 2, /--perm must be an octal mode/],
    ['bad fault', ['serve', '--fault', 'explode', '/tmp/x.sock'], 2, /--fault must be one of/],
    ['bad count', ['serve', '--count', 'many', '/tmp/x.sock'], 2, /--count must be a whole number/],
  ];
  it.each(cases)('%s', async (_name, args, status, re) => {
    const r = await runCli(args);
    expect(r.status).toBe(status);
    expect(r.stderr).toMatch(re);
    expect(r.stderr).toMatch(/usage: udsctl/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a reader that goes away (| head) ends the output quietly; the status stays the command's own", async () => {
    const cases: Array<[string[], number]> = [
      [['--help'], 0],
      [['help', 'probe'], 0],
      [['bench', '--help'], 0],
      [['probe', '--json', join(dir, 'none.sock')], 2], // CRITICAL stays CRITICAL
    ];
    for (const [args, status] of cases) {
      const child = startCli(args);
      child.stdout!.destroy(); // the read end closes before anything is written: EPIPE
      const stderr = collectStderr(child);
      expect(await waitExit(child)).toBe(status);
      await new Promise((resolve) => (child.stderr!.readableEnded ? resolve(null) : child.stderr!.once('end', resolve)));
      expect(stderr.text()).toBe('');
    }
  });

  it('not found exits 3 with a one-line reason', async () => {
    const r = await runCli(['send', join(dir, 'nope.sock'), 'hi']);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
