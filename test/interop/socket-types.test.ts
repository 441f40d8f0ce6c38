/**
 * Socket types (issue 12) against peers udsctl did not write: Python's
 * datagram and seqpacket servers, socat (UNIX-SENDTO, UNIX-RECV, ABSTRACT-*,
 * type=5), systemd-notify (else a Python sd_notify sender), and the real CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import type { ChildProcess } from 'node:child_process';
import { killAll, runCli, startCli } from '../helpers/run-cli.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

const PEERS = join(FIXTURES, 'message-peers.py');

/** A background udsctl serve's whole stderr, and a bounded wait for a pattern in it. */
function stderrOf(child: ChildProcess) {
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (text += s));
  return {
    text: () => text,
    async until(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const end = Date.now() + timeoutMs;
      while (!re.test(text)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re} in serve's stderr: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return text;
    },
  };
}

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  await killChildren();
  killAll();
});

async function pyPeer(mode: string, where: string, opts: { prefix?: string[] } = {}) {
  const args = [...(opts.prefix ?? []), 'python3', PEERS, mode, where];
  const peer = opts.prefix ? spawnChild(args[0], args.slice(1), { timeoutMs: 30_000 }) : spawnChild('python3', [PEERS, mode, where], { timeoutMs: 30_000 });
  await waitForOutput(peer, /ready/, 10_000);
  return peer;
}

describe('send on a datagram socket', () => {
  it('sends one datagram and exits 0 once the kernel took it; -v names the type and where it came from', async () => {
    const path = join(tmpDir(), 'log.sock');
    const peer = await pyPeer('dgram-sink', path);
    const r = await runCli(['send', '-v', path, 'hello dgram']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/dgram socket, from \/proc\/net\/unix/);
    expect(r.stderr).toMatch(/sent datagram of 11 bytes/);
    await waitForOutput(peer, /got b'hello dgram'/);
  });

  it('--json waits for the reply on an address of its own', async () => {
    const path = join(tmpDir(), 'echo.sock');
    await pyPeer('dgram-echo', path);
    const r = await runCli(['send', '--json', path, 'hi']);
    expect(r.status, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ ok: true, socketType: 'dgram', socketTypeSource: 'proc', reply: 'ECHO:hi', messagesReceived: 1, until: 'message' });
  });

  it('--until waits for a reply, bounded by --timeout, when the server never answers', async () => {
    const path = join(tmpDir(), 'sink.sock');
    await pyPeer('dgram-sink', path);
    const r = await runCli(['send', '--until', 'line', '--timeout', '500ms', path, 'x']);
    expect(r.status).toBe(7);
    expect(r.stderr).toMatch(/no reply within 500ms/);
  });

  it('--type stream on a datagram socket: a usage error naming EPROTOTYPE (exit 2)', async () => {
    const path = join(tmpDir(), 'sink.sock');
    await pyPeer('dgram-sink', path);
    const r = await runCli(['send', '--type', 'stream', path, 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/EPROTOTYPE/);
  });

  it('a stale datagram socket file: refused (exit 5)', async () => {
    const path = join(tmpDir(), 'stale.sock');
    const peer = await pyPeer('dgram-sink', path);
    peer.child.kill('SIGKILL');
    await peer.exited;
    const r = await runCli(['send', '--type', 'dgram', path, 'x']);
    expect(r.status, r.stderr).toBe(5);
  });

  it('socat UNIX-RECV receives what send sends (a path and an abstract name)', async () => {
    requirePeers('socat');
    const path = join(tmpDir(), 'recv.sock');
    const recv = spawnChild('socat', ['-u', `UNIX-RECV:${path}`, '-'], { timeoutMs: 20_000 });
    for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
    const r = await runCli(['send', path, 'to-socat\n']);
    expect(r.status, r.stderr).toBe(0);
    await waitForOutput(recv, /to-socat/);

    // Node 20 pads abstract names (nodejs/node#49656): only the exact length meets socat's.
    const name = uniqueAbstractName();
    const arecv = spawnChild('socat', ['-u', `ABSTRACT-RECV:${name}`, '-'], { timeoutMs: 20_000 });
    let sent = await runCli(['send', '--type', 'dgram', `@${name}`, 'abstract-hi\n']);
    for (let i = 0; i < 50 && sent.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      sent = await runCli(['send', '--type', 'dgram', `@${name}`, 'abstract-hi\n']);
    }
    expect(sent.status, sent.stderr).toBe(0);
    await waitForOutput(arecv, /abstract-hi/);
  });
});

describe('send on a seqpacket socket', () => {
  it('the reply is one message by default; --until eof takes every message to the close', async () => {
    const path = join(tmpDir(), 'sp.sock');
    await pyPeer('seqpacket', path);
    const one = await runCli(['send', '--json', path, 'hi']);
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ socketType: 'seqpacket', reply: 'ECHO:hi', messagesReceived: 1, until: 'message' });
    const all = await runCli(['send', '--until', 'eof', path, 'hi']);
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout).toBe('ECHO:hisecond');
  });

  it('found by connecting when /proc/net/unix does not list it (a server in another network namespace)', async (ctx) => {
    // User namespaces may be off (sysctl, a container's seccomp): then this case cannot be set up here.
    if (spawnSync('unshare', ['-rn', 'true']).status !== 0) return ctx.skip('unshare -rn not permitted here (user namespaces off)');
    const dir = tmpDir();
    const sp = join(dir, 'sp.sock');
    const dg = join(dir, 'dg.sock');
    await pyPeer('seqpacket', sp, { prefix: ['unshare', '-rn'] });
    await pyPeer('dgram-echo', dg, { prefix: ['unshare', '-rn'] });
    const r1 = JSON.parse((await runCli(['send', '--json', sp, 'ns'])).stdout);
    expect(r1).toMatchObject({ ok: true, socketType: 'seqpacket', socketTypeSource: 'connect', reply: 'ECHO:ns' });
    const r2 = JSON.parse((await runCli(['send', '--json', dg, 'ns'])).stdout);
    expect(r2).toMatchObject({ ok: true, socketType: 'dgram', socketTypeSource: 'connect', reply: 'ECHO:ns' });
  });
});

describe('probe on datagram and seqpacket sockets', () => {
  it('a live datagram socket: OK, the bound socket found, nothing sent without --send', async () => {
    const path = join(tmpDir(), 'log.sock');
    const peer = await pyPeer('dgram-sink', path);
    const r = await runCli(['probe', '--json', path]);
    expect(r.status, r.stdout).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t).toMatchObject({ code: 'OK', socketType: 'dgram', socketTypeSource: 'proc' });
    const check = (n: string) => t.checks.find((c: { name: string }) => c.name === n);
    expect(check('listener').status).toBe('ok');
    expect(check('listener').detail).toMatch(/bound \(datagram\)/);
    expect(check('send').status).toBe('skip');
    expect(t.exchange.bytesSent).toBe(0);
    // Nothing reached the server.
    await new Promise((r) => setTimeout(r, 200));
    expect(peer.stdout()).not.toMatch(/got/);
  });

  it('--send with --expect waits for the reply datagram', async () => {
    const path = join(tmpDir(), 'echo.sock');
    await pyPeer('dgram-echo', path);
    const r = await runCli(['probe', '--json', '--send', 'ping', '--expect', 'ECHO:ping', path]);
    expect(r.status, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).targets[0].exchange.reply).toBe('ECHO:ping');
  });

  it('a stale datagram socket file: STALE_SOCKET, not PROBE_ERROR', async () => {
    const path = join(tmpDir(), 'stale.sock');
    const peer = await pyPeer('dgram-sink', path);
    peer.child.kill('SIGKILL');
    await peer.exited;
    const r = await runCli(['probe', '--json', path]);
    expect(r.status).toBe(2);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.code).toBe('STALE_SOCKET');
    expect(r.stdout).not.toMatch(/ulimit/);
  });

  it('--type stream on a datagram socket: TYPE_MISMATCH naming the real type', async () => {
    const path = join(tmpDir(), 'log.sock');
    await pyPeer('dgram-sink', path);
    const r = await runCli(['probe', '--json', '--type', 'stream', path]);
    expect(r.status).toBe(2);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.code).toBe('TYPE_MISMATCH');
    expect(t.detail).toMatch(/it is a dgram socket/);
  });

  it('a seqpacket server: replied, the server named from SO_PEERCRED', async () => {
    const path = join(tmpDir(), 'sp.sock');
    const peer = await pyPeer('seqpacket', path);
    const r = await runCli(['probe', '--json', path]);
    expect(r.status, r.stdout).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.socketType).toBe('seqpacket');
    expect(t.server).toMatchObject({ pid: peer.child.pid, source: 'peercred', name: expect.stringMatching(/python/) });
    expect(t.checks.find((c: { name: string }) => c.name === 'connect').detail).toMatch(/SO_PEERCRED/);
  });
});

describe('serve --type dgram and seqpacket', () => {
  it('captures READY=1 from systemd-notify (else a Python sd_notify sender), and says in use on a live path', async () => {
    const dir = tmpDir();
    const path = join(dir, 'notify.sock');
    const server = startCli(['serve', '--type', 'dgram', '--json', path]);
    const err = stderrOf(server);
    await err.until(/"event":"listening"/);
    const notify = existsSync('/usr/bin/systemd-notify')
      ? await run('/usr/bin/systemd-notify', ['--ready', '--status=warming up'], { env: { ...process.env, NOTIFY_SOCKET: path } })
      : null;
    if (notify?.code !== 0) {
      // systemd-notify refused (no systemd as PID 1?): what it sends, sent by Python.
      await run('python3', [PEERS, 'sd-notify', path, 'READY=1\nSTATUS=warming up']);
    }
    const log = await err.until(/READY=1/);
    const rec = log
      .split('\n')
      .filter((l) => l.includes('"datagram"'))
      .map((l) => JSON.parse(l))[0];
    expect(rec).toMatchObject({ event: 'datagram', from: null, replied: null });
    expect(rec.data).toMatch(/READY=1\nSTATUS=warming up/);

    const again = await runCli(['serve', '--type', 'dgram', path]);
    expect(again.status).toBe(11);
    const stream = await runCli(['serve', path]);
    expect(stream.status, stream.stderr).toBe(11);
    server.kill('SIGTERM');
  });

  it('--echo answers a sender that bound an address (socat UNIX-SENDTO binds none: logged as such)', async () => {
    const path = join(tmpDir(), 'e.sock');
    const server = startCli(['serve', '--type', 'dgram', '--echo', path]);
    const err = stderrOf(server);
    await err.until(/listening on/);
    const r = await runCli(['send', '--json', path, 'marco']);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, reply: 'marco' });
    requirePeers('socat');
    const s = await run('socat', ['-u', '-', `UNIX-SENDTO:${path}`], { input: 'from-socat' });
    expect(s.code, s.stderr).toBe(0);
    const log = await err.until(/from-socat/);
    expect(log).toMatch(/from an unbound sender( \[pid \d+[^\]]*\])?: 10 bytes "from-socat"; not answered/);
    server.kill('SIGTERM');
  });

  it('seqpacket: one reply per message, boundaries kept (Python client), the client named (SO_PEERCRED); socat type=5 too', async () => {
    const path = join(tmpDir(), 'q.sock');
    const server = startCli(['serve', '--type', 'seqpacket', '--echo', path]);
    const err = stderrOf(server);
    await err.until(/listening on/);
    const py = await run('python3', [
      '-c',
      `import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(${JSON.stringify(path)})
for m in [b'a', b'bb', b'ccc']:
    s.send(m); print(s.recv(100))`,
    ]);
    expect(py.code, py.stderr).toBe(0);
    expect(py.stdout).toBe("b'a'\nb'bb'\nb'ccc'\n");
    const log = await err.until(/conn 1 ended/);
    expect(log).toMatch(/conn 1 open: pid \d+ \(python3\), uid \d+, gid \d+ \(SO_PEERCRED\)/);
    expect(log).toMatch(/message #3 on conn 1 .*: 3 bytes "ccc"; replied 3 bytes/);
    requirePeers('socat');
    const s = await run('socat', ['-t', '2', '-', `UNIX-CONNECT:${path},type=5`], { input: 'via-socat' });
    expect(s.stdout).toBe('via-socat');
    server.kill('SIGTERM');
  });
});

describe('who is on the other end (SO_PEERCRED) on stream sockets', () => {
  for (const engine of ['epoll', 'net'] as const) {
    it(`serve --engine ${engine} logs each client's pid, uid, gid and process name (a Python client)`, async () => {
      const path = join(tmpDir(), 's.sock');
      const server = startCli(['serve', '--json', '--engine', engine, path]);
      const err = stderrOf(server);
      await err.until(/"event":"listening"/);
      const py = spawnChild('python3', [
        '-c',
        // The client lives until its connection is logged (stdin closed below): the server may read
        // its name from /proc after the reply, and a client already gone has none (a race under load).
        `import socket, os, sys; s=socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(path)}); print(os.getpid(), flush=True); s.send(b'hi\\n'); s.recv(100); s.close(); sys.stdin.read()`,
      ]);
      const log = await err.until(/"event":"connection"/);
      py.child.stdin!.end();
      await py.exited;
      const pid = Number(py.stdout().trim());
      const rec = JSON.parse(log.split('\n').find((l) => l.includes('"event":"connection"'))!);
      expect(rec.peer).toEqual({ pid, uid: process.getuid?.(), gid: process.getgid?.(), name: 'python3' });
      server.kill('SIGTERM');
    });
  }

  it('probe names a stream server from the connected socket, and says so', async () => {
    const path = join(tmpDir(), 'py.sock');
    const peer = spawnChild('python3', [
      '-c',
      `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)}); s.listen(4); print('ready', flush=True)
while True:
    c, _ = s.accept(); c.recv(100); c.send(b'pong\\n'); c.close()`,
    ]);
    await waitForOutput(peer, /ready/);
    const r = await runCli(['probe', '--json', path]);
    expect(r.status, r.stdout).toBe(0);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.socketType).toBe('stream');
    expect(t.server).toMatchObject({ pid: peer.child.pid, uid: process.getuid?.(), source: 'peercred', name: 'python3' });
  });
});

describe('bench --type seqpacket', () => {
  it('oneshot and persistent: a reply is one message by default (as send reads it), or up to the close with --until eof', async () => {
    const dir = tmpDir();
    const py = join(dir, 'py.sock');
    await pyPeer('seqpacket', py);
    // The Python server answers 'ECHO:'+msg, then 'second', then closes: one message is the first.
    const one = await runCli(['bench', '--json', '--type', 'seqpacket', '--mode', 'oneshot', '--requests', '20', '-c', '1', '--expect', 'ECHO:', py], { timeoutMs: 60_000 });
    expect(one.status, one.stderr).toBe(0);
    const r1 = JSON.parse(one.stdout);
    expect(r1).toMatchObject({ until: 'message', requests: { total: 20, ok: 20 } });
    expect(r1.errors).toEqual([]);
    const toClose = await runCli(['bench', '--json', '--type', 'seqpacket', '--mode', 'oneshot', '--until', 'eof', '--requests', '20', '-c', '1', '--expect', 'second', py], { timeoutMs: 60_000 });
    expect(toClose.status, toClose.stderr).toBe(0);
    expect(JSON.parse(toClose.stdout)).toMatchObject({ until: 'eof', requests: { total: 20, ok: 20 } });

    // serve --type seqpacket answers each message and leaves the connection open: oneshot closes after the reply.
    const sp = join(dir, 'sp.sock');
    const server = startCli(['serve', '-q', '--type', 'seqpacket', '--echo', sp]);
    await stderrOf(server).until(/listening on/);
    const shot = await runCli(['bench', '--json', '--type', 'seqpacket', '--mode', 'oneshot', '--requests', '50', '-c', '2', '--payload', 'ping', '--expect', 'ping', sp], { timeoutMs: 60_000 });
    expect(shot.status, shot.stderr).toBe(0);
    expect(JSON.parse(shot.stdout)).toMatchObject({ until: 'message', requests: { total: 50, ok: 50, errors: 0 } });
    const many = await runCli(['bench', '--json', '--type', 'seqpacket', '--mode', 'persistent', '--requests', '200', '-c', '4', '--pipeline', '2', '--payload', 'ping', '--expect', 'ping', sp], { timeoutMs: 60_000 });
    expect(many.status, many.stderr).toBe(0);
    expect(JSON.parse(many.stdout)).toMatchObject({ until: 'message', requests: { total: 200, ok: 200 } });
    server.kill('SIGTERM');
  });

  it('refuses what it cannot do: no target, the net engine', async () => {
    expect((await runCli(['bench', '--type', 'seqpacket', '-d', '1s'])).status).toBe(2);
    expect((await runCli(['bench', '--type', 'seqpacket', '--engine', 'net', '-d', '1s', '/tmp/x.sock'])).status).toBe(2);
  });
});

describe('abstract names on message sockets', () => {
  it('serve --type dgram @name: socat ABSTRACT-SENDTO reaches it (exact name length), send --json gets the echo, probe finds it', async () => {
    requirePeers('socat');
    const name = uniqueAbstractName();
    const server = startCli(['serve', '--type', 'dgram', '--echo', `@${name}`]);
    const err = stderrOf(server);
    await err.until(/listening on/);
    const s = await run('socat', ['-u', '-', `ABSTRACT-SENDTO:${name}`], { input: 'abstract-from-socat' });
    expect(s.code, s.stderr).toBe(0);
    await err.until(/19 bytes "abstract-from-socat"/);
    const r = await runCli(['send', '--json', `@${name}`, 'polo']);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, socketType: 'dgram', reply: 'polo' });
    const p = await runCli(['probe', '--json', `@${name}`]);
    expect(p.status, p.stdout).toBe(0);
    expect(JSON.parse(p.stdout).targets[0]).toMatchObject({ code: 'OK', socketType: 'dgram' });
    server.kill('SIGTERM');
  });
});
