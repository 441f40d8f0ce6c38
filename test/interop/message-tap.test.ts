/**
 * The message tap (`serve --upstream` on a seqpacket or dgram upstream)
 * between peers udsctl did not write: Python seqpacket and datagram servers
 * and clients (test/fixtures/message-tap-peers.py), socat (type=5,
 * UNIX-SENDTO with bind=), systemd-notify when installed, and udsctl send.
 * Boundaries kept end to end, replies to the right dgram sender, ends relayed,
 * faults on the real replies, limits, --json records, the type mismatch.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Spawned, killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { BIN, killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const PEERS = join(FIXTURES, 'message-tap-peers.py');

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  await killChildren();
  killAll();
});

/** A Python peer; servers are awaited until bound. */
async function py(mode: string, ...args: string[]): Promise<Spawned> {
  const peer = spawnChild('python3', [PEERS, mode, ...args], { timeoutMs: 60_000 });
  if (['seq-echo', 'seq-reply-close', 'dgram-echo', 'dgram-deaf'].includes(mode)) await waitForOutput(peer, /ready/, 10_000);
  return peer;
}

/** udsctl serve --upstream UP LISTEN in the background, awaited until it listens. */
async function tap(up: string, listen: string, ...flags: string[]): Promise<Spawned> {
  const s = spawnChild(process.execPath, [BIN, 'serve', ...flags, '--upstream', up, listen], { timeoutMs: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  await waitForOutput(s, /"event":"listening"|listening on/, 15_000);
  return s;
}

const jsonLines = (s: Spawned) =>
  s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('seqpacket tap', () => {
  it('relays each message whole both ways (two sent back to back arrive as two), names the client, says who closed first', async () => {
    const dir = tmpDir();
    const up = await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    expect(t.stderr()).toMatch(/listening on .*tap\.sock \(seqpacket tap to .*up\.sock\)/);
    const client = await py('seq-client', join(dir, 'tap.sock'), 'first', 'second');
    await waitForOutput(client, /^eof\n/m, 15_000);
    expect(client.stdout()).toBe("recv b'ECHO:first\\n'\nrecv b'ECHO:second\\n'\neof\n");
    // The upstream's own lines come through a pipe of their own: awaited, not read at the client's end.
    await waitForOutput(up, /got b''/, 10_000);
    expect(up.stdout()).toMatch(/got b'first'\ngot b'second'\ngot b''/);
    await waitForOutput(t, /#1 ended/, 10_000);
    const log = t.stderr();
    expect(log).toMatch(/#1 client connected: pid \d+ \(python3\), uid \d+, gid \d+ \(SO_PEERCRED\)/);
    expect(log).toMatch(/#1 > 5B "first"\n/);
    expect(log).toMatch(/#1 > 6B "second"\n/);
    expect(log).toMatch(/#1 < 12B "ECHO:second\\n"/);
    expect(log).toMatch(/#1 ended: client closed first, then the upstream; 2 messages up, 2 down; client closed, upstream closed/);
  });

  it('socat type=5 through the tap to a server that replies then closes: the upstream closed first', async () => {
    requirePeers('socat');
    const dir = tmpDir();
    await py('seq-reply-close', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    const socat = spawnChild('socat', ['-t', '5', '-', `UNIX-CONNECT:${join(dir, 'tap.sock')},type=5`], { timeoutMs: 20_000 });
    socat.child.stdin!.write('ping');
    const { code } = await socat.exited;
    expect(code).toBe(0);
    expect(socat.stdout()).toBe('ECHO:ping');
    await waitForOutput(t, /#1 ended/, 10_000);
    expect(t.stderr()).toMatch(/#1 ended: upstream closed first, then the client; 1 message up, 1 down/);
  });

  it('udsctl send through the tap: the reply as one message', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    const r = await runCli(['send', '--json', join(dir, 'tap.sock'), 'hi']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, socketType: 'seqpacket', reply: 'ECHO:hi\n' });
  });

  it('an upstream gone since the tap started: the client is closed and the refusal logged', async () => {
    const dir = tmpDir();
    const up = await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    up.child.kill('SIGKILL');
    await up.exited;
    const client = await py('seq-client', join(dir, 'tap.sock'), 'x');
    // Closed with its message unread: the kernel tells the client ECONNRESET (or end-of-file, had the tap not
    // seen it yet; or EPIPE on its send, had the tap closed it before the message went).
    await waitForOutput(client, /^(eof|reset|epipe)\n/m, 15_000);
    expect(client.stdout()).toMatch(/^(eof|reset|epipe)\n$/);
    await waitForOutput(t, /#1 ended/, 10_000);
    expect(t.stderr()).toMatch(/#1 ended: upstream: REFUSED: .*; 0 messages up, 0 down; client closed, upstream never-connected/);
  });

  it('--max-bytes: a longer message is relayed cut, and logged so', async () => {
    const dir = tmpDir();
    const up = await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--max-bytes', '10');
    const client = await py('seq-client', join(dir, 'tap.sock'), 'abcdefghijklmnopqrstuvwxyz');
    await waitForOutput(client, /^eof\n/m, 15_000);
    await waitForOutput(up, /got b'abcdefghij'\n/, 10_000);
    // The client's end can come before the tap's line is read here: awaited.
    await waitForOutput(t, /#1 > 26B/, 10_000);
    expect(t.stderr()).toMatch(/#1 > 26B "abcdefghij" \(cut at --max-bytes: 10 of 26 bytes relayed\)/);
  });

  it('--fault no-newline strips the real reply\'s newline; silent swallows it; --delay holds it', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    await tap(join(dir, 'up.sock'), join(dir, 'nn.sock'), '--fault', 'no-newline');
    const silent = await tap(join(dir, 'up.sock'), join(dir, 'silent.sock'), '--fault', 'silent', '--idle-timeout', '1s');
    const slow = await tap(join(dir, 'up.sock'), join(dir, 'slow.sock'), '--delay', '300ms');
    const nn = await py('seq-client', join(dir, 'nn.sock'), 'a', 'b');
    await waitForOutput(nn, /^eof\n/m, 15_000);
    expect(nn.stdout()).toBe("recv b'ECHO:a'\nrecv b'ECHO:b'\neof\n");
    const s = await py('seq-client', join(dir, 'silent.sock'), 'a');
    await waitForOutput(s, /^eof\n/m, 15_000);
    expect(s.stdout()).toBe('eof\n');
    await waitForOutput(silent, /#1 ended/, 10_000);
    expect(silent.stderr()).toMatch(/#1 < 7B "ECHO:a\\n" \(swallowed: --fault silent\)/);
    expect(silent.stderr()).toMatch(/#1 ended: idle: no message for 1000ms; 1 message up, 1 down; client held-open, upstream closed/);
    const d = await py('seq-client', join(dir, 'slow.sock'), 'a');
    await waitForOutput(d, /^eof\n/m, 15_000);
    expect(d.stdout()).toBe("recv b'ECHO:a\\n'\neof\n");
    await waitForOutput(slow, /#1 < 7B/, 10_000);
    expect(slow.stderr()).toMatch(/#1 < 7B "ECHO:a\\n" \(held 300ms: --delay\)/);
  });

  it('--hexdump shows a binary message as a hex dump; terminal escapes in a text one are escaped', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--hexdump');
    const r = await runCli(['send', join(dir, 'tap.sock'), '\\x00\\x01\\x02binary\\xff']);
    expect(r.status, r.stderr).toBe(0);
    const e = await runCli(['send', join(dir, 'tap.sock'), 'red\\x1b[31m']);
    expect(e.status, e.stderr).toBe(0);
    await waitForOutput(t, /#2 < /, 10_000);
    const log = t.stderr();
    expect(log).toMatch(/#1 > 10B binary\n {4}00000000 {2}00 01 02 62 69 6e 61 72 {2}79 ff +\|\.\.\.binary\.\|/);
    expect(log).toMatch(/#2 > 8B "red\\x1b\[31m"/);
    expect(log).not.toContain('\x1b');
  });

  it('a client that sends and never reads is stopped by backpressure: the tap does not buffer what passes', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '-q');
    // 2000 messages of 60 KiB (117 MiB) to an echo server, none of the echoes read.
    const flood = await py('seq-flood', join(dir, 'tap.sock'), '2000', '61440');
    await waitForOutput(flood, /blocked after \d+|sent all/, 60_000);
    const m = /blocked after (\d+)/.exec(flood.stdout());
    expect(m, flood.stdout()).not.toBeNull();
    // The kernel's socket buffers and the tap's two 256 KiB queues hold a few MiB, not the flood.
    expect(Number(m![1]) * 61440).toBeLessThan(32 * 1024 * 1024);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${t.child.pid}/status`, 'utf8'));
    if (hwm) expect(Number(hwm[1]) * 1024).toBeLessThan(250 * 1024 * 1024);
  });

  it('--fault reset is refused with the faults a seqpacket tap takes (exit 2)', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    const r = await runCli(['serve', '--fault', 'reset', '--upstream', join(dir, 'up.sock'), join(dir, 'tap.sock')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--fault reset is not for a seqpacket tap .*takes: silent, no-newline, slow, never-close, close-without-reply/);
  });

  it('--json: a record per message and per connection; --count 1 ends the tap after one connection', async () => {
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--json', '--count', '1');
    const client = await py('seq-client', join(dir, 'tap.sock'), 'j');
    await waitForOutput(client, /^eof\n/m, 15_000);
    const { code } = await t.exited;
    expect(code).toBe(0);
    const recs = jsonLines(t);
    expect(recs[0]).toMatchObject({ event: 'listening', socketType: 'seqpacket', upstream: join(dir, 'up.sock') });
    expect(recs).toContainEqual(expect.objectContaining({ event: 'connection', phase: 'open', id: 1, peer: expect.objectContaining({ name: 'python3', source: 'peercred' }) }));
    expect(recs).toContainEqual(expect.objectContaining({ event: 'traffic', unit: 'message', id: 1, dir: 'up', bytes: 1, text: 'j', relayed: true }));
    expect(recs).toContainEqual(expect.objectContaining({ event: 'traffic', unit: 'message', id: 1, dir: 'down', bytes: 7, text: 'ECHO:j\n' }));
    expect(recs).toContainEqual(expect.objectContaining({ event: 'connection', phase: 'close', first: 'client', messagesUp: 1, messagesDown: 1 }));
    expect(recs.at(-1)).toMatchObject({ event: 'stopped' });
  });
});

describe('dgram tap', () => {
  it('two senders at once: each gets its own replies back; the upstream sees the datagrams whole', async () => {
    const dir = tmpDir();
    const up = await py('dgram-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    expect(t.stderr()).toMatch(/\(dgram tap to /);
    const a = await py('dgram-client', join(dir, 'tap.sock'), join(dir, 'a.sock'), 'a1', 'a2', 'a3');
    const b = await py('dgram-client', join(dir, 'tap.sock'), join(dir, 'b.sock'), 'b1', 'b2', 'b3');
    await Promise.all([waitForOutput(a, /^done\n/m, 15_000), waitForOutput(b, /^done\n/m, 15_000)]);
    expect(a.stdout()).toBe("recv b'ECHO:a1\\n'\nrecv b'ECHO:a2\\n'\nrecv b'ECHO:a3\\n'\ndone\n");
    expect(b.stdout()).toBe("recv b'ECHO:b1\\n'\nrecv b'ECHO:b2\\n'\nrecv b'ECHO:b3\\n'\ndone\n");
    await waitForOutput(up, /got b'a1' from bound/, 10_000);
    await waitForOutput(t, /a\.sock < 8B "ECHO:a3\\n"/, 10_000);
    await waitForOutput(t, /b\.sock < 8B "ECHO:b3\\n"/, 10_000);
    const log = t.stderr();
    expect(log).toMatch(/#\d .*a\.sock sender: a socket of its own to the upstream/);
    expect(log).toMatch(/#\d .*b\.sock \[pid \d+ \(python3\), uid \d+, gid \d+\] > 2B "b2"/);
    expect(log).toMatch(/#\d .*a\.sock < 8B "ECHO:a3\\n"/);
  });

  it('an unbound sender (systemd-notify) reaches the upstream one way, named from SCM_CREDENTIALS as serve --type dgram names it', async () => {
    requirePeers('systemd-notify');
    for (const json of [false, true]) {
      const dir = tmpDir();
      const up = await py('dgram-echo', join(dir, 'up.sock'));
      const t = await tap(join(dir, 'up.sock'), join(dir, 'notify.sock'), ...(json ? ['--json'] : []));
      // bash runs systemd-notify as a child (a command follows it) and says its own pid.
      const r = await run('bash', ['-c', 'systemd-notify --ready --status=tapped; echo "bash=$$"'], { env: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock') }, timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      const bash = Number(/bash=(\d+)/.exec(r.stdout)?.[1]);
      await waitForOutput(up, /got b'READY=1\\nSTATUS=tapped' from unbound/, 10_000);
      await waitForOutput(t, /STATUS=tapped/, 10_000);
      let pid: number;
      if (json) {
        const rec = jsonLines(t).find((x) => x.event === 'traffic' && /STATUS=tapped/.test(String(x.text))) as { peer: { pid: number; uid: number; source: string }; from: unknown };
        expect(rec).toMatchObject({ from: null, peer: { uid: userInfo().uid, source: 'scm_credentials' } });
        pid = rec.peer.pid;
      } else {
        const m = /#- \(unbound\) \[pid (\d+)( \([^)]*\))?, uid (\d+), gid \d+\] > 21B "READY=1\\nSTATUS=tapped" \(replies cannot be returned: the sender bound no address\)/.exec(t.stderr());
        expect(m, t.stderr()).not.toBeNull();
        expect(Number(m![3])).toBe(userInfo().uid);
        pid = Number(m![1]);
      }
      // READY=1 comes "from" systemd-notify's parent where the kernel lets it claim that pid (root), else from itself.
      if (process.getuid?.() === 0) expect(pid).toBe(bash);
      else expect(pid).toBeGreaterThan(0);
    }
  });

  it('socat UNIX-SENDTO with bind= and udsctl send get the reply through the tap', async () => {
    requirePeers('socat');
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'up.sock'));
    await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    const socat = spawnChild('socat', ['-t', '2', '-', `UNIX-SENDTO:${join(dir, 'tap.sock')},bind=${join(dir, 'c.sock')}`], { timeoutMs: 20_000 });
    socat.child.stdin!.write('via socat');
    await waitForOutput(socat, /ECHO:via socat/, 10_000);
    socat.child.stdin!.end();
    const r = await runCli(['send', '--json', join(dir, 'tap.sock'), 'via send']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, socketType: 'dgram', reply: 'ECHO:via send\n' });
  });

  it('--perm and --group set the tap\'s socket file as serve sets its own; a group that does not exist is a usage error', async () => {
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'up.sock'));
    const gid = userInfo().gid;
    await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--perm', '0660', '--group', String(gid));
    const st = lstatSync(join(dir, 'tap.sock'));
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.gid).toBe(gid);
    const r = await runCli(['serve', '--group', 'no-such-group-udsctl', '--upstream', join(dir, 'up.sock'), join(dir, 'bad.sock')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no-such-group-udsctl/);
  });

  it('--idle-timeout closes a quiet sender\'s socket; --max-conns 1 evicts the one idle longest', async () => {
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--idle-timeout', '300ms');
    const a = await py('dgram-client', join(dir, 'tap.sock'), join(dir, 'a.sock'), 'a');
    await waitForOutput(a, /^done\n/m, 15_000);
    await waitForOutput(t, /sender done: idle: no datagram for 300ms; 1 up, 1 down/, 10_000);
    const m = await tap(join(dir, 'up.sock'), join(dir, 'max.sock'), '--max-conns', '1');
    const x = await py('dgram-client', join(dir, 'max.sock'), join(dir, 'x.sock'), 'x');
    await waitForOutput(x, /^done\n/m, 15_000);
    const y = await py('dgram-client', join(dir, 'max.sock'), join(dir, 'y.sock'), 'y');
    await waitForOutput(y, /^done\n/m, 15_000);
    expect(y.stdout()).toBe("recv b'ECHO:y\\n'\ndone\n");
    await waitForOutput(m, /x\.sock sender done/, 10_000);
    expect(m.stderr()).toMatch(/#1 .*x\.sock sender done: evicted: idle longest of 1 senders \(--max-conns\) when .*y\.sock came; 1 up, 1 down/);
  });

  it('--fault no-newline on replies; --json records; --count 2 ends after two datagrams from clients', async () => {
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'), '--json', '--fault', 'no-newline', '--count', '2');
    const a = await py('dgram-client', join(dir, 'tap.sock'), join(dir, 'a.sock'), 'p', 'q');
    await waitForOutput(a, /^done\n/m, 15_000);
    expect(a.stdout()).toBe("recv b'ECHO:p'\nrecv b'ECHO:q'\ndone\n");
    expect((await t.exited).code).toBe(0);
    const recs = jsonLines(t);
    expect(recs[0]).toMatchObject({ event: 'listening', socketType: 'dgram', fault: 'no-newline' });
    expect(recs).toContainEqual(expect.objectContaining({ event: 'sender', phase: 'open', from: join(dir, 'a.sock') }));
    expect(recs).toContainEqual(expect.objectContaining({ event: 'traffic', unit: 'datagram', dir: 'up', from: join(dir, 'a.sock'), text: 'q' }));
    expect(recs).toContainEqual(expect.objectContaining({ event: 'traffic', unit: 'datagram', dir: 'down', bytes: 7, text: 'ECHO:p\n', relayed: true, note: 'trailing newline stripped: --fault no-newline' }));
  });

  it('an upstream that never reads: datagrams past its full queue are dropped, and the log counts them', async () => {
    const dir = tmpDir();
    await py('dgram-deaf', join(dir, 'up.sock'));
    const t = await tap(join(dir, 'up.sock'), join(dir, 'tap.sock'));
    const spray = await py('dgram-spray', join(dir, 'tap.sock'), '3000');
    await waitForOutput(spray, /^sent \d+\n/m, 30_000);
    expect(spray.stdout()).toBe('sent 3000\n');
    await waitForOutput(t, /> \d+B "d2999" \(.*dropped/, 30_000);
    const drops = [...t.stderr().matchAll(/dropped: the upstream's queue is full \((\d+) dropped so far\)/g)].map((m) => Number(m[1]));
    expect(drops.length).toBeGreaterThan(0);
    // Counted one by one, in order.
    expect(drops).toEqual(drops.map((_, i) => i + 1));
  });

  it('--fault never-close means nothing on datagrams: refused (exit 2)', async () => {
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'up.sock'));
    const r = await runCli(['serve', '--fault', 'never-close', '--upstream', join(dir, 'up.sock'), join(dir, 'tap.sock')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--fault never-close is not for a dgram tap .*takes: silent, no-newline, slow/);
  });
});

describe('the tap listens as its upstream', () => {
  it('--type stream in front of a dgram upstream, --type dgram in front of a seqpacket one: usage errors (exit 2)', async () => {
    const dir = tmpDir();
    await py('dgram-echo', join(dir, 'd.sock'));
    await py('seq-echo', join(dir, 's.sock'));
    const a = await runCli(['serve', '--type', 'stream', '--upstream', join(dir, 'd.sock'), join(dir, 'tap.sock')]);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--type stream with --upstream .*d\.sock: the upstream is a dgram socket \(from sock_diag\)/);
    const b = await runCli(['serve', '--type', 'dgram', '--upstream', join(dir, 's.sock'), join(dir, 'tap.sock')]);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/the upstream is a seqpacket socket/);
  });
});

describe('the library', () => {
  it('startMessageTap relays a seqpacket exchange and emits its records; tapSocketType finds the type', async () => {
    const { parseTarget } = await import('../../src/index.js');
    const { startMessageTap, tapSocketType } = await import('../../src/unstable.js');
    const dir = tmpDir();
    await py('seq-echo', join(dir, 'up.sock'));
    expect(await tapSocketType(parseTarget(join(dir, 'up.sock')), undefined, 2_000)).toMatchObject({ type: 'seqpacket', upstream: { source: 'proc' } });
    const tapped = await startMessageTap(join(dir, 'tap.sock'), { type: 'seqpacket', upstream: join(dir, 'up.sock'), fault: 'no-newline' });
    const traffic: { dir: string; bytes: number; note?: string }[] = [];
    const closed = new Promise<{ reason?: string }>((resolve) => tapped.on('messagePeer', (p) => p.event === 'close' && resolve(p)));
    tapped.on('messageTraffic', (m) => traffic.push({ dir: m.dir, bytes: m.bytes, note: m.note }));
    try {
      const client = await py('seq-client', join(dir, 'tap.sock'), 'lib');
      await waitForOutput(client, /^eof\n/m, 15_000);
      expect(client.stdout()).toBe("recv b'ECHO:lib'\neof\n");
      expect((await closed).reason).toBe('client closed first, then the upstream');
      expect(traffic).toEqual([
        { dir: 'up', bytes: 3, note: undefined },
        { dir: 'down', bytes: 9, note: 'trailing newline stripped: --fault no-newline' },
      ]);
    } finally {
      await tapped.close();
    }
  });
});
