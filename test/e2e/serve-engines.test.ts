/**
 * serve's two engines (epoll and node:net) side by side: the same clients get
 * the same replies and leave the same log records, for every option the epoll
 * engine takes. Plus what only the epoll engine has to get right itself: its
 * threads, shutdown, --count across threads, and running out of descriptors.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp-dir.js';
import { collectStderr, killAll, runCli, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';

const REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
const ENGINES = ['epoll', 'net'] as const;
type Engine = (typeof ENGINES)[number];

afterEach(() => killAll());

async function serve(engine: Engine, args: string[], sock = join(tmpDir(), 's.sock')) {
  const child = startCli(['serve', '--engine', engine, ...args, sock]);
  const log = collectStderr(child);
  await waitForStderr(child, /listening/);
  return { child, log, sock };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded) until what serve logged so far matches: a record comes when its connection is done, not at a fixed time. */
async function logged(log: { text: () => string }, re: RegExp, boundMs = 5_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!re.test(log.text()) && Date.now() < until) await sleep(10);
  expect(log.text()).toMatch(re);
}

interface Talk {
  reply: Buffer;
  how: 'end' | 'error' | 'timeout';
  code?: string;
}

/**
 * A raw client with a hard bound: sends `writes` (each its own write, `gapMs`
 * apart), half-closes if asked, reads until the server ends; then, if asked,
 * writes `after` and closes.
 */
function talk(
  sock: string,
  writes: (string | Buffer)[],
  opts: { gapMs?: number; halfClose?: boolean; after?: string; boundMs?: number; closeAfterMs?: number } = {},
): Promise<Talk> {
  return new Promise((resolve) => {
    const c = net.connect({ path: sock, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (how: Talk['how'], code?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const done = () => {
        c.destroy();
        resolve({ reply: Buffer.concat(chunks), how, code });
      };
      if (how === 'end' && opts.after !== undefined) c.write(opts.after, () => setTimeout(done, 50));
      else done();
    };
    const timer = setTimeout(() => finish('timeout'), opts.boundMs ?? 5_000);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => finish('end'));
    c.on('error', (e: NodeJS.ErrnoException) => finish('error', e.code));
    c.once('connect', async () => {
      for (const [k, w] of writes.entries()) {
        if (k > 0) await sleep(opts.gapMs ?? 40);
        c.write(w);
      }
      if (opts.halfClose) c.end();
      if (opts.closeAfterMs !== undefined) setTimeout(() => finish('end'), opts.closeAfterMs);
    });
  });
}

type Log = Record<string, unknown>;

/** The --json connection records, without what differs run to run (id, time, pid). */
function connectionRecords(text: string): Log[] {
  return text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Log)
    .filter((e) => e.event === 'connection' || e.event === 'request')
    .map(({ pid: _p, id: _i, at: _a, durationUs: _d, ...rest }) => {
      // The default reply carries the time of day.
      if (typeof rest.reply === 'string') rest.reply = rest.reply.replace(/\d\d:\d\d:\d\d/g, 'HH:MM:SS');
      return rest;
    });
}

/** Run the same clients against one engine; the replies and the log records, in order. */
async function scenario(engine: Engine, args: string[], clients: ((sock: string) => Promise<Talk>)[]) {
  const { child, log, sock } = await serve(engine, ['--json', ...args]);
  const replies: string[] = [];
  for (const client of clients) {
    const r = await client(sock);
    replies.push(`${r.how}${r.code ? `:${r.code}` : ''} ${JSON.stringify(r.reply.toString('latin1').replace(/\d\d:\d\d:\d\d/g, 'HH:MM:SS'))}`);
    // Each record is out before the next client starts: the log order is the client order.
    await sleep(80);
  }
  child.kill('SIGTERM');
  expect(await waitExit(child)).toBe(0);
  return { replies, records: connectionRecords(log.text()) };
}

describe('both engines: the same replies and the same log', () => {
  const cases: Array<[string, string[], ((sock: string) => Promise<Talk>)[]]> = [
    [
      'one-shot (read once)',
      [],
      [
        (s) => talk(s, ['hi']),
        (s) => talk(s, ['x'.repeat(600)]), // one read of up to 512 bytes; the log keeps 200
        (s) => talk(s, [], { halfClose: true }), // closed without a request
        (s) => talk(s, ['hi'], { after: 'more bytes' }), // what follows the request is counted, ignored
        (s) => talk(s, ['a\nb\n']),
      ],
    ],
    [
      'one-shot --echo and --reply',
      ['--echo'],
      [(s) => talk(s, [Buffer.from([0, 1, 2, 255, 10, 13])]), (s) => talk(s, ['x'.repeat(700)])],
    ],
    ['--reply without a newline', ['--reply', 'pong'], [(s) => talk(s, ['ping'])]],
    ['--reply with escapes', ['--reply', 'a\\tb\\n'], [(s) => talk(s, ['ping'])]],
    [
      '--read line',
      ['--read', 'line', '--echo'],
      [
        (s) => talk(s, ['abc', 'def\nrest']), // a line split over reads; what follows is ignored
        (s) => talk(s, ['no newline'], { halfClose: true }), // no line: no reply
        (s) => talk(s, ['one\ntwo\n']),
      ],
    ],
    [
      '--read eof',
      ['--read', 'eof', '--echo'],
      [
        (s) => talk(s, ['part one, ', 'part two'], { halfClose: true }),
        (s) => talk(s, [], { halfClose: true }),
        (s) => talk(s, [Buffer.alloc(100_000, 0x61)], { halfClose: true }),
      ],
    ],
    [
      '--read eof --max-bytes',
      ['--read', 'eof', '--max-bytes', '1k'],
      [(s) => talk(s, [Buffer.alloc(4096, 0x61)]), (s) => talk(s, ['small'], { halfClose: true })],
    ],
    [
      '--keep-alive',
      ['--keep-alive'],
      [
        (s) => talk(s, ['a\nb\nc\n'], { closeAfterMs: 150 }), // pipelined: three replies
        (s) => talk(s, ['one\n', 'tw', 'o\n', 'unfinished'], { halfClose: true }), // the last line is answered at the end
        (s) => talk(s, [], { halfClose: true }),
      ],
    ],
    [
      '--keep-alive --echo',
      ['--keep-alive', '--echo'],
      [(s) => talk(s, ['x\r\n', 'y\n', 'tail'], { halfClose: true }), (s) => talk(s, [Buffer.alloc(70_000, 0x62), '\n'], { halfClose: true })],
    ],
    [
      '--keep-alive --max-bytes',
      ['--keep-alive', '--max-bytes', '100'],
      [(s) => talk(s, ['ok\n', 'y'.repeat(300)])],
    ],
  ];

  it.each(cases)('%s', async (_name, args, clients) => {
    const epoll = await scenario('epoll', args, clients);
    const node = await scenario('net', args, clients);
    expect(epoll.replies).toEqual(node.replies);
    expect(epoll.records).toEqual(node.records);
    expect(epoll.records.filter((r) => r.event === 'connection')).toHaveLength(clients.length);
  });
});

describe.each(ENGINES)('--engine %s', (engine) => {
  it('one-shot contract: send gets the reply and exits 0', async () => {
    const { sock } = await serve(engine, []);
    const r = await runCli(['send', sock, 'hi']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(REPLY_RE);
    expect(r.stderr).toBe('');
  });

  it('--keep-alive: a reply per line, --until line returns', async () => {
    const { sock } = await serve(engine, ['--keep-alive']);
    const r = await runCli(['send', '--until', 'line', '--escapes', sock, 'a\\n']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(REPLY_RE);
  });

  it('--keep-alive logs each request with its own reply, then the connection with the count', async () => {
    const { child, log, sock } = await serve(engine, ['--keep-alive', '--echo']);
    const r = await runCli(['send', '--escapes', '-u', 'idle:200ms', sock, 'one\\ntwo\\nthree\\n']);
    expect(r.stdout).toBe('one\ntwo\nthree\n');
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
    const lines = log.text().split('\n').filter((l) => / #\d+ /.test(l));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/ #1 request 1 in=4B out=4B req="one\\n" reply="one\\n"$/);
    expect(lines[1]).toMatch(/ #1 request 2 in=4B out=4B req="two\\n" reply="two\\n"$/);
    expect(lines[2]).toMatch(/ #1 request 3 in=6B out=6B req="three\\n" reply="three\\n"$/);
    // Today's line paired the first request with the last reply: req="one\n" reply="three\n".
    // The name is read from /proc when the line is written; the epoll engine writes it from a batch, and
    // on a loaded machine the client (send) may have exited by then: its pid, uid and gid stay.
    expect(lines[3]).toMatch(/ #1 in=14B out=14B requests=3 \S+ closed peer=pid \d+ (node )?uid \d+ gid \d+$/);
    expect(lines[3]).not.toMatch(/req=|reply=/);
  });

  it('--echo is binary-safe', async () => {
    const { sock } = await serve(engine, ['--echo']);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await runCli(['send', '--hex', sock, bytes.toString('hex')]);
    expect(r.stdoutBytes.equals(bytes)).toBe(true);
  });

  it('--half-close against --read eof', async () => {
    const { sock } = await serve(engine, ['--read', 'eof', '--echo']);
    const r = await runCli(['send', '--half-close', sock, 'whole request']);
    expect(r.stdout).toBe('whole request');
  });

  it('an abstract name', async () => {
    const name = `@udsctl-engines-${process.pid}-${engine}-${Math.random().toString(36).slice(2, 8)}`;
    const child = startCli(['serve', '--engine', engine, name]);
    await waitForStderr(child, 'listening on');
    const r = await runCli(['send', name, 'hi']);
    expect(r.stdout).toMatch(REPLY_RE);
  });

  it('--workers 2: --count is over all of them, every connection is logged, exit 0, socket removed', async () => {
    const { child, log, sock } = await serve(engine, ['--count', '6', '--workers', '2']);
    expect(log.text()).toMatch(engine === 'epoll' ? /\(2 threads\)/ : /\(2 processes\)/);
    for (let i = 0; i < 6; i++) expect((await runCli(['send', sock, `w${i}`])).stdout).toMatch(REPLY_RE);
    expect(await waitExit(child, 10_000)).toBe(0);
    expect(existsSync(sock)).toBe(false);
    for (let i = 0; i < 6; i++) expect(log.text()).toContain(`req="w${i}"`);
  });

  it('--count exits 0 after N connections and removes its socket', async () => {
    const { child, sock } = await serve(engine, ['--count', '3', '--workers', engine === 'epoll' ? '2' : '1']);
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['send', sock, 'x']);
      expect(r.status, `send ${i + 1}: ${r.stderr}`).toBe(0);
    }
    expect(await waitExit(child)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('--max-conns: the excess is closed at once without a reply, and logged', async () => {
    const { log, sock } = await serve(engine, ['--max-conns', '2']);
    // Connected and silent: each holds a slot.
    const held = [net.connect(sock), net.connect(sock)];
    for (const h of held) h.on('error', () => {});
    await sleep(200);
    const extra = await talk(sock, ['one too many']);
    expect(extra.reply.length).toBe(0);
    for (const h of held) h.destroy();
    await logged(log, /over-max-conns \(over --max-conns 2: closed at once\)/);
    expect((await talk(sock, ['hi'])).reply.toString()).toMatch(REPLY_RE);
  });

  it('--idle-timeout: a client that sends nothing is closed, and logged', async () => {
    const { log, sock } = await serve(engine, ['--idle-timeout', '300ms']);
    const r = await talk(sock, [], { boundMs: 5_000 });
    expect(r.how).toBe('end');
    await logged(log, /idle-timeout \(no data for 300ms\)/);
  });

  it('SIGTERM: an unanswered keep-alive line is answered, idle connections go, socket removed, exit 0', async () => {
    const { child, sock } = await serve(engine, ['--keep-alive', '--quiet', '--grace', '2s']);
    const idle = await new Promise<net.Socket>((resolve) => {
      const c = net.connect(sock, () => c.write('x\n'));
      c.on('error', () => {});
      c.once('data', () => resolve(c));
    });
    const idleEnded = new Promise((r) => idle.once('close', r));
    child.kill('SIGTERM');
    await idleEnded;
    expect(await waitExit(child, 5_000)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('SIGHUP (the terminal closed) stops as SIGTERM does: the in-flight request is answered, socket removed, exit 0', async () => {
    const { child, sock } = await serve(engine, ['--grace', '5s']);
    // Connected before the signal, the request written after it: in flight when the terminal closes.
    const c = net.connect({ path: sock, allowHalfOpen: true });
    c.on('error', () => {});
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise((r) => c.once('end', r));
    await new Promise((r) => c.once('connect', r));
    await sleep(150);
    child.kill('SIGHUP');
    await sleep(150);
    c.write('hi');
    await ended;
    expect(Buffer.concat(chunks).toString()).toMatch(REPLY_RE);
    c.destroy();
    expect(await waitExit(child, 8_000)).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('SIGTERM with a connection that never ends: bounded by --grace', async () => {
    const { child, log, sock } = await serve(engine, ['--grace', '300ms']);
    const c = net.connect(sock);
    c.on('error', () => {});
    await new Promise((r) => c.once('connect', r));
    await sleep(100);
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await waitExit(child, 5_000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(log.text()).toMatch(/ shutdown/);
    c.destroy();
  });

  it('many clients at once: every one gets its reply', async () => {
    const { sock } = await serve(engine, ['--quiet', '--backlog', '1024', ...(engine === 'epoll' ? ['--workers', '2'] : [])]);
    const all = await Promise.all(Array.from({ length: 500 }, (_, i) => talk(sock, [`hi ${i}`], { boundMs: 10_000 })));
    expect(all.filter((r) => !REPLY_RE.test(r.reply.toString()))).toEqual([]);
  });
});

describe('the epoll engine', () => {
  it('auto picks epoll for the plain contract and net for faults, --delay and TCP', async () => {
    const a = await serve('auto' as Engine, ['--json']);
    expect(a.log.text()).toMatch(/"engine":"epoll"/);
    const b = await serve('auto' as Engine, ['--json', '--fault', 'silent']);
    expect(b.log.text()).toMatch(/"engine":"net"/);
    const c = await serve('auto' as Engine, ['--json', '--delay', '10ms']);
    expect(c.log.text()).toMatch(/"engine":"net"/);
    const tcp = startCli(['serve', '--json', '127.0.0.1:0']);
    expect(await waitForStderr(tcp, /listening/)).toMatch(/"engine":"net"/);
  });

  it('--engine epoll with an option it cannot serve is a usage error', async () => {
    const r = await runCli(['serve', '--engine', 'epoll', '--fault', 'reset', join(tmpDir(), 's.sock')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--engine epoll: --fault reset needs the net engine/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--workers 3 threads share the socket and the ids', async () => {
    const { child, log, sock } = await serve('epoll', ['--json', '--workers', '3']);
    expect(log.text()).toMatch(/"workers":3/);
    await Promise.all(Array.from({ length: 60 }, () => talk(sock, ['hi'])));
    child.kill('SIGTERM');
    await waitExit(child);
    const ids = log
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'connection')
      .map((e) => e.id as number)
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('out of file descriptors (EMFILE): keeps running, says so, recovers', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--engine', 'epoll', '--idle-timeout', '500ms', sock], { wrap: ['prlimit', '--nofile=64'] });
    const log = collectStderr(child);
    await waitForStderr(child, 'listening on');
    // Clients that connect and send nothing hold their descriptors until --idle-timeout.
    const holders = Array.from({ length: 80 }, () => talk(sock, [], { boundMs: 3_000 }));
    await Promise.all(holders);
    expect(log.text()).toMatch(/out of file descriptors .*raise ulimit -n/);
    await sleep(800);
    expect((await talk(sock, ['hi'], { boundMs: 2_000 })).reply.toString()).toMatch(REPLY_RE);
    await logged(log, /file descriptors available again/);
    expect(child.exitCode).toBeNull();
  });

  it('the threads write the log: a client served before the listening line is logged after it', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--engine', 'epoll', sock]);
    const log = collectStderr(child);
    // Connect the moment the socket exists, before the main thread has said where it listens.
    const until = Date.now() + 10_000;
    while (!existsSync(sock) && Date.now() < until) await sleep(1);
    // The file exists from bind(2); until listen(2) a connect is refused (not served, not logged): tried again.
    let first = await talk(sock, ['early']);
    while (first.how === 'error' && first.code === 'ECONNREFUSED' && Date.now() < until) first = await talk(sock, ['early']);
    expect(first.reply.toString()).toMatch(REPLY_RE);
    await waitForStderr(child, /#1 in=/);
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
    const lines = log.text().trim().split('\n');
    expect(lines[0]).toMatch(/^udsctl serve: listening on /);
    expect(lines.filter((l) => / #\d+ in=/.test(l))).toHaveLength(1);
    expect(lines.find((l) => / #1 in=/.test(l))).toMatch(/ #1 in=5B out=16B req="early" reply="OK\+ at \d\d:\d\d:\d\d\\n" \S+ closed peer=pid \d+ .+ uid \d+ gid \d+$/);
  });

  it('thousands of log lines through a pipe arrive whole, each connection once', async () => {
    const { child, log, sock } = await serve('epoll', ['--json']);
    const n = 3000;
    for (let k = 0; k < n; k += 100) await Promise.all(Array.from({ length: 100 }, () => talk(sock, ['hi'])));
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
    const events = log
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; id?: number });
    expect(events[0].event).toBe('listening');
    expect(events.at(-1)!.event).toBe('stopped');
    const ids = events.filter((e) => e.event === 'connection').map((e) => e.id!);
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('a log reader that goes away: serve stops logging and goes on serving', async () => {
    const { child, sock } = await serve('epoll', []);
    child.stderr!.destroy(); // the read end of serve's stderr pipe is closed: its writes now fail (EPIPE)
    for (let k = 0; k < 5; k++) {
      const r = await talk(sock, ['hi']);
      expect(r.reply.toString()).toMatch(REPLY_RE);
      await sleep(80); // past the log's batch time: each line is written (and fails) before the next client
    }
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await waitExit(child)).toBe(0);
  });

  it('a second SIGTERM closes what is left at once', async () => {
    const { child, sock } = await serve('epoll', ['--grace', '30s', '--quiet']);
    const c = net.connect(sock);
    c.on('error', () => {});
    await new Promise((r) => c.once('connect', r));
    child.kill('SIGTERM');
    await sleep(300);
    child.kill('SIGTERM');
    expect(await waitExit(child, 3_000)).toBe(0);
    c.destroy();
  });
});

describe('the net engine', () => {
  it('--engine net --workers 3 processes: connection ids are unique over the processes (each its own stripe)', async () => {
    const { child, log, sock } = await serve('net', ['--json', '--workers', '3']);
    expect(log.text()).toMatch(/"workers":3/);
    await Promise.all(Array.from({ length: 60 }, () => talk(sock, ['hi'])));
    child.kill('SIGTERM');
    await waitExit(child);
    const conns = log
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'connection') as { id: number; pid: number }[];
    expect(conns).toHaveLength(60);
    expect(new Set(conns.map((c) => c.id)).size).toBe(60);
    // Each process numbers its connections index+1, index+1+3, ...: one residue mod 3 per process, a different one each.
    const byPid = new Map<number, Set<number>>();
    for (const c of conns) byPid.set(c.pid, (byPid.get(c.pid) ?? new Set()).add(c.id % 3));
    for (const residues of byPid.values()) expect(residues.size).toBe(1);
    expect(new Set([...byPid.values()].map((r) => [...r][0])).size).toBe(byPid.size);
  });
});
