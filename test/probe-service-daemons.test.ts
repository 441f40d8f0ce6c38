/**
 * A plain `udsctl probe SOCK` on real PostgreSQL, MariaDB, ssh-agent, D-Bus and
 * gRPC servers: it says which service it found and how, checks it in its own
 * protocol, and exits as the service's own tool would judge (pg_isready,
 * a gRPC health client) beside it.
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from './helpers/children.js';
import { AS_NOBODY, findTool, requireRoot } from './helpers/requirements.js';
import { ROOT, runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { grpcHealthClient, startDbus, startGrpc, startMariadb, startPostgres, startSshAgent } from './helpers/services.js';

afterEach(killChildren);

const SLOW = { timeout: 120_000 };

interface Probed {
  status: number | null;
  service: string;
  recognisedBy: string;
  code: string;
  details: Record<string, unknown>;
  stdout: string;
}

async function probe(sock: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<Probed> {
  const r = await runCli(['probe', sock, '--json', ...extra], { timeoutMs: 30_000, env });
  const t = JSON.parse(r.stdout).targets[0];
  return { status: r.status, service: t.service, recognisedBy: t.recognisedBy, code: t.code, details: t.serviceInfo?.details ?? {}, stdout: r.stdout };
}

describe('probe recognises and checks', () => {
  it('PostgreSQL by its process: accepting (exit 0), a standby rejecting (exit 2), as pg_isready', SLOW, async () => {
    const pg = await startPostgres();
    let p = await probe(pg.sock);
    let tool = await run(findTool('pg_isready')!, ['-h', pg.socketDir], { timeoutMs: 30_000 });
    expect([p.service, p.recognisedBy, p.code, p.status, p.details.pgIsReady, tool.code]).toEqual(['postgresql', 'process', 'OK', 0, 'accepting', 0]);
    // --as postgresql:USER: the startup message names that user; the server judges it (no such role) and is up, as pg_isready -U says.
    p = await probe(pg.sock, ['--as', 'postgresql:nosuchuser']);
    tool = await run(findTool('pg_isready')!, ['-h', pg.socketDir, '-U', 'nosuchuser'], { timeoutMs: 30_000 });
    expect([p.code, p.status, p.details.pgIsReady, p.details.sqlstate, tool.code]).toEqual(['OK', 0, 'accepting', '28000', 0]);
    expect(String(p.details.message)).toContain('nosuchuser');
    // bench has no one request for a conversation: it says so (it was silent, then every request failed unexplained).
    const bench = await runCli(['bench', '-n', '3', '-c', '1', '--warmup', '0', '--timeout', '1s', pg.sock], { timeoutMs: 60_000 });
    expect(bench.stderr).toMatch(/PostgreSQL, recognised by process.*no one-request check for bench/);
    const standby = await startPostgres({ standby: true });
    p = await probe(standby.sock);
    tool = await run(findTool('pg_isready')!, ['-h', standby.socketDir], { timeoutMs: 30_000 });
    expect([p.service, p.code, p.status, p.details.pgIsReady, tool.code]).toEqual(['postgresql', 'PG_IN_RECOVERY', 2, 'rejecting', 1]);
  });

  it('PostgreSQL still starting up (archive recovery waiting for its WAL): PG_STARTING_UP, rejecting as pg_isready says', SLOW, async () => {
    const pg = await startPostgres({ startingUp: true });
    const p = await probe(pg.sock);
    const tool = await run(findTool('pg_isready')!, ['-h', pg.socketDir], { timeoutMs: 30_000 });
    expect([p.service, p.recognisedBy, p.code, p.status, p.details.pgIsReady, p.details.sqlstate, tool.code], p.stdout).toEqual(['postgresql', 'process', 'PG_STARTING_UP', 2, 'rejecting', '57P03', 1]);
    expect(tool.stdout).toContain('rejecting connections');
  });

  it('MariaDB: its greeting, no login', SLOW, async () => {
    const my = await startMariadb();
    const p = await probe(my.sock);
    expect([p.service, p.recognisedBy, p.code, p.status]).toEqual(['mysql', 'process', 'OK', 0]);
    expect(p.details.version).toMatch(/MariaDB/);
  });

  it('ssh-agent: its keys; human output escapes a hostile comment, JSON keeps it', SLOW, async () => {
    const agent = await startSshAgent({ keys: 1, comments: ['evil\x1b[31m'] });
    const p = await probe(agent.sock);
    expect([p.service, p.code, p.status, p.details.keys]).toEqual(['ssh-agent', 'OK', 0, 1]);
    expect(String(p.details.key1)).toContain('evil\x1b[31m');
    const human = await runCli(['probe', agent.sock], { timeoutMs: 30_000 });
    expect(human.stdout).toContain('evil\\x1b[31m');
    expect(human.stdout).not.toContain('\x1b');
  });

  it('dbus-daemon: accepted and named by Hello', SLOW, async () => {
    const bus = await startDbus();
    const p = await probe(bus.sock);
    expect([p.service, p.recognisedBy, p.code, p.status, p.details.auth]).toEqual(['dbus', 'process', 'OK', 0, 'accepted']);
  });

  it("another user's dbus-daemon --fork on a plain name: the pid SO_PEERCRED gives has exited, the process whose command line names the socket is the bus", SLOW, async () => {
    requireRoot('setpriv to uid 65534, to probe root\'s bus as another user');
    const dir = tmpDir();
    chmodSync(dir, 0o755);
    const sock = join(dir, 'session.sock');
    // --fork: the pid that called listen() exits; its child serves.
    const started = await run(findTool('dbus-daemon')!, ['--session', `--address=unix:path=${sock}`, '--fork', '--print-pid'], { timeoutMs: 30_000 });
    const pid = Number(started.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    try {
      const r = await runCli(['probe', '--json', sock], { wrap: AS_NOBODY, cwd: '/', timeoutMs: 30_000 });
      const t = JSON.parse(r.stdout).targets[0];
      // A session bus lets in its own user only: named as the bus's refusal, as dbus-send says (it was RESET on udsctl's line).
      expect([t.service, t.recognisedBy, t.code, r.status], r.stdout).toEqual(['dbus', 'process', 'DBUS_NOT_ALLOWED', 2]);
      expect(t.serviceInfo.evidence).toMatch(new RegExp(`^pid ${pid} .*command line names the socket`));
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });

  it('a gRPC server on a plain path: recognised by its HTTP/2 preface, NOT_SERVING as the health client says; --http on it names gRPC', SLOW, async () => {
    const g = await startGrpc({ mode: 'not-serving' });
    // A name that says nothing: only what the server sends tells.
    const sock = join(g.dir, 'api.sock');
    renameSync(g.sock, sock);
    const p = await probe(sock);
    expect([p.service, p.recognisedBy, p.code, p.status, p.details.health]).toEqual(['grpc', expect.stringMatching(/^(banner|reply)$/), 'GRPC_NOT_SERVING', 2, 'NOT_SERVING']);
    expect(grpcHealthClient(sock).verdict).toBe('NOT_SERVING');
    // A protocol flag on it: its HTTP/2 SETTINGS (sent first) says which protocol it speaks.
    for (const flag of [['--http', '/'], ['--as', 'http']]) {
      const w = await probe(sock, flag);
      expect([w.code, w.status], w.stdout).toEqual(['WRONG_PROTOCOL', 3]);
      expect(w.stdout).toMatch(/speaks gRPC/);
    }
    const bare = await startGrpc({ mode: 'no-health' });
    const q = await probe(bare.sock, ['--as', 'grpc']);
    expect([q.recognisedBy, q.code, q.status, grpcHealthClient(bare.sock).verdict]).toEqual(['flag', 'GRPC_NO_HEALTH_SERVICE', 1, 'UNIMPLEMENTED']);
  });

  it('gRPC --as grpc:NAME: SERVING, NOT_SERVING, SERVICE_UNKNOWN and no health service, each named as the health client says', SLOW, async () => {
    const g = await startGrpc({ mode: 'serving', services: { 'app.Up': 'serving', 'app.Down': 'not-serving', 'app.Starting': 'unknown' } });
    const cases = [
      // [name, code, exit status, health, the client's word]
      ['app.Up', 'OK', 0, 'SERVING', 'SERVING'],
      ['app.Down', 'GRPC_NOT_SERVING', 2, 'NOT_SERVING', 'NOT_SERVING'],
      ['app.Nope', 'GRPC_SERVICE_UNKNOWN', 2, 'SERVICE_UNKNOWN', 'NOT_FOUND'],
      ['app.Starting', 'GRPC_STATUS_UNKNOWN', 1, 'UNKNOWN', 'UNKNOWN'],
    ] as const;
    for (const [name, code, status, health, word] of cases) {
      const p = await probe(g.sock, ['--as', `grpc:${name}`]);
      expect([name, p.recognisedBy, p.code, p.status, p.details.service, p.details.health]).toEqual([name, 'flag', code, status, name, health]);
      expect([name, grpcHealthClient(g.sock, name).verdict]).toEqual([name, word]);
    }
    // The whole server (no ARG) is SERVING; a named service on it may not be.
    expect((await probe(g.sock, ['--as', 'grpc'])).code).toBe('OK');
    const human = await runCli(['probe', '--as', 'grpc:app.Down', g.sock], { timeoutMs: 30_000 });
    expect(human.stdout).toMatch(/--as grpc:app\.Down/);
    expect(human.stdout).toMatch(/service "app\.Down" is NOT_SERVING/);

    // A server without the health service: the name asked does not matter.
    const bare = await startGrpc({ mode: 'no-health' });
    const q = await probe(bare.sock, ['--as', 'grpc:app.Up']);
    expect([q.code, q.status, grpcHealthClient(bare.sock, 'app.Up').verdict]).toEqual(['GRPC_NO_HEALTH_SERVICE', 1, 'UNIMPLEMENTED']);

    // The suite file takes the same spelling (as: grpc:NAME), each target its own name.
    const dir = tmpDir('udsctl-grs-');
    writeFileSync(join(dir, 'udsctl.yaml'), `targets:\n  - target: ${g.sock}\n    as: grpc:app.Up\n  - target: ${g.sock}\n    as: grpc:app.Down\n  - target: ${bare.sock}\n    as: grpc\n`);
    const s = await runCli(['probe', '--json'], { timeoutMs: 30_000, cwd: dir });
    expect(s.status, s.stderr).toBe(2);
    expect(JSON.parse(s.stdout).targets.map((t: { code: string }) => t.code)).toEqual(['OK', 'GRPC_NOT_SERVING', 'GRPC_NO_HEALTH_SERVICE']);
  });

  it("a silent mysqlx.sock (MySQL 8's X Protocol waits for the client): named, UNKNOWN, not a dead server", async () => {
    const sock = join(tmpDir('udsctl-myx-'), 'mysqlx.sock');
    const peer = spawnChild(process.execPath, [join(ROOT, 'test', 'fixtures', 'hostile-peers.mjs'), 'blackhole', sock]);
    await waitForOutput(peer, /listening/);
    const p = await probe(sock, ['--as', 'mysql', '--timeout', '500ms']);
    expect([p.code, p.status]).toEqual(['MYSQL_X_PROTOCOL', 3]);
  });
});
