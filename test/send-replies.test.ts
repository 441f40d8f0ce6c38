/**
 * What `udsctl send` tells a human about the reply: the advice when a server
 * keeps the connection open after a complete reply (both readings), and
 * binary replies shown as a hex dump in the report lines (-v) while stdout
 * stays the raw bytes and --json keeps base64.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnChild, waitForOutput } from './helpers/children.js';
import { expectTerminalSafe } from './helpers/hostile-text.js';
import { runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { cleanup, probe, probeJson, redis, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

describe('send: a server that keeps the connection open after its reply', () => {
  it('Redis (persistent, rightly open): the advice names --until / a protocol flag and the close reading', async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    // --until eof, as given: the server is recognised as Redis, and without it send would end the reply by RESP (below).
    const r = await runCli(['send', '--until', 'eof', '--timeout', '500ms', sock, 'PING\\r\\n']);
    expect(r.status).toBe(8);
    expect(r.stdout).toBe('+PONG\r\n');
    expect(r.stderr).toContain('If the protocol is persistent, end the reply with --until line / idle: / len: or a protocol flag;');
    expect(r.stderr).toContain('if it should close, the server must close (Go: defer conn.Close())');
    // The advice is followed: framed by a line, the same exchange is a success.
    const framed = await runCli(['send', '--until', 'line', '--timeout', '2s', sock, 'PING\\r\\n']);
    expect(framed.status).toBe(0);
    expect(framed.stdout).toBe('+PONG\r\n');
    expect(framed.stderr).toBe('');
    // With no --until, Redis is recognised by its process: the RESP reply ends it at once.
    const recognised = await runCli(['send', '--timeout', '2s', sock, 'PING\\r\\n']);
    expect([recognised.status, recognised.stdout]).toEqual([0, '+PONG\r\n']);
  });

  it("the late lookup names the server from send's own connection (SO_PEERCRED), never from a second one", async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const { recogniseTarget } = await import('../src/core/service/target.js');
    const { openConnection } = await import('../src/core/socket/connect.js');
    const { socketFd } = await import('../src/core/socket/net-fd.js');
    const { peerCredOf } = await import('../src/core/socket/peer.js');
    const c = await openConnection({ kind: 'unix', path: sock, display: sock }, { connectTimeout: 2_000 });
    try {
      const peer = peerCredOf(socketFd(c));
      expect(peer?.pid).toBeGreaterThan(0);
      const r = await recogniseTarget({ kind: 'unix', path: sock, display: sock }, {}, { peer, connect: false });
      expect(r?.service.name).toBe('redis');
      expect(r?.evidence).toMatch(/redis-server.*\(SO_PEERCRED\)$/);
    } finally {
      c.destroy();
    }
  });

  it('a one-shot server that forgot to close gets the same two readings', async () => {
    const sock = join(tmpDir(), 'nc.sock');
    await serve(sock, ['--fault', 'never-close']);
    const r = await runCli(['send', '--timeout', '300ms', sock, 'hi']);
    expect(r.status).toBe(8);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(3);
    expect(r.stderr).toContain('(Go: defer conn.Close())');
  });
});

/** The binary reply of the Python peer below: a length prefix, text, a NUL, bytes that are not UTF-8, and controls. */
const BINARY = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello'), Buffer.from([0, 0xff, 0xfe]), Buffer.from(Array.from({ length: 20 }, (_, i) => i))]);

/** A Python server that reads a request, replies with BINARY and closes, for every connection. */
async function binaryPeer(path: string): Promise<void> {
  const code = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16); print("ready", flush=True)',
    'while True:',
    '    c, _ = s.accept(); c.recv(512); c.sendall(bytes.fromhex(sys.argv[2])); c.close()',
  ].join('\n');
  const p = spawnChild('python3', ['-c', code, path, BINARY.toString('hex')], { timeoutMs: 30_000 });
  await waitForOutput(p, /ready/);
}

describe('binary replies', () => {
  it('send: stdout gets the raw bytes; -v dumps them as hexdump -C on stderr; --json is base64 with replyEncoding', async () => {
    const sock = join(tmpDir(), 'bin.sock');
    await binaryPeer(sock);
    const [raw, verbose, json] = await Promise.all([
      runCli(['send', sock, 'hi']),
      runCli(['send', '-v', sock, 'hi']),
      runCli(['send', '--json', sock, 'hi']),
    ]);
    expect(raw.status).toBe(0);
    expect(raw.stdoutBytes.equals(BINARY)).toBe(true);
    expect(raw.stderr).toBe('');
    expect(verbose.stdoutBytes.equals(BINARY)).toBe(true);
    expect(verbose.stderr).toContain('reply complete (32 bytes "\\x00\\x00\\x00\\x05hello');
    expect(verbose.stderr).toContain('  reply is binary (32 bytes), as hexdump -C:\n' +
      '  00000000  00 00 00 05 68 65 6c 6c  6f 00 ff fe 00 01 02 03  |....hello.......|\n' +
      '  00000010  04 05 06 07 08 09 0a 0b  0c 0d 0e 0f 10 11 12 13  |................|\n');
    expectTerminalSafe(verbose.stderrBytes, 'send -v stderr');
    const doc = JSON.parse(json.stdout);
    expect(doc.replyEncoding).toBe('base64');
    expect(Buffer.from(doc.reply, 'base64').equals(BINARY)).toBe(true);
    expect(doc.replyBase64).toBe(doc.reply);
  });

  it('a text reply stays text: no dump, replyEncoding utf8', async () => {
    const sock = join(tmpDir(), 'text.sock');
    await serve(sock, ['--reply', 'héllo']);
    const [verbose, json] = await Promise.all([runCli(['send', '-v', sock, 'hi']), runCli(['send', '--json', sock, 'hi'])]);
    expect(verbose.stderr).not.toContain('hexdump');
    expect(JSON.parse(json.stdout)).toMatchObject({ reply: 'héllo\n', replyEncoding: 'utf8' });
  });

  it("probe: the human report dumps a binary reply under its checklist, in 80 columns; --json's exchange is base64", async () => {
    const sock = join(tmpDir(), 'bin.sock');
    await binaryPeer(sock);
    const [human, res] = await Promise.all([probe(['--until', 'eof', sock]), probeJson(['--until', 'eof', sock])]);
    expect(human.status).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines.slice(-3)).toEqual([
      '  reply is binary (32 bytes), as hexdump -C:',
      '  00000000  00 00 00 05 68 65 6c 6c  6f 00 ff fe 00 01 02 03  |....hello.......|',
      '  00000010  04 05 06 07 08 09 0a 0b  0c 0d 0e 0f 10 11 12 13  |................|',
    ]);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(res.t.exchange.replyEncoding).toBe('base64');
    expect(Buffer.from(res.t.exchange.reply, 'base64').equals(BINARY)).toBe(true);
  });
});

describe('send: silence after a message with no newline at its end', () => {
  it("a line server (redis-server) waits for the newline: REPLY_TIMEOUT says why and what to add; with --newline it answers; a message that ends in a newline gets no such advice", async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const bare = await runCli(['send', '--timeout', '500ms', sock, 'PING']);
    expect(bare.status).toBe(7);
    expect(bare.stderr).toMatch(/no reply within 500ms\n {2}the message went without a newline at its end, .*\n {2}add --newline/);
    const fixed = await runCli(['send', '--timeout', '2s', '--newline', sock, 'PING']);
    expect(fixed.status).toBe(0);
    expect(fixed.stdout).toBe('+PONG\r\n');
    const silent = join(tmpDir(), 'silent.sock');
    await serve(silent, ['--fault', 'silent']);
    const withNl = await runCli(['send', '--timeout', '500ms', '--newline', silent, 'hi']);
    expect(withNl.status).toBe(7);
    expect(withNl.stderr).toMatch(/no reply within 500ms\n$/);
  });
});
