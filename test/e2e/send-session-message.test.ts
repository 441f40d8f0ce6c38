/**
 * `udsctl send` as a conversation on seqpacket and dgram sockets, driven on a
 * real pseudo-terminal (test/helpers/pty.ts) and with piped stdin, against
 * Python servers (test/fixtures/message-session-peer.py) and socat.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Spawned, killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { CTRL_C, CTRL_D, onTerminal, thenShell, udsctl } from '../helpers/pty.js';
import { requirePeers } from '../helpers/requirements.js';
import { BIN, killAll } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  killAll();
  await killChildren();
});

const PEER = join(FIXTURES, 'message-session-peer.py');

/** A Python seqpacket or dgram server on a fresh socket. */
async function startPeer(mode: 'seqpacket' | 'dgram', prefix: string[] = []): Promise<{ path: string; peer: Spawned }> {
  const path = join(tmpDir(), `${mode}.sock`);
  const argv = [...prefix, 'python3', PEER, mode, path];
  const peer = spawnChild(argv[0], argv.slice(1), { timeoutMs: 90_000 });
  await waitForOutput(peer, /^ready$/m, 10_000);
  return { path, peer };
}

/** A margin with a time, then the text: the first line of a message. */
const timed = (text: string) => new RegExp(`^ +\\+\\d+(\\.\\d)?ms │ ${text}$`, 'm');
/** A margin without a time: a further line of the same message. */
const untimed = (text: string) => new RegExp(`^ {9} │ ${text}$`, 'm');

describe('send on a terminal, seqpacket: a conversation in messages', { timeout: 60_000 }, () => {
  it('each typed line is one message; each message one block with its time (boundaries kept); Ctrl-D shuts our side and waits for the server', async () => {
    const { path, peer } = await startPeer('seqpacket');
    const r = await onTerminal(thenShell(udsctl(`send ${path}`)), [
      ['expect', 'connected to .*seqpacket: each line is one message.*Ctrl-D'],
      ['type', 'hello\n'],
      ['expect', 'echo: hello'],
      ['type', 'two\n'],
      ['expect', 'second'],
      ['type', 'multi\n'],
      ['expect', 'line 2'],
      ['type', CTRL_D],
      ['expect', 'got eof after 3 messages'],
      ['expect', 'END'],
      ['exit'],
    ]);
    const out = r.plain;
    expect(out).toMatch(timed('echo: hello'));
    // Two messages: two blocks, each timed; one message of two lines: one block, its second line untimed.
    expect(out).toMatch(timed('first'));
    expect(out).toMatch(timed('second'));
    expect(out).toMatch(timed('line 1'));
    expect(out).toMatch(untimed('line 2'));
    expect(out).toMatch(/end of input sent \(half-close\)/);
    expect(out).toMatch(/server closed the connection/);
    expect(out).toMatch(/3 messages \(16 bytes\) sent, 5 messages \(\d+ bytes\) received/);
    expect(out).toMatch(/status=0\n/);
    expect(out).not.toContain('LEFT:');
    // The server got one message a line, each with its newline.
    await waitForOutput(peer, /got b'multi\\n'/);
    expect(peer.stdout()).toMatch(/got b'hello\\n'\ngot b'two\\n'\ngot b'multi\\n'/);
  });

  it('a server that closes mid-session: shown at once, exit 0, the half-typed line not left for the shell', async () => {
    const { path } = await startPeer('seqpacket');
    const r = await onTerminal(thenShell(udsctl(`send ${path}`)), [
      ['expect', 'connected'],
      ['type', 'one\n'],
      ['expect', 'echo: one'],
      ['type', 'bye\necho half-typed'],
      ['expect', 'server closed the connection'],
      ['expect', 'status='],
      ['type', '\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    // The half-typed text the terminal echoed may come before the reply on its line.
    expect(r.plain).toMatch(/│ bye$/m);
    expect(r.output).toMatch(/status=0\n/);
    expect(r.output).not.toContain('LEFT:');
  });

  it('a reset is shown when it happens and exits 9', async () => {
    const { path } = await startPeer('seqpacket');
    const r = await onTerminal(thenShell(udsctl(`send ${path}`)), [
      ['expect', 'connected'],
      ['type', 'reset\n'],
      ['expect', 'resetting'],
      ['type', 'one more\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.output).toMatch(/connection reset by the server/);
    expect(r.output).toMatch(/status=9\n/);
    expect(r.output).not.toContain('LEFT:');
  });

  it('Ctrl-C ends it (exit 130), nothing left for the shell', async () => {
    const { path } = await startPeer('seqpacket');
    const r = await onTerminal(thenShell(udsctl(`send ${path}`)), [
      ['expect', 'connected'],
      ['type', 'one\n'],
      ['expect', 'echo: one'],
      ['type', 'echo half-typed'],
      ['type', CTRL_C],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.output).toMatch(/status=130\n/);
    expect(r.output).not.toContain('LEFT:');
    expect(r.output).toMatch(/1 message \(4 bytes\) sent, 1 message \(9 bytes\) received/);
  });

  it('Ctrl-D, then a server that never closes: exit 8 after --timeout; what is typed meanwhile never reaches the shell', async () => {
    const { path } = await startPeer('seqpacket');
    const r = await onTerminal(thenShell(udsctl(`send --timeout 2s ${path}`)), [
      ['expect', 'connected'],
      ['type', 'hold\n'],
      ['expect', 'will hold'],
      ['type', CTRL_D],
      ['expect', 'waiting up to 2000ms'],
      ['expect', 'holding'],
      ['type', 'echo typed-while-waiting\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.output).toMatch(/did not close the connection within 2000ms of the end of our input/);
    expect(r.output).toMatch(/status=8\n/);
    expect(r.output).not.toContain('LEFT:');
  });

  it('--crlf sends each line with \\r\\n, still one message a line', async () => {
    const { path, peer } = await startPeer('seqpacket');
    const r = await onTerminal(udsctl(`send --crlf ${path}`), [['expect', 'connected'], ['type', 'PING\n'], ['expect', 'echo: PING \\[CRLF\\]'], ['type', CTRL_D], ['exit']]);
    expect(r.status).toBe(0);
    expect(peer.stdout()).toContain("got b'PING\\r\\n'");
  });

  it("socat's seqpacket server (type=5) too", async () => {
    requirePeers('socat');
    const path = join(tmpDir(), 'socat.sock');
    const socat = spawnChild('socat', ['-d', '-d', `UNIX-LISTEN:${path},type=5,fork`, 'EXEC:cat'], { timeoutMs: 60_000 });
    await waitForOutput(socat, /listening on/, 10_000);
    const r = await onTerminal(thenShell(udsctl(`send ${path}`)), [
      ['expect', 'seqpacket'],
      ['type', 'hello socat\n'],
      ['expect', '│ .{0,8}hello socat'],
      ['type', CTRL_D],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.output).toMatch(/status=0\n/);
    expect(r.output).toMatch(/server closed the connection/);
  });
});

describe('send on a terminal, dgram: each line a datagram, replies to an address of our own', { timeout: 60_000 }, () => {
  it('typed lines go as datagrams, each datagram back is one block; Ctrl-D waits --timeout for more, exits 0; the reply address is removed', async () => {
    const { path, peer } = await startPeer('dgram');
    const r = await onTerminal(thenShell(udsctl(`send --timeout 1s ${path}`)), [
      ['expect', 'connected to .*dgram: each line is one datagram'],
      ['type', 'hi\n'],
      ['expect', 'echo: hi'],
      ['type', 'two\n'],
      ['expect', 'second'],
      ['type', CTRL_D],
      ['expect', 'waiting 1000ms for more replies'],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.plain).toMatch(timed('echo: hi'));
    expect(r.plain).toMatch(timed('first'));
    expect(r.plain).toMatch(timed('second'));
    expect(r.output).toMatch(/2 messages \(7 bytes\) sent, 3 messages \(\d+ bytes\) received/);
    expect(r.output).toMatch(/status=0\n/);
    expect(r.output).not.toContain('LEFT:');
    const from = /^from (\/\S+)$/m.exec(peer.stdout())?.[1];
    expect(from, peer.stdout()).toMatch(/udsctl-reply-/);
    expect(existsSync(from!)).toBe(false);
  });

  it('--type forces the type: seqpacket on a datagram socket is a usage error naming EPROTOTYPE (exit 2)', async () => {
    const { path } = await startPeer('dgram');
    const r = await onTerminal(thenShell(udsctl(`send --type seqpacket ${path}`)), [['expect', 'END'], ['exit']]);
    expect(r.output).toMatch(/not a seqpacket socket \(connect: EPROTOTYPE\)/);
    expect(r.output).toMatch(/status=2\n/);
  });
});

describe('send --interactive with piped stdin on message sockets: each line one message', { timeout: 60_000 }, () => {
  it('seqpacket: lines go as messages while replies come back; the last line without its newline is one more message', async () => {
    const { path, peer } = await startPeer('seqpacket');
    const child = spawnChild('node', [BIN, 'send', '--interactive', path], { timeoutMs: 30_000 });
    child.child.stdin!.write('first line\n');
    await waitForOutput(child, /echo: first line/, 10_000);
    child.child.stdin!.end('two\nlast');
    const { code } = await child.exited;
    expect(code, child.stderr()).toBe(0);
    // Raw bytes on a pipe: the messages as they are, one after the other.
    expect(child.stdout()).toBe('echo: first linefirstsecondecho: lastgot eof after 3 messages');
    expect(peer.stdout()).toMatch(/got b'first line\\n'\ngot b'two\\n'\ngot b'last'/);
    expect(child.stderr()).toBe('');
  });

  it('seqpacket: a server that stops reading ends it within --timeout (exit 7), the queue of lines bounded (memory flat)', async () => {
    const { path } = await startPeer('seqpacket');
    const script = `(printf 'silent\\n'; yes 'a line that will never be read' | head -n 3000000) | python3 -c 'import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print("maxrss_kib=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)' node ${BIN} send --interactive -t 1s ${path}`;
    const r = await run('bash', ['-c', script], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toBe('going silent');
    expect(r.stderr).toMatch(/took none of our messages for 1000ms/);
    const rss = Number(/maxrss_kib=(\d+)/.exec(r.stderr)?.[1]);
    expect(rss).toBeGreaterThan(0);
    expect(rss, r.stderr).toBeLessThan(150 * 1024);
  });

  it('the type found by connecting when /proc/net/unix does not list the socket (a server in another network namespace)', async (ctx) => {
    // User namespaces may be off (sysctl, a container's seccomp): then this case cannot be set up here.
    if (spawnSync('unshare', ['-rn', 'true']).status !== 0) return ctx.skip('unshare -rn not permitted here (user namespaces off)');
    for (const mode of ['seqpacket', 'dgram'] as const) {
      const { path } = await startPeer(mode, ['unshare', '-rn']);
      // dgram: the reply address is a file, which a server in another network namespace can still reach.
      const r = await run('node', [BIN, 'send', '--interactive', '-v', '-t', '1s', path], { input: 'ns\n', timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`(${mode}: each line is one`);
      expect(r.stdout).toContain('echo: ns');
    }
  });

  it('dgram: each line one datagram; a receiver gone mid-session (ECONNREFUSED: nobody reads) exits 5; the reply address is removed', async () => {
    const { path, peer } = await startPeer('dgram');
    const child = spawnChild('node', [BIN, 'send', '--interactive', path], { timeoutMs: 30_000 });
    child.child.stdin!.write('one\ntwo\n');
    await waitForOutput(child, /second/, 10_000);
    expect(child.stdout()).toBe('echo: onefirstsecond');
    const from = /^from (\/\S+)$/m.exec(peer.stdout())?.[1];
    expect(existsSync(from!)).toBe(true);
    peer.child.kill('SIGKILL');
    await peer.exited;
    child.child.stdin!.write('after\n');
    const { code } = await child.exited;
    expect(code).toBe(5);
    expect(child.stderr()).toMatch(/nobody reads this socket any more \(ECONNREFUSED/);
    expect(existsSync(from!)).toBe(false);
  });
});
