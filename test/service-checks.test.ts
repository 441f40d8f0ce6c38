/**
 * The PostgreSQL, MySQL/MariaDB, ssh-agent, D-Bus and gRPC service checks on
 * real daemons (test/helpers/services.ts), healthy and unhealthy, each with
 * the service's own tool run on the same server beside udsctl's verdict:
 * pg_isready, mysqladmin ping, ssh-add -l, dbus-send, a python3-grpcio health client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runServiceCheck } from '../src/core/service/run.js';
import { serviceByName } from '../src/core/service/index.js';
import type { CheckContext } from '../src/core/service/types.js';
import { parseTarget } from '../src/core/socket/target.js';
import { killChildren, run } from './helpers/children.js';
import { findTool, requireRoot } from './helpers/requirements.js';
import { grpcHealthClient, startDbus, startGrpc, startMariadb, startPostgres, startSshAgent } from './helpers/services.js';

afterEach(killChildren);

const SLOW = { timeout: 120_000 };

/** udsctl's check of `sock` as service `name`: the verdict's code and details, or the exchange's error code. */
async function check(name: string, sock: string, arg?: string) {
  const service = serviceByName(name);
  if (!service) throw new Error(`no service ${name}`);
  const target = parseTarget(sock);
  const ctx: CheckContext = { target, display: sock, arg, timeout: 10_000, connectTimeout: 5_000, maxReply: 64 * 1024, uid: process.getuid!(), gid: process.getgid!() };
  const r = await runServiceCheck(service, target, ctx);
  return { code: r.verdict?.code ?? r.record.error?.code ?? 'NONE', summary: r.verdict?.summary ?? '', details: r.verdict?.details ?? {} };
}

/** pg_isready's verdict on the server: exit 0 accepting, 1 rejecting, 2 no response. */
async function pgIsReady(socketDir: string): Promise<string> {
  const r = await run(findTool('pg_isready')!, ['-h', socketDir, '-t', '10'], { timeoutMs: 30_000 });
  return { 0: 'accepting', 1: 'rejecting', 2: 'no response' }[r.code ?? -1] ?? `exit ${r.code}`;
}

describe('postgresql', () => {
  it('accepting, too many clients, shutting down: as pg_isready says', SLOW, async () => {
    const pg = await startPostgres({ maxConnections: 1 });
    let u = await check('postgresql', pg.sock);
    expect([u.code, u.details.pgIsReady, await pgIsReady(pg.socketDir)]).toEqual(['OK', 'accepting', 'accepting']);
    expect(u.details.serverVersion).toMatch(/^\d+/);
    // A role that does not exist: the server answered (28000), so it is up.
    u = await check('postgresql', pg.sock, 'no_such_role');
    expect([u.code, u.details.sqlstate]).toEqual(['OK', '28000']);

    await pg.holdSession();
    u = await check('postgresql', pg.sock);
    // pg_isready only tells "accepting" here: the server answered 53300. udsctl names it.
    expect([u.code, u.details.sqlstate, u.details.pgIsReady, await pgIsReady(pg.socketDir)]).toEqual(['PG_TOO_MANY_CLIENTS', '53300', 'accepting', 'accepting']);

    await pg.shutDownSmart();
    u = await check('postgresql', pg.sock);
    expect([u.code, u.details.pgIsReady, await pgIsReady(pg.socketDir)]).toEqual(['PG_SHUTTING_DOWN', 'rejecting', 'rejecting']);
  });

  it('a server that asks for a password: accepting, and none is sent', SLOW, async () => {
    const pg = await startPostgres({ auth: 'scram-sha-256' });
    const u = await check('postgresql', pg.sock);
    expect([u.code, u.details.auth, u.details.pgIsReady, await pgIsReady(pg.socketDir)]).toEqual(['OK', 'SASL (SCRAM)', 'accepting', 'accepting']);
    // udsctl closed without answering: the server saw no authentication attempt, only a client that left.
    expect(pg.log()).not.toMatch(/password authentication failed/);
  });

  it('a standby with hot_standby off: rejecting, in recovery', SLOW, async () => {
    const pg = await startPostgres({ standby: true });
    const u = await check('postgresql', pg.sock);
    expect([u.code, u.details.sqlstate, u.details.pgIsReady, await pgIsReady(pg.socketDir)]).toEqual(['PG_IN_RECOVERY', '57P03', 'rejecting', 'rejecting']);
  });
});

describe('mysql', () => {
  it('MariaDB greets: alive, as mysqladmin ping; ERR 1040 when every slot is taken', SLOW, async () => {
    const my = await startMariadb();
    const ping = () => run(findTool('mysqladmin')!, ['--no-defaults', '-S', my.sock, 'ping'], { timeoutMs: 30_000 });
    let u = await check('mysql', my.sock);
    let tool = await ping();
    expect([u.code, u.details.mysqladminPing, tool.code]).toEqual(['OK', 'alive', 0]);
    expect(u.details.version).toMatch(/MariaDB/);
    expect(u.summary).toMatch(/^10\.\d+\.\d+-MariaDB\S* greeted \(connection \d+/);

    await my.exhaustConnections();
    u = await check('mysql', my.sock);
    tool = await ping();
    expect([u.code, u.details.error, u.details.mysqladminPing]).toEqual(['MYSQL_TOO_MANY_CONNECTIONS', 1040, 'failed']);
    expect([tool.code, tool.stderr]).toEqual([1, expect.stringMatching(/Too many connections/)]);
  });
});

describe('ssh-agent', () => {
  it('no keys: a warning, as ssh-add -l exits 1', SLOW, async () => {
    const agent = await startSshAgent();
    const u = await check('ssh-agent', agent.sock);
    const tool = await run('ssh-add', ['-l'], { env: agent.env, timeoutMs: 30_000 });
    expect([u.code, u.details.keys, tool.code, tool.stdout.trim()]).toEqual(['AGENT_NO_KEYS', 0, 1, 'The agent has no identities.']);
  });

  it('keys: the same fingerprints and comments as ssh-add -l, comments kept exact', SLOW, async () => {
    const agent = await startSshAgent({ keys: 2, comments: ['alice@laptop', 'evil\x1b[31m'] });
    const u = await check('ssh-agent', agent.sock);
    const tool = await run('ssh-add', ['-l'], { env: agent.env, timeoutMs: 30_000 });
    expect([u.code, u.details.keys, tool.code]).toEqual(['OK', 2, 0]);
    // ssh-add -l: "256 SHA256:... COMMENT (ED25519)"
    const theirs = tool.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[1]);
    expect([u.details.key1, u.details.key2].map((k) => String(k).split(' ')[0])).toEqual(theirs);
    expect(u.details.key2).toContain('evil\x1b[31m');
  });
});

describe('dbus', () => {
  /** dbus-send asks the bus for its id (GetId): exit 0 and the guid when it may connect. */
  const getId = (sock: string) =>
    run(findTool('dbus-send')!, [`--bus=unix:path=${sock}`, '--print-reply=literal', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetId'], {
      timeoutMs: 30_000,
    });

  it('AUTH EXTERNAL accepted, Hello answered, as dbus-send connects; the guid the daemon printed', SLOW, async () => {
    const bus = await startDbus();
    const u = await check('dbus', bus.sock);
    const tool = await getId(bus.sock);
    expect([u.code, u.details.auth, tool.code]).toEqual(['OK', 'accepted', 0]);
    expect(u.details.uniqueName).toMatch(/^:\d+\.\d+$/);
    expect(bus.address).toContain(`,guid=${u.details.guid}`);
  });

  it('a bus without EXTERNAL: rejected, a warning as it offers ANONYMOUS (dbus-send falls back to it)', SLOW, async () => {
    const bus = await startDbus({ auth: 'ANONYMOUS' });
    const u = await check('dbus', bus.sock);
    const tool = await getId(bus.sock);
    expect([u.code, u.details.mechanisms, tool.code]).toEqual(['DBUS_REJECTED', 'ANONYMOUS', 0]);
  });

  it("another user's session bus: credentials accepted, dropped at BEGIN, as dbus-send fails to register", SLOW, async () => {
    requireRoot('the bus runs as uid 65534 and the check as root');
    const bus = await startDbus({ asNobody: true });
    const u = await check('dbus', bus.sock);
    const tool = await getId(bus.sock);
    expect([u.code, tool.code]).toEqual(['DBUS_NOT_ALLOWED', 1]);
    expect(tool.stderr).toMatch(/Failed to register|Did not receive a reply/);
  });
});

describe('grpc', () => {
  it('SERVING, NOT_SERVING, unknown service, each as the gRPC health client says', SLOW, async () => {
    const g = await startGrpc({ mode: 'serving', services: { down: 'not-serving' } });
    const both = async (service?: string) => [(await check('grpc', g.sock, service)).code, grpcHealthClient(g.sock, service).verdict];
    expect(await both()).toEqual(['OK', 'SERVING']);
    expect(await both('down')).toEqual(['GRPC_NOT_SERVING', 'NOT_SERVING']);
    expect(await both('nope')).toEqual(['GRPC_SERVICE_UNKNOWN', 'NOT_FOUND']);
  });

  it('the whole server NOT_SERVING; a server without the health service', SLOW, async () => {
    const down = await startGrpc({ mode: 'not-serving' });
    expect([(await check('grpc', down.sock)).code, grpcHealthClient(down.sock).verdict]).toEqual(['GRPC_NOT_SERVING', 'NOT_SERVING']);
    const bare = await startGrpc({ mode: 'no-health' });
    const u = await check('grpc', bare.sock);
    expect([u.code, u.details.grpcStatus, grpcHealthClient(bare.sock).verdict]).toEqual(['GRPC_NO_HEALTH_SERVICE', 'UNIMPLEMENTED', 'UNIMPLEMENTED']);
  });

  it('a server that is not HTTP/2 fails the exchange, not the verdict', SLOW, async () => {
    const my = await startMariadb();
    expect((await check('grpc', my.sock)).code).toBe('BAD_FRAME');
  });
});
