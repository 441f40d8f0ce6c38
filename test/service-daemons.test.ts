/**
 * The real-daemon launchers (test/helpers/services.ts) start, answer their own
 * tool, and stop: the service checks' tests stand on them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run } from './helpers/children.js';
import { findTool } from './helpers/requirements.js';
import {
  grpcHealthClient,
  startDbus,
  startGrpc,
  startGunicorn,
  startHaproxy,
  startMariadb,
  startMemcached,
  startPostgres,
  startSshAgent,
  startSupervisord,
  startUwsgi,
} from './helpers/services.js';

afterEach(killChildren);

const SLOW = 120_000;

/** One HTTP/1.0 request over the socket, the whole reply. */
async function httpGet(sock: string, path = '/'): Promise<string> {
  const r = await run('socat', ['-t5', '-', `UNIX-CONNECT:${sock}`], { input: `GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`, timeoutMs: 20_000 });
  return r.stdout;
}

describe('service daemons', () => {
  it('PostgreSQL: accepting; too many clients; shutting down; standby', { timeout: SLOW }, async () => {
    const pg = await startPostgres({ maxConnections: 1 });
    expect(existsSync(pg.sock)).toBe(true);
    let r = await run(findTool('pg_isready')!, ['-h', pg.socketDir], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/accepting connections/);
    await pg.holdSession();
    r = await run(findTool('psql')!, ['-X', '-h', pg.socketDir, '-U', 'postgres', '-c', 'select 1'], { timeoutMs: 20_000 });
    expect(r.stderr).toMatch(/too many clients/);
    await pg.shutDownSmart();
    r = await run(findTool('pg_isready')!, ['-h', pg.socketDir], { timeoutMs: 20_000 });
    expect([r.code, r.stdout]).toEqual([1, expect.stringMatching(/rejecting connections/)]);
    const standby = await startPostgres({ standby: true });
    r = await run(findTool('pg_isready')!, ['-h', standby.socketDir], { timeoutMs: 20_000 });
    expect([r.code, r.stdout]).toEqual([1, expect.stringMatching(/rejecting connections/)]);
  });

  it('MariaDB: alive; every slot taken', { timeout: SLOW }, async () => {
    const my = await startMariadb();
    let r = await run(findTool('mysqladmin')!, ['--no-defaults', '-S', my.sock, 'ping'], { timeoutMs: 20_000 });
    // As root it logs in ("mysqld is alive"); as another user the server refuses the login, and
    // mysqladmin ping still exits 0: a server that answers with an error is alive.
    expect([r.code, `${r.stdout}${r.stderr}`]).toEqual([0, expect.stringMatching(/mysqld is alive|Access denied/)]);
    await my.exhaustConnections();
    r = await run(findTool('mysqladmin')!, ['--no-defaults', '-S', my.sock, 'ping'], { timeoutMs: 20_000 });
    expect(r.stderr).toMatch(/1040 - Too many connections|Too many connections/);
  });

  it('ssh-agent with 0 and 2 keys', { timeout: SLOW }, async () => {
    const empty = await startSshAgent();
    let r = await run('ssh-add', ['-l'], { env: empty.env, timeoutMs: 20_000 });
    expect([r.code, r.stdout]).toEqual([1, expect.stringMatching(/no identities/)]);
    const two = await startSshAgent({ keys: 2, comments: ['alice@laptop', 'bob'] });
    r = await run('ssh-add', ['-l'], { env: two.env, timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stdout).toMatch(/alice@laptop/);
  });

  it('dbus-daemon: EXTERNAL accepted, EXTERNAL rejected', { timeout: SLOW }, async () => {
    const hex = Buffer.from(String(process.getuid!())).toString('hex');
    for (const [auth, want] of [
      ['EXTERNAL', /^OK [0-9a-f]{32}\r\n/],
      ['ANONYMOUS', /^REJECTED ANONYMOUS\r\n/],
    ] as const) {
      const bus = await startDbus({ auth });
      const r = await run('socat', ['-t2', '-', `UNIX-CONNECT:${bus.sock}`], { input: `\0AUTH EXTERNAL ${hex}\r\n`, timeoutMs: 20_000 });
      expect(r.stdout).toMatch(want);
    }
  });

  it('gRPC: SERVING, NOT_SERVING, NOT_FOUND, UNIMPLEMENTED', { timeout: SLOW }, async () => {
    const g = await startGrpc({ mode: 'serving', services: { down: 'not-serving' } });
    expect(grpcHealthClient(g.sock)).toEqual({ verdict: 'SERVING', code: 0 });
    expect(grpcHealthClient(g.sock, 'down')).toEqual({ verdict: 'NOT_SERVING', code: 1 });
    expect(grpcHealthClient(g.sock, 'nope')).toEqual({ verdict: 'NOT_FOUND', code: 1 });
    const bare = await startGrpc({ mode: 'no-health' });
    expect(grpcHealthClient(bare.sock)).toEqual({ verdict: 'UNIMPLEMENTED', code: 1 });
  });

  it('gunicorn and uwsgi --http-socket answer HTTP; uwsgi --socket listens', { timeout: SLOW }, async () => {
    const gu = await startGunicorn();
    expect(await httpGet(gu.sock)).toMatch(/^HTTP\/1\.[01] 200[^]*hello-wsgi/);
    expect(await httpGet(gu.sock, '/boom')).toMatch(/^HTTP\/1\.[01] 503/);
    const uh = await startUwsgi({ http: true });
    expect(await httpGet(uh.sock)).toMatch(/^HTTP\/1\.[01] 200[^]*hello-wsgi/);
    const uw = await startUwsgi();
    expect(existsSync(uw.sock)).toBe(true);
  });

  it('memcached, haproxy stats, supervisord', { timeout: SLOW }, async () => {
    const mc = await startMemcached();
    let r = await run('socat', ['-t1', '-', `UNIX-CONNECT:${mc.sock}`], { input: 'version\r\n', timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/^VERSION /);
    const hp = await startHaproxy();
    r = await run('socat', ['-t2', '-', `UNIX-CONNECT:${hp.sock}`], { input: 'show info\n', timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/^Name: HAProxy/);
    expect(await httpGet(hp.frontend)).toMatch(/^HTTP\/1\.[01] 200/);
    const sv = await startSupervisord();
    const st = spawnSync(findTool('supervisorctl')!, ['-c', sv.conf, 'pid'], { encoding: 'utf8', timeout: 20_000 });
    expect(st.stdout.trim()).toMatch(/^\d+$/);
  });
});
