/**
 * A plain `udsctl probe SOCK` on real PostgreSQL, MariaDB, ssh-agent, D-Bus and
 * gRPC servers: it says which service it found and how, checks it in its own
 * protocol, and exits as the service's own tool would judge (pg_isready,
 * a gRPC health client) beside it.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from './helpers/children.js';
import { findTool } from './helpers/requirements.js';
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
    const standby = await startPostgres({ standby: true });
    p = await probe(standby.sock);
    tool = await run(findTool('pg_isready')!, ['-h', standby.socketDir], { timeoutMs: 30_000 });
    expect([p.service, p.code, p.status, p.details.pgIsReady, tool.code]).toEqual(['postgresql', 'PG_IN_RECOVERY', 2, 'rejecting', 1]);
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

  it('a gRPC server on a plain path: recognised by its HTTP/2 preface, NOT_SERVING as the health client says', SLOW, async () => {
    const g = await startGrpc({ mode: 'not-serving' });
    // A name that says nothing: only what the server sends tells.
    const sock = join(g.dir, 'api.sock');
    renameSync(g.sock, sock);
    const p = await probe(sock);
    expect([p.service, p.recognisedBy, p.code, p.status, p.details.health]).toEqual(['grpc', expect.stringMatching(/^(banner|reply)$/), 'GRPC_NOT_SERVING', 2, 'NOT_SERVING']);
    expect(grpcHealthClient(sock).verdict).toBe('NOT_SERVING');
    const bare = await startGrpc({ mode: 'no-health' });
    const q = await probe(bare.sock, ['--as', 'grpc']);
    expect([q.recognisedBy, q.code, q.status, grpcHealthClient(bare.sock).verdict]).toEqual(['flag', 'GRPC_NO_HEALTH_SERVICE', 1, 'UNIMPLEMENTED']);
  });

  it("a silent mysqlx.sock (MySQL 8's X Protocol waits for the client): named, UNKNOWN, not a dead server", async () => {
    const sock = join(tmpDir('udsctl-myx-'), 'mysqlx.sock');
    const peer = spawnChild(process.execPath, [join(ROOT, 'test', 'fixtures', 'hostile-peers.mjs'), 'blackhole', sock]);
    await waitForOutput(peer, /listening/);
    const p = await probe(sock, ['--as', 'mysql', '--timeout', '500ms']);
    expect([p.code, p.status]).toEqual(['MYSQL_X_PROTOCOL', 3]);
  });
});
