/**
 * `udsctl send` as a conversation, driven on a real pseudo-terminal
 * (test/fixtures/pty-drive.py: keys typed, output read as a user sees it) and
 * with piped stdin, against servers udsctl did not write (Python, socat).
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { BIN, killAll } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { CTRL_C, CTRL_D, ESC, onTerminal, thenShell, udsctl } from '../helpers/pty.js';

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  killAll();
  await killChildren();
});

const PEER = join(FIXTURES, 'session-peer.py');

/** A Python line server (test/fixtures/session-peer.py) on a fresh socket. */
async function startPeer(...args: string[]): Promise<string> {
  const path = join(tmpDir(), 's.sock');
  const peer = spawnChild('python3', [PEER, path, ...args], { timeoutMs: 90_000 });
  await waitForOutput(peer, /^ready$/m, 10_000);
  return path;
}

describe('send on a terminal: a conversation', { timeout: 60_000 }, () => {
  it('sends each typed line on Enter, shows replies with their timing, escapes a binary reply, Ctrl-D half-closes and waits for the server', async () => {
    const sock = await startPeer('--banner', 'hello');
    const r = await onTerminal(thenShell(udsctl(`send ${sock}`)), [
      ['expect', 'connected to .*Ctrl-D'],
      ['expect', 'hello'],
      ['type', 'one\n'],
      ['expect', 'echo: one'],
      ['type', 'binary\n'],
      ['expect', '\\|\\.\\.\\.\\[2J'],
      ['type', 'partial\n'],
      ['expect', 'no newline'],
      ['type', CTRL_D],
      ['expect', 'got eof after 3 lines'],
      ['expect', 'END'],
      ['exit'],
    ]);
    const out = r.plain;
    // A timing in the margin before each reply; the typed line is echoed by the terminal, without one.
    expect(out).toMatch(/^ +\+\d+(\.\d)?ms │ hello$/m);
    expect(out).toMatch(/^one\n +\+\d+(\.\d)?ms │ echo: one$/m);
    // The peer's ESC [2J is shown as a hex dump, never sent to the terminal raw.
    expect(r.output).not.toContain(`${ESC}[2J`);
    expect(r.output).toContain(`${ESC}[2m`); // the margin is dim
    expect(out).toMatch(/│ 00000010 {2}00 01 1b 5b 32 4a 00 ff {2}07 0a/);
    expect(out).toMatch(/│ no-newline \(no newline\)$/m);
    expect(out).toMatch(/end of input sent \(half-close\)/);
    expect(out).toMatch(/server closed the connection/);
    expect(out).toMatch(/status=0\n/);
    expect(out).not.toContain('LEFT:');
    expect(r.status).toBe(0);
  });

  it('what is typed while the session ends never reaches the shell (Ctrl-D, then a server that does not close)', async () => {
    const sock = await startPeer();
    const r = await onTerminal(thenShell(udsctl(`send --timeout 2s ${sock}`)), [
      ['expect', 'connected'],
      ['type', 'hold-eof\n'],
      ['expect', 'will hold'],
      ['type', CTRL_D],
      ['expect', 'waiting up to 2000ms'],
      // No longer read by udsctl: without the discard, bash would read it and print LEFT:.
      ['type', 'echo typed-while-waiting\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.output).toMatch(/did not close the connection within 2000ms of the end of our input/);
    expect(r.output).toMatch(/status=8\n/);
    expect(r.output).not.toContain('LEFT:');
  });

  it('a server that closes mid-session: shown at once, exit 0, nothing left for the shell', async () => {
    const sock = await startPeer();
    const r = await onTerminal(thenShell(udsctl(`send ${sock}`)), [
      ['expect', 'connected'],
      ['type', 'one\n'],
      ['expect', 'echo: one'],
      // The half-typed line is in the terminal's line buffer, unreadable until Enter, before the
      // server even reads "bye": udsctl must discard it; the Enter after its exit would hand it to bash.
      ['type', 'bye\necho half-typed'],
      ['expect', 'server closed the connection'],
      ['expect', 'status='],
      ['type', '\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    expect(r.plain).toMatch(/│ bye$/m);
    expect(r.output).toMatch(/status=0\n/);
    expect(r.output).not.toContain('LEFT:');
  });

  it('a reset is shown once and exits 9', async () => {
    const sock = await startPeer();
    const r = await onTerminal(thenShell(udsctl(`send ${sock}`)), [
      ['expect', 'connected'],
      ['type', 'reset\n'],
      ['expect', 'resetting'],
      ['type', 'one more\n'],
      ['expect', 'END'],
      ['exit'],
    ]);
    // Once: the error line says it (with the bytes it came after), not a status line too.
    expect(r.output.match(/connection reset by the server/g)).toHaveLength(1);
    expect(r.output).toMatch(/status=9\n/);
  });

  it('Ctrl-C ends it (exit 130) and the half-typed line is not left for the shell', async () => {
    const sock = await startPeer();
    const r = await onTerminal(thenShell(udsctl(`send ${sock}`)), [
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
    expect(r.output).toMatch(/4 bytes sent, 10 received/);
  });

  it('--crlf sends each line with \\r\\n; NO_COLOR keeps the margin without colour', async () => {
    const sock = await startPeer();
    const r = await onTerminal(
      udsctl(`send --crlf ${sock}`),
      [['expect', 'connected'], ['type', 'PING\n'], ['expect', 'echo: PING \\[CRLF\\]'], ['type', CTRL_D], ['exit']],
      { NO_COLOR: '1' },
    );
    expect(r.output).toMatch(/^ +\+\d+(\.\d)?ms │ echo: PING \[CRLF\]$/m);
    expect(r.output).not.toContain(ESC);
    expect(r.status).toBe(0);
  });

  it('"-" on a terminal is a session too (it used to wait for Ctrl-D, then time out)', async () => {
    const sock = await startPeer();
    const r = await onTerminal(udsctl(`send ${sock} -`), [['expect', 'connected'], ['type', 'one\n'], ['expect', 'echo: one'], ['type', CTRL_D], ['exit']]);
    expect(r.plain).toMatch(/│ got eof after 1 lines$/m);
    expect(r.status).toBe(0);
  });

  it('with a message on a terminal, send stays one exchange', async () => {
    const sock = await startPeer();
    const r = await onTerminal(udsctl(`send --until line ${sock} 'hi\\n'`), [['expect', 'echo: hi'], ['exit']]);
    expect(r.output).not.toMatch(/connected to|│/);
    expect(r.status).toBe(0);
  });
});

describe('send --interactive with piped stdin: both directions at once', { timeout: 60_000 }, () => {
  it('streams 256 MiB through a socat echo with backpressure, memory flat, bytes intact', async () => {
    requirePeers('socat');
    const dir = tmpDir();
    const sock = join(dir, 'echo.sock');
    const peer = spawnChild('socat', ['-d', '-d', `UNIX-LISTEN:${sock},fork`, 'EXEC:cat'], { timeoutMs: 120_000 });
    await waitForOutput(peer, /listening on/, 10_000);
    // Max RSS of udsctl, from the kernel: it must not hold the stream (256 MiB) in memory.
    const script = `head -c 268435456 /dev/zero | python3 -c 'import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print("maxrss_kib=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)' node ${BIN} send --interactive --timeout 20s ${sock} | wc -c`;
    const r = await run('bash', ['-c', script], { timeoutMs: 110_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(String(256 * 1024 * 1024));
    const rss = Number(/maxrss_kib=(\d+)/.exec(r.stderr)?.[1]);
    expect(rss).toBeGreaterThan(0);
    expect(rss, r.stderr).toBeLessThan(150 * 1024);
  }, 120_000);

  it('replies come while stdin is still open (not after its end), raw bytes on a pipe', async () => {
    const sock = await startPeer();
    const child = spawnChild('node', [BIN, 'send', '--interactive', sock], { timeoutMs: 30_000 });
    child.child.stdin!.write('first\n');
    await waitForOutput(child, /echo: first\n/, 10_000);
    child.child.stdin!.write('binary\n');
    await waitForOutput(child, /\[2J/, 10_000);
    child.child.stdin!.end('last\n');
    const { code } = await child.exited;
    expect(code).toBe(0);
    expect(child.stdout()).toBe(`echo: first\n\u0000\u0001${ESC}[2J\u0000\ufffd\u0007\necho: last\ngot eof after 3 lines\n`);
    // Status lines are for a terminal (or -v): a pipe gets none.
    expect(child.stderr()).toBe('');
  });

  it('every wait is bounded: a server that stops reading (7), one that never closes after our end (8), a reset (9)', async () => {
    const sock = await startPeer();
    const silent = await run('bash', ['-c', `(printf 'silent\\n'; head -c 67108864 /dev/zero) | node ${BIN} send --interactive -t 1s ${sock}`], { timeoutMs: 30_000 });
    expect(silent.code, silent.stderr).toBe(7);
    expect(silent.stdout).toBe('going silent\n');
    expect(silent.stderr).toMatch(/read none of our input for 1000ms/);

    const hold = await run('node', [BIN, 'send', '--interactive', '-v', '-t', '1s', sock], { input: 'hold-eof\n', timeoutMs: 30_000 });
    expect(hold.code, hold.stderr).toBe(8);
    expect(hold.stdout).toBe('will hold\nholding\n');
    expect(hold.stderr).toMatch(/end of input sent \(half-close\)/);

    const reset = await run('bash', ['-c', `(printf 'reset\\n'; sleep 1; printf 'more\\n'; sleep 5) | node ${BIN} send --interactive ${sock}`], { timeoutMs: 30_000 });
    expect(reset.code, reset.stderr).toBe(9);
    expect(reset.stderr).toMatch(/connection reset by the server after 10 bytes/);
  });

  it('a stdout that stops taking the reply ends it within --timeout (exit 1 or 7), not when its reader wakes up', async () => {
    requirePeers('socat');
    const sock = join(tmpDir(), 'echo.sock');
    const peer = spawnChild('socat', ['-d', '-d', `UNIX-LISTEN:${sock},fork`, 'EXEC:cat'], { timeoutMs: 60_000 });
    await waitForOutput(peer, /listening on/, 10_000);
    // udsctl's status is printed when it exits; the reader (sleep) takes nothing for 40s.
    const script = `head -c 67108864 /dev/zero | { node ${BIN} send --interactive -t 1s ${sock}; echo "udsctl-status=$?" >&2; } | sleep 40 >/dev/null 2>&1`;
    // Its own process group, so that the sleep goes with it when the test ends.
    const child = spawnChild('bash', ['-c', script], { timeoutMs: 50_000, detached: true });
    onTestFinished(() => {
      try {
        process.kill(-child.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    await waitForOutput(child, /udsctl-status=\d+/, 30_000);
    // Whichever bound passes first: the stdout full (1), or the echo server, blocked on us, no longer reading (7).
    expect(child.stderr()).toMatch(/udsctl-status=(1|7)\b/);
    expect(child.stderr()).toMatch(/the reply's reader took nothing for 1000ms|read none of our input for 1000ms/);
  });

  it("a server that closes while we are still sending: its last words are shown (read from the spare descriptor after EPIPE)", async () => {
    const sock = await startPeer();
    for (let i = 0; i < 3; i++) {
      const r = await run('bash', ['-c', `(printf 'bye\\n'; head -c 67108864 /dev/zero) | node ${BIN} send --interactive ${sock}`], { timeoutMs: 30_000 });
      expect(r.stdout).toBe('bye\n');
      // Closed (0), or reset (9) when it closed with our bytes unread in its queue: the kernel's word, a race of the peer's.
      expect([0, 9], r.stderr).toContain(r.code);
    }
  });

  it('flags that apply to one message are refused with a session, as usage errors', async () => {
    const sock = await startPeer();
    const withMsg = await run('node', [BIN, 'send', '--interactive', sock, 'hi'], { timeoutMs: 15_000 });
    expect(withMsg.code).toBe(2);
    expect(withMsg.stderr).toMatch(/drop the message argument/);
    const withJson = await run('node', [BIN, 'send', '--interactive', '--json', sock], { timeoutMs: 15_000 });
    expect(withJson.code).toBe(2);
    expect(withJson.stderr).toMatch(/--json applies to one message/);
    const missing = await run('node', [BIN, 'send', '--interactive', join(tmpDir(), 'none.sock')], { input: '', timeoutMs: 15_000 });
    expect(missing.code).toBe(3);
  });
});
