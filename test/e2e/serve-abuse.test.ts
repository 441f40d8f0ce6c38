/**
 * serve under limits, faults and abuse: it must never crash, never stop
 * answering, never lose a connected client's reply, and never touch what is
 * not its own socket.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp-dir.js';
import { collectStderr, killAll, runCli, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { makeStaleSocket } from '../helpers/peers.js';
import { AS_NOBODY, requireRoot } from '../helpers/requirements.js';

const REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
afterEach(() => killAll());

async function serve(args: string[], sock: string, wrap?: string[]) {
  const child = startCli(['serve', ...args, sock], { wrap });
  const log = collectStderr(child);
  await waitForStderr(child, 'listening on');
  return { child, log };
}

type Outcome = { reply: string; how: 'end' | 'error' | 'timeout'; code?: string };

/** A raw client with a hard bound: connect, optionally write, read to EOF. */
function client(sock: string, payload: Buffer | string | null, boundMs = 5_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => finish('timeout'), boundMs);
    const finish = (how: Outcome['how'], code?: string) => {
      clearTimeout(timer);
      c.destroy();
      resolve({ reply: Buffer.concat(chunks).toString(), how, code });
    };
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => finish('end'));
    c.on('error', (e: NodeJS.ErrnoException) => finish('error', e.code));
    if (payload !== null) c.write(payload);
  });
}

const stillAnswers = async (sock: string) => expect((await runCli(['send', sock, 'alive?'])).stdout).toMatch(REPLY_RE);

/** Wait (bounded) until what serve logged so far matches: a record comes when its connection is done, not at a fixed time. */
async function logged(log: { text: () => string }, re: RegExp, boundMs = 5_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!re.test(log.text()) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  expect(log.text()).toMatch(re);
}

describe('limits', () => {
  it('--max-conns: the excess is closed at once without a reply, and logged', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { log } = await serve(['--fault', 'silent', '--max-conns', '2'], sock);
    const held = [net.connect(sock), net.connect(sock)];
    for (const h of held) {
      h.on('error', () => {});
      h.write('hold');
    }
    await new Promise((r) => setTimeout(r, 200));
    const extra = await client(sock, 'one too many');
    expect(extra.reply).toBe('');
    expect(['end', 'error']).toContain(extra.how);
    await logged(log, /over-max-conns/);
    for (const h of held) h.destroy();
  });

  it('--max-bytes: a request over the limit is cut off and logged', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { log } = await serve(['--read', 'eof', '--max-bytes', '1k'], sock);
    const r = await client(sock, Buffer.alloc(64 * 1024, 0x61));
    expect(r.reply).toBe('');
    await logged(log, /max-bytes.*over --max-bytes 1024/);
    expect((await runCli(['send', '--half-close', sock, 'small'])).stdout).toMatch(REPLY_RE);
  });

  it('--idle-timeout: a client that sends nothing cannot hold a slot', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { log } = await serve(['--idle-timeout', '300ms'], sock);
    const r = await client(sock, null, 5_000);
    expect(r.how).toBe('end');
    await logged(log, /idle-timeout/);
  });

  it('out of file descriptors (EMFILE): keeps running, says so, recovers', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { child, log } = await serve(['--fault', 'never-close', '--idle-timeout', '500ms'], sock, ['prlimit', '--nofile=48']);
    const outcomes = await Promise.all(Array.from({ length: 80 }, () => client(sock, 'hi', 1_000)));
    expect(outcomes.filter((o) => REPLY_RE.test(o.reply)).length).toBeGreaterThan(0);
    expect(log.text()).toMatch(/out of file descriptors .*raise ulimit -n/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await client(sock, 'hi', 2_000)).reply).toMatch(REPLY_RE);
    await logged(log, /file descriptors available again/);
    expect(child.exitCode).toBeNull();
  });
});

describe('holding faults and departed clients', () => {
  it('never-close: a client gone for good frees its slot at once (--count 1 exits)', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { child } = await serve(['--fault', 'never-close', '--count', '1'], sock);
    expect((await runCli(['send', '-t', '300ms', sock, 'hi'])).status).toBe(8);
    expect(await waitExit(child, 5_000)).toBe(0);
  });

  it('never-close: a half-closed client keeps waiting, as the fault promises', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(['--fault', 'never-close'], sock);
    const c = net.connect(sock);
    c.on('error', () => {});
    let ended = false;
    c.on('end', () => (ended = true));
    const first = new Promise((r) => c.once('data', r));
    c.end('hi');
    await first;
    await new Promise((r) => setTimeout(r, 500));
    expect(ended).toBe(false);
    c.destroy();
  });
});

describe('abuse', () => {
  it('seeded fuzz: random bytes, splits, half-closes, resets and vanishing clients never break it', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { child } = await serve(['--keep-alive', '--quiet', '--idle-timeout', '2s'], sock);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.nat({ max: 2048 }),
        fc.constantFrom('wait', 'half-close', 'destroy', 'vanish'),
        async (bytes, split, how) => {
          const c = net.connect(sock);
          c.on('error', () => {});
          c.on('data', () => {});
          await new Promise((r) => c.once('connect', r));
          if (how === 'vanish') return void c.destroy();
          c.write(bytes.subarray(0, split));
          c.write(bytes.subarray(split));
          if (how === 'destroy') return void c.destroy();
          if (how === 'half-close') c.end();
          await new Promise((r) => setTimeout(r, 2));
          c.destroy();
        },
      ),
      { seed: 0x5eed, numRuns: 300 },
    );
    expect(child.exitCode).toBeNull();
    const r = await runCli(['send', '-u', 'line', sock, 'still here\n']);
    expect(r.stdout).toMatch(REPLY_RE);
  });

  it('10 000 clients connecting at once: every one gets a reply or a clear error; serve keeps answering', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { child } = await serve(['--quiet', '--backlog', '4096'], sock);
    const N = 10_000;
    const outcomes = await Promise.all(Array.from({ length: N }, () => client(sock, 'hi', 15_000)));
    const replied = outcomes.filter((o) => REPLY_RE.test(o.reply)).length;
    const refused = outcomes.filter((o) => o.how === 'error' && o.code === 'EAGAIN').length;
    // A full backlog refuses a connect at once (EAGAIN) on a Unix socket: that is the
    // client's clear error, not a loss. Nothing may hang or end silently.
    expect(outcomes.filter((o) => o.how === 'timeout')).toHaveLength(0);
    expect(replied + refused).toBe(N);
    expect(replied).toBeGreaterThan(0);
    expect(child.exitCode).toBeNull();
    await stillAnswers(sock);
  }, 60_000);

  it('SIGTERM under load: every connected client gets its reply, the socket goes, exit 0', async () => {
    const sock = join(tmpDir(), 's.sock');
    const { child } = await serve(['--quiet', '--delay', '50ms'], sock);
    const outcomes: Promise<Outcome>[] = [];
    for (let i = 0; i < 300; i++) outcomes.push(client(sock, 'hi', 10_000));
    await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    expect(await waitExit(child, 10_000)).toBe(0);
    expect(existsSync(sock)).toBe(false);
    const all = await Promise.all(outcomes);
    const lost = all.filter((o) => !REPLY_RE.test(o.reply) && o.code !== 'ENOENT' && o.code !== 'EAGAIN');
    expect(lost).toEqual([]);
  });
});

describe('the socket file is safe', () => {
  it('a symlink planted at the path is refused and neither it nor its target is touched', async () => {
    const dir = tmpDir();
    const victim = join(dir, 'victim.sock');
    await makeStaleSocket(victim);
    const link = join(dir, 'app.sock');
    symlinkSync(victim, link);
    const r = await runCli(['serve', link]);
    expect(r.status).toBe(11);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(lstatSync(victim).isSocket()).toBe(true);
  });

  it('--perm holds whatever the umask is', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(['--perm', '0600'], sock, ['sh', '-c', 'umask 000; exec "$0" "$@"']);
    expect(lstatSync(sock).mode & 0o777).toBe(0o600);
  });

  it('"the web server user cannot connect" is fixed by --perm 0660 --group', async () => {
    requireRoot('the socket goes to group nogroup, and setpriv drops to uid 65534 (the web server user)');
    const dir = tmpDir();
    chmodSync(dir, 0o755);
    const nobody = AS_NOBODY;
    const closed = join(dir, 'closed.sock');
    await serve(['--perm', '0660'], closed);
    const denied = await runCli(['send', closed, 'hi'], { wrap: nobody });
    expect(denied.status).toBe(4);
    expect(denied.stderr).toMatch(/permission denied/);

    const open = join(dir, 'open.sock');
    await serve(['--perm', '0660', '--group', 'nogroup'], open);
    expect(lstatSync(open).gid).toBe(65534);
    const allowed = await runCli(['send', open, 'hi'], { wrap: [...AS_NOBODY.slice(0, -1), '--init-groups'] });
    expect(allowed.stdout).toMatch(REPLY_RE);
    expect(allowed.status).toBe(0);
  });

  it('a directory at the path is never removed, even when empty', async () => {
    const dir = tmpDir();
    const path = join(dir, 'd.sock');
    mkdirSync(path);
    expect((await runCli(['serve', path])).status).toBe(11);
    expect(lstatSync(path).isDirectory()).toBe(true);
  });
});
