/**
 * The tap (`serve --upstream TARGET LISTEN`) between real peers: PHP and socat
 * clients, a Go server (test/fixtures/go-tap-server.go, built into a temp dir
 * here), udsctl's log of what went through. Faults break the Go server's real
 * reply; half-closes are relayed; a dead upstream is named; a client that
 * never reads keeps the tap's memory flat.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Server, startServe } from '../../src/index.js';
import { type TapConnectionLog } from '../../src/core/serve/tap.js';
import type { TrafficLog } from '../../src/core/serve/tap-records.js';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { findTool, requirePeers } from '../helpers/requirements.js';
import { killAll, runCli, startCli, waitExit } from '../helpers/run-cli.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

const LINE_CLIENT = join(FIXTURES, 'php-line-client.php');
const EOF_CLIENT = join(FIXTURES, 'php-eof-client.php');
const OK_LINE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
// Linux errno values as PHP's socket_last_error() reports them.
const EINTR = 4;
const EAGAIN = 11;
const ECONNRESET = 104;

let buildDir: string | null = null;
let goServer: string | null = null;
let buildError = '';

beforeAll(async () => {
  if (!findTool('go')) return;
  buildDir = mkdtempSync(join(tmpdir(), 'udsctl-go-'));
  // The user's build cache when their home is writable (fast); else one in the temp dir (a
  // user like nobody, HOME=/nonexistent). One file, standard library only: no module, no network.
  const home = process.env.HOME;
  let homeOk = false;
  try {
    if (home) accessSync(home, constants.W_OK);
    homeOk = !!home;
  } catch {
    // not writable
  }
  const env = {
    ...process.env,
    GO111MODULE: 'off',
    GOFLAGS: '',
    ...(process.env.GOCACHE || homeOk ? {} : { GOCACHE: join(buildDir, 'cache'), GOPATH: join(buildDir, 'gopath') }),
  };
  const out = join(buildDir, 'go-tap-server');
  const r = await run('go', ['build', '-o', out, join(FIXTURES, 'go-tap-server.go')], { timeoutMs: 170_000, env, cwd: buildDir });
  if (r.code === 0) goServer = out;
  else buildError = `go build failed (${r.code ?? r.signal}): ${r.stderr}`;
}, 180_000);

afterAll(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

beforeEach(() => {
  requirePeers('go');
  if (!goServer) throw new Error(buildError || 'the Go server was not built');
});
afterEach(async () => {
  killAll();
  await killChildren();
});

/** The Go server in `mode` at `where` (a path, @name or tcp:127.0.0.1:0); resolves the address it listens on. */
async function startGo(where: string, mode = 'oneshot', extra: string[] = []) {
  const peer = spawnChild(goServer!, ['-path', where, '-mode', mode, ...extra], { timeoutMs: 60_000 });
  await waitForOutput(peer, /^listening .+$/m);
  const addr = /^listening (.+)$/m.exec(peer.stdout())![1];
  return { peer, addr: where.startsWith('tcp:') ? addr : where };
}

/** The tap as a library user makes it: startServe with `upstream`, its records collected. */
async function startTap(listen: string, upstream: string, opts: Parameters<typeof startServe>[1] = {}) {
  const server = await startServe(listen, { upstream, graceTimeout: 500, ...opts });
  const traffic: TrafficLog[] = [];
  const conns: TapConnectionLog[] = [];
  const waiters: (() => void)[] = [];
  server.on('traffic', (t) => traffic.push(t));
  server.on('connection', (c) => {
    conns.push(c as TapConnectionLog);
    for (const w of waiters.splice(0)) w();
  });
  const closeIt = () => server.close();
  afterEachClose.push(closeIt);
  return {
    server,
    traffic,
    conns,
    /** Resolves once n connection records came (bounded). */
    async connections(n: number, timeoutMs = 10_000): Promise<TapConnectionLog[]> {
      const until = Date.now() + timeoutMs;
      while (conns.length < n) {
        if (Date.now() > until) throw new Error(`expected ${n} connection records, got ${JSON.stringify(conns)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 200);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return conns;
    },
  };
}
const afterEachClose: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(afterEachClose.splice(0).map((f) => f()));
});

async function php(script: string, path: string, rcvMs = 300) {
  const args = script === LINE_CLIENT ? [script, path, String(rcvMs), '1'] : [script, path, String(rcvMs)];
  const r = await run('php', args, { timeoutMs: 10_000 });
  expect(r.signal, `php was killed: ${r.stderr}`).toBeNull();
  expect(r.stderr).toBe('');
  return { ...(JSON.parse(r.stdout) as { ok: boolean; line?: string; reply?: string; errno?: number | null; deadline?: boolean }), ms: r.ms };
}

interface CliTap {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves once the log (all of it, from the start) matches `re`; bounded. */
  until: (re: RegExp, timeoutMs?: number) => Promise<void>;
}

/** `udsctl serve ... --upstream` as a user runs it; resolves once it listens. */
async function startTapCli(args: string[]): Promise<CliTap> {
  const child = startCli(['serve', ...args]);
  let acc = '';
  const wake = new Set<() => void>();
  child.stderr!.on('data', (c: Buffer) => {
    acc += c.toString();
    for (const w of wake) w();
  });
  const until = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!re.test(acc)) return;
        clearTimeout(timer);
        wake.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        wake.delete(check);
        // The log's end only: a flood's traffic records must not become an assertion message (vitest sends it whole).
        const tail = acc.length > 4_000 ? `...(${acc.length - 4_000} chars before) ${acc.slice(-4_000)}` : acc;
        reject(new Error(`the tap did not log ${re} within ${timeoutMs}ms; got: ${tail}`));
      }, timeoutMs);
      wake.add(check);
      check();
    });
  await until(/listening/);
  return { child, stderr: () => acc, until };
}

/** Stop a CLI tap (SIGTERM) and return its whole stderr. */
async function stopTapCli(tap: CliTap): Promise<string> {
  tap.child.kill('SIGTERM');
  expect(await waitExit(tap.child)).toBe(0);
  return tap.stderr();
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the tap between a PHP client and a Go server', () => {
  beforeEach(() => requirePeers('php'));

  // Each fault breaks the Go server's real reply; PHP sees what it would see from a broken server.
  it('no-newline: the trailing newline of the real reply is held back; PHP_NORMAL_READ fails, an EOF reader gets the text', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { fault: 'no-newline' });
    expect(await php(LINE_CLIENT, tapPath)).toMatchObject({ ok: false, errno: ECONNRESET, deadline: false });
    const eof = await php(EOF_CLIENT, tapPath);
    expect(eof.ok).toBe(true);
    expect(eof.reply).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
    const [, second] = await tap.connections(2);
    // The upstream's real bytes are logged whole: 16 of them came, 15 went on.
    expect(second).toMatchObject({ bytesOut: 16, fault: 'no-newline', end: 'closed' });
  });

  it('never-close: the reply is relayed, then the client is held open after the Go server closed', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { fault: 'never-close' });
    const r = await php(EOF_CLIENT, tapPath, 500);
    expect(r).toMatchObject({ ok: false, errno: EAGAIN, reply: expect.stringMatching(OK_LINE) });
    const [log] = await tap.connections(1);
    expect(log).toMatchObject({ end: 'left-open', first: 'upstream', clientEnd: 'closed', upstreamEnd: 'closed', reason: 'fault never-close' });
  });

  it('silent: the real reply is swallowed; PHP waits until its own timeout', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { fault: 'silent' });
    expect(await php(EOF_CLIENT, tapPath, 300)).toMatchObject({ ok: false, errno: EAGAIN, reply: '' });
    expect(await php(LINE_CLIENT, tapPath, 200)).toMatchObject({ ok: false, errno: EINTR, deadline: true });
    await tap.connections(2);
    const swallowed = tap.traffic.filter((t) => t.from === 'upstream' && t.kind === 'data');
    expect(swallowed.length).toBe(2);
    expect(swallowed[0].note).toMatch(/swallowed/);
  });

  it('slow --delay 400ms: the real reply arrives late, whole', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    await startTap(tapPath, addr, { fault: 'slow', delay: 400 });
    const r = await php(EOF_CLIENT, tapPath, 2_000);
    expect(r).toMatchObject({ ok: true, reply: expect.stringMatching(OK_LINE) });
    expect(r.ms).toBeGreaterThanOrEqual(350);
  });

  it('reset: PHP sees ECONNRESET instead of the real reply (the request still reached the Go server)', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { fault: 'reset' });
    expect(await php(EOF_CLIENT, tapPath)).toMatchObject({ ok: false, errno: ECONNRESET });
    const [log] = await tap.connections(1);
    expect(log).toMatchObject({ end: 'reset', reason: 'fault reset', bytesIn: 15, bytesOut: 16, clientEnd: 'reset' });
  });
});

describe('the tap: half-closes both ways, binary chunks, listening forms (socat and node clients)', () => {
  beforeEach(() => requirePeers('socat'));

  it("relays socat's half-close as a half-close: a read-to-EOF Go server answers", async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'eof');
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr);
    const r = await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${tapPath}`], { input: 'line one\nline two\n', timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('got 18 bytes\nline one\nline two\n');
    const [log] = await tap.connections(1);
    expect(tap.traffic.find((t) => t.from === 'client' && t.kind === 'half-close')?.note).toMatch(/relayed to the upstream as a half-close/);
    expect(log).toMatchObject({ end: 'closed', first: 'client', bytesIn: 18 });
  });

  it("relays the server's half-close as a half-close: the client still sends after it, and the server gets it", async () => {
    const dir = tmpDir();
    const { peer, addr } = await startGo(join(dir, 'up.sock'), 'greet');
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr);
    const client = net.connect({ path: tapPath, allowHalfOpen: true });
    client.on('error', () => {});
    let got = '';
    client.on('data', (c: Buffer) => (got += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end after ${JSON.stringify(got)}`)), 10_000);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    expect(got).toBe('hello\n');
    client.end('late data\n');
    await waitForOutput(peer, /^read \d+$/m, 10_000);
    expect(peer.stdout()).toMatch(/^read 10$/m);
    const [log] = await tap.connections(1);
    expect(tap.traffic.find((t) => t.from === 'upstream' && t.kind === 'half-close')?.note).toMatch(/relayed to the client as a half-close/);
    expect(log).toMatchObject({ end: 'closed', first: 'upstream', bytesIn: 10, bytesOut: 6 });
  });

  it('listens on TCP and on an abstract name too; over TCP the reset fault is a real RST', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const abs = uniqueAbstractName();
    await startTap(abs, addr);
    const r = await runCli(['send', abs, 'hi\\n']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(OK_LINE);
    const tap = await startTap('127.0.0.1:0', addr, { fault: 'reset' });
    const [host, port] = tap.server.address().split(':');
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = net.connect({ host, port: Number(port) });
      s.on('connect', () => s.write('hi\n'));
      s.on('error', (e) => resolve(e));
      s.on('close', () => resolve(null));
      s.resume();
    });
    expect(err?.code).toBe('ECONNRESET');
  });
});

describe('the tap: upstream forms, failures and limits', () => {
  it('every stream target form as the upstream: TCP and an abstract name', async () => {
    const dir = tmpDir();
    const tcp = await startGo('tcp:127.0.0.1:0');
    const abs = uniqueAbstractName();
    await startGo(abs);
    for (const up of [tcp.addr, abs]) {
      const tapPath = join(dir, `tap-${up.startsWith('@') ? 'abs' : 'tcp'}.sock`);
      await startTap(tapPath, up);
      const r = await runCli(['send', tapPath, 'hi\\n']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(OK_LINE);
    }
  });

  it('an upstream that resets (TCP RST) is logged as a reset, and the client is closed', async () => {
    const dir = tmpDir();
    const { addr } = await startGo('tcp:127.0.0.1:0', 'reset');
    const tap = await startTap(join(dir, 'tap.sock'), addr);
    const r = await runCli(['send', join(dir, 'tap.sock'), 'hi\\n']);
    expect(r.status).not.toBe(0);
    const [log] = await tap.connections(1);
    expect(log).toMatchObject({ end: 'reset', first: 'upstream', upstreamEnd: 'reset' });
    expect(tap.traffic.find((t) => t.kind === 'reset')).toMatchObject({ from: 'upstream', code: 'RESET', errno: 'ECONNRESET' });
  });

  it('--count 1: exits 0 after one relayed connection; SIGTERM does not wait for a client a fault holds open', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const once = await startTapCli(['--workers', '1', '--count', '1', '--upstream', addr, join(dir, 'c.sock')]);
    const sent = await runCli(['send', join(dir, 'c.sock'), 'hi\\n']);
    expect(sent.status, sent.stderr).toBe(0);
    expect(await waitExit(once.child)).toBe(0);
    expect(once.stderr()).toMatch(/#1 closed in=3B out=16B/);

    const held = await startTapCli(['--workers', '1', '--fault', 'never-close', '--grace', '30s', '--upstream', addr, join(dir, 'h.sock')]);
    const client = net.connect(join(dir, 'h.sock'));
    client.on('error', () => {});
    client.write('hi\n');
    await held.until(/client held open/);
    const t0 = Date.now();
    held.child.kill('SIGTERM');
    expect(await waitExit(held.child)).toBe(0);
    // Well inside --grace: a held connection is closed at once on shutdown.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(held.stderr()).toMatch(/#1 left-open .*\(fault never-close\)/);
    client.destroy();
  });

  it('--idle-timeout ends a connection whose client does not take the replies', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'flood', ['-mib', '64']);
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { idleTimeout: 500 });
    const client = net.connect(tapPath);
    client.on('error', () => {});
    client.pause();
    client.write('go\n');
    const [log] = await tap.connections(1);
    client.destroy();
    expect(log).toMatchObject({ end: 'idle-timeout', first: 'tap', reason: 'replies not read for 500ms' });
  });

  it('--max-conns: the connection over the limit is closed at once and logged', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'eof');
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTap(tapPath, addr, { maxConns: 1 });
    const first = net.connect(tapPath);
    first.on('error', () => {});
    await new Promise<void>((r) => first.once('connect', () => r()));
    // The first is relayed (the Go server waits for its half-close) before the second comes.
    const until = Date.now() + 5_000;
    while (!tap.traffic.some((t) => t.kind === 'connect') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const r = await runCli(['send', tapPath, 'hi\\n']);
    expect(r.stdout).toBe('');
    const [over] = await tap.connections(1);
    expect(over).toMatchObject({ end: 'over-max-conns', reason: 'over --max-conns 1: closed at once' });
    first.end('x');
    const [, done] = await tap.connections(2);
    expect(done).toMatchObject({ end: 'closed', bytesIn: 1 });
  });

  it('the library gets the tap from startServe: a Server on the net engine', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const { server } = await startTap(join(dir, 'tap.sock'), addr);
    const s: Server = server;
    expect(s.engine).toBe('net');
    expect(s.address()).toBe(join(dir, 'tap.sock'));
  });
});


/** The tap's two relays: the epoll relay (--engine auto's choice without a fault) and the net tap. */
const ENGINES = ['epoll', 'net'] as const;

/**
 * The tap's log on both relays: the epoll relay (--engine auto's choice without a fault) makes the
 * net tap's records in its thread; the same lines, the same record shapes.
 */
describe.each(ENGINES)("the tap's log, --engine %s (the same records on the epoll relay and the net tap)", (engine) => {
  /** A logging tap on this engine, one process or thread; the listening line names the engine. */
  async function loggingTap(upstream: string, listen: string, extra: string[] = []) {
    const tap = await startTapCli(['--engine', engine, '--workers', '1', ...extra, '--upstream', upstream, listen]);
    if (extra.includes('--json')) expect(jsonLines(tap.stderr())[0]).toMatchObject({ event: 'listening', engine, workers: 1, upstream });
    else expect(tap.stderr()).toContain(`listening on ${listen} (tap to ${upstream}, ${engine} engine`);
    return tap;
  }

  it('--json, a PHP client and the Go server: both directions, sizes, previews and who closed first', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--json']);
    const r = await php(LINE_CLIENT, tapPath);
    expect(r).toMatchObject({ ok: true, line: expect.stringMatching(OK_LINE) });
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    const traffic = lines.filter((l) => l.event === 'traffic');
    expect(traffic[0]).toMatchObject({ id: 1, from: 'upstream', kind: 'connect', note: addr });
    expect(traffic.find((t) => t.from === 'client' && t.kind === 'data')).toMatchObject({ id: 1, bytes: 15, offset: 0, text: 'hello from php\n' });
    const reply = traffic.find((t) => t.from === 'upstream' && t.kind === 'data');
    expect(reply).toMatchObject({ bytes: 16, offset: 0, text: expect.stringMatching(OK_LINE), pid: tap.child.pid });
    expect(typeof reply!.at).toBe('string');
    expect(typeof reply!.sinceUs).toBe('number');
    // The Go server closes after its reply: the upstream ended first, and its close is in the traffic.
    expect(traffic.find((t) => t.from === 'upstream' && t.kind === 'close')).toBeDefined();
    const conn = lines.find((l) => l.event === 'connection');
    expect(conn).toMatchObject({
      id: 1,
      end: 'closed',
      first: 'upstream',
      bytesIn: 15,
      bytesOut: 16,
      requests: 1,
      request: 'hello from php\n',
      reply: expect.stringMatching(OK_LINE),
      upstream: addr,
      clientEnd: 'closed',
      upstreamEnd: 'closed',
    });
    expect(conn!.durationUs).toBeGreaterThan(0);
  });

  it('the human log: arrows, sizes, escaped previews, timestamps, the connection line', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath);
    expect((await php(LINE_CLIENT, tapPath)).ok).toBe(true);
    await tap.until(/ #1 closed in=15B out=16B/);
    const text = await stopTapCli(tap);
    expect(text).toMatch(/^\S+Z #1 \+\S+ upstream connected \(.+up\.sock\)$/m);
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\S+Z #1 \+\S+ > 15B "hello from php\\n"$/m);
    expect(text).toMatch(/^\S+Z #1 \+\S+ < 16B "OK\+ at \d\d:\d\d:\d\d\\n"$/m);
    expect(text).toMatch(/^\S+Z #1 \+\S+ upstream closed \(relayed to the client as a (half-)?close\)$/m);
    expect(text).toMatch(/#1 closed in=15B out=16B \S+ upstream first; client closed, upstream closed$/m);
  });

  it("socat's half-close: the client half-closed first, relayed as a half-close; a read-to-EOF Go server answers", async () => {
    requirePeers('socat');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'eof');
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--json']);
    const r = await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${tapPath}`], { input: 'line one\nline two\n', timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('got 18 bytes\nline one\nline two\n');
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.from === 'client' && l.kind === 'half-close')).toMatchObject({ note: 'relayed to the upstream as a half-close' });
    expect(lines.find((l) => l.from === 'upstream' && l.kind === 'data')).toMatchObject({ text: 'got 18 bytes\nline one\nline two\n', bytes: 31 });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'closed', first: 'client', bytesIn: 18, bytesOut: 31, clientEnd: 'closed', upstreamEnd: 'closed' });
  });

  it("the server's half-close: relayed as a half-close; the client still sends after it, and the Go server gets it", async () => {
    const dir = tmpDir();
    const { peer, addr } = await startGo(join(dir, 'up.sock'), 'greet');
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--json']);
    const client = net.connect({ path: tapPath, allowHalfOpen: true });
    client.on('error', () => {});
    let got = '';
    client.on('data', (c: Buffer) => (got += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end after ${JSON.stringify(got)}`)), 10_000);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    expect(got).toBe('hello\n');
    client.end('late data\n');
    await waitForOutput(peer, /^read \d+$/m, 10_000);
    expect(peer.stdout()).toMatch(/^read 10$/m);
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.from === 'upstream' && l.kind === 'half-close')).toMatchObject({ note: 'relayed to the client as a half-close' });
    expect(lines.find((l) => l.from === 'client' && l.kind === 'data')).toMatchObject({ bytes: 10, text: 'late data\n' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'closed', first: 'upstream', bytesIn: 10, bytesOut: 6, clientEnd: 'closed', upstreamEnd: 'closed' });
  });

  it('--hexdump shows a binary reply as hexdump -C lines, text escaped; --json keeps it as base64', async () => {
    requirePeers('socat');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'binary');
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--hexdump']);
    // A request (text, not binary) with a terminal escape and a bidi override.
    const r = await run('socat', ['-t', '2', '-', `UNIX-CONNECT:${tapPath}`], { input: 'hi\x1b[2J \u202e\n', timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    await tap.until(/ #1 closed/);
    const text = await stopTapCli(tap);
    expect(text).toMatch(/< 8B binary\n {4}00000000 {2}00 01 02 ff fe 0d 0a 00 +\|\.{8}\|\n/);
    // Nothing a peer sent reaches the log raw.
    expect(text).not.toMatch(/[\x00-\x08\x1b\x7f\u202e]/);
    expect(text).toContain('> 11B "hi\\x1b[2J \\u202e\\n"');

    const path2 = join(dir, 'tap2.sock');
    const tapJson = await loggingTap(addr, path2, ['--json']);
    await run('socat', ['-t', '2', '-', `UNIX-CONNECT:${path2}`], { input: 'hi\n', timeoutMs: 10_000 });
    await tapJson.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tapJson));
    const reply = lines.find((l) => l.event === 'traffic' && l.from === 'upstream' && l.kind === 'data');
    expect(reply).toMatchObject({ bytes: 8, base64: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0d, 0x0a, 0]).toString('base64') });
    // The connection record keeps the reply's bytes as JSON can (decoded as the net tap decodes them).
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ bytesOut: 8, request: 'hi\n' });
  });

  it('an upstream that resets (TCP RST): logged as a reset with its typed code, who reset first, the client closed', async () => {
    const dir = tmpDir();
    const { addr } = await startGo('tcp:127.0.0.1:0', 'reset');
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--json']);
    const r = await runCli(['send', tapPath, 'hi\\n']);
    expect(r.status).not.toBe(0);
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.kind === 'reset')).toMatchObject({ from: 'upstream', code: 'RESET', errno: 'ECONNRESET' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'reset', first: 'upstream', upstreamEnd: 'reset', reason: 'upstream ECONNRESET' });
  });

  it('upstream down (no such socket, refused TCP port): the client is closed without a reply; the log names the cause with its typed code', async () => {
    const dir = tmpDir();
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', () => r()));
    const port = (gone.address() as net.AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [join(dir, 'nobody.sock'), { code: 'NOT_FOUND', errno: 'ENOENT' }, /^upstream NOT_FOUND: .*nobody\.sock: no such socket/],
      [`127.0.0.1:${port}`, { code: 'REFUSED', errno: 'ECONNREFUSED' }, /^upstream REFUSED: 127\.0\.0\.1:\d+: connection refused/],
    ];
    for (const [up, err, reason] of cases) {
      const tapPath = join(dir, `t${up.length}.sock`);
      const tap = await loggingTap(up, tapPath, ['--json']);
      const r = await runCli(['send', tapPath, 'hi\\n']);
      expect(r.stdout).toBe('');
      expect(r.status).not.toBe(0);
      await tap.until(/"event":"connection"/);
      const lines = jsonLines(await stopTapCli(tap));
      expect(lines.find((l) => l.event === 'traffic' && l.kind === 'error')).toMatchObject({ from: 'upstream', ...err, note: expect.stringMatching(/; closing the client$/) });
      expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'error', reason: expect.stringMatching(reason), first: 'upstream', upstreamEnd: 'never-connected', bytesIn: 0 });
    }
  });

  it('--idle-timeout with a client that does not read, and --max-conns: the tap ends them and says why', async () => {
    const dir = tmpDir();
    const flood = await startGo(join(dir, 'flood.sock'), 'flood', ['-mib', '64']);
    const tap = await loggingTap(flood.addr, join(dir, 'i.sock'), ['--json', '--idle-timeout', '500ms', '--max-conns', '1']);
    const client = net.connect(join(dir, 'i.sock'));
    client.on('error', () => {});
    client.pause();
    client.write('go\n');
    // A second client while the first holds the only slot: closed at once. It connects in the same
    // tick, so the backlog hands the tap the first before it and the first's 500ms cannot have run out
    // (a CLI started after the first was relayed came later than 500ms under load: it got the slot,
    // and the flood). Its request would start a flood too; what it gets is counted, never kept.
    const over = await countReply(join(dir, 'i.sock'), 'hi\n');
    expect(over, 'the second client was relayed instead of closed at once').toMatchObject({ bytes: 0, timedOut: false });
    await tap.until(/"end":"idle-timeout"/);
    client.destroy();
    const conns = jsonLines(await stopTapCli(tap)).filter((l) => l.event === 'connection');
    expect(conns.find((c) => c.end === 'over-max-conns')).toMatchObject({ reason: 'over --max-conns 1: closed at once', first: 'tap', upstreamEnd: 'never-connected' });
    expect(conns.find((c) => c.end === 'idle-timeout')).toMatchObject({ first: 'tap', reason: 'replies not read for 500ms', upstream: flood.addr });
  }, 30_000);

  it('a client that never reads, with the log on (--hexdump): the Go server is held back, the tap stays small, every byte arrives', async () => {
    const dir = tmpDir();
    const { peer, addr } = await startGo(join(dir, 'up.sock'), 'flood', ['-mib', '48']);
    const tapPath = join(dir, 'tap.sock');
    const tap = await loggingTap(addr, tapPath, ['--hexdump']);
    const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${tap.child.pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    const client = net.connect(tapPath);
    client.pause();
    await new Promise<void>((r) => client.once('connect', () => r()));
    client.write('go\n');
    let peak = before;
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, rss());
    }
    expect(peer.stdout()).not.toMatch(/wrote/); // the Go server is still blocked in write()
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
    let got = 0;
    client.on('data', (c: Buffer) => (got += c.length));
    client.resume();
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${got} bytes came`)), 30_000);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    client.destroy();
    expect(got).toBe(48 * 1024 * 1024);
    await tap.until(/ #1 closed in=3B out=50331648B/);
    const text = await stopTapCli(tap);
    // Each chunk's line (binary: a hex dump of its first 256 bytes), offsets adding up.
    expect(text).toMatch(/^\S+Z #1 \+\S+ < \d+B @\d+ /m);
  }, 60_000);

  it('--fault never-close and silent on the real reply (the relay holds the client itself): PHP gets the reply or nothing and then no end; the record says left-open', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const nc = await loggingTap(addr, join(dir, 'nc.sock'), ['--json', '--fault', 'never-close']);
    expect(await php(EOF_CLIENT, join(dir, 'nc.sock'), 500)).toMatchObject({ ok: false, errno: EAGAIN, reply: expect.stringMatching(OK_LINE) });
    await nc.until(/"event":"connection"/);
    let lines = jsonLines(await stopTapCli(nc));
    expect(lines.find((l) => l.from === 'upstream' && (l.kind === 'close' || l.kind === 'half-close'))).toMatchObject({ note: 'client held open (fault never-close)' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'left-open', fault: 'never-close', reason: 'fault never-close', first: 'upstream', clientEnd: 'closed', upstreamEnd: 'closed', bytesOut: 16 });

    const silent = await loggingTap(addr, join(dir, 's.sock'), ['--json', '--fault', 'silent']);
    expect(await php(EOF_CLIENT, join(dir, 's.sock'), 300)).toMatchObject({ ok: false, errno: EAGAIN, reply: '' });
    await silent.until(/"event":"connection"/);
    lines = jsonLines(await stopTapCli(silent));
    expect(lines.find((l) => l.from === 'upstream' && l.kind === 'data')).toMatchObject({ bytes: 16, note: 'swallowed (fault silent)' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'left-open', fault: 'silent', reason: 'fault silent', clientEnd: 'closed' });
  });

  it('--fault close-without-reply: the real reply is swallowed and the client gets its end instead; the request still reached the Go server', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tap = await loggingTap(addr, join(dir, 'c.sock'), ['--json', '--fault', 'close-without-reply']);
    expect(await php(EOF_CLIENT, join(dir, 'c.sock'), 2_000)).toMatchObject({ ok: true, reply: '' });
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.from === 'upstream' && l.kind === 'data')).toMatchObject({ bytes: 16, note: 'swallowed; the client is closed (fault close-without-reply)' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'closed', fault: 'close-without-reply', reason: 'fault close-without-reply', first: 'tap', bytesIn: 15, bytesOut: 16 });
  });

  it('--fault no-newline: only the trailing newlines of the real reply are held back; PHP_NORMAL_READ fails, an EOF reader gets the text', async () => {
    requirePeers('php', 'socat');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tap = await loggingTap(addr, join(dir, 'n.sock'), ['--json', '--fault', 'no-newline']);
    expect(await php(LINE_CLIENT, join(dir, 'n.sock'))).toMatchObject({ ok: false, errno: ECONNRESET, deadline: false });
    const eof = await php(EOF_CLIENT, join(dir, 'n.sock'));
    expect(eof).toMatchObject({ ok: true, reply: expect.stringMatching(/^OK\+ at \d\d:\d\d:\d\d$/) });
    await tap.until(/"id":2,.*"event":"connection"|"event":"connection".*"id":2,/);
    const conns = jsonLines(await stopTapCli(tap)).filter((l) => l.event === 'connection');
    // The upstream's real bytes are logged whole: 16 of them came, 15 went on.
    expect(conns[1]).toMatchObject({ bytesOut: 16, fault: 'no-newline', end: 'closed' });
    // Newlines followed by more bytes go on; blank lines inside the reply too.
    const echo = await startGo(join(dir, 'eof.sock'), 'eof');
    const tap2 = await loggingTap(echo.addr, join(dir, 'n2.sock'), ['-q', '--fault', 'no-newline']);
    const r = await run('socat', ['-t', '5', '-', `UNIX-CONNECT:${join(dir, 'n2.sock')}`], { input: 'a\n\nb\r\n\n', timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('got 7 bytes\na\n\nb');
    await stopTapCli(tap2);
  });

  it('--fault reset: PHP sees ECONNRESET instead of the real reply (the request still reached the Go server); the record says the tap reset it', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tap = await loggingTap(addr, join(dir, 'r.sock'), ['--json', '--fault', 'reset']);
    expect(await php(EOF_CLIENT, join(dir, 'r.sock'))).toMatchObject({ ok: false, errno: ECONNRESET });
    const sent = await runCli(['send', join(dir, 'r.sock'), 'hi\\n']);
    expect(sent.status).toBe(9);
    await tap.until(/"event":"connection".*"id":2,/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.from === 'tap' && l.kind === 'reset')).toMatchObject({ note: 'the client is reset instead of getting the reply (fault reset)' });
    expect(lines.find((l) => l.event === 'connection')).toMatchObject({ end: 'reset', fault: 'reset', reason: 'fault reset', bytesIn: 15, bytesOut: 16, clientEnd: 'reset', first: 'tap' });
  });

  it('--fault slow --delay 400ms: the real reply arrives late, whole, then its end', async () => {
    requirePeers('php');
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tap = await loggingTap(addr, join(dir, 'd.sock'), ['--json', '--fault', 'slow', '--delay', '400ms']);
    const r = await php(EOF_CLIENT, join(dir, 'd.sock'), 3_000);
    expect(r).toMatchObject({ ok: true, reply: expect.stringMatching(OK_LINE) });
    expect(r.ms).toBeGreaterThanOrEqual(350);
    await tap.until(/"event":"connection"/);
    const lines = jsonLines(await stopTapCli(tap));
    expect(lines.find((l) => l.from === 'upstream' && l.kind === 'data')).toMatchObject({ bytes: 16, note: 'delayed 400ms' });
    const conn = lines.find((l) => l.event === 'connection')!;
    expect(conn).toMatchObject({ end: 'closed', fault: 'slow', bytesOut: 16, clientEnd: 'closed', upstreamEnd: 'closed' });
    expect(conn.durationUs as number).toBeGreaterThanOrEqual(350_000);
  });

  it('--fault never-close: SIGTERM does not wait --grace for a client the fault holds open', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const held = await loggingTap(addr, join(dir, 'h.sock'), ['--fault', 'never-close', '--grace', '30s']);
    const client = net.connect(join(dir, 'h.sock'));
    client.on('error', () => {});
    client.write('hi\n');
    await held.until(/client held open/);
    const t0 = Date.now();
    held.child.kill('SIGTERM');
    expect(await waitExit(held.child)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(held.stderr()).toMatch(/#1 left-open .*\(fault never-close\)/);
    client.destroy();
  });

  it('--workers 3: the threads or processes share the socket; --count is over all of them; every connection is logged once, ids unique, with its traffic', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'w.sock');
    const n = 12;
    const tap = await startTapCli(['--engine', engine, '--workers', '3', '--count', String(n), '--json', '--upstream', addr, tapPath]);
    expect(jsonLines(tap.stderr())[0]).toMatchObject({ event: 'listening', workers: 3, engine });
    // At once, so that the kernel hands them to more than one thread or process.
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => runCli(['send', tapPath, `w${i}`])));
    for (const r of replies) expect(r.stdout).toMatch(/^OK\+ at/);
    expect(await waitExit(tap.child, 20_000)).toBe(0);
    expect(existsSync(tapPath)).toBe(false);
    const lines = jsonLines(tap.stderr());
    const conns = lines.filter((l) => l.event === 'connection');
    expect(conns).toHaveLength(n);
    expect(new Set(conns.map((c) => c.id)).size).toBe(n);
    expect(new Set(conns.map((c) => c.request)).size).toBe(n);
    for (const c of conns) {
      expect(c).toMatchObject({ end: 'closed', first: 'upstream', request: expect.stringMatching(/^w\d+$/) });
      const mine = lines.filter((l) => l.event === 'traffic' && l.id === c.id && l.pid === c.pid);
      expect(mine.map((t) => `${t.from} ${t.kind}`)).toEqual(expect.arrayContaining(['upstream connect', 'client data', 'upstream data']));
    }
  }, 60_000);
});

/** The tap with -q on both engines: the epoll relay (--engine auto's choice) and the net tap. */

describe.each(ENGINES)('the tap with -q, --engine %s (the epoll relay and the net tap alike)', (engine) => {
  /** A -q tap on this engine; the listening line names the engine. */
  async function quietTap(upstream: string, listen: string, extra: string[] = []) {
    const tap = await startTapCli(['-q', '--engine', engine, ...extra, '--upstream', upstream, listen]);
    expect(tap.stderr()).toContain(`${engine} engine`);
    return tap;
  }

  it('relays a PHP client\'s exchange with the Go server; --engine auto with -q is the epoll relay', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await quietTap(addr, tapPath);
    for (let k = 0; k < 3; k++) {
      const r = await php(LINE_CLIENT, tapPath, 3_000);
      expect(r).toMatchObject({ ok: true, line: expect.stringMatching(OK_LINE) });
    }
    await stopTapCli(tap);
    const auto = await startTapCli(['-q', '--upstream', addr, join(dir, 'auto.sock')]);
    expect(auto.stderr()).toContain('epoll engine');
    await stopTapCli(auto);
  });

  it("relays the client's half-close, and 8 MiB both ways whole (the Go server echoes after the client's end)", async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'), 'eof');
    const tapPath = join(dir, 'tap.sock');
    const tap = await quietTap(addr, tapPath);
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    const client = net.connect({ path: tapPath, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    client.end(data);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end after ${chunks.reduce((n, c) => n + c.length, 0)} bytes`)), 30_000);
      client.once('error', reject);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    client.destroy();
    const got = Buffer.concat(chunks);
    const head = `got ${data.length} bytes\n`;
    expect(got.subarray(0, head.length).toString()).toBe(head);
    expect(got.length).toBe(head.length + data.length);
    expect(got.subarray(head.length).equals(data)).toBe(true);
    await stopTapCli(tap);
  });

  it("relays the server's half-close: the client still sends after it, and the Go server gets it", async () => {
    const dir = tmpDir();
    const { peer, addr } = await startGo(join(dir, 'up.sock'), 'greet');
    const tapPath = join(dir, 'tap.sock');
    const tap = await quietTap(addr, tapPath);
    const client = net.connect({ path: tapPath, allowHalfOpen: true });
    client.on('error', () => {});
    let got = '';
    client.on('data', (c: Buffer) => (got += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end after ${JSON.stringify(got)}`)), 10_000);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    expect(got).toBe('hello\n');
    client.end('late data\n');
    await waitForOutput(peer, /^read \d+$/m, 10_000);
    expect(peer.stdout()).toMatch(/^read 10$/m);
    await stopTapCli(tap);
  });

  it('every stream target form as the upstream: TCP (numeric) and an abstract name', async () => {
    const dir = tmpDir();
    const tcp = await startGo('tcp:127.0.0.1:0');
    const abs = uniqueAbstractName();
    await startGo(abs);
    for (const up of [tcp.addr, abs]) {
      const tapPath = join(dir, `tap-${up.startsWith('@') ? 'abs' : 'tcp'}.sock`);
      const tap = await quietTap(up, tapPath);
      const r = await runCli(['send', tapPath, 'hi\\n']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(OK_LINE);
      await stopTapCli(tap);
    }
  });

  it('an upstream that resets (TCP RST): the client is closed without a reply', async () => {
    const dir = tmpDir();
    const { addr } = await startGo('tcp:127.0.0.1:0', 'reset');
    const tapPath = join(dir, 'tap.sock');
    const tap = await quietTap(addr, tapPath);
    const r = await runCli(['send', tapPath, 'hi\\n']);
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
    await stopTapCli(tap);
  });

  it('upstream down (no such socket, refused TCP port): the client is closed without a reply, and the tap goes on', async () => {
    const dir = tmpDir();
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', () => r()));
    const port = (gone.address() as net.AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    for (const up of [join(dir, 'nobody.sock'), `127.0.0.1:${port}`]) {
      const tapPath = join(dir, `t${up.length}.sock`);
      const tap = await quietTap(up, tapPath, ['--connect-timeout', '2s']);
      for (let k = 0; k < 2; k++) {
        const r = await runCli(['send', tapPath, 'hi\\n']);
        expect(r.stdout).toBe('');
        expect(r.status).not.toBe(0);
      }
      await stopTapCli(tap);
    }
  });

  it("an upstream whose backlog is full: the connect is retried until it is accepted, or the client is closed at --connect-timeout (Unix and TCP)", async () => {
    requirePeers('python3');
    const dir = tmpDir();
    // Full for 700ms from `ready` (the tap already listening), then it answers each line with OK: the relay's retries get through.
    const lateTap = await quietTap(join(dir, 'late.sock'), join(dir, 't1.sock'), ['--connect-timeout', '10s']);
    const late = spawnChild('python3', [join(FIXTURES, 'late-accept-listener.py'), join(dir, 'late.sock'), '700'], { timeoutMs: 40_000 });
    await waitForOutput(late, /^ready$/m);
    const t0 = Date.now();
    const ok = await runCli(['send', '--until', 'line', join(dir, 't1.sock'), 'hi\\n']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('OK\n');
    // It waited for the backlog (not an upstream that was free by the time the client came).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    await stopTapCli(lateTap);
    // Full for good: the client is closed without a reply once --connect-timeout has passed, not before.
    const full = spawnChild('python3', [join(FIXTURES, 'backlog-listener.py'), 'unix', join(dir, 'full.sock')], { timeoutMs: 40_000 });
    const tcpFull = spawnChild('python3', [join(FIXTURES, 'backlog-listener.py'), 'tcp'], { timeoutMs: 40_000 });
    await waitForOutput(full, /^ready$/m);
    await waitForOutput(tcpFull, /^ready \d+$/m);
    const port = /^ready (\d+)$/m.exec(tcpFull.stdout())![1];
    for (const up of [join(dir, 'full.sock'), `127.0.0.1:${port}`]) {
      const tapPath = join(dir, `t${up.length}.sock`);
      const tap = await quietTap(up, tapPath, ['--connect-timeout', '600ms']);
      const t1 = Date.now();
      const r = await runCli(['send', '--timeout', '20s', tapPath, 'hi\\n']);
      expect(Date.now() - t1).toBeGreaterThanOrEqual(500);
      expect(r.stdout).toBe('');
      expect(r.status).not.toBe(0);
      await stopTapCli(tap);
    }
  });

  it('--count 2 exits 0 after two relayed connections; --idle-timeout ends a connection whose client does not read', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const counted = await quietTap(addr, join(dir, 'c.sock'), ['--count', '2']);
    for (let k = 0; k < 2; k++) {
      const r = await runCli(['send', join(dir, 'c.sock'), 'hi\\n']);
      expect(r.status, `send ${k + 1}: ${r.stderr}`).toBe(0);
    }
    expect(await waitExit(counted.child)).toBe(0);

    const flood = await startGo(join(dir, 'flood.sock'), 'flood', ['-mib', '64']);
    const idle = await quietTap(flood.addr, join(dir, 'i.sock'), ['--idle-timeout', '500ms']);
    const client = net.connect(join(dir, 'i.sock'));
    client.on('error', () => {});
    client.pause();
    client.write('go\n');
    // The tap closes both sides after 500ms without progress: the Go server's write fails ("wrote N" short
    // of 64 MiB), and the client, once it reads, finds the end.
    await waitForOutput(flood.peer, /^wrote \d+$/m, 20_000);
    expect(Number(/^wrote (\d+)$/m.exec(flood.peer.stdout())![1])).toBeLessThan(64 * 1024 * 1024);
    const ended = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the idle connection was not closed')), 30_000);
      client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    client.resume();
    await ended;
    await stopTapCli(idle);
  });

  it('the library: startServe with upstream, quiet and this engine gets it', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const s: Server = await startServe(join(dir, 'q.sock'), { upstream: addr, quiet: true, graceTimeout: 500, engine: engine });
    afterEachClose.push(() => s.close());
    expect(s.engine).toBe(engine);
    const r = await runCli(['send', join(dir, 'q.sock'), 'hi\\n']);
    expect(r.stdout).toMatch(OK_LINE);
  });

    it('a client that never reads: the Go server is held back (backpressure), the tap stays small, and nothing is lost', async () => {
      const dir = tmpDir();
      const { peer, addr } = await startGo(join(dir, 'up.sock'), 'flood', ['-mib', '96']);
      const tapPath = join(dir, 'tap.sock');
      const tap = await startTapCli(['-q', '--engine', engine, '--upstream', addr, tapPath]);
      const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${tap.child.pid}/status`, 'utf8'))![1]) * 1024;
      const before = rss();
      const client = net.connect(tapPath);
      client.pause();
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write('go\n');
      // Watch the tap for a while with the client not reading: it must not take in what the server writes.
      let peak = before;
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rss());
      }
      expect(peer.stdout()).not.toMatch(/wrote/); // the Go server is still blocked in write()
      expect(peak - before).toBeLessThan(48 * 1024 * 1024);
      // Now read it all: every byte arrives, then the close.
      let got = 0;
      client.on('data', (c: Buffer) => (got += c.length));
      client.resume();
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${got} bytes came`)), 30_000);
        client.once('end', () => {
          clearTimeout(t);
          resolve();
        });
      });
      client.destroy();
      expect(got).toBe(96 * 1024 * 1024);
      await stopTapCli(tap);
    });

    it('a server that never reads: the client is paused in turn, and the tap stays small', async () => {
      const dir = tmpDir();
      const { addr } = await startGo(join(dir, 'up.sock'), 'noread');
      const tapPath = join(dir, 'tap.sock');
      const tap = await startTapCli(['-q', '--engine', engine, '--upstream', addr, tapPath]);
      const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${tap.child.pid}/status`, 'utf8'))![1]) * 1024;
      const before = rss();
      const client = net.connect(tapPath);
      client.on('error', () => {});
      await new Promise<void>((r) => client.once('connect', () => r()));
      // Offer 96 MiB, a chunk whenever the socket takes one: the kernel's buffers and the tap's
      // one chunk in flight fill, then the client's writes stop being taken.
      const chunk = Buffer.alloc(1024 * 1024, 'y');
      let offered = 0;
      const pump = () => {
        while (offered < 96 * 1024 * 1024 && client.write(chunk)) offered += chunk.length;
      };
      client.on('drain', () => {
        offered += chunk.length;
        pump();
      });
      pump();
      let peak = before;
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rss());
      }
      const taken = client.bytesWritten - client.writableLength;
      client.destroy();
      expect(taken).toBeLessThan(32 * 1024 * 1024);
      expect(peak - before).toBeLessThan(48 * 1024 * 1024);
      await stopTapCli(tap);
    });

});

describe('the epoll relay: a Unix upstream that closes', () => {
  it('ends the relayed connection at once: the client has the reply and its end, and --count 1 exits while the client still holds its side open', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    const tap = await startTapCli(['-q', '--engine', 'epoll', '--count', '1', '--upstream', addr, tapPath]);
    expect(tap.stderr()).toContain('epoll engine');
    // allowHalfOpen: the client never closes its side; only the tap's end of the relay can finish it.
    const client = net.connect({ path: tapPath, allowHalfOpen: true });
    client.on('error', () => {});
    let got = '';
    client.on('data', (c: Buffer) => (got += c.toString()));
    client.write('hi\n');
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end after ${JSON.stringify(got)}`)), 10_000);
      client.once('end', () => {
        clearTimeout(t);
        resolve();
      });
    });
    expect(got).toMatch(OK_LINE);
    // The relay closed the client when the Go server closed: the one connection is done, so --count 1 ends the tap.
    expect(await waitExit(tap.child, 10_000)).toBe(0);
    expect(client.destroyed).toBe(false);
    client.destroy();
  });
});

/**
 * A client that sends `payload` and waits for its end or reset (bounded): how many bytes came (only
 * counted; it stops at the first chunk, so a flood costs nothing), the first of them, and whether the
 * bound ran out.
 */
function countReply(sock: string, payload: string, boundMs = 10_000): Promise<{ bytes: number; head: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect({ path: sock });
    let bytes = 0;
    let head = '';
    const finish = (timedOut: boolean) => {
      clearTimeout(timer);
      c.destroy();
      resolve({ bytes, head, timedOut });
    };
    const timer = setTimeout(() => finish(true), boundMs);
    c.on('data', (d: Buffer) => {
      bytes += d.length;
      head = d.subarray(0, 32).toString('latin1');
      finish(false);
    });
    c.on('end', () => finish(false));
    c.on('error', () => finish(false));
    c.write(payload);
  });
}

/** One one-shot exchange, bounded: the reply, or '' when there was none in time. */
function oneShot(sock: string, payload: string, boundMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ path: sock });
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      c.destroy();
      resolve(Buffer.concat(chunks).toString());
    };
    const timer = setTimeout(finish, boundMs);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', finish);
    c.on('error', finish);
    c.write(payload);
  });
}

describe("the epoll relay's log with a reader that never reads", () => {
  it('--json: every exchange is relayed; records past the log buffer are dropped whole, counted and said; memory stays flat', async () => {
    const dir = tmpDir();
    const { addr } = await startGo(join(dir, 'up.sock'));
    const tapPath = join(dir, 'tap.sock');
    // Its stderr a pipe this test does not read until the end (Node takes its first 16 KiB at most).
    const child = startCli(['serve', '--engine', 'epoll', '--json', '--upstream', addr, tapPath]);
    const until = Date.now() + 10_000;
    while (!existsSync(tapPath) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const total = 3_000;
    let ok = 0;
    for (let k = 0; k < total; k += 50) {
      const replies = await Promise.all(Array.from({ length: 50 }, () => oneShot(tapPath, `${'x'.repeat(300)}\n`)));
      ok += replies.filter((r) => OK_LINE.test(r)).length;
    }
    // About 1.5 KB of log a connection, 4 MB in all: the relay never waited for the reader.
    expect(ok).toBe(total);
    const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    expect(hwm).toBeLessThan(150);
    let text = '';
    child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
    const seen = Date.now() + 10_000;
    while (!/lines dropped, reader too slow/.test(text) && Date.now() < seen) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGTERM');
    expect(await waitExit(child, 20_000)).toBe(0);
    // Every line whole.
    const events = jsonLines(text);
    expect(text.trimEnd().split('\n').length).toBe(events.length);
    const notes = events.filter((e) => e.event === 'warning' && typeof e.dropped === 'number');
    expect(notes.length).toBeGreaterThan(0);
    const stopped = events.at(-1)!;
    expect(stopped.event).toBe('stopped');
    expect(stopped.dropped as number).toBeGreaterThan(0);
    expect(notes.reduce((sum, e) => sum + (e.dropped as number), 0)).toBe(stopped.dropped);
    const conns = events.filter((e) => e.event === 'connection');
    expect(conns.length).toBeGreaterThan(0);
    for (const c of conns) expect(c).toMatchObject({ end: 'closed', bytesIn: 301, bytesOut: 16 });
  }, 120_000);
});

describe('the tap: usage errors', () => {
  it('--engine epoll: --delay without --upstream, a TCP listener or an upstream host name, --hexdump without it, --keep-alive with it: exit 2 with the reason', async () => {
    const dir = tmpDir();
    const cases: [string[], RegExp][] = [
      [['--engine', 'epoll', '--delay', '100ms', join(dir, 't.sock')], /--engine epoll: --delay needs the net engine/],
      [['-q', '--engine', 'epoll', '--fault', 'slow', '--upstream', join(dir, 'up.sock'), '127.0.0.1:0'], /--engine epoll: TCP targets need the net engine/],
      [['-q', '--engine', 'epoll', '--upstream', 'localhost:9', join(dir, 't.sock')], /--engine epoll: an upstream host name \(localhost\) needs the net engine/],
      [['--hexdump', join(dir, 't.sock')], /--hexdump: only with --upstream/],
      [['--keep-alive', '--upstream', join(dir, 'up.sock'), join(dir, 't.sock')], /keepAlive does not apply with upstream/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['serve', ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toMatch(/^usage: udsctl serve/m);
    }
  });
});
