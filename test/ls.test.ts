/**
 * `udsctl ls` end to end, on real listeners held by Python and Node children:
 * each socket type, an unprivileged user's sockets and a socket they may not
 * use, stale and deleted files, abstract names with newlines and escapes, a
 * forged /proc/net/unix row, accept queues and clients, 10,000 sockets, and
 * --watch. Asserts on JSON fields and exit status, never on timing.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren } from './helpers/children.js';
import { lsPeer } from './helpers/ls-peers.js';
import { makeStaleSocket } from './helpers/peers.js';
import { AS_NOBODY, IS_ROOT, ME, NOBODY, STRICT, requireRoot, worldDir } from './helpers/requirements.js';
import { type RunOptions, killAll, runCli, startCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { CTRL_C, onTerminal, thenShell, udsctl } from './helpers/pty.js';

afterEach(killChildren);
afterEach(killAll);

interface Entry {
  kind: string;
  name: string;
  nameBase64?: string;
  path: string | null;
  type: string | null;
  state: string;
  processes: { pid: number; name: string | null; user: string | null }[];
  processNote: string | null;
  user: string | null;
  file: { owner: string; modeString: string } | null;
  mayConnect: boolean | null;
  access: string;
  fix?: string;
  queue: number | null;
  backlog: number | null;
  clients: number | null;
  service: string | null;
}

async function lsJson(args: string[], opts: RunOptions = {}): Promise<{ doc: { sockets: Entry[]; hiddenProcesses: number; unixSockets: number }; stderr: string; status: number | null }> {
  const r = await runCli(['ls', '--json', ...args], { timeoutMs: 30_000, ...opts });
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new Error(`ls --json printed no JSON (status ${r.status}): ${r.stdout} ${r.stderr}`);
  }
  return { doc, stderr: r.stderr, status: r.status };
}

const byName = (doc: { sockets: Entry[] }, name: string) => doc.sockets.find((s) => s.name === name);

/** A folder anyone may create sockets in (uid 65534's listeners), ours when we are not root. */
function sharedDir(): string {
  const dir = tmpDir();
  chmodSync(dir, 0o1777);
  return dir;
}

describe('udsctl ls: listeners', () => {
  it('stream, seqpacket and dgram listeners: type, state, process, backlog, may you connect', async () => {
    const dir = tmpDir();
    const st = await lsPeer(['listen', 'stream', join(dir, 'st.sock'), '7']);
    const sp = await lsPeer(['listen', 'seqpacket', join(dir, 'sp.sock'), '5']);
    const dg = await lsPeer(['listen', 'dgram', join(dir, 'dg.sock')]);
    const { doc, status } = await lsJson([dir]);
    expect(status).toBe(0);
    expect(doc.sockets.map((s) => s.name).sort()).toEqual(['dg.sock', 'sp.sock', 'st.sock'].map((n) => join(dir, n)));
    const s = byName(doc, join(dir, 'st.sock'))!;
    expect(s).toMatchObject({ kind: 'path', type: 'stream', state: 'listening', queue: 0, backlog: 7, clients: 0, mayConnect: true, user: ME.user });
    expect(s.processes.map((p) => p.pid)).toEqual([st.pid]);
    expect(s.file?.owner).toBe(ME.user);
    expect(byName(doc, join(dir, 'sp.sock'))).toMatchObject({ type: 'seqpacket', state: 'listening', backlog: 5 });
    expect(byName(doc, join(dir, 'sp.sock'))!.processes[0].pid).toBe(sp.pid);
    expect(byName(doc, join(dir, 'dg.sock'))).toMatchObject({ type: 'dgram', state: 'bound', queue: null });
    expect(byName(doc, join(dir, 'dg.sock'))!.processes[0].pid).toBe(dg.pid);
  });

  it('human table: fits 80 columns, no colour when not a terminal, one line per socket', async () => {
    const dir = tmpDir();
    const long = join(dir, `${'x'.repeat(60)}.sock`);
    await lsPeer(['listen', 'stream', long]);
    const r = await runCli(['ls', dir]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +TYPE +QUEUE +CONN +PROCESS +SERVICE +YOU$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/…x+\.sock +stream +0\/16 +0 +\d+\/python3 +yes$/);
  });

  it('a listener that never accepts: the queue fills to the backlog and is flagged full', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'full.sock');
    await lsPeer(['listen', 'stream', sock, '2']);
    await lsPeer(['clients', sock, '3']); // backlog 2 takes backlog + 1 on Linux
    const { doc } = await lsJson([sock]);
    const e = byName(doc, sock)!;
    expect(e.backlog).toBe(2);
    expect(e.queue).toBeGreaterThanOrEqual(2);
    expect((e as unknown as { queueFull: boolean }).queueFull).toBe(true);
    const human = await runCli(['ls', sock]);
    expect(human.stdout).toMatch(/accept queue full/);
  });

  it('clients of a listener that accepts: counted by the accepted connections', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'acc.sock');
    const held: net.Socket[] = [];
    const server = net.createServer((c) => held.push(c));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await lsPeer(['clients', sock, '4']);
      await new Promise<void>((r) => {
        const tick = () => (held.length >= 4 ? r() : setTimeout(tick, 10));
        tick();
      });
      const { doc } = await lsJson([sock]);
      expect(byName(doc, sock)).toMatchObject({ clients: 4, queue: 0 });
      expect(byName(doc, sock)!.processes.map((p) => p.pid)).toContain(process.pid);
    } finally {
      for (const c of held) c.destroy();
      server.close();
    }
  });
});

describe('udsctl ls: names are bytes, shown escaped', () => {
  it('an abstract name with a newline and a terminal escape: exact in JSON, escaped on the terminal', async () => {
    const tag = `udsctl-ls-${process.pid}-${Date.now()}`;
    const p = await lsPeer(['listen', 'seqpacket', `@${tag}\\nline2\\x1b[31mred\\x00nul`]);
    const { doc } = await lsJson([`@${tag}`]);
    expect(doc.sockets).toHaveLength(1);
    const e = doc.sockets[0];
    expect(e).toMatchObject({ kind: 'abstract', name: `${tag}\nline2\x1b[31mred\0nul`, type: 'seqpacket', mayConnect: true });
    expect(e.processes[0].pid).toBe(p.pid);
    const r = await runCli(['ls', `@${tag}`]);
    expect(r.stdout).not.toContain('\x1b');
    // One row: the newline in the name did not split it; the escapes show (the middle is cut to fit 80 columns).
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^@udsctl-.*red\\x00nul +seqpkt /);
    expect(lines[2]).toMatch(/^1 listening/);
    const wide = await runCli(['ls', '--json', `@${tag}`]);
    expect(wide.stdout).toContain('\\n'); // JSON's own escape of the newline
  });

  it('a name that is not UTF-8: base64 beside the text in JSON', async () => {
    const tag = `udsctl-ls8-${process.pid}-${Date.now()}`;
    await lsPeer(['listen', 'stream', `@${tag}\\xff\\xfe`]);
    const { doc } = await lsJson([`@${tag}`]);
    const e = doc.sockets[0];
    expect(Buffer.from(e.nameBase64!, 'base64')).toEqual(Buffer.concat([Buffer.from(tag), Buffer.from([0xff, 0xfe])]));
  });

  it('a socket file whose name is not UTF-8: its listener listens (not "deleted"), a stale one is found', async () => {
    const dir = tmpDir();
    const bytes = (name: string) => Buffer.concat([Buffer.from(`${dir}/${name}`), Buffer.from([0xff, 0xfe]), Buffer.from('.sock')]);
    await lsPeer(['listen', 'stream', `${dir}/live\\xff\\xfe.sock`]);
    // Bound and left behind: a stale file by a name that is not UTF-8.
    const made = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(bytes.fromhex(sys.argv[1]))', bytes('old').toString('hex')]);
    expect(made.status).toBe(0);
    const { doc } = await lsJson([dir]);
    const named = (b: Buffer) => doc.sockets.find((s) => s.nameBase64 && Buffer.from(s.nameBase64, 'base64').equals(b));
    expect(named(bytes('live'))).toMatchObject({ state: 'listening', mayConnect: true, type: 'stream' });
    expect(named(bytes('live'))!.file).toMatchObject({ modeString: expect.stringMatching(/^s/) });
    expect(named(bytes('old'))).toMatchObject({ state: 'stale' });
  });

  it('a forged /proc/net/unix row is one abstract socket, not a listener of the path it names', async () => {
    const dir = sharedDir();
    const absent = join(dir, 'absent.sock');
    const forger = await lsPeer(['forge', absent], { asOther: true });
    const { doc } = await lsJson([dir, '@x\n']);
    expect(doc.sockets.some((s) => s.name === absent || s.path === absent)).toBe(false);
    const forged = doc.sockets.filter((s) => s.kind === 'abstract' && s.name.startsWith('x\n'));
    expect(forged.some((s) => s.processes.some((p) => p.pid === forger.pid) || s.user === (IS_ROOT ? NOBODY.user : ME.user))).toBe(true);
  });
});

describe('udsctl ls: stale and deleted', () => {
  it('a stale file (nobody listens) and a listener whose file was deleted', async () => {
    const dir = tmpDir();
    await makeStaleSocket(join(dir, 'stale.sock'));
    const gone = await lsPeer(['listen', 'stream', join(dir, 'gone.sock')]);
    rmSync(join(dir, 'gone.sock'));
    const { doc } = await lsJson([dir]);
    expect(byName(doc, join(dir, 'stale.sock'))).toMatchObject({ state: 'stale', mayConnect: false, type: null });
    expect(byName(doc, join(dir, 'stale.sock'))!.access).toMatch(/no process in this network namespace listens/);
    // A container's live socket looks the same from here: the advice is not a bare `rm`.
    expect(byName(doc, join(dir, 'stale.sock'))!.fix).toMatch(/another network namespace \(a container\) is not seen from here: look there before removing it/);
    const d = byName(doc, join(dir, 'gone.sock'))!;
    expect(d).toMatchObject({ state: 'deleted', mayConnect: false });
    expect(d.processes[0].pid).toBe(gone.pid);
    const only = await lsJson([dir, '--stale']);
    expect(only.doc.sockets.map((s) => s.state).sort()).toEqual(['deleted', 'stale']);
    const human = await runCli(['ls', dir]);
    expect(human.stdout).toMatch(/stale\.sock +- +- +- +- +stale/);
    expect(human.stdout).toMatch(/deleted/);
  });

  it('a file deleted and bound again: the new listener listens, the old one is on a deleted file', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'app.sock');
    const old = await lsPeer(['listen', 'stream', sock]);
    rmSync(sock);
    const fresh = await lsPeer(['listen', 'stream', sock]);
    const { doc } = await lsJson([dir]);
    const rows = doc.sockets.filter((s) => s.name === sock);
    expect(rows.find((s) => s.state === 'listening')!.processes[0].pid).toBe(fresh.pid);
    expect(rows.find((s) => s.state === 'deleted')!.processes[0].pid).toBe(old.pid);
  });
});

describe('udsctl ls: a listener whose file has another name than it was bound by', () => {
  it('bound, linked elsewhere and unlinked (as serve --group places its socket): listed at the file, listening', async () => {
    const dir = tmpDir();
    const peer = await lsPeer(['listen', 'stream', join(dir, 'bound.sock')]);
    linkSync(join(dir, 'bound.sock'), join(dir, 'here.sock'));
    rmSync(join(dir, 'bound.sock'));
    const { doc } = await lsJson([dir]);
    expect(doc.sockets.map((s) => [s.name, s.state])).toEqual([[join(dir, 'here.sock'), 'listening']]);
    expect(byName(doc, join(dir, 'here.sock'))!.processes[0].pid).toBe(peer.pid);
    // Asked for by that path, too.
    expect((await lsJson([join(dir, 'here.sock')])).doc.sockets.map((s) => s.state)).toEqual(['listening']);
  });

  it('serve --group: its socket is listed where it is, listening', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'g.sock');
    const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
    startCli(['serve', '--quiet', '--group', group, sock]);
    for (let i = 0; i < 250 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    const { doc } = await lsJson([dir]);
    expect(doc.sockets.map((s) => [s.name, s.state])).toEqual([[sock, 'listening']]);
  });
});

describe('udsctl ls: other users', () => {
  it("another user's listener: named with its user as root; as that user, a root socket with mode 0700 says why not", async () => {
    requireRoot('setpriv to uid 65534 for another user\'s sockets');
    const dir = sharedDir();
    const theirs = await lsPeer(['listen', 'stream', join(dir, 'theirs.sock')], { asOther: true });
    const ours = join(dir, 'ours.sock');
    await lsPeer(['listen', 'stream', ours]);
    chmodSync(ours, 0o700);
    const asRoot = await lsJson([dir]);
    const t = byName(asRoot.doc, join(dir, 'theirs.sock'))!;
    expect(t.processes[0]).toMatchObject({ pid: theirs.pid, user: NOBODY.user });
    expect(t.user).toBe(NOBODY.user);

    const asThem = await lsJson([dir], { wrap: AS_NOBODY });
    expect(asThem.status).toBe(0);
    const o = byName(asThem.doc, ours)!;
    expect(o.mayConnect).toBe(false);
    expect(o.access).toMatch(/not root and not in group/);
    // Root's process is not theirs to see: what can be known (the socket's owner) and what not.
    expect(o.processes).toEqual([]);
    expect(o.user).toBe('root');
    expect(o.processNote).toMatch(/not visible to uid 65534/);
    expect(asThem.doc.hiddenProcesses).toBeGreaterThan(0);
    const human = await runCli(['ls', dir], { wrap: AS_NOBODY });
    expect(human.stdout).toMatch(/ours\.sock +stream +0\/16 +0 +\?\/root +no/);
    expect(human.stdout).toMatch(/run as root to name them/);
  });

  it('/proc mounted hidepid=invisible: root\'s process is said to be hidden by it, not "no process"', async (ctx) => {
    requireRoot('a private mount of /proc with hidepid=invisible, then setpriv to uid 65534');
    // A proc mount of our own in a private mount namespace: the machine's /proc is untouched.
    const can = spawnSync('unshare', ['-m', '--', 'sh', '-c', 'mount -t proc -o hidepid=invisible proc /proc'], { encoding: 'utf8' });
    // Root without CAP_SYS_ADMIN (some containers) cannot: said, as a missing peer is.
    if (can.status !== 0) {
      const why = `cannot mount a hidepid /proc here (unshare -m as root): ${can.stderr.trim()}`;
      if (STRICT) throw new Error(`${why} (UDSCTL_TEST_STRICT=1: nothing may skip)`);
      return ctx.skip(why);
    }
    const dir = sharedDir();
    const ours = join(dir, 'ours.sock');
    await lsPeer(['listen', 'stream', ours]);
    const hidden = `mount -t proc -o hidepid=invisible proc /proc && exec ${AS_NOBODY.join(' ')} "$@"`;
    const r = spawnSync('unshare', ['-m', '--', 'sh', '-c', hidden, 'sh', process.execPath, join(worldDir(), 'bin', 'udsctl.cjs'), 'ls', '--json', dir], { encoding: 'utf8', cwd: '/', timeout: 30_000 });
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.procHidden).toBe('hidepid=invisible');
    const o = byName(doc, ours)!;
    expect(o.processes).toEqual([]);
    expect(o.processNote).toMatch(/not visible to uid 65534.*hidepid=invisible/);
    const human = spawnSync('unshare', ['-m', '--', 'sh', '-c', hidden, 'sh', process.execPath, join(worldDir(), 'bin', 'udsctl.cjs'), 'ls', dir], { encoding: 'utf8', cwd: '/', timeout: 30_000 });
    expect(human.stdout).toMatch(/\/proc is mounted with hidepid=invisible: other users' processes are left out/);
    // probe's listener check says the same.
    const probe = spawnSync('unshare', ['-m', '--', 'sh', '-c', hidden, 'sh', process.execPath, join(worldDir(), 'bin', 'udsctl.cjs'), 'probe', '--json', '--connect-only', ours], { encoding: 'utf8', cwd: '/', timeout: 30_000 });
    const listener = JSON.parse(probe.stdout).targets[0].checks.find((c: { name: string }) => c.name === 'listener');
    expect(listener.detail).toMatch(/process not visible to uid 65534.*hidepid=invisible/);
  });

  it('a folder we may not search: the socket is listed, and why we may not connect', async () => {
    requireRoot('setpriv to uid 65534');
    const dir = sharedDir();
    const inner = join(dir, 'private');
    mkdirSync(inner, { mode: 0o700 });
    await lsPeer(['listen', 'stream', join(inner, 'in.sock')]);
    const { doc } = await lsJson([dir], { wrap: AS_NOBODY });
    const e = byName(doc, join(inner, 'in.sock'))!;
    expect(e.mayConnect).toBe(false);
    expect(e.access).toMatch(/has no search \(x\) permission/);
  });
});

describe('udsctl ls: filters and options', () => {
  it('--type, --service, --sort; a bad --type is a usage error', async () => {
    const dir = tmpDir();
    await lsPeer(['listen', 'stream', join(dir, 'b.sock')]);
    await lsPeer(['listen', 'dgram', join(dir, 'a.sock')]);
    await lsPeer(['listen', 'stream', join(dir, '.s.PGSQL.5999')]);
    expect((await lsJson([dir, '--type', 'dgram'])).doc.sockets.map((s) => s.name)).toEqual([join(dir, 'a.sock')]);
    expect((await lsJson([dir, '--service', 'postgresql'])).doc.sockets.map((s) => s.name)).toEqual([join(dir, '.s.PGSQL.5999')]);
    expect((await lsJson([dir, '--sort', 'type'])).doc.sockets.map((s) => s.type)).toEqual(['dgram', 'stream', 'stream']);
    const bad = await runCli(['ls', '--type', 'pipe']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--type must be one of stream, seqpacket, dgram, tcp/);
    // A name no socket can be recognised as (`postgres` for postgresql) would list nothing: a usage error.
    const typo = await runCli(['ls', '--service', 'postgres', dir]);
    expect(typo.status).toBe(2);
    expect(typo.stderr.split('\n')[0]).toMatch(/^udsctl ls: --service must be one of .*postgresql.*docker.* \(got "postgres"\)$/);
    expect(typo.stdout).toBe('');
  });

  it('--tcp: a TCP listener on loopback, with its process and its accepted clients', async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((c) => accepted.push(c));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, '127.0.0.1');
    try {
      await new Promise<void>((r) => server.once('connection', () => r()));
      const r = await runCli(['ls', '--tcp', '--type', 'tcp', '--json']);
      const doc = JSON.parse(r.stdout);
      const e = doc.sockets.find((s: Entry) => s.name === `127.0.0.1:${port}`);
      expect(e).toMatchObject({ kind: 'tcp', type: 'tcp', state: 'listening', clients: 1 });
      expect(e.processes[0].pid).toBe(process.pid);
    } finally {
      client.destroy();
      for (const c of accepted) c.destroy();
      server.close();
    }
  });
});

describe('udsctl ls: many sockets', () => {
  it('10,000 sockets on the machine: every listener of the farm is listed', async () => {
    const dir = tmpDir();
    const farm = await lsPeer(['farm', '10000', dir], { timeoutMs: 60_000 });
    expect(farm.sockets).toBe(10_000);
    const { doc, status } = await lsJson([dir], { timeoutMs: 60_000 });
    expect(status).toBe(0);
    expect(doc.unixSockets).toBeGreaterThanOrEqual(10_000);
    expect(doc.sockets).toHaveLength(1_000);
    expect(doc.sockets.every((s) => s.processes[0]?.pid === farm.pid)).toBe(true);
    const abs = await lsJson([`@udsctl-farm-${farm.pid}-`], { timeoutMs: 60_000 });
    expect(abs.doc.sockets).toHaveLength(1_000);
  });
});

describe('udsctl ls --watch', () => {
  it('prints a line per change when not a terminal, sees a new client, ends on SIGTERM with 0', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'w.sock');
    const held: net.Socket[] = [];
    const server = net.createServer((c) => held.push(c));
    await new Promise<void>((r) => server.listen(sock, r));
    const child = startCli(['ls', '--watch', '200ms', dir]);
    let out = '';
    const seen = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} in: ${out}`)), 15_000);
        const check = () => {
          if (re.test(out)) {
            clearTimeout(timer);
            child.stdout!.off('data', onData);
            resolve();
          }
        };
        const onData = (c: Buffer) => {
          out += c.toString();
          check();
        };
        child.stdout!.on('data', onData);
        check();
      });
    try {
      await seen(/w\.sock type=stream queue=0\/511 clients=0/);
      const c = net.connect(sock);
      await seen(/w\.sock type=stream queue=0\/511 clients=1 new\/s=\d/);
      c.destroy();
      child.kill('SIGTERM');
      const [code] = await new Promise<[number | null]>((r) => child.once('close', (code) => r([code])));
      expect(code).toBe(0);
    } finally {
      for (const c of held) c.destroy();
      server.close();
    }
  });

  it('--watch takes its paths as ls does: `.`, a symlinked folder (/var/run -> /run); a bad interval is a usage error, not an empty watch', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'p.sock');
    await lsPeer(['listen', 'stream', sock]);
    const link = join(tmpDir(), 'link');
    symlinkSync(dir, link);
    const firstSample = async (args: string[], cwd?: string): Promise<string> => {
      const child = startCli(['ls', '--watch', ...args], cwd ? { cwd } : {});
      let out = '';
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no p.sock from ls --watch ${args.join(' ')}: ${out}`)), 15_000);
          child.stdout!.on('data', (c: Buffer) => {
            out += c.toString();
            if (out.includes('p.sock')) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      } finally {
        child.kill('SIGTERM');
      }
      return out;
    };
    expect(await firstSample(['.'], dir)).toContain(`${sock} type=stream`);
    expect(await firstSample(['200ms', '.'], dir)).toContain(`${sock} type=stream`);
    expect(await firstSample(['200ms', link])).toContain(`${sock} type=stream`);
    for (const [flag, said] of [['--tcp', '--tcp does'], ['--stale', '--stale does']]) {
      const r = await runCli(['ls', '--watch', '1s', flag, dir]);
      expect(r.status).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`udsctl ls: --watch follows Unix listeners; ${said} not apply to it`);
    }
    for (const bad of ['abc', '-1']) {
      const r = await runCli(['ls', '--watch', bad, dir]);
      expect(r.status).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`udsctl ls: --watch must be a duration like 500ms, 2s or 1m (got "${bad}")`);
      expect(r.stdout).toBe('');
    }
  });

  it('--watch --json: one JSON document a sample', async () => {
    const dir = tmpDir();
    await lsPeer(['listen', 'stream', join(dir, 'j.sock')]);
    const child = startCli(['ls', '--watch', '100ms', '--json', dir]);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no two samples: ${out}`)), 15_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.split('\n').length > 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const first = JSON.parse(out.split('\n')[0]);
    expect(first.schema).toBe('udsctl.ls.watch/1');
    expect(first.sockets.map((s: { name: string }) => s.name)).toEqual([join(dir, 'j.sock')]);
  });
});

describe('udsctl ls --watch, its reader gone', () => {
  it('--watch --json | head -1: the watch ends (status 0) once its reader has closed the pipe', async () => {
    const dir = tmpDir();
    await lsPeer(['listen', 'stream', join(dir, 'h.sock')]);
    const child = startCli(['ls', '--watch', '100ms', '--json', dir]);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (code, signal) => r([code, signal])));
    // As head does after its line: the read end of the pipe closes; the next sample's write fails with EPIPE.
    child.stdout!.destroy();
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await closed;
    clearTimeout(timer);
    expect(signal).toBeNull();
    expect(code).toBe(0);
  });
});

describe('udsctl ls on a terminal', () => {
  it('colour on a terminal; --watch redraws in place, a full queue in red, Ctrl-C ends it with 0 and the cursor back', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'tty.sock');
    await lsPeer(['listen', 'stream', sock, '1']);
    await lsPeer(['clients', sock, '2']);
    await lsPeer(['listen', 'seqpacket', join(dir, 'seq.sock')]);
    const once = await onTerminal(thenShell(udsctl(`ls ${dir}`)), [['expect', 'END']]);
    expect(once.output).toMatch(/\x1b\[1mNAME/);
    expect(once.plain).toMatch(/tty\.sock +stream +2\/1 /);
    const r = await onTerminal(thenShell(udsctl(`ls --watch 200ms ${dir}`)), [
      ['expect', 'tty.sock'],
      ['expect', 'tty.sock'],
      ['type', CTRL_C],
      ['expect', 'END'],
    ]);
    expect(r.output).toContain('\x1b[H\x1b[J');
    expect(r.output).toMatch(/\x1b\[31m\x1b\[1m[^\n]*tty\.sock/);
    // The type as the list says it (`seqpkt`), not cut to `seqpa…`.
    expect(r.plain).toMatch(/seq\.sock +seqpkt +0\/\d+ /);
    expect(r.output).toContain('\x1b[?25h');
    expect(r.output).toContain('status=0');
  });
});
